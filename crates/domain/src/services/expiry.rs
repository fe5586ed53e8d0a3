//! Unpaid orders become `not_paid` at `expires_at`.

use super::{is_conflict, Context};
use crate::ports::{OrderChange, RepositoryError, StatusChange};
use crate::{
    FailureReason, HistorySource, JobKind, NewJob, OrderEvent, OrderStatus, PaymentState,
    Transition,
};
use std::sync::Arc;

pub struct Expiry {
    ctx: Arc<Context>,
}

impl Expiry {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    /// Expires up to `limit` due orders; returns how many moved. A pending payment of an
    /// expired order keeps being polled, so a late success is found and refunded.
    pub async fn expire_due(&self, limit: usize) -> Result<usize, RepositoryError> {
        let now = self.ctx.now();
        let ports = &self.ctx.ports;
        let mut expired = 0;
        for order in ports.orders.due_for_expiry(now, limit).await? {
            let Ok(Transition::To(next)) = crate::transition(order.status, OrderEvent::Expired)
            else {
                continue;
            };
            let mut change = OrderChange::new(order.id);
            change.status = Some(StatusChange {
                expected: order.status,
                next,
                failure_reason: Some(FailureReason::Expired),
                dispense_assumed: false,
            });
            let payment = ports.payments.for_order(order.id).await?;
            if payment.is_some_and(|p| p.state == PaymentState::Pending) {
                change
                    .jobs
                    .push(NewJob::now(JobKind::PollPayment, order.id, now));
            }
            change.history.push(self.ctx.history(
                order.id,
                HistorySource::Worker,
                Some(order.status),
                Some(OrderStatus::NotPaid),
                "not paid in time",
            ));
            match ports.orders.apply(change).await {
                Ok(()) => {
                    expired += 1;
                    tracing::info!(order.id = %order.id, "order expired");
                }
                // Paid or canceled a moment ago: that decision stands.
                Err(error) if is_conflict(&error) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(expired)
    }
}
