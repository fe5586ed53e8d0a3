//! An order not paid by `expires_at` becomes `not_paid`.

use super::{note, Decision, Snapshot};
use crate::ports::OrderChange;
use crate::{transition, HistorySource, OrderEvent, Transition};
use chrono::{DateTime, Utc};

/// Expires a due order. A pending payment's own polling chain keeps running past expiry, so
/// that a late success is found and refunded.
pub fn expire(snapshot: &Snapshot, now: DateTime<Utc>) -> Decision {
    let order = &snapshot.order;
    if !order.is_expired_at(now) {
        return Decision::ignored("not due yet");
    }
    match transition(order.status, OrderEvent::Expired) {
        Ok(Transition::To(next)) => {
            let line = note(
                order,
                now,
                HistorySource::Worker,
                Some(next),
                "не оплачен вовремя",
            );
            Decision::Commit(OrderChange::expired(order, next, line))
        }
        Ok(Transition::Duplicate) => Decision::Duplicate { note: None },
        // Paid or failed a moment ago: that decision stands.
        Err(illegal) => Decision::ignored(illegal.to_string()),
    }
}
