//! Machine reports decide `make_pending` orders.

use super::{Context, Decision};
use crate::ports::RepositoryError;
use crate::{DeviceUuid, FailureReason, HistorySource, MachineOrderId, OrderEvent};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What the machine says happened to a make command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispenseResult {
    Dispensed,
    Failed { code: Option<String> },
}

/// A machine's report, after its authenticity was checked by the inbound adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispenseReport {
    pub device: DeviceUuid,
    pub machine_order_id: MachineOrderId,
    pub result: DispenseResult,
    /// When the machine says it happened.
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum DispenseError {
    #[error("no such order on this device")]
    UnknownOrder,
    #[error(transparent)]
    Storage(#[from] RepositoryError),
}

pub struct Dispensing {
    ctx: Arc<Context>,
}

impl Dispensing {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    /// `dispensed` → `successful` (+ capture of a hold); `failed` → `failed` + refund or hold
    /// release. A report on an already decided order is recorded and changes nothing.
    pub async fn apply_report(&self, report: DispenseReport) -> Result<Decision, DispenseError> {
        let order = self
            .ctx
            .ports
            .orders
            .find_by_machine_order_id(&report.device, &report.machine_order_id)
            .await?
            .ok_or(DispenseError::UnknownOrder)?;
        let (event, reason, message) = match &report.result {
            DispenseResult::Dispensed => (
                OrderEvent::Dispensed,
                None,
                format!("machine reported dispensed at {}", report.at),
            ),
            DispenseResult::Failed { code } => (
                OrderEvent::DispenseFailed,
                Some(FailureReason::DispenseFailed),
                format!(
                    "machine reported failure{} at {}",
                    code.as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    report.at
                ),
            ),
        };
        Ok(self
            .ctx
            .decide(order.id, event, reason, HistorySource::Machine, &message)
            .await?)
    }
}
