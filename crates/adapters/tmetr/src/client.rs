//! The transport: the reqwest client (one timeout for connect and the whole call, redirects
//! not followed), the bearer token on every call with one refresh after a 401, and the
//! classification of outcomes into [`MachineError`]s: 429, 5xx, timeouts and network errors
//! are `Unavailable` (the caller retries); any other non-2xx is `Rejected` (permanent). A make
//! command is classified more carefully: only what certainly did not reach Tmetr (no
//! connection, 429, 503) is `Unavailable`; a timeout after sending or another 5xx (a proxy's
//! 502/504 may hide an accepted command) is `OutcomeUnknown`, never retried.

use crate::config::{ConfigError, TmetrConfig};
use crate::token::{BearerToken, TokenProvider};
use coffee_domain::ports::error_chain;
use coffee_domain::ports::MachineError;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::Serialize;

/// How we introduce ourselves to the service.
const USER_AGENT: &str = concat!("coffee-payments-server/", env!("CARGO_PKG_VERSION"));

/// The three Tmetr endpoints the server uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint {
    Drink,
    Make,
    Heartbeat,
    /// The token refresh URL (configured apart from the base URL).
    Token,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Drink => "/api/ui/v1/static/drink",
            Endpoint::Make => "/api/commander/v1/command/make",
            Endpoint::Heartbeat => "/api/ui/v1/stat/heartbeat/recent",
            Endpoint::Token => "",
        }
    }

    /// A request whose repetition could brew a second drink.
    fn is_command(self) -> bool {
        matches!(self, Endpoint::Make)
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Drink => "tmetr static/drink",
            Endpoint::Make => "tmetr command/make",
            Endpoint::Heartbeat => "tmetr heartbeat/recent",
            Endpoint::Token => "tmetr token endpoint",
        }
    }
}

/// Talks HTTP to Tmetr: one connection pool and one token cache for all calls.
pub(crate) struct TmetrClient {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenProvider,
}

impl TmetrClient {
    /// Builds the client; no network traffic until the first call. A static token's expiry
    /// is checked (and warned about) here already.
    pub(crate) fn new(config: TmetrConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirected POST may become a GET; a redirect means a wrong base URL anyway.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        let tokens = TokenProvider::new(http.clone(), config.token, config.refresh);
        Ok(Self {
            http,
            base_url: TmetrConfig::base_url_from_host(&config.base_url),
            tokens,
        })
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Replaces the bearer token; see [`crate::TmetrGateway::set_token`].
    pub(crate) async fn set_token(&self, token: String) {
        self.tokens.replace(token).await;
    }

    /// POSTs `body` with a bearer token; on a 401 with refresh configured, gets one new token
    /// and tries once more. Returns the 2xx body.
    pub(crate) async fn call<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<String, MachineError> {
        let token = self.tokens.current().await?;
        let (status, text) = self.send(endpoint, body, &token).await?;
        let (status, text) = if status == StatusCode::UNAUTHORIZED && self.tokens.can_refresh() {
            tracing::info!(
                endpoint = endpoint.name(),
                "tmetr refused the token; refreshing once"
            );
            let token = self.tokens.refresh_after_rejection(&token).await?;
            self.send(endpoint, body, &token).await?
        } else {
            (status, text)
        };
        classify_status(endpoint, status, &text)?;
        Ok(text)
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        body: &B,
        token: &BearerToken,
    ) -> Result<(StatusCode, String), MachineError> {
        let mut bearer =
            HeaderValue::try_from(format!("Bearer {}", token.value)).map_err(|_| {
                MachineError::Rejected(
                    "tmetr token contains characters not allowed in a header".into(),
                )
            })?;
        bearer.set_sensitive(true);
        let mut request = self
            .http
            .post(format!("{}{}", self.base_url, endpoint.path()))
            .header(AUTHORIZATION, bearer)
            .header(CONTENT_TYPE, "application/json")
            // The original hard-coded `TimeZoneOffset: 3` (Moscow). Its unit (hours or
            // minutes) and effect are undocumented, and heartbeatCreatedAt comes back
            // "shifted into" the requested zone. With 0 either unit means UTC, so the
            // timestamps we read are true Unix times and nothing needs un-shifting.
            .header("TimeZoneOffset", "0")
            .json(body);
        if matches!(endpoint, Endpoint::Heartbeat) {
            // The header the heartbeat endpoint's only written description names; 0 for the
            // same reason as above.
            request = request.header("X-TimeZoneOffset", "0");
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(endpoint, &e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| transport_error(endpoint, &e))?;
        Ok((status, text))
    }
}

/// At most this many characters of a response body go into an error message.
const EXCERPT_CHARS: usize = 200;

/// The start of a body, on one line, for error messages and logs.
pub(crate) fn excerpt(body: &str) -> String {
    let mut out: String = body
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out.trim().to_owned()
}

/// `Ok` for 2xx; otherwise the error the caller should see.
pub(crate) fn classify_status(
    endpoint: Endpoint,
    status: StatusCode,
    body: &str,
) -> Result<(), MachineError> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!("{} answered {status}: {}", endpoint.name(), excerpt(body));
    let nothing_accepted =
        status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
    if status.is_server_error() && endpoint.is_command() && !nothing_accepted {
        // A gateway in front of Tmetr may answer 502/504 after Tmetr took the command.
        Err(MachineError::OutcomeUnknown(message))
    } else if status.is_server_error() || nothing_accepted {
        Err(MachineError::Unavailable(message))
    } else {
        // 4xx, and 3xx too: redirects are not followed (a POST must not turn into a GET), so
        // a redirect means a wrong base URL — retrying will not fix it.
        Err(MachineError::Rejected(message))
    }
}

/// A request that got no HTTP answer: timeout, refused connection, TLS or body error. For a
/// make command only a failed connection proves the command was not delivered.
pub(crate) fn transport_error(endpoint: Endpoint, error: &reqwest::Error) -> MachineError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // The chain names the URL (never a secret: tokens travel in headers) and the root cause.
    let message = format!("{} {kind}: {}", endpoint.name(), error_chain(error));
    if endpoint.is_command() && !error.is_connect() {
        MachineError::OutcomeUnknown(message)
    } else {
        MachineError::Unavailable(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(endpoint: Endpoint, status: u16) -> Result<(), MachineError> {
        classify_status(endpoint, StatusCode::from_u16(status).unwrap(), "")
    }

    #[test]
    fn server_errors_and_throttling_are_retryable_and_client_errors_are_not() {
        let unavailable = |s: u16| {
            matches!(
                classify(Endpoint::Drink, s),
                Err(MachineError::Unavailable(_))
            )
        };
        let rejected =
            |s: u16| matches!(classify(Endpoint::Drink, s), Err(MachineError::Rejected(_)));
        assert!(classify(Endpoint::Drink, 200).is_ok());
        assert!(classify(Endpoint::Make, 202).is_ok());
        assert!(unavailable(500) && unavailable(502) && unavailable(503) && unavailable(429));
        assert!(rejected(400) && rejected(401) && rejected(404) && rejected(422) && rejected(302));
    }

    #[test]
    fn a_make_command_is_retried_only_when_tmetr_certainly_did_not_take_it() {
        let unknown = |s: u16| {
            matches!(
                classify(Endpoint::Make, s),
                Err(MachineError::OutcomeUnknown(_))
            )
        };
        let unavailable = |s: u16| {
            matches!(
                classify(Endpoint::Make, s),
                Err(MachineError::Unavailable(_))
            )
        };
        assert!(unknown(500) && unknown(502) && unknown(504));
        assert!(unavailable(503) && unavailable(429));
        assert!(matches!(
            classify(Endpoint::Make, 409),
            Err(MachineError::Rejected(_))
        ));
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt("a\nb"), "a b");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 1);
    }
}
