//! Provider news moves money and orders: verified notifications and polls end here.
//!
//! A notification is never believed: the gateway checks its sender, then the payment is
//! re-fetched from the provider's API and only that view is applied, after its amount and our
//! order id are checked against the stored payment.

use super::{is_conflict, next_payment_state, Context, MAX_RACE_RETRIES};
use crate::ports::{
    InboundNotification, NotificationClaim, NotificationError, OrderChange, PaymentGatewayError,
    PaymentStateChange, ProviderEventRecord, ProviderPayment, ProviderPaymentStatus,
    RepositoryError, StatusChange,
};
use crate::{
    FailureReason, HistorySource, JobKind, NewJob, OrderEvent, OrderStatus, Payment, PaymentEvent,
    PaymentState, ProviderKind, Transition,
};
use std::sync::Arc;

/// What became of a notification or poll result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementOutcome {
    /// State changed.
    Applied,
    /// Already known; nothing changed.
    Duplicate,
    /// Nothing to do yet (the payment is still pending).
    NoChange,
    /// Not acted upon, with the reason (logged as a warning by the caller).
    Ignored(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// Not a notification: answer 400.
    #[error("malformed notification: {0}")]
    Malformed(String),
    /// The provider's API or our storage is unavailable: answer 5xx so the provider retries.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl From<RepositoryError> for SettlementError {
    fn from(error: RepositoryError) -> Self {
        SettlementError::Unavailable(error.to_string())
    }
}

pub struct Settlement {
    ctx: Arc<Context>,
}

impl Settlement {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    /// The webhook path of every provider: verify the sender, re-fetch, check, apply.
    pub async fn handle_notification(
        &self,
        provider: ProviderKind,
        notification: &InboundNotification,
    ) -> Result<SettlementOutcome, SettlementError> {
        let gateway = self
            .ctx
            .payment_gateway(provider)
            .ok_or_else(|| SettlementError::Unavailable(format!("{provider:?} not configured")))?;
        let claim = match gateway.verify_notification(notification).await {
            Ok(claim) => claim,
            Err(NotificationError::Malformed(why)) => return Err(SettlementError::Malformed(why)),
            Err(NotificationError::Untrusted(why)) => {
                return Ok(SettlementOutcome::Ignored(format!("untrusted: {why}")))
            }
        };
        let (provider_payment_id, refund_claimed) = match claim {
            NotificationClaim::Payment {
                provider_payment_id,
            } => (provider_payment_id, false),
            NotificationClaim::RefundSucceeded {
                provider_payment_id,
            } => (provider_payment_id, true),
            NotificationClaim::Ignored { reason } => return Ok(SettlementOutcome::Ignored(reason)),
        };
        let ports = &self.ctx.ports;
        let Some(payment) = ports
            .payments
            .by_provider_id(provider, &provider_payment_id)
            .await?
        else {
            return Ok(SettlementOutcome::Ignored(format!(
                "unknown payment {provider_payment_id}"
            )));
        };
        let merchant = self.merchant_of(&payment).await?;
        let fetched = match gateway.get_payment(&merchant, &provider_payment_id).await {
            Ok(fetched) => fetched,
            Err(PaymentGatewayError::NotFound) => {
                return Ok(SettlementOutcome::Ignored(format!(
                    "payment {provider_payment_id} not confirmed by the provider's API"
                )))
            }
            Err(error) => return Err(SettlementError::Unavailable(error.to_string())),
        };
        if refund_claimed {
            return self.apply_refund_notice(payment).await;
        }
        self.apply_provider_payment(&payment, &fetched).await
    }

    async fn merchant_of(&self, payment: &Payment) -> Result<crate::Merchant, SettlementError> {
        let ports = &self.ctx.ports;
        let order = ports
            .orders
            .get(payment.order_id)
            .await?
            .ok_or_else(|| SettlementError::Unavailable("payment without order".into()))?;
        ports
            .catalog
            .merchant(&order.merchant)
            .await?
            .ok_or_else(|| {
                SettlementError::Unavailable(format!("merchant {} missing", order.merchant))
            })
    }

    /// Applies the provider's (trusted, fetched) view of a payment after checking that it is
    /// the payment we stored: same id, amount, currency and order.
    pub async fn apply_provider_payment(
        &self,
        payment: &Payment,
        fetched: &ProviderPayment,
    ) -> Result<SettlementOutcome, SettlementError> {
        if fetched.provider_payment_id != payment.provider_payment_id {
            return Ok(self
                .ignored(payment, "provider returned another payment id")
                .await?);
        }
        if fetched.amount != payment.amount {
            return Ok(self
                .ignored(
                    payment,
                    &format!(
                        "amount mismatch: provider {} vs order {}",
                        fetched.amount, payment.amount
                    ),
                )
                .await?);
        }
        if fetched.order_id.is_some_and(|id| id != payment.order_id) {
            return Ok(self
                .ignored(payment, "payment belongs to another order")
                .await?);
        }
        let event = match &fetched.status {
            ProviderPaymentStatus::Pending => return Ok(SettlementOutcome::NoChange),
            ProviderPaymentStatus::WaitingForCapture => PaymentEvent::Authorized,
            ProviderPaymentStatus::Succeeded => PaymentEvent::Captured,
            ProviderPaymentStatus::Canceled => PaymentEvent::Canceled,
            ProviderPaymentStatus::Other(status) => {
                return Ok(self
                    .ignored(payment, &format!("unknown provider status {status}"))
                    .await?)
            }
        };
        let record = ProviderEventRecord {
            provider: payment.provider,
            event_key: format!("{}:{}", fetched.provider_payment_id, event_name(event)),
        };
        self.apply(payment, event, Some(record)).await
    }

    async fn ignored(
        &self,
        payment: &Payment,
        why: &str,
    ) -> Result<SettlementOutcome, RepositoryError> {
        let entry = self.ctx.history(
            payment.order_id,
            HistorySource::Provider,
            None,
            None,
            format!("notification ignored: {why}"),
        );
        self.ctx.ports.orders.record(vec![entry]).await?;
        Ok(SettlementOutcome::Ignored(why.to_owned()))
    }

    /// The heart of "exactly one drink, never a charge without a drink": decides from fresh
    /// state and commits with compare-and-set, recomputing after a lost race.
    pub async fn apply_payment_event(
        &self,
        payment: &Payment,
        event: PaymentEvent,
    ) -> Result<SettlementOutcome, SettlementError> {
        self.apply(payment, event, None).await
    }

    /// `provider_event` names the provider message being applied; it is recorded with the
    /// change, so the same message can never be applied twice.
    async fn apply(
        &self,
        payment: &Payment,
        event: PaymentEvent,
        provider_event: Option<ProviderEventRecord>,
    ) -> Result<SettlementOutcome, SettlementError> {
        let ports = &self.ctx.ports;
        for _ in 0..MAX_RACE_RETRIES {
            let payment = ports
                .payments
                .for_order(payment.order_id)
                .await?
                .ok_or_else(|| SettlementError::Unavailable("payment vanished".into()))?;
            let order = ports
                .orders
                .get(payment.order_id)
                .await?
                .ok_or_else(|| SettlementError::Unavailable("payment without order".into()))?;
            let next_state = match next_payment_state(&payment, event) {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(SettlementOutcome::Duplicate),
                Err(illegal) => return Ok(self.ignored(&payment, &illegal.to_string()).await?),
            };
            let now = self.ctx.now();
            let mut change = OrderChange::new(order.id);
            change.provider_event = provider_event.clone();
            change.payment_state = Some(PaymentStateChange {
                payment_id: payment.id,
                expected: payment.state,
                next: next_state,
            });
            let moved = Payment {
                state: next_state,
                ..payment.clone()
            };
            let money_newly_taken =
                next_state.holds_customer_money() && !payment.state.holds_customer_money();
            let mut message = format!("payment {} → {}", payment.state, next_state);
            if money_newly_taken {
                let confirmable = crate::transition(order.status, OrderEvent::PaymentConfirmed);
                match (order.status, confirmable) {
                    (OrderStatus::Pending, Ok(Transition::To(paid)))
                        if !order.is_expired_at(now) =>
                    {
                        change.status = Some(StatusChange {
                            expected: OrderStatus::Pending,
                            next: paid,
                            failure_reason: None,
                            dispense_assumed: false,
                        });
                        change
                            .jobs
                            .push(NewJob::now(JobKind::SendMakeCommand, order.id, now));
                        message.push_str("; order paid, make command queued");
                    }
                    (OrderStatus::Paid | OrderStatus::MakePending | OrderStatus::Successful, _) => {
                        // e.g. our capture after dispense: money moves, the order does not.
                    }
                    (status, _) => {
                        // Paid too late (expired, canceled, failed): no drink, money back.
                        let next_status = if status == OrderStatus::Pending {
                            OrderStatus::NotPaid
                        } else {
                            status
                        };
                        let reason = match status {
                            OrderStatus::Pending | OrderStatus::NotPaid => {
                                FailureReason::PaidAfterExpiry
                            }
                            _ => order
                                .failure_reason
                                .unwrap_or(FailureReason::PaidAfterExpiry),
                        };
                        change.status = Some(StatusChange {
                            expected: status,
                            next: next_status,
                            failure_reason: Some(reason),
                            dispense_assumed: false,
                        });
                        let compensation = self.ctx.compensation(&moved);
                        if let Some(refund) = compensation.payment_state {
                            change.payment_state = Some(PaymentStateChange {
                                payment_id: payment.id,
                                expected: payment.state,
                                next: refund.next,
                            });
                        }
                        change.jobs.extend(compensation.jobs);
                        message.push_str(
                            "; paid after the order could no longer be made, money returned",
                        );
                    }
                }
            } else if next_state == PaymentState::Canceled && order.status == OrderStatus::Pending {
                change.status = Some(StatusChange {
                    expected: OrderStatus::Pending,
                    next: OrderStatus::NotPaid,
                    failure_reason: Some(FailureReason::PaymentCanceled),
                    dispense_assumed: false,
                });
                message.push_str("; order not paid");
            }
            let to = change.status.as_ref().map(|s| s.next);
            change.history.push(self.ctx.history(
                order.id,
                HistorySource::Provider,
                Some(order.status),
                to,
                message,
            ));
            match ports.orders.apply(change).await {
                Ok(()) => {
                    tracing::info!(order.id = %order.id, payment.state = %next_state, "payment settled");
                    return Ok(SettlementOutcome::Applied);
                }
                Err(error) if is_conflict(&error) => continue,
                Err(RepositoryError::Duplicate(_)) => return Ok(SettlementOutcome::Duplicate),
                Err(error) => return Err(error.into()),
            }
        }
        Err(SettlementError::Unavailable(
            "too many concurrent changes".into(),
        ))
    }

    /// A refund notice completes only a refund we asked for: the fetched payment says nothing
    /// about refunds, so a notice about any other payment is not believed.
    async fn apply_refund_notice(
        &self,
        payment: Payment,
    ) -> Result<SettlementOutcome, SettlementError> {
        match payment.state {
            PaymentState::RefundPending | PaymentState::Refunded => {
                self.apply_payment_event(&payment, PaymentEvent::Refunded)
                    .await
            }
            PaymentState::Pending
            | PaymentState::Authorized
            | PaymentState::Succeeded
            | PaymentState::Canceled => Ok(self
                .ignored(&payment, "refund notice for a payment we did not refund")
                .await?),
        }
    }
}

fn event_name(event: PaymentEvent) -> &'static str {
    match event {
        PaymentEvent::Authorized => "waiting_for_capture",
        PaymentEvent::Captured => "succeeded",
        PaymentEvent::Canceled => "canceled",
        PaymentEvent::RefundRequested => "refund_requested",
        PaymentEvent::Refunded => "refunded",
    }
}
