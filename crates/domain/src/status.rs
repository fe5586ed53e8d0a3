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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// One cell of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    To(OrderStatus),
    Dup,
    No,
}

impl OrderStatus {
    /// The row of the transition table.
    fn row(self) -> usize {
        match self {
            OrderStatus::Created => 0,
            OrderStatus::Pending => 1,
            OrderStatus::Paid => 2,
            OrderStatus::NotPaid => 3,
            OrderStatus::MakePending => 4,
            OrderStatus::Successful => 5,
            OrderStatus::Failed => 6,
        }
    }
}

impl OrderEvent {
    /// The column of the transition table.
    fn column(self) -> usize {
        match self {
            OrderEvent::PaymentCreated => 0,
            OrderEvent::PaymentCreationFailed => 1,
            OrderEvent::PaymentConfirmed => 2,
            OrderEvent::PaymentCanceled => 3,
            OrderEvent::Expired => 4,
            OrderEvent::MakeAccepted => 5,
            OrderEvent::MachineUnreachable => 6,
            OrderEvent::MakeOutcomeUnknown => 7,
            OrderEvent::Dispensed => 8,
            OrderEvent::DispenseAssumed => 9,
            OrderEvent::DispenseFailed => 10,
            OrderEvent::DispenseTimedOut => 11,
        }
    }
}

/// Every status × every event, decided. Its size follows `OrderStatus::ALL` and
/// `OrderEvent::ALL`: a new status or event does not compile until its row or column is
/// written. Terminal rows hold no `To`.
#[rustfmt::skip]
const TABLE: [[Cell; OrderEvent::ALL.len()]; OrderStatus::ALL.len()] = {
    use Cell::{Dup, No, To};
    use OrderStatus::{Created, Failed, MakePending, NotPaid, Paid, Pending, Successful};
    [
        //              Created       CreationFail  Confirmed  Canceled      Expired       MakeAccepted      Unreachable   OutcomeUnknown    Dispensed        Assumed          DispFailed   TimedOut
        /* created */  [To(Pending),  To(Created),  No,        Dup,          To(NotPaid),  No,               No,           No,               No,              No,              No,          No],
        /* pending */  [Dup,          No,           To(Paid),  To(Created),  To(NotPaid),  No,               No,           No,               No,              No,              No,          No],
        /* paid */     [Dup,          No,           Dup,       No,           No,           To(MakePending),  To(Failed),   To(MakePending),  No,              No,              No,          No],
        /* not_paid */ [No,           No,           No,        Dup,          Dup,          No,               No,           No,               No,              No,              No,          No],
        /* make_p. */  [Dup,          No,           Dup,       No,           No,           Dup,              No,           Dup,              To(Successful),  To(Successful),  To(Failed),  To(Failed)],
        /* success */  [Dup,          No,           Dup,       No,           No,           Dup,              No,           Dup,              Dup,             Dup,             No,          No],
        /* failed */   [No,           Dup,          No,        No,           No,           No,               Dup,          No,               No,              No,              Dup,         Dup],
    ]
};

/// The transition table: where `event` takes an order in status `from`.
pub fn transition(from: OrderStatus, event: OrderEvent) -> Result<Transition, IllegalTransition> {
    match TABLE[from.row()][event.column()] {
        Cell::To(next) => Ok(Transition::To(next)),
        Cell::Dup => Ok(Transition::Duplicate),
        Cell::No => Err(IllegalTransition { from, event }),
    }
}
