//! What one decision writes: the compare-and-set of status and money and everything committed
//! with it.

use super::*;
use crate::{
    Attention, FailureReason, HistoryEntry, NewJob, OrderId, OrderStatus, Payment, PaymentId,
    PaymentState, ProviderKind, ReceiptContact,
};

/// Errors of every repository and of the job queue.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// A compare-and-set found another value than expected: someone else won the race.
    /// Nothing of the change was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the change refers to does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule was violated (e.g. a second payment for one order).
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// What was to be stored breaks a rule of the domain (a fleet rule); nothing was written.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The store cannot be reached or failed; the caller may retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

/// A compare-and-set of an order's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub expected: OrderStatus,
    /// May equal `expected` to record a reason without moving.
    pub next: OrderStatus,
    /// Sets the order's failure reason; `None` keeps the one it has.
    pub failure_reason: Option<FailureReason>,
    /// Clears the reason a failed payment attempt left (a new attempt starts).
    pub clears_failure_reason: bool,
    pub dispense_assumed: bool,
}

/// A compare-and-set of a payment's money state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStateChange {
    pub payment_id: PaymentId,
    pub expected: PaymentState,
    pub next: PaymentState,
}

/// A provider message that was applied: `(provider, event_key)` is unique, so the same message
/// delivered again can never be applied twice, whatever else races it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEventRecord {
    pub provider: ProviderKind,
    /// What the message says, e.g. `<provider payment id>:succeeded`.
    pub event_key: String,
}

/// Everything one decision writes, committed all-or-nothing: the order's status, the payment
/// it creates or moves, the provider message that caused it, the history lines and the jobs it
/// causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub order_id: OrderId,
    pub status: Option<StatusChange>,
    pub receipt_contact: Option<ReceiptContact>,
    pub new_payment: Option<Payment>,
    pub payment_state: Option<PaymentStateChange>,
    pub provider_event: Option<ProviderEventRecord>,
    /// The provider's id of a refund just asked for, kept on the payment.
    pub refund_id: Option<RefundRecord>,
    /// Marks the make command's fate unknown (never cleared).
    pub make_outcome_unknown: bool,
    /// Marks the make command resent, by compare-and-set: a store refuses it with `Conflict`
    /// when the order is already marked, so one resend is ever queued.
    pub make_resent: bool,
    /// Flags the order for an operator (never cleared by a decision).
    pub attention: Option<Attention>,
    pub history: Vec<HistoryEntry>,
    pub jobs: Vec<NewJob>,
    /// The claimed job whose work this change records, ended (`done`) in the same commit
    /// instead of a commit of its own — when that claim still holds it; a claim that lost
    /// its lease leaves the job to its new holder and the change is written all the same.
    pub completes: Option<ClaimedJob>,
}

/// A job as one claim holds it (see [`crate::Job::claim`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: crate::JobId,
    pub claim: uuid::Uuid,
}

/// A refund's provider id, recorded on its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub payment_id: PaymentId,
    pub refund_id: String,
}

impl OrderChange {
    /// How many of its jobs are due when the change is decided (at its last history line; all
    /// of them when it has none). Only these wake an idle worker: one due later would only
    /// cost an empty claim now, and the workers' tick finds it when its time comes.
    pub fn jobs_due_at_once(&self) -> usize {
        match self.history.last() {
            Some(line) => self.jobs.iter().filter(|job| job.run_at <= line.at).count(),
            None => self.jobs.len(),
        }
    }

    pub fn new(order_id: OrderId) -> Self {
        Self {
            order_id,
            status: None,
            receipt_contact: None,
            new_payment: None,
            payment_state: None,
            provider_event: None,
            refund_id: None,
            make_outcome_unknown: false,
            make_resent: false,
            attention: None,
            history: Vec::new(),
            jobs: Vec::new(),
            completes: None,
        }
    }
}
