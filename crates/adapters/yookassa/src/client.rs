//! The transport: the reqwest client and its timeouts, retries, and the classification of
//! every answer. One operation is up to `max_attempts` identical requests (same
//! `Idempotence-Key`, same body bytes): YooKassa asks for a repeat with the same key and data
//! when the result is unknown — HTTP 500 and other 5xx, 429 (rate limit), the legacy 202
//! "processing" and network errors. Bodies are never logged: they may carry a receipt's email
//! or phone.

use crate::account::YookassaAccount;
use crate::config::{ConfigError, YookassaConfig};
use crate::transformers::{ErrorWire, ProcessingWire};
use coffee_domain::ports::error_chain;
use coffee_domain::ports::PaymentGatewayError;
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Method, StatusCode, Url};
use std::time::Duration;

/// How we introduce ourselves to the service.
const USER_AGENT: &str = concat!("coffee-payments-server/", env!("CARGO_PKG_VERSION"));

/// Longest `Idempotence-Key` YooKassa accepts; a longer one is refused with `invalid_request`.
pub(crate) const MAX_IDEMPOTENCE_KEY_CHARS: usize = 64;

/// Whether a 404 means "no such payment" (reads) or a refused request (writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    NotFound,
    Rejected,
}

/// One API operation.
pub(crate) struct Call<'a> {
    /// For logs and error messages: `create`, `get`, `capture`, `cancel`, `refund`.
    pub(crate) operation: &'static str,
    pub(crate) method: Method,
    /// Path segments below the API root, percent-encoded by the transport.
    pub(crate) path: &'a [&'a str],
    pub(crate) idempotency_key: Option<&'a str>,
    /// Serialized once; every attempt sends the same bytes.
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) missing: Missing,
}

enum Attempt {
    Done(Result<Vec<u8>, PaymentGatewayError>),
    Retry {
        reason: String,
        wait_hint: Option<Duration>,
    },
}

/// Talks HTTP to the YooKassa API for every merchant (credentials come with each call).
pub(crate) struct YookassaClient {
    client: Client,
    api: Url,
    max_attempts: u32,
    backoff_base: Duration,
    max_backoff: Duration,
}

impl YookassaClient {
    pub(crate) fn new(config: &YookassaConfig) -> Result<Self, ConfigError> {
        let api = config.validate()?;
        let client = Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout.min(config.timeout))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(Self {
            client,
            api,
            max_attempts: config.max_attempts,
            backoff_base: config.backoff_base,
            max_backoff: config.max_backoff,
        })
    }

    fn url(&self, path: &[&str]) -> Result<Url, PaymentGatewayError> {
        let mut url = self.api.clone();
        url.path_segments_mut()
            .map_err(|()| PaymentGatewayError::Unavailable("API URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(path);
        Ok(url)
    }

    /// Runs the operation, returning the body of the first final 2xx answer.
    pub(crate) async fn execute(
        &self,
        account: &YookassaAccount,
        call: Call<'_>,
    ) -> Result<Vec<u8>, PaymentGatewayError> {
        let key = match call.idempotency_key {
            Some(key) => Some(idempotence_header(key)?),
            None => None,
        };
        let url = self.url(call.path)?;
        let mut last_reason = String::new();
        for attempt in 1..=self.max_attempts {
            match self.attempt(account, &call, &url, key.as_ref()).await {
                Attempt::Done(result) => return result,
                Attempt::Retry { reason, wait_hint } => {
                    if attempt < self.max_attempts {
                        let wait = self.backoff(attempt, wait_hint);
                        tracing::warn!(
                            payment.provider = "yookassa",
                            operation = call.operation,
                            attempt,
                            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            "YooKassa {} attempt {attempt} failed ({reason}); retrying with the same Idempotence-Key",
                            call.operation
                        );
                        tokio::time::sleep(wait).await;
                    }
                    last_reason = reason;
                }
            }
        }
        tracing::warn!(
            payment.provider = "yookassa",
            operation = call.operation,
            attempts = self.max_attempts,
            "YooKassa {} gave up: {last_reason}",
            call.operation
        );
        Err(PaymentGatewayError::Unavailable(format!(
            "YooKassa {} failed after {} attempt(s): {last_reason}",
            call.operation, self.max_attempts
        )))
    }

    /// The wait after failed attempt number `attempt` (1-based): the server's hint if it gave
    /// one, otherwise `backoff_base · 2^(attempt-1)`; never more than `max_backoff`.
    fn backoff(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        let exponential = || {
            let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
            self.backoff_base.saturating_mul(factor)
        };
        hint.unwrap_or_else(exponential).min(self.max_backoff)
    }

    async fn attempt(
        &self,
        account: &YookassaAccount,
        call: &Call<'_>,
        url: &Url,
        key: Option<&HeaderValue>,
    ) -> Attempt {
        let mut request = self
            .client
            .request(call.method.clone(), url.clone())
            .basic_auth(&account.shop_id, Some(account.secret_key.expose()))
            .header(ACCEPT, "application/json");
        if let Some(key) = key {
            request = request.header("Idempotence-Key", key.clone());
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Retry {
                    reason: describe_transport_error(&error),
                    wait_hint: None,
                }
            }
        };
        let status = response.status();
        let retry_after = retry_after_header(response.headers().get(RETRY_AFTER));
        let body = match response.bytes().await {
            Ok(bytes) => bytes.to_vec(),
            Err(error) => {
                return Attempt::Retry {
                    reason: format!(
                        "HTTP {status}, body unreadable: {}",
                        describe_transport_error(&error)
                    ),
                    wait_hint: None,
                }
            }
        };
        tracing::debug!(
            payment.provider = "yookassa",
            operation = call.operation,
            http.status = status.as_u16(),
            "YooKassa {} answered {status}",
            call.operation
        );
        classify(call, status, retry_after, body)
    }
}

/// Maps one HTTP answer to done / retry.
fn classify(
    call: &Call<'_>,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
) -> Attempt {
    if status == StatusCode::ACCEPTED {
        // Legacy "processing": repeat with the same key; the body may say when (in ms).
        let hint = retry_after.or_else(|| {
            serde_json::from_slice::<ProcessingWire>(&body)
                .ok()
                .and_then(|p| p.retry_after)
                .map(Duration::from_millis)
        });
        return Attempt::Retry {
            reason: "HTTP 202 processing".into(),
            wait_hint: hint,
        };
    }
    if status.is_success() {
        return Attempt::Done(Ok(body));
    }
    let error = ErrorWire::parse(&body);
    let code = error.code_or(status.as_u16());
    let message = error.message_or(status.canonical_reason().unwrap_or("HTTP error"));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Attempt::Retry {
            reason: format!("HTTP {}: {code}", status.as_u16()),
            wait_hint: retry_after,
        };
    }
    tracing::warn!(
        payment.provider = "yookassa",
        operation = call.operation,
        http.status = status.as_u16(),
        error.code = %code,
        error.id = error.id.as_deref().unwrap_or(""),
        "YooKassa refused {}: {code}",
        call.operation
    );
    let result = match status {
        StatusCode::UNAUTHORIZED => Err(PaymentGatewayError::Unauthorized(format!(
            "{code}: {message}"
        ))),
        StatusCode::NOT_FOUND if call.missing == Missing::NotFound => {
            Err(PaymentGatewayError::NotFound)
        }
        _ if status.is_client_error() => Err(PaymentGatewayError::Rejected { code, message }),
        // 1xx/3xx (redirects are not followed: credentials never go elsewhere).
        _ => Err(PaymentGatewayError::InvalidResponse(format!(
            "YooKassa {} answered unexpected HTTP {}",
            call.operation,
            status.as_u16()
        ))),
    };
    Attempt::Done(result)
}

/// `Retry-After: <seconds>`; the HTTP-date form is ignored (exponential backoff applies).
fn retry_after_header(value: Option<&HeaderValue>) -> Option<Duration> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        format!("cannot connect: {}", error_chain(error))
    } else {
        format!("network error: {}", error_chain(error))
    }
}

/// Checks the caller's key once: YooKassa refuses keys longer than 64 characters, and a
/// header cannot carry control characters.
fn idempotence_header(key: &str) -> Result<HeaderValue, PaymentGatewayError> {
    let refuse = |why: &str| PaymentGatewayError::Rejected {
        code: "invalid_idempotence_key".to_owned(),
        message: why.to_owned(),
    };
    if key.is_empty() {
        return Err(refuse("Idempotence-Key is empty"));
    }
    if key.chars().count() > MAX_IDEMPOTENCE_KEY_CHARS {
        return Err(refuse("Idempotence-Key is longer than 64 characters"));
    }
    HeaderValue::from_str(key).map_err(|_| refuse("Idempotence-Key is not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base_ms: u64, max_ms: u64) -> YookassaClient {
        let config = YookassaConfig {
            backoff_base: Duration::from_millis(base_ms),
            max_backoff: Duration::from_millis(max_ms),
            ..YookassaConfig::default()
        };
        match YookassaClient::new(&config) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped_and_follows_server_hints() {
        let t = client(500, 3_000);
        assert_eq!(t.backoff(1, None), Duration::from_millis(500));
        assert_eq!(t.backoff(2, None), Duration::from_millis(1_000));
        assert_eq!(t.backoff(3, None), Duration::from_millis(2_000));
        assert_eq!(t.backoff(4, None), Duration::from_millis(3_000));
        assert_eq!(t.backoff(40, None), Duration::from_millis(3_000));
        assert_eq!(
            t.backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            t.backoff(1, Some(Duration::from_secs(1800))),
            Duration::from_millis(3_000)
        );
    }

    #[test]
    fn idempotence_keys_are_checked_before_sending() {
        assert!(idempotence_header("coffee-create-67e55044-10b1-426f-9247-bb680e5fe0c8").is_ok());
        assert!(idempotence_header(&"k".repeat(64)).is_ok());
        for bad in [String::new(), "k".repeat(65), "a\nb".to_owned()] {
            assert!(
                matches!(idempotence_header(&bad), Err(PaymentGatewayError::Rejected { ref code, .. }) if code == "invalid_idempotence_key"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn paths_are_percent_encoded_segments_below_the_api_root() {
        let t = client(1, 1);
        let url = match t.url(&["payments", "a/b?c"]) {
            Ok(url) => url,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            url.as_str(),
            "https://api.yookassa.ru/v3/payments/a%2Fb%3Fc"
        );
    }
}
