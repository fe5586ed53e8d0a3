//! [`MqttGateway`]: the domain's [`MachineGateway`] over an MQTT broker. A make command is one
//! QoS 1 publish on the device's command topic, delivered when the broker's PUBACK for it
//! arrives; presence comes from the retained status topic; prices are the local catalogue's.
//! `mqtt-legacy` devices get the March-2025 binary frame on the one legacy topic instead.

use crate::client::MqttClient;
use crate::config::{ConfigError, MqttConfig, TopicTemplate};
use crate::events::{Inbound, PresenceMap};
use crate::transformers::{legacy_make_frame, MakePayload, Presence};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{Clock, MachineError, MachineGateway, MakeCommand};
use coffee_domain::services::dispensing::DispenseReport;
use coffee_domain::{Device, MachineKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Talks to machines whose `machine` is `mqtt` or `mqtt-legacy`, through one connection.
/// Dropping it closes the connection.
pub struct MqttGateway {
    client: MqttClient,
    command_topic: TopicTemplate,
    legacy_topic: String,
    publish_timeout: Duration,
    presence: PresenceMap,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MqttGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttGateway")
            .field("command_topic", &self.command_topic)
            .field("connected", &self.client.is_connected())
            .finish_non_exhaustive()
    }
}

impl MqttGateway {
    /// Checks the configuration, reads the TLS files and starts the connection in its own
    /// task (inside a tokio runtime). Machines' dispense results go to `reports`; the clock
    /// stamps them and answers `last_heartbeat`.
    pub fn start(
        config: MqttConfig,
        reports: mpsc::UnboundedSender<DispenseReport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let checked = config.check()?;
        let presence = PresenceMap::default();
        let inbound = Inbound::new(
            checked.topics.clone(),
            config.max_payload_bytes,
            presence.clone(),
            reports,
            clock.clone(),
        );
        let client = MqttClient::start(&config, &checked.endpoint, &checked.topics, inbound)?;
        Ok(Self {
            client,
            command_topic: checked.topics.command,
            legacy_topic: config.legacy_topic.clone(),
            publish_timeout: config.publish_timeout,
            presence,
            clock,
        })
    }

    /// Whether the connection to the broker is up (for `/ready`).
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// Waits for the connection, at most `within`; whether it is up.
    pub async fn wait_until_connected(&self, within: Duration) -> bool {
        self.client.wait_until_connected(within).await
    }
}

#[async_trait]
impl MachineGateway for MqttGateway {
    /// A device whose retained presence is `online` is seen now; one that is `offline`, or
    /// was never heard of, has no current heartbeat (`None`), so the scan answers «offline».
    /// A legacy device never heard of is seen while the broker is: the legacy protocol has no
    /// presence, and refusing every scan would leave such machines unsellable. If something
    /// (a bridge) does publish its presence, that word is followed as for any device.
    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError> {
        Ok(match self.presence.get(&device.device_uuid) {
            Some((Presence::Online, _)) => Some(self.clock.now()),
            Some((Presence::Offline, _)) => None,
            None if device.machine == MachineKind::MqttLegacy && self.client.is_connected() => {
                Some(self.clock.now())
            }
            None => None,
        })
    }

    /// One publish, QoS 1, never retained (a retained command would brew again at every
    /// reconnect), with a new `commandId` per attempt and the machine order id as the
    /// machine's idempotency key.
    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError> {
        if command.device.machine == MachineKind::MqttLegacy {
            return self.make_legacy(command).await;
        }
        let device = command.device.device_uuid.as_str();
        let topic = self.command_topic.topic_for(device).ok_or_else(|| {
            MachineError::Rejected(format!(
                "device id {device:?} cannot be an MQTT topic level"
            ))
        })?;
        let command_id = uuid::Uuid::new_v4().to_string();
        let payload =
            MakePayload::new(command, command_id.clone(), self.clock.now().timestamp()).to_bytes();
        self.client
            .publish(topic.clone(), payload, self.publish_timeout)
            .await?;
        tracing::info!(
            order = %command.order_id,
            device,
            machine_order = %command.machine_order_id,
            command_id,
            topic,
            "the broker acknowledged the make command"
        );
        Ok(())
    }
}

impl MqttGateway {
    /// The legacy frame on the legacy topic, QoS 1, never retained, delivered on its PUBACK
    /// like a JSON command. The frame names no device: every legacy machine on the topic
    /// reads it and keeps what its firmware recognises (by `drinkNo`/`orderUuid`).
    async fn make_legacy(&self, command: &MakeCommand) -> Result<(), MachineError> {
        let frame = legacy_make_frame(command)
            .map_err(|error| MachineError::Rejected(error.to_string()))?;
        self.client
            .publish(self.legacy_topic.clone(), frame, self.publish_timeout)
            .await?;
        tracing::info!(
            order = %command.order_id,
            device = command.device.device_uuid.as_str(),
            machine_order = %command.machine_order_id,
            topic = self.legacy_topic,
            "the broker acknowledged the legacy make frame"
        );
        Ok(())
    }
}
