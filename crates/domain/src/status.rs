//! The seven order statuses and the one function that moves between them.
//!
//! ```text
//! created ──PaymentCreated──▶ pending ──PaymentConfirmed──▶ paid ──MakeAccepted/MakeOutcomeUnknown──▶ make_pending ──Dispensed/DispenseAssumed──▶ successful
//!  ▲  │ ▲                        │  │                         │                                      │
//!  │  │ └PaymentCreationFailed┘  │  └─Expired─▶ not_paid      └─MachineUnreachable─▶ failed ◀─DispenseFailed/DispenseTimedOut─┘
//!  │  └──Expired──▶ not_paid     │
//!  └──────PaymentCanceled────────┘   (a failed attempt leaves the order payable until it expires)
//! ```
//!
//! Terminal statuses (`successful`, `not_paid`, `failed`) never move again. An event that has
//! already been applied (a retried webhook, a second report) is a [`Transition::Duplicate`] the
//! caller answers 200 to; an event that contradicts the status is an [`IllegalTransition`].

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Created,
    Pending,
    Paid,
    NotPaid,
    MakePending,
    Successful,
    Failed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Created,
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::NotPaid,
        OrderStatus::MakePending,
        OrderStatus::Successful,
        OrderStatus::Failed,
    ];

    pub fn is_terminal(self) -> bool {
        match self {
            OrderStatus::Successful | OrderStatus::NotPaid | OrderStatus::Failed => true,
            OrderStatus::Created
            | OrderStatus::Pending
            | OrderStatus::Paid
            | OrderStatus::MakePending => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Created => "created",
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::NotPaid => "not_paid",
            OrderStatus::MakePending => "make_pending",
            OrderStatus::Successful => "successful",
            OrderStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEvent {
    /// The provider accepted our payment request.
    PaymentCreated,
    /// The provider refused to create the payment: the order stays payable.
    PaymentCreationFailed,
    /// The provider confirmed the money (captured or held).
    PaymentConfirmed,
    /// The payment was canceled before money was taken: the order is payable again.
    PaymentCanceled,
    /// The order was not paid by `expires_at`.
    Expired,
    /// The machine (or its cloud) accepted the make command.
    MakeAccepted,
    /// The make command could not be delivered, even after retries.
    MachineUnreachable,
    /// The make command was sent without a clear answer: it may have been accepted.
    MakeOutcomeUnknown,
    /// The machine reported the drink dispensed.
    Dispensed,
    /// No report by the deadline, and the device's policy assumes success.
    DispenseAssumed,
    /// The machine reported that it could not make the drink.
    DispenseFailed,
    /// No report by the deadline, and the device's policy fails the order.
    DispenseTimedOut,
}

impl OrderEvent {
    pub const ALL: [OrderEvent; 12] = [
        OrderEvent::PaymentCreated,
        OrderEvent::PaymentCreationFailed,
        OrderEvent::PaymentConfirmed,
        OrderEvent::PaymentCanceled,
        OrderEvent::Expired,
        OrderEvent::MakeAccepted,
        OrderEvent::MachineUnreachable,
        OrderEvent::MakeOutcomeUnknown,
        OrderEvent::Dispensed,
        OrderEvent::DispenseAssumed,
        OrderEvent::DispenseFailed,
        OrderEvent::DispenseTimedOut,
    ];
}

/// The result of applying an event that is allowed in the current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to this status.
    To(OrderStatus),
    /// The event was already applied; nothing changes and the caller answers success.
    Duplicate,
}

/// An event that contradicts the order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event {event:?} is not allowed in status {from}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub event: OrderEvent,
}

/// The transition table. Exhaustive on purpose: a new status or event does not compile until
/// every pair is decided.
pub fn transition(from: OrderStatus, event: OrderEvent) -> Result<Transition, IllegalTransition> {
    use OrderEvent as E;
    use OrderStatus as S;
    use Transition::{Duplicate, To};
    let illegal = Err(IllegalTransition { from, event });
    match from {
        S::Created => match event {
            E::PaymentCreated => Ok(To(S::Pending)),
            // The order stays payable; the move records why the attempt failed.
            E::PaymentCreationFailed => Ok(To(S::Created)),
            E::Expired => Ok(To(S::NotPaid)),
            E::PaymentCanceled => Ok(Duplicate),
            E::PaymentConfirmed
            | E::MakeAccepted
            | E::MachineUnreachable
            | E::MakeOutcomeUnknown
            | E::Dispensed
            | E::DispenseAssumed
            | E::DispenseFailed
            | E::DispenseTimedOut => illegal,
        },
        S::Pending => match event {
            E::PaymentCreated => Ok(Duplicate),
            E::PaymentConfirmed => Ok(To(S::Paid)),
            E::PaymentCanceled => Ok(To(S::Created)),
            E::Expired => Ok(To(S::NotPaid)),
            E::PaymentCreationFailed
            | E::MakeAccepted
            | E::MachineUnreachable
            | E::MakeOutcomeUnknown
            | E::Dispensed
            | E::DispenseAssumed
            | E::DispenseFailed
            | E::DispenseTimedOut => illegal,
        },
        S::Paid => match event {
            E::PaymentCreated | E::PaymentConfirmed => Ok(Duplicate),
            E::MakeAccepted | E::MakeOutcomeUnknown => Ok(To(S::MakePending)),
            E::MachineUnreachable => Ok(To(S::Failed)),
            E::PaymentCreationFailed
            | E::PaymentCanceled
            | E::Expired
            | E::Dispensed
            | E::DispenseAssumed
            | E::DispenseFailed
            | E::DispenseTimedOut => illegal,
        },
        S::MakePending => match event {
            E::PaymentCreated | E::PaymentConfirmed | E::MakeAccepted | E::MakeOutcomeUnknown => {
                Ok(Duplicate)
            }
            E::Dispensed | E::DispenseAssumed => Ok(To(S::Successful)),
            E::DispenseFailed | E::DispenseTimedOut => Ok(To(S::Failed)),
            E::PaymentCreationFailed | E::PaymentCanceled | E::Expired | E::MachineUnreachable => {
                illegal
            }
        },
        S::Successful => match event {
            E::PaymentCreated
            | E::PaymentConfirmed
            | E::MakeAccepted
            | E::MakeOutcomeUnknown
            | E::Dispensed
            | E::DispenseAssumed => Ok(Duplicate),
            E::PaymentCreationFailed
            | E::PaymentCanceled
            | E::Expired
            | E::MachineUnreachable
            | E::DispenseFailed
            | E::DispenseTimedOut => illegal,
        },
        S::NotPaid => match event {
            E::PaymentCanceled | E::Expired => Ok(Duplicate),
            E::PaymentCreated
            | E::PaymentCreationFailed
            | E::PaymentConfirmed
            | E::MakeAccepted
            | E::MachineUnreachable
            | E::MakeOutcomeUnknown
            | E::Dispensed
            | E::DispenseAssumed
            | E::DispenseFailed
            | E::DispenseTimedOut => illegal,
        },
        S::Failed => match event {
            E::PaymentCreationFailed
            | E::MachineUnreachable
            | E::DispenseFailed
            | E::DispenseTimedOut => Ok(Duplicate),
            E::PaymentCreated
            | E::PaymentConfirmed
            | E::PaymentCanceled
            | E::Expired
            | E::MakeAccepted
            | E::MakeOutcomeUnknown
            | E::Dispensed
            | E::DispenseAssumed => illegal,
        },
    }
}
