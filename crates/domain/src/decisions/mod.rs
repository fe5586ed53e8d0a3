//! Decide, then commit: every rule of what an event does to an order lives here.
//!
//! Each event the domain reacts to has one pure function
//! `(current order and payment, event, now, settings) → Decision`: no store, no clock, no I/O.
//! The services load the current state, ask the function, and commit what it says with one
//! compare-and-set loop ([`crate::services::Context::commit_retrying`]); when a race is lost
//! they ask again with the newer state.
//!
//! | event | function |
//! | --- | --- |
//! | QR scan | [`orders::new_order`] |
//! | payment created / refused at the provider | [`payments::payment_created`], [`payments::payment_rejected`] |
//! | provider payment news (notification, poll, our own capture/cancel/refund) | [`payments::provider_payment`], [`payments::payment_event`] |
//! | our refund's answer, refund news | [`refunds::refund_answer`], [`refunds::refund_notice`] |
//! | make command accepted / undeliverable, machine progress and report, dispense deadline | [`machines::machine_event`] |
//! | what came of an operator's resent make command | [`machines::resent_make_result`] |
//! | order not paid in time | [`expiry::expire`] |
//! | an operator's action in the console (refund, release a hold, mark dispensed / failed, resend the make command) | [`operator::operator_action`] |
//!
//! Every status a change writes comes from [`crate::status::transition`].

pub mod expiry;
pub mod machines;
pub mod operator;
pub mod orders;
pub mod payments;
pub mod refunds;

#[cfg(test)]
mod tests;

use crate::ports::{OrderChange, PaymentStateChange, ProviderEventRecord, StatusChange};
use crate::{
    Attention, FailureReason, HistoryEntry, HistorySource, JobKind, NewJob, Order, OrderStatus,
    Payment, PaymentState, ReceiptContact,
};
use chrono::{DateTime, Utc};

/// The state a decision is made on, freshly loaded for every attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub order: Order,
    /// The order's payment, once it has one.
    pub payment: Option<Payment>,
}

/// What an event does to an order.
// A decision lives for one commit attempt; boxing the change would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Commit this change by compare-and-set.
    Commit(OrderChange),
    /// The event was already applied: nothing changes. `note` keeps the message in the
    /// order's timeline when it is worth keeping (every machine message is).
    Duplicate { note: Option<HistoryEntry> },
    /// Not acted upon; `note` records why in the order's timeline and `flag` marks the order
    /// for an operator when what was ignored may have cost someone money.
    Ignored {
        reason: Ignore,
        note: Option<HistoryEntry>,
        flag: Option<Attention>,
    },
}

/// Why an event changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignore {
    /// The provider still reports the payment pending: nothing new.
    StillPending,
    /// The event contradicts the order (illegal transition, mismatching payment, …).
    Because(String),
}

impl std::fmt::Display for Ignore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ignore::StillPending => f.write_str("payment still pending"),
            Ignore::Because(why) => f.write_str(why),
        }
    }
}

impl Decision {
    /// Ignored, with the reason kept in the order's history.
    pub(crate) fn ignored_and_noted(note: HistoryEntry, why: impl Into<String>) -> Self {
        Decision::Ignored {
            reason: Ignore::Because(why.into()),
            note: Some(note),
            flag: None,
        }
    }

    /// Ignored quietly: nothing worth a history line.
    pub(crate) fn ignored(why: impl Into<String>) -> Self {
        Decision::Ignored {
            reason: Ignore::Because(why.into()),
            note: None,
            flag: None,
        }
    }

    /// Marks an ignored event for an operator.
    pub(crate) fn flagged(self, attention: Attention) -> Self {
        match self {
            Decision::Ignored { reason, note, .. } => Decision::Ignored {
                reason,
                note,
                flag: Some(attention),
            },
            Decision::Commit(change) => Decision::Commit(change.flagged(attention)),
            duplicate @ Decision::Duplicate { .. } => duplicate,
        }
    }
}

/// One line of the order's timeline.
pub(crate) fn note(
    order: &Order,
    at: DateTime<Utc>,
    source: HistorySource,
    to: Option<OrderStatus>,
    message: impl Into<String>,
) -> HistoryEntry {
    HistoryEntry {
        order_id: order.id,
        at,
        source,
        from: to.map(|_| order.status),
        to,
        message: message.into(),
    }
}

/// What returns the customer's money when no drink will be made: a hold is released,
/// captured money refunded. Nothing when no money was taken or it is already on its way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compensation {
    pub payment_state: Option<PaymentStateChange>,
    pub jobs: Vec<NewJob>,
    /// What the history line says about the money.
    pub note: Option<&'static str>,
}

/// The compensation owed for `payment` in its current money state.
pub fn compensation(payment: &Payment, now: DateTime<Utc>) -> Compensation {
    match payment.state {
        PaymentState::Authorized => Compensation {
            payment_state: None,
            jobs: vec![NewJob::for_payment(JobKind::CancelPayment, payment, now)],
            note: Some("удержание средств будет снято"),
        },
        PaymentState::Succeeded => Compensation {
            payment_state: Some(PaymentStateChange {
                payment_id: payment.id,
                expected: PaymentState::Succeeded,
                next: PaymentState::RefundPending,
            }),
            jobs: vec![NewJob::for_payment(JobKind::RefundPayment, payment, now)],
            note: Some("деньги будут возвращены"),
        },
        PaymentState::Pending
        | PaymentState::Canceled
        | PaymentState::RefundPending
        | PaymentState::Refunded => Compensation {
            payment_state: None,
            jobs: vec![],
            note: None,
        },
    }
}

/// The named shapes of change a decision commits. Each starts from the order as loaded, so
/// its compare-and-set expects exactly the status the decision saw.
impl OrderChange {
    pub(crate) fn from_order(order: &Order, line: HistoryEntry) -> Self {
        let mut change = OrderChange::new(order.id);
        change.history.push(line);
        change
    }

    /// Flags the order for an operator in the same commit.
    pub fn flagged(mut self, attention: Attention) -> Self {
        self.attention = Some(attention);
        self
    }

    fn with_status(
        mut self,
        order: &Order,
        next: OrderStatus,
        reason: Option<FailureReason>,
    ) -> Self {
        self.status = Some(StatusChange {
            expected: order.status,
            next,
            failure_reason: reason,
            clears_failure_reason: false,
            dispense_assumed: false,
        });
        self
    }

    /// `created → pending`: the provider accepted the payment; polling starts at `poll_at`.
    pub fn payment_created(
        order: &Order,
        next: OrderStatus,
        payment: Payment,
        contact: Option<ReceiptContact>,
        poll_at: DateTime<Utc>,
        line: HistoryEntry,
    ) -> Self {
        let mut change = Self::from_order(order, line).with_status(order, next, None);
        if let Some(status) = change.status.as_mut() {
            // A failed attempt's reason does not outlive the new attempt.
            status.clears_failure_reason = true;
        }
        change.receipt_contact = contact;
        change
            .jobs
            .push(NewJob::for_payment(JobKind::PollPayment, &payment, poll_at));
        change.new_payment = Some(payment);
        change
    }

    /// Only the payment's money state moves (e.g. our capture after the drink was made).
    pub fn money_moved(
        order: &Order,
        money: PaymentStateChange,
        provider_event: Option<ProviderEventRecord>,
        line: HistoryEntry,
    ) -> Self {
        let mut change = Self::from_order(order, line);
        change.payment_state = Some(money);
        change.provider_event = provider_event;
        change
    }

    /// `pending → paid`: money taken in time; the one make command is queued.
    pub fn paid(
        order: &Order,
        next: OrderStatus,
        money: PaymentStateChange,
        provider_event: Option<ProviderEventRecord>,
        now: DateTime<Utc>,
        line: HistoryEntry,
    ) -> Self {
        let mut change =
            Self::money_moved(order, money, provider_event, line).with_status(order, next, None);
        change
            .jobs
            .push(NewJob::now(JobKind::SendMakeCommand, order.id, now));
        change
    }

    /// The order moves to `next` (a status the transition table gave) without touching money.
    pub fn moved(
        order: &Order,
        next: OrderStatus,
        reason: Option<FailureReason>,
        line: HistoryEntry,
    ) -> Self {
        Self::from_order(order, line).with_status(order, next, reason)
    }

    /// The order ends (or stays) at `next` without a drink and the customer's money goes back.
    /// `money` is the payment move that caused it, if any; the compensation's own move (a
    /// refund request) takes its place and expects the same starting state.
    pub fn failed_with_compensation(
        order: &Order,
        next: OrderStatus,
        reason: FailureReason,
        money: Option<PaymentStateChange>,
        compensation: Compensation,
        provider_event: Option<ProviderEventRecord>,
        line: HistoryEntry,
    ) -> Self {
        let mut change = Self::from_order(order, line).with_status(order, next, Some(reason));
        change.provider_event = provider_event;
        change.payment_state = match (money, compensation.payment_state) {
            (Some(caused), Some(refund)) => Some(PaymentStateChange {
                next: refund.next,
                ..caused
            }),
            (caused, refund) => refund.or(caused),
        };
        change.jobs.extend(compensation.jobs);
        change
    }

    /// A make command was accepted, or sent with its fate unknown: the dispense deadline is set.
    pub fn make_pending(
        order: &Order,
        next: OrderStatus,
        outcome_unknown: bool,
        deadline: Option<DateTime<Utc>>,
        line: HistoryEntry,
    ) -> Self {
        let mut change = Self::moved(order, next, None, line);
        change.make_outcome_unknown = outcome_unknown;
        change.with_job_at(JobKind::DispenseDeadline, deadline)
    }

    /// An operator's resend of the make command: `make_pending` stays (compare-and-set on it)
    /// and the order is marked resent (compare-and-set on the mark).
    pub fn resend_queued(order: &Order, line: HistoryEntry) -> Self {
        let mut change = Self::from_order(order, line).with_status(order, order.status, None);
        change.make_resent = true;
        change
    }

    /// The machine is working on the order: its status stays, a later dispense deadline job
    /// is queued (the earlier one, finding it, does nothing).
    pub fn deadline_extended(order: &Order, deadline: DateTime<Utc>, line: HistoryEntry) -> Self {
        Self::from_order(order, line).with_job_at(JobKind::DispenseDeadline, Some(deadline))
    }

    /// Adds a job of the order when `run_at` says when.
    fn with_job_at(mut self, kind: JobKind, run_at: Option<DateTime<Utc>>) -> Self {
        self.jobs
            .extend(run_at.map(|at| NewJob::at(kind, self.order_id, at)));
        self
    }

    /// The drink is out (reported, or assumed by the device's deadline policy); a held payment
    /// is captured.
    pub fn successful(
        order: &Order,
        next: OrderStatus,
        assumed: bool,
        capture_at: Option<DateTime<Utc>>,
        line: HistoryEntry,
    ) -> Self {
        let mut change = Self::moved(order, next, None, line);
        if let Some(status) = change.status.as_mut() {
            status.dispense_assumed = assumed;
        }
        change.with_job_at(JobKind::CapturePayment, capture_at)
    }

    /// Not paid in time. A still-pending payment is not polled anew here: its own polling
    /// chain runs on past expiry, so a late success is found and refunded (one chain per
    /// payment, never two).
    pub fn expired(order: &Order, next: OrderStatus, line: HistoryEntry) -> Self {
        Self::moved(order, next, Some(FailureReason::Expired), line)
    }
}
