//! Money news: a payment created or refused at the provider, the provider's (fetched, trusted)
//! view of a payment, our own capture/cancel/refund, and refund notices.

use super::{compensation, note, Decision, Ignore, Snapshot};
use crate::ports::{
    OrderChange, PaymentStateChange, ProviderEventRecord, ProviderPayment, ProviderPaymentStatus,
};
use crate::settings::Settings;
use crate::{
    transition, Attention, FailureReason, HistorySource, Money, Order, OrderEvent, OrderStatus,
    Payment, PaymentEvent, PaymentState, PaymentTransition, ReceiptContact, Transition,
};
use chrono::{DateTime, Utc};

/// Whether a new payment may be started for the order (a payment in progress is reused).
pub fn accepts_new_payment(order: &Order) -> bool {
    order.status == OrderStatus::Created
}

/// The payment the customer can still complete: pending at the provider, order waiting for it.
pub fn live_payment(snapshot: &Snapshot) -> Option<&Payment> {
    snapshot.payment.as_ref().filter(|p| {
        p.state == PaymentState::Pending && snapshot.order.status == OrderStatus::Pending
    })
}

/// Whether a notification claiming the payment reached `claimed` can tell us nothing new,
/// because our payment is already there or past it: then it is answered as a duplicate
/// without asking the provider. A claim is never believed, so a forged one that passes this
/// writes nothing; one that does not pass is re-fetched as always. `canceled` after a hold is
/// still asked about (money may have been taken since), and nothing is past `pending`'s news.
pub fn notification_tells_nothing_new(ours: PaymentState, claimed: PaymentState) -> bool {
    use PaymentState::{Authorized, Canceled, Pending, RefundPending, Refunded, Succeeded};
    match claimed {
        Succeeded => matches!(ours, Succeeded | RefundPending | Refunded),
        Authorized => matches!(ours, Authorized | Succeeded | RefundPending | Refunded),
        Canceled => ours == Canceled,
        Pending | RefundPending | Refunded => false,
    }
}

/// The provider accepted our payment request: `created → pending`, polling starts.
pub fn payment_created(
    snapshot: &Snapshot,
    payment: &Payment,
    contact: Option<ReceiptContact>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Decision {
    let order = &snapshot.order;
    match transition(order.status, OrderEvent::PaymentCreated) {
        Ok(Transition::To(next)) => {
            let line = note(
                order,
                now,
                HistorySource::Customer,
                Some(next),
                format!(
                    "платёж {} создан у провайдера {}",
                    payment.provider_payment_id,
                    payment.provider.as_str()
                ),
            );
            Decision::Commit(OrderChange::payment_created(
                order,
                next,
                payment.clone(),
                contact,
                now + settings.poll_fast,
                line,
            ))
        }
        Ok(Transition::Duplicate) => Decision::Duplicate { note: None },
        Err(illegal) => Decision::ignored(illegal.to_string()),
    }
}

/// The provider refused to create the payment: the order stays payable (a new attempt may
/// follow) and remembers why, so the page can say «Оплата не прошла».
pub fn payment_rejected(snapshot: &Snapshot, why: &str, now: DateTime<Utc>) -> Decision {
    let order = &snapshot.order;
    match transition(order.status, OrderEvent::PaymentCreationFailed) {
        Ok(Transition::To(next)) => {
            let line = note(
                order,
                now,
                HistorySource::Provider,
                Some(next),
                format!("провайдер отказал в платеже: {why}"),
            );
            Decision::Commit(OrderChange::moved(
                order,
                next,
                Some(FailureReason::PaymentRejected),
                line,
            ))
        }
        Ok(Transition::Duplicate) => Decision::Duplicate { note: None },
        Err(illegal) => Decision::ignored(illegal.to_string()),
    }
}

/// The provider's view of the order's payment, fetched from its API (a notification is never
/// believed by itself). It must be the payment we stored: same id, amount and order.
pub fn provider_payment(
    snapshot: &Snapshot,
    fetched: &ProviderPayment,
    now: DateTime<Utc>,
) -> Decision {
    let Some(payment) = &snapshot.payment else {
        return Decision::ignored("order has no payment");
    };
    let mismatch = if fetched.provider_payment_id != payment.provider_payment_id {
        Some("провайдер ответил о другом платеже".to_owned())
    } else if fetched.amount != payment.amount {
        Some(format!(
            "сумма не совпадает: у провайдера {}, в заказе {}",
            fetched.amount, payment.amount
        ))
    } else if fetched.order_id.is_none() && fetched.payment_id.is_none() {
        // A payment the original system created carries only the machine's order id.
        match &fetched.machine_order_id {
            None => Some("в платеже нет номера нашего заказа".to_owned()),
            Some(id) if *id != snapshot.order.machine_order_id => {
                Some("платёж относится к другому заказу".to_owned())
            }
            Some(_) => None,
        }
    } else if fetched.order_id.is_some_and(|id| id != payment.order_id)
        || fetched.payment_id.is_some_and(|id| id != payment.id)
    {
        Some("платёж относится к другому заказу".to_owned())
    } else {
        None
    };
    let event = match (&mismatch, &fetched.status) {
        (Some(why), _) => {
            return not_believed(snapshot, now, why).flagged(Attention::ProviderMismatch)
        }
        (None, ProviderPaymentStatus::Pending) => {
            return Decision::Ignored {
                reason: Ignore::StillPending,
                note: None,
                flag: None,
            }
        }
        (None, ProviderPaymentStatus::WaitingForCapture) => PaymentEvent::Authorized,
        (None, ProviderPaymentStatus::Succeeded) => PaymentEvent::Captured,
        (None, ProviderPaymentStatus::Canceled) => PaymentEvent::Canceled,
        (None, ProviderPaymentStatus::Refunded) => PaymentEvent::Refunded,
        (None, ProviderPaymentStatus::Other(status)) => {
            return not_believed(
                snapshot,
                now,
                &format!("неизвестный статус провайдера {status}"),
            )
        }
    };
    let record = ProviderEventRecord {
        provider: payment.provider,
        event_key: format!("{}:{}", fetched.provider_payment_id, event_key(event)),
    };
    payment_event_paid_at(snapshot, event, Some(record), fetched.paid_at, now)
}

/// A signed notification states another amount than our payment's: never believed (nothing
/// is fetched or applied), and the order goes to an operator — the provider would otherwise
/// send it again and again.
pub fn claimed_amount_mismatch(
    snapshot: &Snapshot,
    claimed: Money,
    now: DateTime<Utc>,
) -> Decision {
    let Some(payment) = &snapshot.payment else {
        return Decision::ignored("order has no payment");
    };
    let why = format!(
        "сумма в уведомлении {claimed} не совпадает с суммой платежа {}",
        payment.amount
    );
    not_believed(snapshot, now, &why).flagged(Attention::ProviderMismatch)
}

/// A verified provider message that moves no money (a fiscal receipt, …): one line in the
/// order's timeline, nothing else.
pub fn provider_note(snapshot: &Snapshot, message: &str, now: DateTime<Utc>) -> Decision {
    let line = note(&snapshot.order, now, HistorySource::Provider, None, message);
    Decision::Duplicate { note: Some(line) }
}

/// The heart of "exactly one drink, never a charge without a drink": what a money event does
/// to the payment and the order. `provider_event` names the provider message being applied; it
/// is committed with the change, so the same message can never be applied twice.
pub fn payment_event(
    snapshot: &Snapshot,
    event: PaymentEvent,
    provider_event: Option<ProviderEventRecord>,
    now: DateTime<Utc>,
) -> Decision {
    payment_event_paid_at(snapshot, event, provider_event, None, now)
}

/// [`payment_event`] with the time the customer paid, as the provider recorded it: a payment
/// is late when the customer paid after the order expired, not when we heard of it.
pub fn payment_event_paid_at(
    snapshot: &Snapshot,
    event: PaymentEvent,
    provider_event: Option<ProviderEventRecord>,
    paid_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Decision {
    let order = &snapshot.order;
    let Some(payment) = &snapshot.payment else {
        return Decision::ignored("order has no payment");
    };
    let next_state = match payment.state.apply(event) {
        Ok(PaymentTransition::To(next)) => next,
        Ok(PaymentTransition::Duplicate) => return Decision::Duplicate { note: None },
        Err(illegal) => {
            let why = format!(
                "событие {:?} недопустимо для платежа в состоянии {}",
                illegal.event, illegal.from
            );
            return not_believed(snapshot, now, &why);
        }
    };
    let money = PaymentStateChange {
        payment_id: payment.id,
        expected: payment.state,
        next: next_state,
    };
    let moved_line = format!("платёж: {} → {}", payment.state, next_state);
    if next_state.holds_customer_money() && !payment.state.holds_customer_money() {
        let moved = Payment {
            state: next_state,
            ..payment.clone()
        };
        let paid_at = paid_at.unwrap_or(now);
        return money_taken(
            snapshot,
            &moved,
            money,
            provider_event,
            paid_at,
            now,
            moved_line,
        );
    }
    if next_state == PaymentState::Canceled {
        if let Ok(Transition::To(next)) = transition(order.status, OrderEvent::PaymentCanceled) {
            let line = note(
                order,
                now,
                HistorySource::Provider,
                Some(next),
                format!("{moved_line}; оплата не прошла, заказ можно оплатить снова"),
            );
            return Decision::Commit(
                OrderChange::money_moved(order, money, provider_event, line).with_status(
                    order,
                    next,
                    Some(FailureReason::PaymentCanceled),
                ),
            );
        }
    }
    let hold_lost = next_state == PaymentState::Canceled
        && payment.state == PaymentState::Authorized
        && order.status == OrderStatus::Successful;
    let line = note(order, now, HistorySource::Provider, None, moved_line);
    let change = OrderChange::money_moved(order, money, provider_event, line);
    Decision::Commit(if hold_lost {
        // The drink was made and the provider released the hold: nobody paid for it.
        change.flagged(Attention::HoldCanceledAfterDrink)
    } else {
        change
    })
}

/// Money was just taken (held or captured). In time for a pending order: paid, one make
/// command. Too late (expired, canceled, failed): no drink, the money goes back.
#[allow(clippy::too_many_arguments)] // each is a distinct fact of the decision
fn money_taken(
    snapshot: &Snapshot,
    moved: &Payment,
    money: PaymentStateChange,
    provider_event: Option<ProviderEventRecord>,
    paid_at: DateTime<Utc>,
    now: DateTime<Utc>,
    moved_line: String,
) -> Decision {
    let order = &snapshot.order;
    match transition(order.status, OrderEvent::PaymentConfirmed) {
        Ok(Transition::To(paid)) if !order.is_expired_at(paid_at) => {
            let line = note(
                order,
                now,
                HistorySource::Provider,
                Some(paid),
                format!("{moved_line}; заказ оплачен, команда приготовления поставлена в очередь"),
            );
            Decision::Commit(OrderChange::paid(
                order,
                paid,
                money,
                provider_event,
                now,
                line,
            ))
        }
        // Already paid (e.g. our own capture after the drink): money moves, the order does not.
        Ok(Transition::Duplicate) => {
            let line = note(order, now, HistorySource::Provider, None, moved_line);
            Decision::Commit(OrderChange::money_moved(order, money, provider_event, line))
        }
        Ok(Transition::To(_)) | Err(_) => {
            // An order still waiting expires now; one that already ended keeps its status.
            let (next, reason) = match transition(order.status, OrderEvent::Expired) {
                Ok(Transition::To(next)) => (next, FailureReason::PaidAfterExpiry),
                Ok(Transition::Duplicate) => (order.status, FailureReason::PaidAfterExpiry),
                // Failed already: its own reason stands.
                Err(_) => (
                    order.status,
                    order
                        .failure_reason
                        .unwrap_or(FailureReason::PaidAfterExpiry),
                ),
            };
            let line = note(
                order,
                now,
                HistorySource::Provider,
                Some(next),
                format!(
                    "{moved_line}; оплата пришла, когда заказ уже нельзя было выполнить: деньги возвращаются"
                ),
            );
            Decision::Commit(
                OrderChange::failed_with_compensation(
                    order,
                    next,
                    reason,
                    Some(money),
                    compensation(moved, now),
                    provider_event,
                    line,
                )
                .flagged(Attention::MoneyAfterOrderEnded),
            )
        }
    }
}

/// A provider message that does not match what we stored: nothing changes, the history says why.
pub(super) fn not_believed(snapshot: &Snapshot, now: DateTime<Utc>, why: &str) -> Decision {
    let line = note(
        &snapshot.order,
        now,
        HistorySource::Provider,
        None,
        format!("уведомление не принято: {why}"),
    );
    Decision::ignored_and_noted(line, why)
}

/// The key a provider message about this event is recorded under.
fn event_key(event: PaymentEvent) -> &'static str {
    match event {
        PaymentEvent::Authorized => "waiting_for_capture",
        PaymentEvent::Captured => "succeeded",
        PaymentEvent::Canceled => "canceled",
        PaymentEvent::RefundRequested => "refund_requested",
        PaymentEvent::Refunded => "refunded",
    }
}
