//! The gateway's settings, injected by the server (this crate never reads the environment),
//! and their validation.

use crate::network::parse_cidr;
use ipnet::IpNet;
use reqwest::Url;
use std::time::Duration;

/// YooKassa's production API root.
pub const DEFAULT_API_URL: &str = "https://api.yookassa.ru/v3";

/// The networks YooKassa sends notifications from, verbatim from its webhook documentation
/// (<https://yookassa.ru/developers/using-api/webhooks>). The IPv6 entry is the documentation's
/// `/32`, wider than the official SDK's four `/64`s.
pub const YOOKASSA_NETWORKS: [&str; 7] = [
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11",
    "77.75.156.35",
    "77.75.154.128/25",
    "2a02:5180::/32",
];

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("YooKassa api_url {0:?} is not an absolute http(s) URL")]
    InvalidApiUrl(String),
    #[error("YooKassa max_attempts must be at least 1")]
    NoAttempts,
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// How the gateway talks to YooKassa and whom it believes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YookassaConfig {
    /// API root without the trailing slash; default [`DEFAULT_API_URL`]. Tests point it at
    /// a mock server.
    pub api_url: String,
    /// Total time allowed for one HTTP attempt (connect, send, read); default 10 s.
    pub timeout: Duration,
    /// Time allowed to connect; default 5 s (never more than `timeout` in effect).
    pub connect_timeout: Duration,
    /// Attempts per operation, the first included; default 3. All attempts of one operation
    /// carry the same `Idempotence-Key` and body.
    pub max_attempts: u32,
    /// Backoff before the second attempt, doubled before each further one; default 500 ms.
    pub backoff_base: Duration,
    /// Upper bound of any backoff, `Retry-After` included; default 5 s.
    pub max_backoff: Duration,
    /// Networks notifications are accepted from; default [`YOOKASSA_NETWORKS`].
    pub trusted_ips: Vec<IpNet>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`crate::client_ip`]);
    /// default none. The gateway itself does not use it: the server resolves the sender.
    pub trusted_proxies: Vec<IpNet>,
}

impl YookassaConfig {
    /// Checks what can be checked without the network; returns the API root, parsed.
    pub(crate) fn validate(&self) -> Result<Url, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::NoAttempts);
        }
        Url::parse(self.api_url.trim_end_matches('/'))
            .ok()
            .filter(|url| matches!(url.scheme(), "https" | "http") && !url.cannot_be_a_base())
            .ok_or_else(|| ConfigError::InvalidApiUrl(self.api_url.clone()))
    }

    /// The official notification networks, parsed.
    pub fn default_trusted_ips() -> Vec<IpNet> {
        YOOKASSA_NETWORKS
            .iter()
            .filter_map(|cidr| parse_cidr(cidr).ok())
            .collect()
    }
}

impl Default for YookassaConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            trusted_ips: Self::default_trusted_ips(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_official_network_parses() {
        assert_eq!(
            YookassaConfig::default_trusted_ips().len(),
            YOOKASSA_NETWORKS.len()
        );
    }

    #[test]
    fn api_urls_must_be_absolute_http() {
        for bad in ["", "api.yookassa.ru/v3", "mailto:x@y.z", "ftp://x/v3"] {
            let config = YookassaConfig {
                api_url: bad.into(),
                ..YookassaConfig::default()
            };
            assert!(
                matches!(config.validate(), Err(ConfigError::InvalidApiUrl(_))),
                "{bad}"
            );
        }
        let no_attempts = YookassaConfig {
            max_attempts: 0,
            ..YookassaConfig::default()
        };
        assert!(matches!(
            no_attempts.validate(),
            Err(ConfigError::NoAttempts)
        ));
    }
}
