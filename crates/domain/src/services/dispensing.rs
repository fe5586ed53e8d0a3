//! Machine reports decide `make_pending` orders ([`crate::decisions::machines`]).

use super::{Committed, Context};
use crate::decisions::machines::{machine_event, MachineNews};
use crate::decisions::Snapshot;
use crate::ports::RepositoryError;
use crate::{DeviceUuid, MachineOrderId, OrderStatus};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What the machine says happened to a make command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispenseResult {
    Dispensed,
    Failed {
        code: Option<String>,
    },
    /// Not a result yet: the machine is on it (`stage` is its word, e.g. `brewing`). Extends
    /// the dispense deadline of a `make_pending` order.
    InProgress {
        stage: String,
    },
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

/// What became of a report; the machine is told the order's status either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The order moved to this status.
    Moved(OrderStatus),
    /// Already applied; nothing changed.
    Duplicate,
    /// Contradicts the order's status (e.g. a result after the deadline decided): recorded in
    /// the history, nothing else changed.
    Recorded(OrderStatus),
}

impl From<Committed> for ReportOutcome {
    fn from(committed: Committed) -> Self {
        match committed {
            Committed::Applied { to, .. } => ReportOutcome::Moved(to),
            Committed::Duplicate { .. } => ReportOutcome::Duplicate,
            Committed::Ignored { status, .. } => ReportOutcome::Recorded(status),
        }
    }
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
    /// release; progress on a `make_pending` order pushes its dispense deadline back. A report
    /// on an already decided order is recorded and changes nothing.
    #[tracing::instrument(skip_all, fields(device = %report.device, order.id))]
    pub async fn apply_report(
        &self,
        report: DispenseReport,
    ) -> Result<ReportOutcome, DispenseError> {
        // The order with its latest attempt, read once: the decision starts from it.
        let (order, payment) = self
            .ctx
            .ports
            .orders
            .with_payment_by_machine_order_id(&report.device, &report.machine_order_id)
            .await?
            .ok_or(DispenseError::UnknownOrder)?;
        tracing::Span::current().record("order.id", tracing::field::display(order.id));
        let result = match report.result {
            DispenseResult::Dispensed => "dispensed",
            DispenseResult::Failed { .. } => "failed",
            DispenseResult::InProgress { .. } => "in_progress",
        };
        metrics::counter!("coffee_dispense_reports_total", "result" => result).increment(1);
        let news = match report.result {
            DispenseResult::Dispensed => MachineNews::Dispensed { at: report.at },
            DispenseResult::Failed { code } => MachineNews::DispenseFailed {
                code,
                at: report.at,
            },
            DispenseResult::InProgress { stage } => MachineNews::Progress {
                stage,
                at: report.at,
            },
        };
        // Progress moves the deadline by the device's own length; results need no device.
        let device = match news {
            MachineNews::Progress { .. } => self.ctx.ports.catalog.device(&order.device).await?,
            _ => None,
        };
        let loaded = Snapshot { order, payment };
        let committed = self
            .ctx
            .commit_retrying_from(loaded, None, |snapshot, now| {
                machine_event(snapshot, &news, device.as_ref(), now)
            })
            .await?;
        Ok(committed.into())
    }
}
