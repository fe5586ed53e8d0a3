//! [`TmetrGateway`]: the domain's [`MachineGateway`] over Tmetr's HTTP API. Each port call is
//! one Tmetr call: the body comes from [`crate::transformers`], the client sends it, and the
//! answer is read back into the domain's types.

use crate::client::{Endpoint, TmetrClient};
use crate::config::{ConfigError, TmetrConfig};
use crate::transformers::{
    drink_request, heartbeat_request, make_request, parse_heartbeat, parse_price,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{MachineError, MachineGateway, MakeCommand};
use coffee_domain::{Device, DrinkNo, Money, Size};

/// Talks to Tmetr for devices whose `machine` is `tmetr`. Cheap to share behind an `Arc`;
/// one connection pool and one token cache for all calls.
pub struct TmetrGateway {
    client: TmetrClient,
}

impl std::fmt::Debug for TmetrGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TmetrGateway")
            .field("base_url", &self.client.base_url())
            .finish_non_exhaustive()
    }
}

impl TmetrGateway {
    /// Builds the gateway; no network traffic until the first call. A static token's expiry
    /// is checked (and warned about) here already.
    pub fn new(config: TmetrConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            client: TmetrClient::new(config)?,
        })
    }

    /// Replaces the bearer token (a rotated `TMETR_TOKEN`) without a restart; the next call
    /// uses it (a blank token is ignored). With token refresh configured, the refreshed
    /// tokens replace it in turn.
    pub async fn set_token(&self, token: impl Into<String>) {
        self.client.set_token(token.into()).await;
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
        let body = drink_request(&device.device_uuid, drink_no, size);
        let text = self.client.call(Endpoint::Drink, &body).await?;
        let price = parse_price(&text)?;
        tracing::debug!(device = %device.device_uuid, drink = %drink_no, ?size, %price, "tmetr price");
        Ok(price)
    }

    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError> {
        let body = heartbeat_request(&device.device_uuid);
        let text = self.client.call(Endpoint::Heartbeat, &body).await?;
        parse_heartbeat(&text, &device.device_uuid)
    }

    /// Sends one command. Whether Tmetr deduplicates a repeated `orderUuid` is not confirmed
    /// by FWSoft yet; the caller sends it again only after `Unavailable`.
    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError> {
        let body = make_request(command);
        self.client.call(Endpoint::Make, &body).await?;
        tracing::info!(
            order = %command.order_id,
            device = %command.device.device_uuid,
            machine_order = %command.machine_order_id,
            "tmetr accepted the make command"
        );
        Ok(())
    }
}
