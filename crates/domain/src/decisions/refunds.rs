//! Refund news: our refund request's answer, a refund fetched again, a refund notice.

use super::payments::{not_believed, payment_event};
use super::{note, Decision, Ignore, Snapshot};
use crate::ports::{OrderChange, RefundRecord, RefundState, RefundStatus};
use crate::{Attention, HistorySource, PaymentEvent, PaymentState};
use chrono::{DateTime, Utc};

/// A refund notice completes only a refund we asked for, and only as the provider's API shows
/// the refund (fetched by its id): succeeded, and returning this very payment.
pub fn refund_notice(snapshot: &Snapshot, refund: &RefundStatus, now: DateTime<Utc>) -> Decision {
    let Some(payment) = &snapshot.payment else {
        return Decision::ignored("order has no payment");
    };
    if refund.provider_payment_id != payment.provider_payment_id {
        return not_believed(snapshot, now, "возврат другого платежа");
    }
    match (payment.state, refund.state) {
        (PaymentState::RefundPending | PaymentState::Refunded, RefundState::Succeeded) => {
            payment_event(snapshot, PaymentEvent::Refunded, None, now)
        }
        (PaymentState::RefundPending | PaymentState::Refunded, RefundState::Pending) => {
            Decision::Ignored {
                reason: Ignore::StillPending,
                note: None,
                flag: None,
            }
        }
        (_, RefundState::Canceled) => refund_refused(snapshot, now),
        (
            PaymentState::Pending
            | PaymentState::Authorized
            | PaymentState::Succeeded
            | PaymentState::Canceled,
            RefundState::Succeeded | RefundState::Pending,
        ) => not_believed(
            snapshot,
            now,
            "уведомление о возврате платежа, который мы не возвращали",
        ),
    }
}

/// What the provider answered to our refund request (or to fetching it again): done, on its
/// way (its id is kept so it is fetched, never asked for again), or refused.
pub fn refund_answer(snapshot: &Snapshot, refund: &RefundStatus, now: DateTime<Utc>) -> Decision {
    let Some(payment) = &snapshot.payment else {
        return Decision::ignored("order has no payment");
    };
    let record = RefundRecord {
        payment_id: payment.id,
        refund_id: refund.refund_id.clone(),
    };
    let known = payment.refund_id.as_deref() == Some(refund.refund_id.as_str());
    match refund.state {
        RefundState::Succeeded => {
            match payment_event(snapshot, PaymentEvent::Refunded, None, now) {
                Decision::Commit(mut change) => {
                    change.refund_id = (!known).then_some(record);
                    Decision::Commit(change)
                }
                other => other,
            }
        }
        RefundState::Pending if known => Decision::Ignored {
            reason: Ignore::StillPending,
            note: None,
            flag: None,
        },
        RefundState::Pending => {
            let line = note(
                &snapshot.order,
                now,
                HistorySource::Provider,
                None,
                format!(
                    "возврат {} принят провайдером, ещё не завершён",
                    refund.refund_id
                ),
            );
            let mut change = OrderChange::from_order(&snapshot.order, line);
            change.refund_id = Some(record);
            Decision::Commit(change)
        }
        RefundState::Canceled => refund_refused(snapshot, now),
    }
}

/// The provider will not return the money: an operator must.
fn refund_refused(snapshot: &Snapshot, now: DateTime<Utc>) -> Decision {
    not_believed(snapshot, now, "провайдер отклонил или отменил возврат")
        .flagged(Attention::RefundRefused)
}
