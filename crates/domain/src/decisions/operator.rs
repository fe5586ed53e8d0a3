//! What an operator's action in the console does to an order. The operator acts on what the
//! console showed; the decision is made again on the order as it is now, so an action on an
//! order whose state changed meanwhile is refused (`Ignored`) and nothing is done twice —
//! the commit's compare-and-set settles any race.

use super::machines::{machine_event, MachineNews};
use super::{note, Decision, Snapshot};
use crate::ports::{OrderChange, PaymentStateChange};
use crate::{HistorySource, JobKind, NewJob, OrderStatus, PaymentState};
use chrono::{DateTime, Utc};

/// An operator's action on one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Refund the whole payment of an order that ended with the money taken.
    Refund,
    /// Release the hold of an order that ended with the money held.
    ReleaseHold,
    /// The drink of a `make_pending` order came out: as the machine's `dispensed` report.
    MarkDispensed,
    /// The drink of a `make_pending` order did not come out: as the machine's `failed`
    /// report (the money goes back).
    MarkFailed,
    /// Send the make command once more for a `make_pending` order whose first command's fate
    /// is unknown. If the machine did make the first drink, the customer gets two: the console
    /// warns. Once per order.
    ResendMakeCommand,
}

impl OperatorAction {
    pub const ALL: [OperatorAction; 5] = [
        OperatorAction::Refund,
        OperatorAction::ReleaseHold,
        OperatorAction::MarkDispensed,
        OperatorAction::MarkFailed,
        OperatorAction::ResendMakeCommand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::Refund => "refund",
            OperatorAction::ReleaseHold => "release_hold",
            OperatorAction::MarkDispensed => "mark_dispensed",
            OperatorAction::MarkFailed => "mark_failed",
            OperatorAction::ResendMakeCommand => "resend_make_command",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// Whether `action` makes sense on the order as it is (the console offers only these).
pub fn allowed(snapshot: &Snapshot, action: OperatorAction) -> bool {
    let order = &snapshot.order;
    let money = snapshot.payment.as_ref().map(|p| p.state);
    match action {
        OperatorAction::Refund => {
            order.status.is_terminal() && money == Some(PaymentState::Succeeded)
        }
        OperatorAction::ReleaseHold => {
            order.status.is_terminal() && money == Some(PaymentState::Authorized)
        }
        OperatorAction::MarkDispensed | OperatorAction::MarkFailed => {
            order.status == OrderStatus::MakePending
        }
        OperatorAction::ResendMakeCommand => {
            order.status == OrderStatus::MakePending
                && order.make_outcome_unknown
                && !order.make_resent
        }
    }
}

/// Decides `action` by `operator` on the order as loaded now.
///
/// * refund: payment `succeeded → refund_pending` by compare-and-set, a refund job;
/// * release the hold: a cancel job for the held payment (the provider call is idempotent);
/// * mark dispensed / failed: exactly what the machine's report would do, written as the
///   operator's;
/// * resend the make command: the order is marked resent by compare-and-set (expecting
///   `make_pending`, not yet resent) and a resend job is queued. The fate stays unknown, so
///   without the machine's report the deadline still fails the order and returns the money.
///
/// Anything else — the order moved on, the money already on its way — is `Ignored` with the
/// reason, and nothing is written.
pub fn operator_action(
    snapshot: &Snapshot,
    action: OperatorAction,
    operator: &str,
    now: DateTime<Utc>,
) -> Decision {
    let order = &snapshot.order;
    if !allowed(snapshot, action) {
        let money = snapshot
            .payment
            .as_ref()
            .map_or("none", |p| p.state.as_str());
        return Decision::ignored(format!(
            "{} is not possible in status {} with payment {money}",
            action.as_str(),
            order.status
        ));
    }
    let line = |message: &str| {
        note(
            order,
            now,
            HistorySource::Operator,
            None,
            format!("оператор {operator}: {message}"),
        )
    };
    match (action, snapshot.payment.as_ref()) {
        (OperatorAction::Refund, Some(payment)) => {
            let money = PaymentStateChange {
                payment_id: payment.id,
                expected: PaymentState::Succeeded,
                next: PaymentState::RefundPending,
            };
            let mut change = OrderChange::money_moved(
                order,
                money,
                None,
                line("полный возврат денег поставлен в очередь"),
            );
            change
                .jobs
                .push(NewJob::for_payment(JobKind::RefundPayment, payment, now));
            Decision::Commit(change)
        }
        (OperatorAction::ReleaseHold, Some(payment)) => {
            let mut change =
                OrderChange::from_order(order, line("снятие удержания поставлено в очередь"));
            change
                .jobs
                .push(NewJob::for_payment(JobKind::CancelPayment, payment, now));
            Decision::Commit(change)
        }
        (OperatorAction::MarkDispensed | OperatorAction::MarkFailed, _) => {
            let news = if action == OperatorAction::MarkDispensed {
                MachineNews::Dispensed { at: now }
            } else {
                MachineNews::DispenseFailed {
                    code: None,
                    at: now,
                }
            };
            as_operator(machine_event(snapshot, &news, None, now), operator)
        }
        (OperatorAction::ResendMakeCommand, _) => {
            let mut change = OrderChange::resend_queued(
                order,
                line("повторная отправка команды приготовления поставлена в очередь (если автомат приготовил первый напиток, покупатель получит второй)"),
            );
            change
                .jobs
                .push(NewJob::now(JobKind::ResendMakeCommand, order.id, now));
            Decision::Commit(change)
        }
        (OperatorAction::Refund | OperatorAction::ReleaseHold, None) => {
            Decision::ignored("the order has no payment")
        }
    }
}

/// The machine's decision, told as the operator's: same consequences, the timeline says who.
fn as_operator(decision: Decision, operator: &str) -> Decision {
    match decision {
        Decision::Commit(mut change) => {
            for entry in &mut change.history {
                entry.source = HistorySource::Operator;
                entry.message = format!(
                    "оператор {operator}: {}",
                    entry.message.replace("автомат сообщил: ", "")
                );
            }
            Decision::Commit(change)
        }
        Decision::Duplicate { .. } => Decision::ignored("already decided"),
        Decision::Ignored { reason, .. } => Decision::Ignored {
            reason,
            note: None,
            flag: None,
        },
    }
}
