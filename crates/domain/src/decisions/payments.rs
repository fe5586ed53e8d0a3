//! Money news: a payment created or refused at the provider, the provider's (fetched, trusted)
//! view of a payment, our own capture/cancel/refund, and refund notices.

use super::{compensation, note, Decision, Ignore, Snapshot};
use crate::ports::{
    OrderChange, PaymentStateChange, ProviderEventRecord, ProviderPayment, ProviderPaymentStatus,
};
use crate::settings::Settings;
use crate::{
    transition, FailureReason, HistorySource, Order, OrderEvent, OrderStatus, Payment,
    PaymentEvent, PaymentState, PaymentTransition, ReceiptContact, Transition,
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
                    "payment {} created at {}",
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

/// The provider refused to create the payment for good.
pub fn payment_rejected(snapshot: &Snapshot, why: &str, now: DateTime<Utc>) -> Decision {
    let order = &snapshot.order;
    match transition(order.status, OrderEvent::PaymentCreationFailed) {
        Ok(Transition::To(next)) => {
            let line = note(
                order,
                now,
                HistorySource::Provider,
                Some(next),
                format!("provider rejected the payment: {why}"),
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
        Some("provider returned another payment id".to_owned())
    } else if fetched.amount != payment.amount {
        Some(format!(
            "amount mismatch: provider {} vs order {}",
            fetched.amount, payment.amount
        ))
    } else if fetched.order_id.is_some_and(|id| id != payment.order_id) {
        Some("payment belongs to another order".to_owned())
    } else {
        None
    };
    let event = match (&mismatch, &fetched.status) {
        (Some(why), _) => return not_believed(snapshot, now, why),
        (None, ProviderPaymentStatus::Pending) => {
            return Decision::Ignored {
                reason: Ignore::StillPending,
                note: None,
            }
        }
        (None, ProviderPaymentStatus::WaitingForCapture) => PaymentEvent::Authorized,
        (None, ProviderPaymentStatus::Succeeded) => PaymentEvent::Captured,
        (None, ProviderPaymentStatus::Canceled) => PaymentEvent::Canceled,
        (None, ProviderPaymentStatus::Other(status)) => {
            return not_believed(snapshot, now, &format!("unknown provider status {status}"))
        }
    };
    let record = ProviderEventRecord {
        provider: payment.provider,
        event_key: format!("{}:{}", fetched.provider_payment_id, event_key(event)),
    };
    payment_event(snapshot, event, Some(record), now)
}

/// A refund notice completes only a refund we asked for: the fetched payment says nothing
/// about refunds, so a notice about any other payment is not believed.
pub fn refund_notice(snapshot: &Snapshot, now: DateTime<Utc>) -> Decision {
    match snapshot.payment.as_ref().map(|p| p.state) {
        Some(PaymentState::RefundPending | PaymentState::Refunded) => {
            payment_event(snapshot, PaymentEvent::Refunded, None, now)
        }
        Some(
            PaymentState::Pending
            | PaymentState::Authorized
            | PaymentState::Succeeded
            | PaymentState::Canceled,
        )
        | None => not_believed(
            snapshot,
            now,
            "refund notice for a payment we did not refund",
        ),
    }
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
    let order = &snapshot.order;
    let Some(payment) = &snapshot.payment else {
        return Decision::ignored("order has no payment");
    };
    let next_state = match payment.state.apply(event) {
        Ok(PaymentTransition::To(next)) => next,
        Ok(PaymentTransition::Duplicate) => return Decision::Duplicate { note: None },
        Err(illegal) => return not_believed(snapshot, now, &illegal.to_string()),
    };
    let money = PaymentStateChange {
        payment_id: payment.id,
        expected: payment.state,
        next: next_state,
    };
    let moved_line = format!("payment {} → {}", payment.state, next_state);
    if next_state.holds_customer_money() && !payment.state.holds_customer_money() {
        let moved = Payment {
            state: next_state,
            ..payment.clone()
        };
        return money_taken(snapshot, &moved, money, provider_event, now, moved_line);
    }
    if next_state == PaymentState::Canceled {
        if let Ok(Transition::To(next)) = transition(order.status, OrderEvent::PaymentCanceled) {
            let line = note(
                order,
                now,
                HistorySource::Provider,
                Some(next),
                format!("{moved_line}; order not paid"),
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
    let line = note(order, now, HistorySource::Provider, None, moved_line);
    Decision::Commit(OrderChange::money_moved(order, money, provider_event, line))
}

/// Money was just taken (held or captured). In time for a pending order: paid, one make
/// command. Too late (expired, canceled, failed): no drink, the money goes back.
fn money_taken(
    snapshot: &Snapshot,
    moved: &Payment,
    money: PaymentStateChange,
    provider_event: Option<ProviderEventRecord>,
    now: DateTime<Utc>,
    moved_line: String,
) -> Decision {
    let order = &snapshot.order;
    match transition(order.status, OrderEvent::PaymentConfirmed) {
        Ok(Transition::To(paid)) if !order.is_expired_at(now) => {
            let line = note(
                order,
                now,
                HistorySource::Provider,
                Some(paid),
                format!("{moved_line}; order paid, make command queued"),
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
                    "{moved_line}; paid after the order could no longer be made, money returned"
                ),
            );
            Decision::Commit(OrderChange::failed_with_compensation(
                order,
                next,
                reason,
                Some(money),
                compensation(moved, now),
                provider_event,
                line,
            ))
        }
    }
}

/// A provider message that does not match what we stored: nothing changes, the history says why.
fn not_believed(snapshot: &Snapshot, now: DateTime<Utc>, why: &str) -> Decision {
    let line = note(
        &snapshot.order,
        now,
        HistorySource::Provider,
        None,
        format!("notification ignored: {why}"),
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
