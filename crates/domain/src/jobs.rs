//! Side effects as durable jobs, committed in the same unit as the transition that causes them.

use crate::{JobId, OrderId, Payment, PaymentId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Send the one make command of a paid order.
    SendMakeCommand,
    /// Capture a held payment after the drink was dispensed.
    CapturePayment,
    /// Release a hold (or cancel a payment) because no drink will be made.
    CancelPayment,
    /// Return captured money because no drink was made.
    RefundPayment,
    /// Ask the provider for the payment's state, in case its notification is lost.
    PollPayment,
    /// Decide a make command the machine never reported on.
    DispenseDeadline,
    /// Send the make command once more, on an operator's word, for a `make_pending` order
    /// whose first command's fate is unknown.
    ResendMakeCommand,
}

impl JobKind {
    pub const ALL: [JobKind; 7] = [
        JobKind::SendMakeCommand,
        JobKind::CapturePayment,
        JobKind::CancelPayment,
        JobKind::RefundPayment,
        JobKind::PollPayment,
        JobKind::DispenseDeadline,
        JobKind::ResendMakeCommand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::SendMakeCommand => "send_make_command",
            JobKind::CapturePayment => "capture_payment",
            JobKind::CancelPayment => "cancel_payment",
            JobKind::RefundPayment => "refund_payment",
            JobKind::PollPayment => "poll_payment",
            JobKind::DispenseDeadline => "dispense_deadline",
            JobKind::ResendMakeCommand => "resend_make_command",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Claim order among due jobs, lowest first: what moves a paid order or returns money
    /// runs before polling, whatever `run_at` says, so a poll storm cannot delay a drink.
    pub fn priority(self) -> i16 {
        match self {
            JobKind::SendMakeCommand
            | JobKind::CapturePayment
            | JobKind::CancelPayment
            | JobKind::RefundPayment
            | JobKind::DispenseDeadline
            | JobKind::ResendMakeCommand => 0,
            JobKind::PollPayment => 1,
        }
    }

    /// How many times a job of this kind is tried before it is declared dead.
    pub fn max_attempts(self) -> u32 {
        match self {
            JobKind::SendMakeCommand | JobKind::ResendMakeCommand => 6,
            JobKind::PollPayment | JobKind::DispenseDeadline => 10,
            JobKind::CapturePayment | JobKind::CancelPayment | JobKind::RefundPayment => 20,
        }
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub order_id: OrderId,
    /// The payment attempt a money job is about (an order may have several attempts).
    pub payment_id: Option<PaymentId>,
    pub run_at: DateTime<Utc>,
}

impl NewJob {
    pub fn now(kind: JobKind, order_id: OrderId, now: DateTime<Utc>) -> Self {
        Self::at(kind, order_id, now)
    }

    pub fn at(kind: JobKind, order_id: OrderId, run_at: DateTime<Utc>) -> Self {
        Self {
            kind,
            order_id,
            payment_id: None,
            run_at,
        }
    }

    /// A job about one payment attempt.
    pub fn for_payment(kind: JobKind, payment: &Payment, run_at: DateTime<Utc>) -> Self {
        Self {
            kind,
            order_id: payment.order_id,
            payment_id: Some(payment.id),
            run_at,
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    /// Gave up after the last attempt; visible to operators, who may retry it.
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A claimed job, as the worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub order_id: OrderId,
    /// The payment attempt a money job is about; `None` for order jobs (and for money jobs
    /// queued before attempts were named: they act on the order's latest payment).
    pub payment_id: Option<PaymentId>,
    /// Attempts started so far, including the current one.
    pub attempts: u32,
    pub max_attempts: u32,
    /// This claim's token: only the current claim may complete, retry or bury the job.
    pub claim: Uuid,
    /// An earlier claim marked the make command sent and never recorded what came of it (its
    /// worker died mid-call): the command may have reached the machine.
    pub sent: bool,
}

impl Job {
    pub fn is_last_attempt(&self) -> bool {
        self.attempts >= self.max_attempts
    }
}

/// Exponential backoff: 2 s, 4 s, 8 s … capped at 5 minutes.
pub fn retry_delay(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(8);
    let seconds = 2_i64.saturating_mul(1_i64 << exponent).min(300);
    Duration::seconds(seconds)
}
