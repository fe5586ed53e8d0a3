//! Bearer tokens for Tmetr (used by the client on every call): a static JWT watched for expiry, or access tokens obtained and
//! refreshed from an OAuth2 token endpoint (Keycloak).
//!
//! The decisions are pure functions ([`jwt_expiry`], [`static_token_health`],
//! [`needs_refresh`]) so they can be tested without clocks or logs; [`TokenProvider`] applies
//! them. A refresh happens under one async mutex, so concurrent callers wait for one token
//! request instead of each sending their own.

use crate::client::{classify_status, excerpt, transport_error, Endpoint};
use crate::config::TokenRefresh;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use coffee_domain::ports::MachineError;
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A static token expiring sooner than this (in seconds: two hours) is reported with a warning.
pub const EXPIRY_WARNING_SECS: i64 = 2 * 60 * 60;

/// A cached access token is refreshed when less than this remains...
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// ...or when less than this fraction (1/`REFRESH_FRACTION`) of its lifetime remains.
pub const REFRESH_FRACTION: u32 = 10;

/// The `exp` claim of a JWT, read without checking the signature (we only want to know when
/// our own token stops working). `None` when the token is not a JWT or has no numeric `exp`.
pub fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let claims = jwt_claims(token)?;
    let exp = claims.get("exp")?.as_i64()?;
    DateTime::from_timestamp(exp, 0)
}

fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut parts = token.trim().split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    // Some issuers pad base64url; the JWT spec does not. Accept both.
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// What a static token's `exp` says at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHealth {
    /// More than [`EXPIRY_WARNING_SECS`] left.
    Valid,
    /// Expires within [`EXPIRY_WARNING_SECS`]: rotate it now.
    ExpiresSoon { expires_at: DateTime<Utc> },
    /// Already expired: every call will be refused.
    Expired { expires_at: DateTime<Utc> },
    /// Not a JWT or no `exp`: nothing to warn about in advance.
    Unknown,
}

/// Decides whether a static token needs an operator's attention.
pub fn static_token_health(token: &str, now: DateTime<Utc>) -> TokenHealth {
    match jwt_expiry(token) {
        None => TokenHealth::Unknown,
        Some(expires_at) => health_at(expires_at, now),
    }
}

fn health_at(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> TokenHealth {
    if expires_at <= now {
        return TokenHealth::Expired { expires_at };
    }
    if expires_at - now <= chrono::Duration::seconds(EXPIRY_WARNING_SECS) {
        TokenHealth::ExpiresSoon { expires_at }
    } else {
        TokenHealth::Valid
    }
}

/// Whether a cached access token with `remaining` of its `lifetime` left must be refreshed
/// before use: less than [`REFRESH_MARGIN`] or less than a tenth of the lifetime left.
pub fn needs_refresh(remaining: Duration, lifetime: Option<Duration>) -> bool {
    let fraction = lifetime.map_or(Duration::ZERO, |l| l / REFRESH_FRACTION);
    remaining < REFRESH_MARGIN.max(fraction)
}

/// A token handed to one call; `generation` tells a later 401 which token was refused.
#[derive(Debug, Clone)]
pub(crate) struct BearerToken {
    pub(crate) value: String,
    generation: u64,
}

#[derive(Debug)]
struct Access {
    value: String,
    /// When it stops working, if known.
    expires_at: Option<Instant>,
    lifetime: Option<Duration>,
    /// The `exp` claim, for warnings about a static token.
    jwt_exp: Option<DateTime<Utc>>,
}

impl Access {
    fn new(value: String, expires_in: Option<Duration>) -> Self {
        let now = Instant::now();
        let jwt_exp = jwt_expiry(&value);
        let (expires_at, lifetime) = match expires_in {
            Some(lifetime) => (Some(now + lifetime), Some(lifetime)),
            None => {
                // No expires_in: fall back to the JWT's own exp (and iat for the lifetime).
                let remaining = jwt_exp.map(|exp| (exp - Utc::now()).to_std().unwrap_or_default());
                let lifetime = jwt_claims(&value).and_then(|c| {
                    let span = c.get("exp")?.as_i64()? - c.get("iat")?.as_i64()?;
                    u64::try_from(span).ok().map(Duration::from_secs)
                });
                (remaining.map(|r| now + r), lifetime)
            }
        };
        Self {
            value,
            expires_at,
            lifetime,
            jwt_exp,
        }
    }

    fn is_fresh(&self) -> bool {
        match self.expires_at {
            None => true, // unknown expiry: used until Tmetr answers 401
            Some(at) => !needs_refresh(at.saturating_duration_since(Instant::now()), self.lifetime),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Warned {
    Nothing,
    Soon,
    Expired,
}

#[derive(Debug)]
struct State {
    access: Option<Access>,
    refresh_token: Option<String>,
    generation: u64,
    warned: Warned,
}

/// The token endpoint's answer (RFC 6749, section 5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

/// Hands out bearer tokens to the gateway's calls.
pub(crate) struct TokenProvider {
    http: reqwest::Client,
    refresh: Option<TokenRefresh>,
    state: Mutex<State>,
}

impl TokenProvider {
    pub(crate) fn new(
        http: reqwest::Client,
        token: Option<String>,
        refresh: Option<TokenRefresh>,
    ) -> Self {
        let access = token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(|t| Access::new(t, None));
        let mut state = State {
            refresh_token: refresh.as_ref().and_then(|r| r.refresh_token.clone()),
            access,
            generation: 0,
            warned: Warned::Nothing,
        };
        if refresh.is_none() {
            warn_about_static_token(&mut state);
        }
        Self {
            http,
            refresh,
            state: Mutex::new(state),
        }
    }

    /// Whether a refused token can be replaced by asking the token endpoint.
    pub(crate) fn can_refresh(&self) -> bool {
        self.refresh.is_some()
    }

    /// The token to send now, refreshed first when it is missing or about to expire.
    pub(crate) async fn current(&self) -> Result<BearerToken, MachineError> {
        let mut state = self.state.lock().await;
        if self.refresh.is_none() {
            warn_about_static_token(&mut state);
        } else if !state.access.as_ref().is_some_and(Access::is_fresh) {
            self.obtain(&mut state).await?;
        }
        bearer(&state)
    }

    /// Tmetr refused `refused` with 401: get a new token, unless another caller already did.
    pub(crate) async fn refresh_after_rejection(
        &self,
        refused: &BearerToken,
    ) -> Result<BearerToken, MachineError> {
        let mut state = self.state.lock().await;
        if state.generation == refused.generation || state.access.is_none() {
            self.obtain(&mut state).await?;
        }
        bearer(&state)
    }

    /// Replaces the access token (a rotated static token), without a restart.
    pub(crate) async fn replace(&self, token: String) {
        let token = token.trim().to_owned();
        if token.is_empty() {
            tracing::warn!("ignoring an empty tmetr token; keeping the current one");
            return;
        }
        let mut state = self.state.lock().await;
        state.access = Some(Access::new(token, None));
        state.generation += 1;
        state.warned = Warned::Nothing;
        if self.refresh.is_none() {
            warn_about_static_token(&mut state);
        }
    }

    async fn obtain(&self, state: &mut State) -> Result<(), MachineError> {
        let Some(refresh) = &self.refresh else {
            return Err(MachineError::Rejected(
                "tmetr token refused and no token refresh is configured".into(),
            ));
        };
        let answer = match state.refresh_token.clone() {
            Some(refresh_token) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", refresh_token),
                    ("client_id", refresh.client_id.clone()),
                ];
                if let Some(secret) = &refresh.client_secret {
                    form.push(("client_secret", secret.clone()));
                }
                match self.request(refresh, &form).await {
                    Err(MachineError::Rejected(reason)) if refresh.client_secret.is_some() => {
                        tracing::warn!(
                            %reason,
                            "tmetr refresh token refused; falling back to client credentials"
                        );
                        state.refresh_token = None;
                        self.client_credentials(refresh).await
                    }
                    other => other,
                }
            }
            None => self.client_credentials(refresh).await,
        }?;
        if answer.access_token.trim().is_empty() {
            return Err(MachineError::Unavailable(
                "tmetr token endpoint returned an empty access_token".into(),
            ));
        }
        if answer.refresh_token.is_some() {
            state.refresh_token = answer.refresh_token;
        }
        let expires_in = answer.expires_in.map(Duration::from_secs);
        state.access = Some(Access::new(answer.access_token, expires_in));
        state.generation += 1;
        tracing::info!(
            expires_in_s = answer.expires_in,
            generation = state.generation,
            "tmetr access token obtained"
        );
        Ok(())
    }

    async fn client_credentials(
        &self,
        refresh: &TokenRefresh,
    ) -> Result<TokenResponse, MachineError> {
        let Some(secret) = &refresh.client_secret else {
            return Err(MachineError::Rejected(
                "tmetr token endpoint: no refresh token and no client secret".into(),
            ));
        };
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", refresh.client_id.clone()),
            ("client_secret", secret.clone()),
        ];
        self.request(refresh, &form).await
    }

    async fn request(
        &self,
        refresh: &TokenRefresh,
        form: &[(&str, String)],
    ) -> Result<TokenResponse, MachineError> {
        const WHAT: &str = "tmetr token endpoint";
        let response = self
            .http
            .post(&refresh.token_url)
            .form(form)
            .send()
            .await
            .map_err(|e| transport_error(Endpoint::Token, &e))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| transport_error(Endpoint::Token, &e))?;
        classify_status(Endpoint::Token, status, &body)?;
        serde_json::from_str::<TokenResponse>(&body).map_err(|e| {
            MachineError::Unavailable(format!(
                "{WHAT} answered unreadable JSON ({e}): {}",
                excerpt(&body)
            ))
        })
    }
}

fn bearer(state: &State) -> Result<BearerToken, MachineError> {
    match &state.access {
        Some(access) => Ok(BearerToken {
            value: access.value.clone(),
            generation: state.generation,
        }),
        None => Err(MachineError::Rejected("no tmetr token configured".into())),
    }
}

/// Logs once per level: a warning when the static token expires within two hours, an error
/// once it has expired.
fn warn_about_static_token(state: &mut State) {
    let Some(exp) = state.access.as_ref().and_then(|a| a.jwt_exp) else {
        return;
    };
    match health_at(exp, Utc::now()) {
        TokenHealth::Expired { expires_at } if state.warned < Warned::Expired => {
            state.warned = Warned::Expired;
            tracing::error!(
                %expires_at,
                "tmetr token has expired: every Tmetr call will be refused until it is replaced"
            );
        }
        TokenHealth::ExpiresSoon { expires_at } if state.warned < Warned::Soon => {
            state.warned = Warned::Soon;
            tracing::warn!(
                %expires_at,
                "tmetr token expires within two hours: rotate TMETR_TOKEN or configure token refresh"
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn a_cached_token_without_expiry_is_fresh_until_tmetr_refuses_it() {
        assert!(Access::new("opaque".into(), None).is_fresh());
    }

    #[test]
    fn the_lifetime_of_a_token_without_expires_in_comes_from_its_claims() {
        let exp = Utc::now().timestamp() + 36_000;
        let access = Access::new(
            jwt(&format!(r#"{{"exp":{exp},"iat":{}}}"#, exp - 36_000)),
            None,
        );
        assert_eq!(access.lifetime, Some(Duration::from_secs(36_000)));
        assert!(access.is_fresh());
    }
}
