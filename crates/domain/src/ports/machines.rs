//! The machine port, and the clock and ids the services take from outside.

use crate::{Device, DrinkNo, MachineOrderId, Money, OrderId, Size};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Errors of a machine gateway call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// The request certainly did not reach the machine or its cloud (connection refused or
    /// reset before it was written, DNS failure, 429/503 with nothing accepted): retry later.
    #[error("machine gateway unavailable: {0}")]
    Unavailable(String),
    /// The make command was sent and no clear answer came back (a timeout after sending, an
    /// ambiguous 5xx): it may have been accepted. Never resent blindly, never assumed made.
    #[error("make command outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// Refused for good (4xx): retrying will not help.
    #[error("machine gateway rejected the request: {0}")]
    Rejected(String),
    /// No usable price (missing or zero); never made up.
    #[error("price unknown")]
    PriceUnknown,
    /// This gateway cannot answer this question (e.g. a simulated machine's price).
    #[error("not supported by this machine gateway")]
    NotSupported,
}

/// The one make command of a paid order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCommand {
    pub order_id: OrderId,
    pub device: Device,
    pub machine_order_id: MachineOrderId,
    pub drink_no: DrinkNo,
    pub size: Size,
    pub price: Money,
}

/// A coffee machine, or the cloud that speaks for it.
#[async_trait]
pub trait MachineGateway: Send + Sync {
    /// The drink's price at the machine. Errors: `PriceUnknown`, `Unavailable`, `Rejected`,
    /// `NotSupported` — the default, for machines priced by the local catalogue.
    async fn price(
        &self,
        _device: &Device,
        _drink_no: &DrinkNo,
        _size: Size,
    ) -> Result<Money, MachineError> {
        Err(MachineError::NotSupported)
    }
    /// The time of the last heartbeat, `Ok(None)` when there never was one.
    /// Errors: `Unavailable`, `Rejected`.
    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError>;
    /// Sends the make command once (no retry inside the adapter once the request may have
    /// been written). Errors: `Unavailable` (certainly not delivered: the caller may retry),
    /// `OutcomeUnknown` (may have been accepted: the caller must not resend), `Rejected`
    /// (refused for good).
    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError>;
}

/// The time. Tests control it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// New unique ids. Tests may make them predictable.
pub trait IdGenerator: Send + Sync {
    fn new_uuid(&self) -> Uuid;
}
