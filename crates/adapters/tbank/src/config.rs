//! The gateway's settings, injected by the server (this crate never reads the environment),
//! and their validation.

use ipnet::IpNet;
use reqwest::Url;
use std::time::Duration;

/// T-Bank's production MAPI root (the OpenAPI v1.80 `servers` entry). The test host
/// (`https://rest-api-test.tinkoff.ru/v2`) and `https://securepay.tbank.ru/v2` work by
/// setting [`TbankConfig::api_url`].
pub const DEFAULT_API_URL: &str = "https://securepay.tinkoff.ru/v2";

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("T-Bank api_url {0:?} is not an absolute http(s) URL")]
    InvalidApiUrl(String),
    #[error("T-Bank max_attempts must be at least 1")]
    NoAttempts,
    #[error("T-Bank notification_url {0:?} is not an absolute http(s) URL")]
    InvalidNotificationUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// How the gateway talks to T-Bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TbankConfig {
    /// API root without the trailing slash; default [`DEFAULT_API_URL`].
    pub api_url: String,
    /// Sent as `NotificationURL` in every `Init`, so nothing has to be set in T-Bank's
    /// cabinet: `BASE_URL` + [`crate::WEBHOOK_PATH`]. `None` leaves the cabinet's setting.
    pub notification_url: Option<String>,
    /// Total time allowed for one HTTP attempt; default 10 s.
    pub timeout: Duration,
    /// Time allowed to connect; default 5 s.
    pub connect_timeout: Duration,
    /// Attempts per call, the first included; default 3. Every attempt sends the same bytes.
    /// `Init` is the exception: it is sent once and settled with `CheckOrder`.
    pub max_attempts: u32,
    /// Backoff before the second attempt, doubled before each further one; default 500 ms.
    pub backoff_base: Duration,
    /// Upper bound of any backoff; default 5 s.
    pub max_backoff: Duration,
    /// Notification senders believed (the client address as the server's edge resolved it
    /// under `TRUSTED_PROXIES`). Empty, the default: any sender, because the `Token` already
    /// authenticates every notification; a list only narrows who may try.
    pub trusted_ips: Vec<IpNet>,
}

fn http_url(text: &str) -> Option<Url> {
    Url::parse(text.trim_end_matches('/'))
        .ok()
        .filter(|url| matches!(url.scheme(), "https" | "http") && !url.cannot_be_a_base())
}

impl TbankConfig {
    /// Checks what can be checked without the network; returns the API root, parsed.
    pub(crate) fn validate(&self) -> Result<Url, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::NoAttempts);
        }
        if let Some(url) = &self.notification_url {
            if http_url(url).is_none() {
                return Err(ConfigError::InvalidNotificationUrl(url.clone()));
            }
        }
        http_url(&self.api_url).ok_or_else(|| ConfigError::InvalidApiUrl(self.api_url.clone()))
    }
}

impl Default for TbankConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            notification_url: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            trusted_ips: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_root_is_the_official_production_host() {
        let root = TbankConfig::default().validate();
        assert_eq!(
            root.map(|u| u.to_string()),
            Ok("https://securepay.tinkoff.ru/v2".to_owned())
        );
    }

    #[test]
    fn api_and_notification_urls_must_be_absolute_http() {
        for bad in ["", "securepay.tinkoff.ru/v2", "mailto:x@y.z", "ftp://x/v2"] {
            let config = TbankConfig {
                api_url: bad.into(),
                ..TbankConfig::default()
            };
            assert!(
                matches!(config.validate(), Err(ConfigError::InvalidApiUrl(_))),
                "{bad}"
            );
            let config = TbankConfig {
                notification_url: Some(bad.into()),
                ..TbankConfig::default()
            };
            assert!(
                matches!(
                    config.validate(),
                    Err(ConfigError::InvalidNotificationUrl(_))
                ),
                "{bad}"
            );
        }
        let no_attempts = TbankConfig {
            max_attempts: 0,
            ..TbankConfig::default()
        };
        assert_eq!(no_attempts.validate(), Err(ConfigError::NoAttempts));
    }
}
