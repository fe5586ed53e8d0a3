//! An operator's actions from the console: each decided by
//! [`crate::decisions::operator`] on the order as it is now and committed by the same
//! compare-and-set loop as every other change; and an operator's retry of a dead job.

use super::{Committed, Context};
use crate::decisions::operator::{operator_action, OperatorAction};
use crate::ports::RepositoryError;
use crate::{Device, JobId, OrderId, OrderStatus};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What became of an operator's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// Done: the order is now in `status` (its money moves by the queued jobs).
    Done { status: OrderStatus },
    /// Not done: the order is no longer in a state where the action makes sense (someone or
    /// something else acted first). Nothing was written.
    Refused { status: OrderStatus, reason: String },
}

/// Why a dead job could not be retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no such job")]
    UnknownJob,
    /// Retried already, or it is not dead.
    #[error("the job is not dead")]
    NotDead,
    #[error(transparent)]
    Storage(RepositoryError),
}

pub struct Operations {
    ctx: Arc<Context>,
}

impl Operations {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    /// Applies `action` by `operator` to the order. Errors: `NotFound` for an unknown order;
    /// `Unavailable`.
    #[tracing::instrument(skip(self), fields(order.id = %order_id))]
    pub async fn act(
        &self,
        order_id: OrderId,
        action: OperatorAction,
        operator: &str,
    ) -> Result<ActionOutcome, RepositoryError> {
        let committed = self
            .ctx
            .commit_retrying(order_id, |snapshot, now| {
                operator_action(snapshot, action, operator, now)
            })
            .await?;
        Ok(match committed {
            Committed::Applied { to, .. } => {
                tracing::info!(action = action.as_str(), operator, "operator action done");
                ActionOutcome::Done { status: to }
            }
            Committed::Duplicate { status } => ActionOutcome::Refused {
                status,
                reason: "already done".into(),
            },
            Committed::Ignored { reason, status } => ActionOutcome::Refused {
                status,
                reason: reason.to_string(),
            },
        })
    }

    /// Queues a dead job again, to run now.
    pub async fn retry_job(&self, job: JobId) -> Result<(), RetryError> {
        match self.ctx.ports.jobs.revive(job, self.ctx.now()).await {
            Ok(()) => Ok(()),
            Err(RepositoryError::NotFound(_)) => Err(RetryError::UnknownJob),
            Err(RepositoryError::Conflict(_)) => Err(RetryError::NotDead),
            Err(error) => Err(RetryError::Storage(error)),
        }
    }
}

/// Whether a machine is there, as its gateway's heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// A heartbeat within the online threshold.
    Online { last: DateTime<Utc> },
    /// No heartbeat, or too old.
    Offline { last: Option<DateTime<Utc>> },
    /// The gateway could not be asked (none configured, or it failed).
    Unknown { why: String },
}

impl Operations {
    /// The machine's presence, judged like a scan judges it (the device's own gateway, the
    /// online threshold of the settings).
    pub async fn presence(&self, device: &Device) -> Presence {
        let Some(gateway) = self.ctx.machine_gateway(device.machine) else {
            return Presence::Unknown {
                why: format!("no {:?} gateway configured", device.machine),
            };
        };
        match gateway.last_heartbeat(device).await {
            Ok(Some(last))
                if self.ctx.now() - last <= self.ctx.settings.device_online_threshold =>
            {
                Presence::Online { last }
            }
            Ok(last) => Presence::Offline { last },
            Err(error) => Presence::Unknown {
                why: error.to_string(),
            },
        }
    }
}
