//! The MQTT broker for tests.
//!
//! * The broker is `MQTT_TEST_URL` (default [`DEFAULT_URL`], anonymous Mosquitto).
//! * Unreachable: with `CI=true` the test fails; otherwise it prints
//!   `SKIPPED: MQTT broker not reachable at …` to stderr and [`broker`] returns `None` — as
//!   [`crate::test_db`] does for Postgres.
//! * Tests run in parallel on one broker, so each takes its own topic prefix
//!   ([`Broker::topics`]) and sees only its own messages.
//! * [`Probe`] is a plain MQTT client that plays the machines: it watches command topics and
//!   publishes events and presence.

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use tokio::sync::mpsc;

/// Used when `MQTT_TEST_URL` is not set.
pub const DEFAULT_URL: &str = "mqtt://127.0.0.1:1883";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
}

/// A reachable broker.
#[derive(Debug, Clone)]
pub struct Broker {
    pub url: String,
    pub host: String,
    pub port: u16,
}

/// Topic templates of one test: `<prefix>/{device_uuid}/commands` and so on.
#[derive(Debug, Clone)]
pub struct Topics {
    pub prefix: String,
    pub command: String,
    pub event: String,
    pub status: String,
}

impl Topics {
    pub fn command_of(&self, device: &str) -> String {
        self.command.replace("{device_uuid}", device)
    }
    pub fn event_of(&self, device: &str) -> String {
        self.event.replace("{device_uuid}", device)
    }
    pub fn status_of(&self, device: &str) -> String {
        self.status.replace("{device_uuid}", device)
    }
}

impl Broker {
    /// Fresh templates under a prefix no other test uses.
    pub fn topics(&self) -> Topics {
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Topics {
            command: format!("{prefix}/{{device_uuid}}/commands"),
            event: format!("{prefix}/{{device_uuid}}/events/order"),
            status: format!("{prefix}/{{device_uuid}}/status"),
            prefix,
        }
    }
}

/// The test broker, or `None` (after a loud `SKIPPED`) when it cannot be reached outside CI.
pub fn broker() -> Option<Broker> {
    let url = std::env::var("MQTT_TEST_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let authority = url
        .strip_prefix("mqtt://")
        .unwrap_or_else(|| panic!("MQTT_TEST_URL {url:?} must be mqtt://host:port"))
        .trim_end_matches('/');
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().expect("MQTT_TEST_URL port")),
        None => (authority.to_owned(), 1883),
    };
    let reachable = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| addrs.next().ok_or_else(|| "no address".to_owned()))
        .and_then(|addr| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())
        });
    match reachable {
        Ok(_) => Some(Broker { url, host, port }),
        Err(error) if in_ci() => panic!(
            "MQTT broker not reachable at {url} and CI=true, so this test fails instead of skipping: {error}"
        ),
        Err(error) => {
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: MQTT broker not reachable at {url} ({error}); set MQTT_TEST_URL or start Mosquitto"
            );
            None
        }
    }
}

/// One message the probe received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("JSON payload")
    }
}

/// A plain MQTT client standing in for machines.
pub struct Probe {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Probe {
    /// Connects and subscribes to `filters` (QoS 1); returns once the broker granted them.
    pub async fn connect(broker: &Broker, filters: &[String]) -> Probe {
        let id = format!("probe-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut options = MqttOptions::new(id, &broker.host, broker.port);
        options.set_keep_alive(Duration::from_secs(30));
        // Room for the oversized payloads tests send on purpose.
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (tx, received) = mpsc::unbounded_channel();
        let (subscribed_tx, mut subscribed) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            qos: p.qos,
                            retain: p.retain,
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed_tx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        for filter in filters {
            client
                .subscribe(filter.clone(), QoS::AtLeastOnce)
                .await
                .expect("subscribe");
            tokio::time::timeout(Duration::from_secs(5), subscribed.recv())
                .await
                .expect("SubAck in time");
        }
        Probe {
            client,
            received,
            task,
        }
    }

    /// Publishes with QoS 1.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.into())
            .await
            .expect("publish");
    }

    /// The next message, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.received.recv())
            .await
            .ok()
            .flatten()
    }

    /// Everything that arrives during `time`.
    pub async fn collect(&mut self, time: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + time;
        let mut all = Vec::new();
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, self.received.recv()).await
        {
            all.push(message);
        }
        all
    }
}

/// A Mosquitto of the test's own, on a free port, that the test may kill and start again
/// (the shared broker must stay up for the other tests). Killed when dropped.
pub struct OwnBroker {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl OwnBroker {
    /// Starts `mosquitto` with `extra` configuration lines after its listener (TLS files…);
    /// `None` (after a loud `SKIPPED`) when the binary is missing outside CI.
    pub fn start(extra: &str) -> Option<OwnBroker> {
        Self::start_in(&Self::scratch_dir(), extra)
    }

    /// A fresh directory for the broker's configuration (and the test's certificates).
    pub fn scratch_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "coffee-mqtt-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    pub fn start_in(dir: &std::path::Path, extra: &str) -> Option<OwnBroker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}\n"
        );
        std::fs::write(dir.join("mosquitto.conf"), config).expect("broker configuration");
        let mut broker = OwnBroker {
            port,
            dir: dir.to_owned(),
            child: None,
        };
        match broker.spawn() {
            Ok(()) => Some(broker),
            Err(error) if in_ci() => {
                panic!("cannot start mosquitto and CI=true, so this test fails instead of skipping: {error}")
            }
            Err(error) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: cannot start mosquitto ({error}); install it to run this test"
                );
                None
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        for _ in 0..100 {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("mosquitto did not listen on {addr}"))
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn broker(&self) -> Broker {
        Broker {
            url: self.url(),
            host: "127.0.0.1".to_owned(),
            port: self.port,
        }
    }

    /// SIGKILL: no goodbye to the clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().expect("mosquitto restarts");
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
