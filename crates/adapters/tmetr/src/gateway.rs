//! [`TmetrGateway`]: the domain's [`MachineGateway`] over Tmetr's HTTP API.

use crate::config::{TmetrConfig, TmetrConfigError};
use crate::http::{classify_status, transport_error};
use crate::token::{BearerToken, TokenProvider};
use crate::wire::{parse_heartbeat, parse_price, DrinkRequest, HeartbeatRequest, MakeRequest};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{MachineError, MachineGateway, MakeCommand};
use coffee_domain::{Device, DrinkNo, Money, Size};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;

/// The three Tmetr endpoints (reference §9.4).
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Drink,
    Make,
    Heartbeat,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Drink => "/api/ui/v1/static/drink",
            Endpoint::Make => "/api/commander/v1/command/make",
            Endpoint::Heartbeat => "/api/ui/v1/stat/heartbeat/recent",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Drink => "tmetr static/drink",
            Endpoint::Make => "tmetr command/make",
            Endpoint::Heartbeat => "tmetr heartbeat/recent",
        }
    }
}

/// Talks to Tmetr for devices whose `machine` is `tmetr`. Cheap to share behind an `Arc`;
/// one connection pool and one token cache for all calls.
pub struct TmetrGateway {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenProvider,
}

impl std::fmt::Debug for TmetrGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TmetrGateway")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl TmetrGateway {
    /// Builds the gateway; no network traffic until the first call. A static token's expiry
    /// is checked (and warned about) here already.
    pub fn new(config: TmetrConfig) -> Result<Self, TmetrConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirected POST may become a GET; a redirect means a wrong base URL anyway.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "coffee-payments-server/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| TmetrConfigError::Client(e.to_string()))?;
        let tokens = TokenProvider::new(http.clone(), config.token, config.refresh);
        Ok(Self {
            http,
            base_url: TmetrConfig::base_url_from_host(&config.base_url),
            tokens,
        })
    }

    /// Replaces the bearer token (a rotated `TMETR_TOKEN`) without a restart; the next call
    /// uses it (a blank token is ignored). With token refresh configured, the refreshed
    /// tokens replace it in turn.
    pub async fn set_token(&self, token: impl Into<String>) {
        self.tokens.replace(token.into()).await;
    }

    /// POSTs `body` with a bearer token; on a 401 with refresh configured, gets one new token
    /// and tries once more. Returns the 2xx body.
    async fn call<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        body: &B,
    ) -> Result<String, MachineError> {
        let token = self.tokens.current().await?;
        let (status, text) = self.send(endpoint, body, &token).await?;
        let (status, text) =
            if status == reqwest::StatusCode::UNAUTHORIZED && self.tokens.can_refresh() {
                tracing::info!(
                    endpoint = endpoint.name(),
                    "tmetr refused the token; refreshing once"
                );
                let token = self.tokens.refresh_after_rejection(&token).await?;
                self.send(endpoint, body, &token).await?
            } else {
                (status, text)
            };
        classify_status(endpoint.name(), status, &text)?;
        Ok(text)
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        endpoint: Endpoint,
        body: &B,
        token: &BearerToken,
    ) -> Result<(reqwest::StatusCode, String), MachineError> {
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
            // minutes) and effect are undocumented (§9.4 C), and heartbeatCreatedAt comes
            // back "shifted into" the requested zone. With 0 either unit means UTC, so the
            // timestamps we read are true Unix times and nothing needs un-shifting.
            .header("TimeZoneOffset", "0")
            .json(body);
        if matches!(endpoint, Endpoint::Heartbeat) {
            // The header the heartbeat spec names (§9.4 C); 0 for the same reason as above.
            request = request.header("X-TimeZoneOffset", "0");
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(endpoint.name(), &e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| transport_error(endpoint.name(), &e))?;
        Ok((status, text))
    }
}

#[async_trait]
impl MachineGateway for TmetrGateway {
    async fn price(
        &self,
        device: &Device,
        drink_no: &DrinkNo,
        size: Size,
    ) -> Result<Money, MachineError> {
        let body = DrinkRequest::new(&device.device_uuid, drink_no, size);
        let text = self.call(Endpoint::Drink, &body).await?;
        let price = parse_price(&text)?;
        tracing::debug!(device = %device.device_uuid, drink = %drink_no, ?size, %price, "tmetr price");
        Ok(price)
    }

    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError> {
        let body = HeartbeatRequest::new(&device.device_uuid);
        let text = self.call(Endpoint::Heartbeat, &body).await?;
        parse_heartbeat(&text, &device.device_uuid)
    }

    /// Sends one command. Whether Tmetr deduplicates a repeated `orderUuid` is unknown
    /// (§9.5 question 5); the caller sends it again only after `Unavailable`.
    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError> {
        let body = MakeRequest::batch(command);
        self.call(Endpoint::Make, &body).await?;
        tracing::info!(
            order = %command.order_id,
            device = %command.device.device_uuid,
            machine_order = %command.machine_order_id,
            "tmetr accepted the make command"
        );
        Ok(())
    }
}
