//! Transport: the rumqttc event loop in its own task, TLS, reconnects and acknowledged
//! publishes.
//!
//! rumqttc's pitfalls decide the shape (see `machines-and-mqtt.md` §2):
//! * it reconnects in a tight loop by itself, so failed attempts are spaced here with
//!   exponential backoff and jitter, reset on ConnAck;
//! * a clean session forgets subscriptions, so they are sent again after every ConnAck;
//! * `publish` only queues, and no release returns a packet id: a publish is tied to its
//!   PUBACK by order — publishes are queued under one lock in FIFO order, the loop binds the
//!   FIFO head to the packet id of the next `Outgoing::Publish`, and `Incoming::PubAck` with
//!   that id completes it;
//! * publishes still queued or unacknowledged when the connection drops are silently
//!   discarded on a clean-session reconnect, so the loop fails them at once: never written →
//!   [`Delivery::NotSent`], written without PUBACK → [`Delivery::Unacknowledged`]. Callers
//!   retry on their own terms; nothing depends on rumqttc keeping them;
//! * the loop only classifies events and hands them on: it never awaits a publish or a
//!   subscribe (those deadlock once the request channel is full).

use crate::config::{shared, ConfigError, Endpoint, MqttConfig, Topics};
use crate::events::Inbound;
use coffee_domain::ports::MachineError;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter,
    SubscribeReasonCode, TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Requests queued towards the event loop before `try_publish` refuses (then: `Unavailable`).
const REQUEST_CAPACITY: usize = 64;
/// Incoming packets above this end the connection in rumqttc; `events.rs` drops anything
/// above its own, much smaller limit first.
const MAX_PACKET_BYTES: usize = 256 * 1024;

/// What became of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    Acknowledged,
    /// Never written to the broker: the connection was lost first.
    NotSent(String),
    /// Written, and the connection was lost before its PUBACK.
    Unacknowledged(String),
}

/// Publishes waiting for their packet id, and those waiting for their PUBACK.
#[derive(Default)]
struct InFlight {
    connected: bool,
    queued: VecDeque<oneshot::Sender<Delivery>>,
    sent: HashMap<u16, oneshot::Sender<Delivery>>,
}

impl InFlight {
    fn fail_all(&mut self, why: &str) {
        for waiter in self.queued.drain(..) {
            let _ = waiter.send(Delivery::NotSent(why.to_owned()));
        }
        for (_, waiter) in self.sent.drain() {
            let _ = waiter.send(Delivery::Unacknowledged(why.to_owned()));
        }
    }
}

/// The handle: publishes, and the connection state for `/ready`. Dropping it stops the loop.
pub(crate) struct MqttClient {
    client: AsyncClient,
    in_flight: Arc<Mutex<InFlight>>,
    connected: watch::Receiver<bool>,
    _stop: watch::Sender<()>,
}

impl MqttClient {
    /// Builds the options (reading TLS files) and spawns the event loop; must run inside a
    /// tokio runtime. No network traffic happens before the spawned task polls.
    pub(crate) fn start(
        config: &MqttConfig,
        endpoint: &Endpoint,
        topics: &Topics,
        inbound: Inbound,
    ) -> Result<Self, ConfigError> {
        let mut options = MqttOptions::new(&config.client_id, &endpoint.host, endpoint.port);
        options.set_keep_alive(config.keep_alive);
        // A clean session always: Yandex had no other, and the design must not rely on the
        // broker keeping anything for us across a reconnect.
        options.set_clean_session(true);
        options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        if let Some(username) = &config.username {
            options.set_credentials(username, config.password.clone().unwrap_or_default());
        }
        if endpoint.tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(tls_config(config)?),
            )));
        }
        let (client, eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        let in_flight = Arc::new(Mutex::new(InFlight::default()));
        let (connected_tx, connected) = watch::channel(false);
        let (stop, stopped) = watch::channel(());
        let subscriptions = vec![
            // Each event handled by one replica.
            SubscribeFilter::new(
                shared(topics.shared_group.as_deref(), &topics.event.filter()),
                QoS::AtLeastOnce,
            ),
            // Presence is retained, and brokers do not hand retained messages to shared
            // subscriptions; every replica needs every device's presence anyway.
            SubscribeFilter::new(topics.status.filter(), QoS::AtLeastOnce),
        ];
        let event_loop = Loop {
            client: client.clone(),
            eventloop,
            in_flight: in_flight.clone(),
            connected: connected_tx,
            subscriptions,
            inbound,
            backoff: Backoff::new(config.reconnect_min, config.reconnect_max),
            broker: format!("{}:{}", endpoint.host, endpoint.port),
        };
        tokio::spawn(event_loop.run(stopped));
        Ok(Self {
            client,
            in_flight,
            connected,
            _stop: stop,
        })
    }

    pub(crate) fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Waits until connected, at most `within`; whether it is.
    pub(crate) async fn wait_until_connected(&self, within: Duration) -> bool {
        let mut connected = self.connected.clone();
        tokio::time::timeout(within, connected.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Publishes with QoS 1, not retained, and waits for the broker's PUBACK for this very
    /// publish. `Unavailable`: certainly not delivered (not connected, queue full, lost before
    /// it was written); `OutcomeUnknown`: written, or possibly written, without a PUBACK in
    /// time.
    pub(crate) async fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), MachineError> {
        let acknowledged = {
            let mut in_flight = self
                .in_flight
                .lock()
                .map_err(|_| MachineError::Unavailable("mqtt client state poisoned".into()))?;
            if !in_flight.connected {
                return Err(MachineError::Unavailable(
                    "not connected to the MQTT broker".into(),
                ));
            }
            // Under the lock, so the FIFO has the order of the request channel.
            self.client
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
                .map_err(|e| MachineError::Unavailable(format!("mqtt publish not queued: {e}")))?;
            let (tx, rx) = oneshot::channel();
            in_flight.queued.push_back(tx);
            rx
        };
        match tokio::time::timeout(timeout, acknowledged).await {
            Ok(Ok(Delivery::Acknowledged)) => Ok(()),
            Ok(Ok(Delivery::NotSent(why))) => Err(MachineError::Unavailable(format!(
                "connection to the MQTT broker lost before the command was written: {why}"
            ))),
            Ok(Ok(Delivery::Unacknowledged(why))) => Err(MachineError::OutcomeUnknown(format!(
                "connection to the MQTT broker lost before its PUBACK: {why}"
            ))),
            // The loop ended with the publish in its hands: it may have been written.
            Ok(Err(_)) => Err(MachineError::OutcomeUnknown(
                "the MQTT client stopped before the PUBACK".into(),
            )),
            Err(_) => Err(MachineError::OutcomeUnknown(format!(
                "no PUBACK from the MQTT broker within {} ms",
                timeout.as_millis()
            ))),
        }
    }
}

/// Private-CA roots (or the Mozilla set) and an optional client certificate, on the
/// workspace's one crypto provider (ring).
pub(crate) fn tls_config(config: &MqttConfig) -> Result<ClientConfig, ConfigError> {
    let tls = |what: &str, e: &dyn std::fmt::Display| ConfigError::Tls(format!("{what}: {e}"));
    let roots = match &config.ca_file {
        None => RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let what = format!("CA file {}", path.display());
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| tls(&what, &e))? {
                roots
                    .add(cert.map_err(|e| tls(&what, &e))?)
                    .map_err(|e| tls(&what, &e))?;
            }
            if roots.is_empty() {
                return Err(tls(&what, &"no certificate in the file"));
            }
            roots
        }
    };
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls("protocol versions", &e))?
            .with_root_certificates(roots);
    match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert_path), Some(key_path)) => {
            let what = format!("client certificate {}", cert_path.display());
            let chain = CertificateDer::pem_file_iter(cert_path)
                .map_err(|e| tls(&what, &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls(&what, &e))?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| tls(&format!("client key {}", key_path.display()), &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls(&what, &e))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Exponential backoff with jitter between failed connection attempts.
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    fn reset(&mut self) {
        self.next = self.min;
    }

    /// Between half and all of the current step ("equal jitter"), so replicas that lost the
    /// broker together do not come back together.
    fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        let random = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
        step / 2 + step / 2 * random / 1000
    }
}

/// Whether the link is up, for one log line per change rather than per attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Starting,
    Up,
    Down,
}

struct Loop {
    client: AsyncClient,
    eventloop: EventLoop,
    in_flight: Arc<Mutex<InFlight>>,
    connected: watch::Sender<bool>,
    subscriptions: Vec<SubscribeFilter>,
    inbound: Inbound,
    backoff: Backoff,
    broker: String,
}

impl Loop {
    async fn run(mut self, mut stop: watch::Receiver<()>) {
        let mut link = Link::Starting;
        loop {
            let event = tokio::select! {
                // The handle was dropped: the gateway is gone.
                _ = stop.changed() => break,
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.backoff.reset();
                    self.set_connected(true);
                    tracing::info!(broker = %self.broker, "mqtt connected");
                    link = Link::Up;
                    // try_: never await the request channel from inside the loop.
                    if let Err(error) = self.client.try_subscribe_many(self.subscriptions.clone()) {
                        tracing::error!(%error, "mqtt subscriptions not queued");
                    }
                }
                Ok(event) => self.dispatch(event),
                Err(error) => {
                    self.connection_lost();
                    match link {
                        Link::Up => {
                            tracing::warn!(broker = %self.broker, %error, "mqtt connection lost; reconnecting with backoff")
                        }
                        Link::Starting => {
                            tracing::warn!(broker = %self.broker, %error, "mqtt broker unreachable; retrying with backoff")
                        }
                        Link::Down => {
                            tracing::debug!(%error, "mqtt reconnect attempt failed")
                        }
                    }
                    link = Link::Down;
                    let delay = self.backoff.next_delay();
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.set_connected(false);
        tracing::debug!(broker = %self.broker, "mqtt client stopped");
    }

    /// One event of a live connection.
    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::SubAck(ack))
                if ack
                    .return_codes
                    .iter()
                    .any(|code| matches!(code, SubscribeReasonCode::Failure)) =>
            {
                tracing::error!(subscriptions = ?self.subscriptions, "the broker refused an MQTT subscription: no events or presence will arrive");
            }
            Event::Outgoing(Outgoing::Publish(pkid)) if pkid != 0 => {
                if let Ok(mut in_flight) = self.in_flight.lock() {
                    if let Some(waiter) = in_flight.queued.pop_front() {
                        in_flight.sent.insert(pkid, waiter);
                    }
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Ok(mut in_flight) = self.in_flight.lock() {
                    if let Some(waiter) = in_flight.sent.remove(&ack.pkid) {
                        let _ = waiter.send(Delivery::Acknowledged);
                    }
                }
            }
            Event::Incoming(Packet::Publish(message)) => {
                self.inbound.handle(&message.topic, &message.payload);
            }
            _ => {}
        }
    }

    /// After a connection error: events rumqttc had buffered are still handled (a machine's
    /// report, a PUBACK, the packet id of a publish already written), so none binds to the
    /// wrong publish after the reconnect; then every publish still waiting is failed.
    fn connection_lost(&mut self) {
        let buffered: Vec<Event> = self.eventloop.state.events.drain(..).collect();
        for event in buffered {
            self.dispatch(event);
        }
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.connected = false;
            // A publish queued between poll's own clean-up and this lock is still in the
            // request channel: move it to rumqttc's pending list, which the clean session's
            // ConnAck empties, so it is never sent behind its caller's back.
            self.eventloop.clean();
            in_flight.fail_all("connection lost");
        }
        self.connected.send_replace(false);
    }

    fn set_connected(&self, up: bool) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.connected = up;
            if !up {
                in_flight.fail_all("client stopped");
            }
        }
        self.connected.send_replace(up);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_with_jitter_and_starts_over_after_a_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let steps: Vec<Duration> = (0..6).map(|_| backoff.next_delay()).collect();
        for (delay, step) in steps.iter().zip([100u64, 200, 400, 800, 800, 800]) {
            assert!(
                *delay >= Duration::from_millis(step / 2) && *delay <= Duration::from_millis(step),
                "{delay:?} for a step of {step} ms"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn a_lost_connection_fails_queued_publishes_as_not_sent_and_written_ones_as_unknown() {
        let mut in_flight = InFlight::default();
        let (queued_tx, mut queued_rx) = oneshot::channel();
        let (sent_tx, mut sent_rx) = oneshot::channel();
        in_flight.queued.push_back(queued_tx);
        in_flight.sent.insert(7, sent_tx);
        in_flight.fail_all("gone");
        assert!(matches!(queued_rx.try_recv(), Ok(Delivery::NotSent(_))));
        assert!(matches!(
            sent_rx.try_recv(),
            Ok(Delivery::Unacknowledged(_))
        ));
    }
}
