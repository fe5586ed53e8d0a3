//! The gateway's settings, handed over by the server (the adapter never reads environment
//! variables itself), and their validation.

use std::fmt;
use std::time::Duration;

/// How long one Tmetr call (or one token-endpoint call) may take, connect included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the Tmetr gateway.
#[derive(Clone, PartialEq, Eq)]
pub struct TmetrConfig {
    /// `https://telemetry.fwsoft.ru` — no trailing slash; see [`TmetrConfig::base_url_from_host`].
    pub base_url: String,
    /// A static bearer token (`TMETR_TOKEN`). With [`TmetrConfig::refresh`] it is only the
    /// first access token; without it, it is used until it is replaced with
    /// [`crate::TmetrGateway::set_token`].
    pub token: Option<String>,
    /// How to obtain fresh access tokens from the identity provider (Keycloak).
    pub refresh: Option<TokenRefresh>,
    /// Timeout of every call, connect included. Default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
}

/// An OAuth2 token endpoint and the credentials for it.
///
/// With `refresh_token` the adapter uses the `refresh_token` grant (and keeps the rotated
/// refresh token the endpoint returns); otherwise the `client_credentials` grant with
/// `client_id` and `client_secret`. When a refresh token is refused and a client secret is
/// configured, the adapter falls back to `client_credentials`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRefresh {
    /// E.g. `https://login.<env>.tmetr.ru/auth/realms/<realm>/protocol/openid-connect/token`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
}

impl TmetrConfig {
    /// A configuration with no credentials yet and the default timeout; `base_url` goes through
    /// [`TmetrConfig::base_url_from_host`], so a bare host works too.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: Self::base_url_from_host(base_url),
            token: None,
            refresh: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `telemetry.fwsoft.ru` → `https://telemetry.fwsoft.ru` (what the original's
    /// `TMETR_HOST` meant); a value that already has a scheme, such as
    /// `http://127.0.0.1:9000/`, is used as is, trailing slashes trimmed.
    pub fn base_url_from_host(host: &str) -> String {
        let host = host.trim();
        let url = if host.contains("://") {
            host.to_owned()
        } else {
            format!("https://{host}")
        };
        url.trim_end_matches('/').to_owned()
    }
}

/// Secrets stay out of logs: `Debug` shows only whether they are set.
impl fmt::Debug for TmetrConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TmetrConfig")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("refresh", &self.refresh)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Debug for TokenRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRefresh")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why a gateway could not be built from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("tmetr base URL {0:?} is not an http(s) URL")]
    BadBaseUrl(String),
    #[error("tmetr token URL {0:?} is not an http(s) URL")]
    BadTokenUrl(String),
    #[error("tmetr needs a token or a token refresh configuration")]
    NoCredentials,
    #[error("tmetr token refresh needs a client secret or a refresh token")]
    NoRefreshCredentials,
    #[error("tmetr timeout must be greater than zero")]
    ZeroTimeout,
    #[error("tmetr HTTP client could not be built: {0}")]
    HttpClient(String),
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    matches!(rest, Some(host) if !host.is_empty() && !host.starts_with('/'))
}

impl TmetrConfig {
    /// Checks what can be checked without the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_http_url(&self.base_url) {
            return Err(ConfigError::BadBaseUrl(self.base_url.clone()));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        let has_token = self.token.as_deref().is_some_and(|t| !t.trim().is_empty());
        match &self.refresh {
            None if !has_token => Err(ConfigError::NoCredentials),
            None => Ok(()),
            Some(refresh) => {
                if !is_http_url(&refresh.token_url) {
                    return Err(ConfigError::BadTokenUrl(refresh.token_url.clone()));
                }
                if refresh.client_secret.is_none() && refresh.refresh_token.is_none() {
                    return Err(ConfigError::NoRefreshCredentials);
                }
                Ok(())
            }
        }
    }
}
