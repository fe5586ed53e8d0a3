//! Inbound: what machines publish. The device is the one the topic names, never one a payload
//! claims; order events (results and progress) become [`DispenseReport`]s on the server's
//! channel, presence
//! words update the map `last_heartbeat` reads. Nothing here awaits or panics: a bad message
//! is logged and dropped, and the event loop goes on.

use crate::config::Topics;
use crate::transformers::{parse_event, parse_presence, EventStatus, PayloadError, Presence};
use chrono::{DateTime, Utc};
use coffee_domain::ports::Clock;
use coffee_domain::services::dispensing::{DispenseReport, DispenseResult};
use coffee_domain::{DeviceUuid, MachineOrderId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A presence word and when it came.
type Seen = (Presence, DateTime<Utc>);

/// The last presence word of each device and when it came.
#[derive(Debug, Clone, Default)]
pub struct PresenceMap {
    inner: Arc<Mutex<HashMap<DeviceUuid, Seen>>>,
}

impl PresenceMap {
    pub fn get(&self, device: &DeviceUuid) -> Option<Seen> {
        self.inner
            .lock()
            .map(|map| map.get(device).copied())
            .unwrap_or(None)
    }

    fn set(&self, device: DeviceUuid, presence: Presence, at: DateTime<Utc>) -> bool {
        match self.inner.lock() {
            Ok(mut map) => map.insert(device, (presence, at)).map(|(p, _)| p) != Some(presence),
            Err(_) => false,
        }
    }
}

/// What became of one inbound message (returned for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// An order event (a result, or `accepted`/`brewing` progress), sent on as a report.
    Reported(DispenseReport),
    Presence(DeviceUuid, Presence),
    Dropped(String),
}

/// Turns inbound publishes into reports and presence.
pub struct Inbound {
    topics: Topics,
    max_payload_bytes: usize,
    presence: PresenceMap,
    reports: mpsc::UnboundedSender<DispenseReport>,
    clock: Arc<dyn Clock>,
}

impl Inbound {
    pub fn new(
        topics: Topics,
        max_payload_bytes: usize,
        presence: PresenceMap,
        reports: mpsc::UnboundedSender<DispenseReport>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            topics,
            max_payload_bytes,
            presence,
            reports,
            clock,
        }
    }

    /// Handles one message; never blocks (the report channel is unbounded).
    pub fn handle(&self, topic: &str, payload: &[u8]) -> Handled {
        let handled = self.classify(topic, payload);
        match &handled {
            Handled::Dropped(why) => tracing::warn!(topic, why, "mqtt message dropped"),
            Handled::Reported(_) | Handled::Presence(..) => {}
        }
        handled
    }

    fn classify(&self, topic: &str, payload: &[u8]) -> Handled {
        if payload.len() > self.max_payload_bytes {
            return Handled::Dropped(
                PayloadError::TooLarge {
                    size: payload.len(),
                    limit: self.max_payload_bytes,
                }
                .to_string(),
            );
        }
        if let Some(device) = self.topics.event.device_of(topic) {
            return self.event(device, payload);
        }
        if let Some(device) = self.topics.status.device_of(topic) {
            return self.presence(device, payload);
        }
        Handled::Dropped("not an event or status topic".to_owned())
    }

    fn event(&self, device: &str, payload: &[u8]) -> Handled {
        let Ok(device) = DeviceUuid::parse(device) else {
            return Handled::Dropped("device id in the topic is not valid".to_owned());
        };
        let event = match parse_event(payload) {
            Ok(event) => event,
            Err(error) => return Handled::Dropped(error.to_string()),
        };
        let Ok(machine_order_id) = MachineOrderId::parse(&event.order_uuid) else {
            return Handled::Dropped("orderUuid is not valid".to_owned());
        };
        let result = match event.status {
            EventStatus::Success => DispenseResult::Dispensed,
            EventStatus::Failed | EventStatus::Rejected => DispenseResult::Failed {
                code: Some(
                    event
                        .code
                        .clone()
                        .filter(|code| !code.trim().is_empty())
                        .unwrap_or_else(|| format!("{:?}", event.status).to_lowercase()),
                ),
            },
            // The domain pushes the dispense deadline back on these.
            EventStatus::Accepted => DispenseResult::InProgress {
                stage: "accepted".to_owned(),
            },
            EventStatus::Brewing => DispenseResult::InProgress {
                stage: "brewing".to_owned(),
            },
        };
        // The server's clock, not the machine's `ts`: machine clocks drift and `ts` is
        // informational in the protocol.
        let report = DispenseReport {
            device,
            machine_order_id,
            result,
            at: self.clock.now(),
        };
        tracing::info!(
            device = %report.device,
            machine_order_id = %report.machine_order_id,
            status = ?event.status,
            command_id = event.command_id.as_deref().unwrap_or(""),
            seq = event.seq,
            "machine reports on an order"
        );
        if self.reports.send(report.clone()).is_err() {
            return Handled::Dropped("the report channel is closed".to_owned());
        }
        Handled::Reported(report)
    }

    fn presence(&self, device: &str, payload: &[u8]) -> Handled {
        let Ok(device) = DeviceUuid::parse(device) else {
            return Handled::Dropped("device id in the topic is not valid".to_owned());
        };
        match parse_presence(payload) {
            Ok(presence) => {
                if self
                    .presence
                    .set(device.clone(), presence, self.clock.now())
                {
                    tracing::info!(device = %device, ?presence, "machine presence changed");
                }
                Handled::Presence(device, presence)
            }
            Err(error) => Handled::Dropped(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::MqttConfig;

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp(1_800_000_000, 0).unwrap()
        }
    }

    fn inbound() -> (
        Inbound,
        mpsc::UnboundedReceiver<DispenseReport>,
        PresenceMap,
    ) {
        let topics = MqttConfig::new("mqtt://h").check().unwrap().topics;
        let (tx, rx) = mpsc::unbounded_channel();
        let presence = PresenceMap::default();
        (
            Inbound::new(topics, 256, presence.clone(), tx, Arc::new(Fixed)),
            rx,
            presence,
        )
    }

    #[test]
    fn the_device_of_a_report_is_the_topics_even_when_the_payload_names_another() {
        let (inbound, mut rx, _) = inbound();
        let handled = inbound.handle(
            "vending/cm-1/events/order",
            br#"{"orderUuid":"o-1","status":"success","deviceId":"cm-2","deviceUuid":"cm-2"}"#,
        );
        let report = rx.try_recv().unwrap();
        assert_eq!(handled, Handled::Reported(report.clone()));
        assert_eq!(report.device.as_str(), "cm-1");
        assert_eq!(report.machine_order_id.as_str(), "o-1");
        assert_eq!(report.result, DispenseResult::Dispensed);
    }

    #[test]
    fn failed_and_rejected_are_failures_with_their_code_and_progress_is_reported_as_such() {
        let (inbound, mut rx, _) = inbound();
        inbound.handle(
            "vending/cm-1/events/order",
            br#"{"orderUuid":"o-1","status":"rejected","code":"BUSY"}"#,
        );
        inbound.handle(
            "vending/cm-1/events/order",
            br#"{"orderUuid":"o-2","status":"failed"}"#,
        );
        assert_eq!(
            rx.try_recv().unwrap().result,
            DispenseResult::Failed {
                code: Some("BUSY".into())
            }
        );
        assert_eq!(
            rx.try_recv().unwrap().result,
            DispenseResult::Failed {
                code: Some("failed".into())
            }
        );
        for stage in ["accepted", "brewing"] {
            inbound.handle(
                "vending/cm-1/events/order",
                format!(r#"{{"orderUuid":"o","status":"{stage}"}}"#).as_bytes(),
            );
            assert_eq!(
                rx.try_recv().unwrap().result,
                DispenseResult::InProgress {
                    stage: stage.to_owned()
                }
            );
        }
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn malformed_oversized_and_foreign_messages_are_dropped() {
        let (inbound, mut rx, _) = inbound();
        for (topic, payload) in [
            ("vending/cm-1/events/order", b"not json".to_vec()),
            ("vending/cm-1/events/order", vec![b' '; 257]),
            (
                "vending/cm-1/events/order",
                br#"{"orderUuid":" ","status":"success"}"#.to_vec(),
            ),
            (
                "elsewhere/cm-1",
                br#"{"orderUuid":"o","status":"success"}"#.to_vec(),
            ),
            ("vending/cm-1/status", b"sleepy".to_vec()),
        ] {
            assert!(
                matches!(inbound.handle(topic, &payload), Handled::Dropped(_)),
                "{topic}"
            );
        }
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn presence_words_are_kept_per_device() {
        let (inbound, _rx, presence) = inbound();
        let cm1 = DeviceUuid::parse("cm-1").unwrap();
        assert_eq!(presence.get(&cm1), None);
        inbound.handle("vending/cm-1/status", b"online");
        assert_eq!(presence.get(&cm1).unwrap().0, Presence::Online);
        inbound.handle("vending/cm-1/status", b"offline");
        assert_eq!(presence.get(&cm1).unwrap().0, Presence::Offline);
        assert_eq!(presence.get(&DeviceUuid::parse("cm-2").unwrap()), None);
    }
}
