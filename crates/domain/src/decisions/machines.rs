//! Machine news: the make command accepted or undeliverable, the machine's progress and its
//! report, and the dispense deadline when no report came.

use super::{compensation, note, Decision, Snapshot};
use crate::ports::OrderChange;
use crate::{
    transition, Attention, DeadlinePolicy, Device, FailureReason, HistorySource, Order, OrderEvent,
    OrderStatus, PaymentState, Transition,
};
use chrono::{DateTime, Duration, Utc};

/// What happened to an order's make command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineNews {
    /// The machine (or its cloud) accepted the make command.
    MakeAccepted,
    /// The make command could not be delivered; `why` says what was tried.
    MakeUndeliverable { why: String },
    /// The make command was sent and no clear answer came: it may have been accepted.
    MakeOutcomeUnknown { why: String },
    /// The machine reported the drink dispensed.
    Dispensed { at: DateTime<Utc> },
    /// The machine reported that it could not make the drink.
    DispenseFailed {
        code: Option<String>,
        at: DateTime<Utc>,
    },
    /// No report by the deadline: the device's policy decides.
    DeadlinePassed { policy: DeadlinePolicy },
    /// The machine says it is on it (`accepted`, `brewing`): not a result, but proof of life
    /// that pushes the dispense deadline back by the device's whole deadline.
    Progress { stage: String, at: DateTime<Utc> },
}

impl MachineNews {
    /// The order event, the failure reason it carries, who said it and the history line.
    fn describe(&self) -> (OrderEvent, Option<FailureReason>, HistorySource, String) {
        match self {
            MachineNews::MakeAccepted => (
                OrderEvent::MakeAccepted,
                None,
                HistorySource::Worker,
                "автомат принял команду приготовления".into(),
            ),
            MachineNews::MakeUndeliverable { why } => (
                OrderEvent::MachineUnreachable,
                Some(FailureReason::MachineUnreachable),
                HistorySource::Worker,
                why.clone(),
            ),
            MachineNews::MakeOutcomeUnknown { why } => (
                OrderEvent::MakeOutcomeUnknown,
                None,
                HistorySource::Worker,
                format!("судьба команды приготовления неизвестна, повторно не отправляется: {why}"),
            ),
            MachineNews::Dispensed { at } => (
                OrderEvent::Dispensed,
                None,
                HistorySource::Machine,
                format!("автомат сообщил: напиток выдан ({at})"),
            ),
            MachineNews::DispenseFailed { code, at } => (
                OrderEvent::DispenseFailed,
                Some(FailureReason::DispenseFailed),
                HistorySource::Machine,
                format!(
                    "автомат сообщил: напиток не приготовлен{} ({at})",
                    code.as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ),
            ),
            MachineNews::DeadlinePassed {
                policy: DeadlinePolicy::AssumeSuccess,
            } => (
                OrderEvent::DispenseAssumed,
                None,
                HistorySource::Worker,
                "к сроку отчёта от автомата нет: напиток считается выданным".into(),
            ),
            MachineNews::DeadlinePassed {
                policy: DeadlinePolicy::FailAndRefund,
            } => (
                OrderEvent::DispenseTimedOut,
                Some(FailureReason::DispenseTimedOut),
                HistorySource::Worker,
                "к сроку отчёта от автомата нет: заказ не выполнен".into(),
            ),
            // Progress moves no status (`progress` answers it before the transition table);
            // the event here only keeps the match whole.
            MachineNews::Progress { stage, at } => (
                OrderEvent::MakeAccepted,
                None,
                HistorySource::Machine,
                format!("автомат сообщил: {stage} ({at})"),
            ),
        }
    }
}

/// The machine's progress on a `make_pending` order: recorded, and a new dispense deadline
/// job queued at `now` + the device's deadline. The earlier deadline job stays queued and,
/// when it runs, finds this later one and does nothing (see the worker's `dispense_deadline`).
/// In any other status progress changes nothing: before `make_pending` the command's
/// acceptance is about to set the deadline from a later `now` anyway, and after a result it
/// is late news.
fn progress(
    snapshot: &Snapshot,
    news: &MachineNews,
    device: Option<&Device>,
    now: DateTime<Utc>,
) -> Decision {
    let order = &snapshot.order;
    let (_, _, source, message) = news.describe();
    match (order.status, device) {
        (OrderStatus::MakePending, Some(device)) => {
            let deadline = now + Duration::seconds(i64::from(device.dispense_deadline_seconds));
            let line = note(
                order,
                now,
                source,
                None,
                format!("{message}; срок выдачи продлён до {deadline}"),
            );
            Decision::Commit(OrderChange::deadline_extended(order, deadline, line))
        }
        (status, _) => {
            let line = note(
                order,
                now,
                source,
                None,
                format!("{message}: срок не меняется в статусе {status}"),
            );
            Decision::ignored_and_noted(line, format!("progress in status {status}"))
        }
    }
}

/// Whether the order waits for its one make command (paid, nothing sent yet).
pub fn awaits_make_command(order: &Order) -> bool {
    order.status == OrderStatus::Paid
}

/// Whether the order waits for the make command an operator had resent.
pub fn awaits_resent_make_command(order: &Order) -> bool {
    order.status == OrderStatus::MakePending && order.make_resent
}

/// Whether the order waits for the machine's word on a make command it accepted.
pub fn awaits_dispense_result(order: &Order) -> bool {
    order.status == OrderStatus::MakePending
}

/// What came of the make command an operator had resent (see
/// [`super::operator::OperatorAction::ResendMakeCommand`]). The order stays `make_pending`
/// and its fate stays unknown: only the machine's report says a drink was made.
///
/// * accepted: the dispense deadline starts again from `now` (the earlier deadline job,
///   finding the later one, does nothing), so the machine has its whole time for this drink;
/// * not delivered, or no clear answer: a history line; the earlier deadline stands and, with
///   no report, fails the order and returns the money.
///
/// In any other status the order has moved on (a report or the deadline came first): noted,
/// nothing changes.
pub fn resent_make_result(
    snapshot: &Snapshot,
    news: &MachineNews,
    device: Option<&Device>,
    now: DateTime<Utc>,
) -> Decision {
    let order = &snapshot.order;
    let message = match news {
        MachineNews::MakeAccepted => "автомат принял повторную команду приготовления".to_owned(),
        MachineNews::MakeUndeliverable { why } => {
            format!("повторная команда приготовления не доставлена: {why}")
        }
        MachineNews::MakeOutcomeUnknown { why } => {
            format!("судьба повторной команды приготовления неизвестна: {why}")
        }
        other => format!("повторная команда приготовления: {other:?}"),
    };
    if order.status != OrderStatus::MakePending {
        let line = note(
            order,
            now,
            HistorySource::Worker,
            None,
            format!("{message}: заказ уже в статусе {}", order.status),
        );
        return Decision::ignored_and_noted(
            line,
            format!("resend result in status {}", order.status),
        );
    }
    match (news, device) {
        (MachineNews::MakeAccepted, Some(device)) => {
            let deadline = now + Duration::seconds(i64::from(device.dispense_deadline_seconds));
            let line = note(
                order,
                now,
                HistorySource::Worker,
                None,
                format!("{message}; срок выдачи продлён до {deadline}"),
            );
            Decision::Commit(OrderChange::deadline_extended(order, deadline, line))
        }
        _ => Decision::Commit(OrderChange::from_order(
            order,
            note(order, now, HistorySource::Worker, None, message),
        )),
    }
}

/// Moves a `paid`/`make_pending` order on machine news. Success captures a held payment;
/// failure returns the money, in the same commit. `device` sets the dispense deadline when the
/// command is accepted, and moves it on the machine's progress.
pub fn machine_event(
    snapshot: &Snapshot,
    news: &MachineNews,
    device: Option<&Device>,
    now: DateTime<Utc>,
) -> Decision {
    if matches!(news, MachineNews::Progress { .. }) {
        return progress(snapshot, news, device, now);
    }
    let order = &snapshot.order;
    // A command that may have reached the machine is never assumed made: without a report
    // the money goes back and an operator looks.
    let unknown_at_deadline =
        order.make_outcome_unknown && matches!(news, MachineNews::DeadlinePassed { .. });
    let news = if unknown_at_deadline {
        &MachineNews::DeadlinePassed {
            policy: DeadlinePolicy::FailAndRefund,
        }
    } else {
        news
    };
    let (event, reason, source, mut message) = news.describe();
    if unknown_at_deadline {
        message.push_str(" (судьба команды приготовления была неизвестна)");
    }
    // A result can overtake the record of the command's acceptance: the result proves it.
    let from = match (order.status, event) {
        (OrderStatus::Paid, OrderEvent::Dispensed | OrderEvent::DispenseFailed) => {
            match transition(OrderStatus::Paid, OrderEvent::MakeAccepted) {
                Ok(Transition::To(accepted)) => accepted,
                Ok(Transition::Duplicate) | Err(_) => order.status,
            }
        }
        (status, _) => status,
    };
    let next = match transition(from, event) {
        Ok(Transition::To(next)) => next,
        Ok(Transition::Duplicate) => {
            // Every machine message belongs in the timeline, even one that changes nothing.
            let line = note(order, now, source, None, format!("{message}: уже учтено"));
            return Decision::Duplicate { note: Some(line) };
        }
        Err(illegal) => {
            let line = note(
                order,
                now,
                source,
                None,
                format!(
                    "{message}: не учтено, событие {:?} недопустимо в статусе {}",
                    illegal.event, illegal.from
                ),
            );
            return Decision::ignored_and_noted(line, illegal.to_string());
        }
    };
    let payment = snapshot.payment.as_ref();
    match next {
        OrderStatus::Failed => {
            let owed = payment.map(|p| compensation(p, now));
            let line = match owed.as_ref().and_then(|c| c.note) {
                Some(money) => format!("{message}; {money}"),
                None => message,
            };
            let line = note(order, now, source, Some(next), line);
            let failed = OrderChange::failed_with_compensation(
                order,
                next,
                reason.unwrap_or(FailureReason::DispenseFailed),
                None,
                owed.unwrap_or_default(),
                None,
                line,
            );
            Decision::Commit(if unknown_at_deadline {
                failed.flagged(Attention::MakeOutcomeUnknown)
            } else {
                failed
            })
        }
        OrderStatus::Successful => {
            let held = payment.is_some_and(|p| p.state == PaymentState::Authorized);
            let line = if held {
                format!("{message}; списание удержанных денег поставлено в очередь")
            } else {
                message
            };
            let line = note(order, now, source, Some(next), line);
            Decision::Commit(OrderChange::successful(
                order,
                next,
                event == OrderEvent::DispenseAssumed,
                held.then_some(now),
                line,
            ))
        }
        OrderStatus::MakePending => {
            let deadline =
                device.map(|d| now + Duration::seconds(i64::from(d.dispense_deadline_seconds)));
            let line = note(order, now, source, Some(next), message);
            let unknown = event == OrderEvent::MakeOutcomeUnknown;
            Decision::Commit(OrderChange::make_pending(
                order, next, unknown, deadline, line,
            ))
        }
        OrderStatus::Created | OrderStatus::Pending | OrderStatus::Paid | OrderStatus::NotPaid => {
            let line = note(order, now, source, Some(next), message);
            Decision::Commit(OrderChange::moved(order, next, reason, line))
        }
    }
}
