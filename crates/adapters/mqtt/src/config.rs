//! The gateway's settings, handed over by the server (the adapter never reads environment
//! variables itself), their validation, and the topic templates with `{device_uuid}`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Keep-alive asked of the broker: well under the usual 60 s idle cut of NATs and load
/// balancers, and what the reference recommends (30–60 s).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(30);
/// How long a make command waits for the broker's PUBACK before its outcome is unknown.
pub const DEFAULT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// Inbound payloads above this are dropped unread: our events are a few hundred bytes.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 4096;
pub const DEFAULT_COMMAND_TOPIC: &str = "vending/{device_uuid}/commands";
pub const DEFAULT_EVENT_TOPIC: &str = "vending/{device_uuid}/events/order";
pub const DEFAULT_STATUS_TOPIC: &str = "vending/{device_uuid}/status";
pub const DEFAULT_LEGACY_TOPIC: &str = "technical";
pub const DEFAULT_SHARED_GROUP: &str = "coffee-pay";
/// The placeholder a topic template names the device with.
pub const DEVICE_PLACEHOLDER: &str = "{device_uuid}";

/// Settings of the MQTT gateway.
#[derive(Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// `mqtt://host:1883` or `mqtts://host:8883` (the port defaults to those).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM roots for a private CA; without it the Mozilla roots (webpki-roots) are trusted.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key for X.509 login (both or neither).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Unique per connection: a broker drops the older of two sessions with one id, so two
    /// replicas sharing an id would knock each other off in a loop.
    pub client_id: String,
    pub keep_alive: Duration,
    pub command_topic: String,
    pub event_topic: String,
    pub status_topic: String,
    pub legacy_topic: String,
    /// Events are read through `$share/{group}/…` so each is handled by one replica; `None`
    /// subscribes plainly (a single server, or a broker without shared subscriptions).
    pub shared_group: Option<String>,
    pub publish_timeout: Duration,
    pub max_payload_bytes: usize,
    /// First wait after a failed connection attempt; doubled per failure up to
    /// `reconnect_max`, with jitter, and reset once connected.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl MqttConfig {
    /// The defaults around a broker URL, with a fresh client id.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim().to_owned(),
            username: None,
            password: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            client_id: unique_client_id(),
            keep_alive: DEFAULT_KEEP_ALIVE,
            command_topic: DEFAULT_COMMAND_TOPIC.to_owned(),
            event_topic: DEFAULT_EVENT_TOPIC.to_owned(),
            status_topic: DEFAULT_STATUS_TOPIC.to_owned(),
            legacy_topic: DEFAULT_LEGACY_TOPIC.to_owned(),
            shared_group: Some(DEFAULT_SHARED_GROUP.to_owned()),
            publish_timeout: DEFAULT_PUBLISH_TIMEOUT,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

/// `coffee-pay-<12 hex>`: unique per process (and per gateway), short enough for MQTT 3.1.1
/// brokers that still hold clients to 23 characters.
pub fn unique_client_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("coffee-pay-{}", &id[..12])
}

/// Secrets stay out of logs: `Debug` shows only whether they are set.
impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .field("command_topic", &self.command_topic)
            .field("event_topic", &self.event_topic)
            .field("status_topic", &self.status_topic)
            .field("legacy_topic", &self.legacy_topic)
            .field("shared_group", &self.shared_group)
            .finish_non_exhaustive()
    }
}

/// Why a gateway could not be built from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("MQTT URL {0:?} is not mqtt://host[:port] or mqtts://host[:port]")]
    BadUrl(String),
    #[error("{name} {template:?}: {why}")]
    BadTopic {
        name: &'static str,
        template: String,
        why: &'static str,
    },
    #[error("shared group {0:?} must be non-empty and contain no '/', '+' or '#'")]
    BadSharedGroup(String),
    #[error("a client certificate needs its key and a key its certificate")]
    HalfClientAuth,
    #[error("TLS files ({0}) are set but the URL is not mqtts://")]
    TlsFilesWithoutTls(&'static str),
    #[error("client id must not be empty")]
    EmptyClientId,
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    #[error("TLS: {0}")]
    Tls(String),
}

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// `mqtt://host[:port]` (default 1883) or `mqtts://host[:port]` (default 8883).
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadUrl(url.to_owned());
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '@', '?', '#', ' ']) {
            return Err(bad());
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(port) => port.parse().map_err(|_| bad())?,
                None if after.is_empty() => default_port,
                None => return Err(bad()),
            };
            (host.to_owned(), port)
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host.to_owned(), port.parse().map_err(|_| bad())?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Self { tls, host, port })
    }
}

/// A topic with `{device_uuid}` as one whole level, e.g. `vending/{device_uuid}/commands` or
/// Yandex's `$devices/{device_uuid}/events/order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    levels: Vec<String>,
    device_level: usize,
}

impl TopicTemplate {
    pub fn parse(name: &'static str, template: &str) -> Result<Self, ConfigError> {
        let bad = |why| ConfigError::BadTopic {
            name,
            template: template.to_owned(),
            why,
        };
        if template.contains(['+', '#']) {
            return Err(bad("wildcards are not allowed in a template"));
        }
        let levels: Vec<String> = template.split('/').map(str::to_owned).collect();
        let mut device_levels = levels
            .iter()
            .enumerate()
            .filter(|(_, level)| level.contains(DEVICE_PLACEHOLDER));
        let device_level = match (device_levels.next(), device_levels.next()) {
            (Some((index, level)), None) if level == DEVICE_PLACEHOLDER => index,
            (Some(_), None) => return Err(bad("{device_uuid} must be a whole topic level")),
            (None, _) => return Err(bad("must contain {device_uuid}")),
            (Some(_), Some(_)) => return Err(bad("must contain {device_uuid} once")),
        };
        Ok(Self {
            levels,
            device_level,
        })
    }

    /// The topic of one device; `None` when the device id cannot be one topic level.
    pub fn topic_for(&self, device: &str) -> Option<String> {
        if device.is_empty() || device.contains(['/', '+', '#', '\0']) {
            return None;
        }
        let mut levels = self.levels.clone();
        levels[self.device_level] = device.to_owned();
        Some(levels.join("/"))
    }

    /// The subscription filter for every device: the placeholder becomes `+`.
    pub fn filter(&self) -> String {
        let mut levels = self.levels.clone();
        levels[self.device_level] = "+".to_owned();
        levels.join("/")
    }

    /// The device a topic of this template names; `None` when the topic is not one of it.
    /// Parsed by hand: `rumqttc::matches` refuses every topic starting with `$`.
    pub fn device_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let mut device = None;
        let mut count = 0;
        for (index, level) in topic.split('/').enumerate() {
            count += 1;
            match self.levels.get(index) {
                _ if index == self.device_level => {
                    if level.is_empty() {
                        return None;
                    }
                    device = Some(level);
                }
                Some(expected) if expected == level => {}
                _ => return None,
            }
        }
        if count == self.levels.len() {
            device
        } else {
            None
        }
    }
}

/// A filter behind a shared subscription when a group is set.
pub fn shared(group: Option<&str>, filter: &str) -> String {
    match group {
        Some(group) => format!("$share/{group}/{filter}"),
        None => filter.to_owned(),
    }
}

/// Everything checked and parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub endpoint: Endpoint,
    pub topics: Topics,
}

/// The three device topics.
#[derive(Debug, Clone)]
pub struct Topics {
    pub command: TopicTemplate,
    pub event: TopicTemplate,
    pub status: TopicTemplate,
    pub shared_group: Option<String>,
}

impl MqttConfig {
    /// Checks what can be checked without the network (TLS files are read when the client
    /// is built).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map(|_| ())
    }

    pub(crate) fn check(&self) -> Result<Checked, ConfigError> {
        let endpoint = Endpoint::parse(&self.url)?;
        let topics = Topics {
            command: TopicTemplate::parse("command topic", &self.command_topic)?,
            event: TopicTemplate::parse("event topic", &self.event_topic)?,
            status: TopicTemplate::parse("status topic", &self.status_topic)?,
            shared_group: self.shared_group.clone(),
        };
        if self.legacy_topic.is_empty() || self.legacy_topic.contains(['+', '#']) {
            return Err(ConfigError::BadTopic {
                name: "legacy topic",
                template: self.legacy_topic.clone(),
                why: "must be a plain topic without wildcards",
            });
        }
        if let Some(group) = &self.shared_group {
            if group.is_empty() || group.contains(['/', '+', '#']) {
                return Err(ConfigError::BadSharedGroup(group.clone()));
            }
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            return Err(ConfigError::HalfClientAuth);
        }
        if !endpoint.tls {
            if self.ca_file.is_some() {
                return Err(ConfigError::TlsFilesWithoutTls("CA file"));
            }
            if self.client_cert_file.is_some() {
                return Err(ConfigError::TlsFilesWithoutTls("client certificate"));
            }
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        for (name, value) in [
            ("keep-alive", self.keep_alive),
            ("publish timeout", self.publish_timeout),
            ("reconnect delay", self.reconnect_min),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.max_payload_bytes == 0 {
            return Err(ConfigError::Zero("max payload size"));
        }
        Ok(Checked { endpoint, topics })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_give_scheme_host_and_the_default_port_of_each_scheme() {
        let plain = Endpoint::parse("mqtt://broker.local").unwrap();
        assert_eq!(
            (plain.tls, plain.host.as_str(), plain.port),
            (false, "broker.local", 1883)
        );
        let tls = Endpoint::parse("mqtts://mqtt.example.com").unwrap();
        assert_eq!((tls.tls, tls.port), (true, 8883));
        let custom = Endpoint::parse("mqtt://127.0.0.1:18830/").unwrap();
        assert_eq!((custom.host.as_str(), custom.port), ("127.0.0.1", 18830));
        let v6 = Endpoint::parse("mqtt://[::1]:1884").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 1884));
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://host:port",
            "tcp://h:1",
            "mqtt://u:p@h",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_template_gives_each_device_its_topic_and_reads_the_device_back_from_a_topic() {
        let template = TopicTemplate::parse("event topic", DEFAULT_EVENT_TOPIC).unwrap();
        assert_eq!(
            template.topic_for("cm-1").unwrap(),
            "vending/cm-1/events/order"
        );
        assert_eq!(template.filter(), "vending/+/events/order");
        assert_eq!(
            template.device_of("vending/cm-1/events/order"),
            Some("cm-1")
        );
        assert_eq!(template.device_of("vending/cm-1/events/orders"), None);
        assert_eq!(template.device_of("vending/cm-1/events/order/x"), None);
        assert_eq!(template.device_of("vending/cm-1/events"), None);
        assert_eq!(template.device_of("vending//events/order"), None);
        assert_eq!(template.topic_for("a/b"), None);
        assert_eq!(template.topic_for("a+"), None);
    }

    #[test]
    fn yandex_style_dollar_templates_work_too() {
        let template =
            TopicTemplate::parse("command topic", "$devices/{device_uuid}/commands").unwrap();
        assert_eq!(
            template.topic_for("are1").unwrap(),
            "$devices/are1/commands"
        );
        assert_eq!(template.device_of("$devices/are1/commands"), Some("are1"));
        assert_eq!(template.filter(), "$devices/+/commands");
        assert_eq!(
            shared(Some("coffee-pay"), &template.filter()),
            "$share/coffee-pay/$devices/+/commands"
        );
    }

    #[test]
    fn templates_without_a_whole_device_level_or_with_wildcards_are_refused() {
        for bad in [
            "vending/commands",
            "vending/x{device_uuid}/commands",
            "vending/{device_uuid}/{device_uuid}",
            "vending/+/{device_uuid}",
            "vending/{device_uuid}/#",
        ] {
            assert!(TopicTemplate::parse("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_files_need_mqtts_and_a_client_certificate_needs_its_key() {
        let mut config = MqttConfig::new("mqtt://localhost");
        assert_eq!(config.validate(), Ok(()));
        config.ca_file = Some("ca.pem".into());
        assert!(matches!(
            config.validate(),
            Err(ConfigError::TlsFilesWithoutTls(_))
        ));
        config.url = "mqtts://localhost".into();
        assert_eq!(config.validate(), Ok(()));
        config.client_cert_file = Some("c.pem".into());
        assert_eq!(config.validate(), Err(ConfigError::HalfClientAuth));
        config.client_key_file = Some("k.pem".into());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn every_configuration_gets_its_own_client_id_and_debug_hides_the_password() {
        let mut one = MqttConfig::new("mqtt://h");
        let two = MqttConfig::new("mqtt://h");
        assert_ne!(one.client_id, two.client_id);
        assert!(one.client_id.len() <= 23);
        one.password = Some("hunter2-secret".into());
        assert!(!format!("{one:?}").contains("hunter2"));
    }
}
