//! The transport: the reqwest client and its timeouts, the `Token` on every request, retries,
//! and the classification of every answer. MAPI answers HTTP 200 for refusals too: the truth is
//! `Success` + `ErrorCode` (`"0"` = done), with `Message` and `Details` saying why not. Network
//! errors and 5xx are retried with the same bytes (the same `Token`); bodies are never logged
//! (they may carry a receipt's email or phone).

use crate::account::TbankAccount;
use crate::config::{ConfigError, TbankConfig};
use crate::token;
use crate::transformers::Envelope;
use coffee_domain::ports::{error_chain, PaymentGatewayError};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// How we introduce ourselves to the service.
const USER_AGENT: &str = concat!("coffee-payments-server/", env!("CARGO_PKG_VERSION"));

/// `ErrorCode`s that mean our credentials are wrong, not the request: 204 "Неверный токен".
const TOKEN_ERROR_CODES: [&str; 1] = ["204"];

/// What went wrong with one MAPI call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TbankError {
    /// T-Bank answered and refused: its `ErrorCode`, `Message` and `Details`.
    #[error("T-Bank refused {method}: ErrorCode {code}: {message}")]
    Refused {
        method: &'static str,
        code: String,
        message: String,
        details: Option<String>,
    },
    /// No answer we can act on (network, timeout, 5xx) after every attempt.
    #[error("T-Bank {method} unavailable: {reason}")]
    Unavailable {
        method: &'static str,
        reason: String,
    },
    /// An answer we cannot read.
    #[error("T-Bank {method} answered something unreadable: {reason}")]
    InvalidResponse {
        method: &'static str,
        reason: String,
    },
}

impl From<TbankError> for PaymentGatewayError {
    fn from(error: TbankError) -> Self {
        match error {
            TbankError::Refused {
                code,
                message,
                details,
                ..
            } => {
                let message = match details {
                    Some(details) if !details.is_empty() => format!("{message} ({details})"),
                    _ => message,
                };
                if TOKEN_ERROR_CODES.contains(&code.as_str()) {
                    PaymentGatewayError::Unauthorized(format!("{code}: {message}"))
                } else {
                    PaymentGatewayError::Rejected { code, message }
                }
            }
            TbankError::Unavailable { .. } => PaymentGatewayError::Unavailable(error.to_string()),
            TbankError::InvalidResponse { .. } => {
                PaymentGatewayError::InvalidResponse(error.to_string())
            }
        }
    }
}

enum Attempt {
    Done(Result<Vec<u8>, TbankError>),
    Retry(String),
}

/// Whether a call may be repeated when its answer is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads and calls T-Bank settles by state (`Confirm`, `Cancel`): up to `max_attempts`.
    Safe,
    /// `Init`: a repeat could create a second payment, so it is sent once and settled by the
    /// caller with `CheckOrder`.
    Once,
}

/// Talks HTTP to MAPI for every terminal (credentials come with each call).
pub(crate) struct TbankClient {
    client: Client,
    api: Url,
    max_attempts: u32,
    backoff_base: Duration,
    max_backoff: Duration,
}

impl TbankClient {
    pub(crate) fn new(config: &TbankConfig) -> Result<Self, ConfigError> {
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

    fn url(&self, method: &str) -> Result<Url, TbankError> {
        let mut url = self.api.clone();
        url.path_segments_mut()
            .map_err(|()| TbankError::InvalidResponse {
                method: "url",
                reason: "API URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .push(method);
        Ok(url)
    }

    /// `POST /<method>` with `body` plus `TerminalKey` and `Token`; the answer decoded once
    /// T-Bank said `Success`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        account: &TbankAccount,
        method: &'static str,
        body: &impl Serialize,
        repeat: Repeat,
    ) -> Result<T, TbankError> {
        let mut params = match serde_json::to_value(body) {
            Ok(Value::Object(params)) => params,
            Ok(_) | Err(_) => {
                return Err(TbankError::InvalidResponse {
                    method,
                    reason: "request is not a JSON object".into(),
                })
            }
        };
        params.insert(
            "TerminalKey".to_owned(),
            Value::String(account.terminal_key.clone()),
        );
        token::sign(&mut params, &account.password);
        let bytes = encode(method, &params)?;
        let answer = self.send(method, bytes, repeat).await?;
        decode(method, &answer)
    }

    async fn send(
        &self,
        method: &'static str,
        body: Vec<u8>,
        repeat: Repeat,
    ) -> Result<Vec<u8>, TbankError> {
        let url = self.url(method)?;
        let attempts = match repeat {
            Repeat::Safe => self.max_attempts,
            Repeat::Once => 1,
        };
        let mut last_reason = String::new();
        for attempt in 1..=attempts {
            match self.attempt(method, &url, &body).await {
                Attempt::Done(result) => return result,
                Attempt::Retry(reason) => {
                    if attempt < attempts {
                        let wait = self.backoff(attempt);
                        tracing::warn!(
                            payment.provider = "tbank",
                            operation = method,
                            attempt,
                            "T-Bank {method} attempt {attempt} failed ({reason}); retrying with the same body"
                        );
                        tokio::time::sleep(wait).await;
                    }
                    last_reason = reason;
                }
            }
        }
        Err(TbankError::Unavailable {
            method,
            reason: format!("{last_reason} after {attempts} attempt(s)"),
        })
    }

    /// `backoff_base · 2^(attempt-1)`, never more than `max_backoff`.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    async fn attempt(&self, method: &'static str, url: &Url, body: &[u8]) -> Attempt {
        let request = self
            .client
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Attempt::Retry(describe_transport_error(&error)),
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes.to_vec(),
            Err(error) => {
                return Attempt::Retry(format!(
                    "HTTP {status}, body unreadable: {}",
                    describe_transport_error(&error)
                ))
            }
        };
        tracing::debug!(
            payment.provider = "tbank",
            operation = method,
            http.status = status.as_u16(),
            "T-Bank {method} answered {status}"
        );
        classify(method, status, bytes)
    }
}

fn encode(method: &'static str, params: &Map<String, Value>) -> Result<Vec<u8>, TbankError> {
    serde_json::to_vec(params).map_err(|e| TbankError::InvalidResponse {
        method,
        reason: format!("cannot encode the request: {e}"),
    })
}

fn decode<T: DeserializeOwned>(method: &'static str, body: &[u8]) -> Result<T, TbankError> {
    serde_json::from_slice(body).map_err(|e| TbankError::InvalidResponse {
        method,
        reason: e.to_string(),
    })
}

/// Maps one HTTP answer to done / retry: 5xx and 429 are retried; otherwise the body's
/// `Success`/`ErrorCode` decide, whatever the HTTP status.
fn classify(method: &'static str, status: StatusCode, body: Vec<u8>) -> Attempt {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Retry(format!("HTTP {}", status.as_u16()));
    }
    let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
    let Some(envelope) = envelope else {
        let reason = format!("HTTP {} without a MAPI answer", status.as_u16());
        return Attempt::Done(Err(if status.is_success() {
            TbankError::InvalidResponse { method, reason }
        } else {
            TbankError::Refused {
                method,
                code: format!("HTTP {}", status.as_u16()),
                message: status.canonical_reason().unwrap_or("HTTP error").to_owned(),
                details: None,
            }
        }));
    };
    let code = envelope.error_code.unwrap_or_else(|| "0".to_owned());
    if envelope.success == Some(false) || code != "0" {
        tracing::warn!(
            payment.provider = "tbank",
            operation = method,
            error.code = %code,
            "T-Bank refused {method}: ErrorCode {code}"
        );
        return Attempt::Done(Err(TbankError::Refused {
            method,
            code,
            message: envelope.message.unwrap_or_default(),
            details: envelope.details,
        }));
    }
    if !status.is_success() {
        return Attempt::Done(Err(TbankError::InvalidResponse {
            method,
            reason: format!("HTTP {} with a successful body", status.as_u16()),
        }));
    }
    Attempt::Done(Ok(body))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let config = TbankConfig {
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_millis(1_500),
            ..TbankConfig::default()
        };
        let client = match TbankClient::new(&config) {
            Ok(client) => client,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(client.backoff(1), Duration::from_millis(500));
        assert_eq!(client.backoff(2), Duration::from_millis(1_000));
        assert_eq!(client.backoff(3), Duration::from_millis(1_500));
        assert_eq!(client.backoff(40), Duration::from_millis(1_500));
    }

    #[test]
    fn refusals_keep_error_code_message_and_details_and_token_errors_mean_credentials() {
        let refused = classify(
            "Init",
            StatusCode::OK,
            r#"{"Success":false,"ErrorCode":"204","Message":"Неверный токен","Details":"Проверьте пару"}"#.as_bytes().to_vec(),
        );
        let Attempt::Done(Err(error)) = refused else {
            panic!("not a refusal")
        };
        assert!(
            matches!(&error, TbankError::Refused { code, details: Some(d), .. } if code == "204" && d == "Проверьте пару")
        );
        assert!(matches!(
            PaymentGatewayError::from(error),
            PaymentGatewayError::Unauthorized(_)
        ));
        let Attempt::Done(Err(other)) = classify(
            "Confirm",
            StatusCode::OK,
            br#"{"Success":false,"ErrorCode":"9999","Message":"no"}"#.to_vec(),
        ) else {
            panic!("not a refusal")
        };
        assert_eq!(
            PaymentGatewayError::from(other),
            PaymentGatewayError::Rejected {
                code: "9999".into(),
                message: "no".into()
            }
        );
        assert!(matches!(
            classify("GetState", StatusCode::BAD_GATEWAY, Vec::new()),
            Attempt::Retry(_)
        ));
    }
}
