//! Provider news moves money and orders: verified notifications and polls end here.
//!
//! A notification is never believed: the gateway checks its sender, then the payment is
//! re-fetched from the provider's API and only that view is decided on
//! ([`payments::provider_payment`]), after its amount and our order id are checked against
//! the stored payment.

use super::{Committed, Context};
use crate::decisions::{payments, refunds, Ignore, Snapshot};
use crate::ports::{
    InboundNotification, NotificationClaim, NotificationError, PaymentGatewayError,
    ProviderPayment, RefundStatus, RepositoryError,
};
use crate::{Merchant, Payment, PaymentEvent, PaymentId, ProviderKind};
use std::sync::Arc;

/// What became of a notification or poll result; the webhook answers 200 to all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationOutcome {
    /// State changed.
    Applied,
    /// Already known; nothing changed.
    Duplicate,
    /// Nothing to do yet: the payment is still pending.
    StillPending,
    /// Not acted upon, with the reason: the caller logs it as a warning.
    Ignored(String),
}

impl From<Committed> for NotificationOutcome {
    fn from(committed: Committed) -> Self {
        match committed {
            Committed::Applied { .. } => NotificationOutcome::Applied,
            Committed::Duplicate { .. } => NotificationOutcome::Duplicate,
            Committed::Ignored {
                reason: Ignore::StillPending,
                ..
            } => NotificationOutcome::StillPending,
            Committed::Ignored {
                reason: Ignore::Because(why),
                ..
            } => NotificationOutcome::Ignored(why),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// Not a notification: answer 400.
    #[error("malformed notification: {0}")]
    Malformed(String),
    /// A bad signature or an unknown sender, from [`Settlement::handle_signed_notification`]:
    /// answer 403; nothing changed and nothing was fetched.
    #[error("untrusted notification: {0}")]
    Untrusted(String),
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

    /// The webhook path of every provider: verify the sender, re-fetch, check, apply. An
    /// untrusted notification is ignored (answered 2xx so an unsigned provider stops retrying).
    pub async fn handle_notification(
        &self,
        provider: ProviderKind,
        notification: &InboundNotification,
    ) -> Result<NotificationOutcome, SettlementError> {
        match self
            .handle_signed_notification(provider, notification)
            .await
        {
            Err(SettlementError::Untrusted(why)) => {
                Ok(NotificationOutcome::Ignored(format!("untrusted: {why}")))
            }
            other => other,
        }
    }

    /// [`Self::handle_notification`] for providers that sign their notifications (T-Bank): a
    /// bad signature or unknown terminal is `SettlementError::Untrusted`, so the webhook can
    /// refuse it instead of answering as if it were accepted.
    #[tracing::instrument(skip_all, fields(provider = provider.as_str(), order.id))]
    pub async fn handle_signed_notification(
        &self,
        provider: ProviderKind,
        notification: &InboundNotification,
    ) -> Result<NotificationOutcome, SettlementError> {
        let gateway = self
            .ctx
            .payment_gateway(provider)
            .ok_or_else(|| SettlementError::Unavailable(format!("{provider:?} not configured")))?;
        let claim = match gateway.verify_notification(notification).await {
            Ok(claim) => claim,
            Err(NotificationError::Malformed(why)) => return Err(SettlementError::Malformed(why)),
            Err(NotificationError::Untrusted(why)) => return Err(SettlementError::Untrusted(why)),
        };
        let (provider_payment_id, refund_id, claimed_amount, claimed_state) = match claim {
            NotificationClaim::Payment {
                provider_payment_id,
                claimed_amount,
                claimed_state,
            } => (provider_payment_id, None, claimed_amount, claimed_state),
            NotificationClaim::RefundSucceeded {
                provider_payment_id,
                refund_id,
            } => (provider_payment_id, Some(refund_id), None, None),
            NotificationClaim::Recorded {
                payment_id,
                message,
            } => return self.record(payment_id, message).await,
            NotificationClaim::Ignored { reason } => {
                return Ok(NotificationOutcome::Ignored(reason))
            }
        };
        // Read once: the payment the notification is about, with its order — the
        // merchant's credentials for the fetch, and the state the decision starts from.
        let Some((order, payment)) = self
            .ctx
            .ports
            .orders
            .with_payment_by_provider_id(provider, &provider_payment_id)
            .await?
        else {
            return Ok(NotificationOutcome::Ignored(format!(
                "unknown payment {provider_payment_id}"
            )));
        };
        tracing::Span::current().record("order.id", tracing::field::display(order.id));
        let (payment_id, amount, state) = (payment.id, payment.amount, payment.state);
        let loaded = Snapshot {
            order,
            payment: Some(payment),
        };
        if let Some(claimed) = claimed_amount.filter(|claimed| *claimed != amount) {
            let committed = self
                .ctx
                .commit_retrying_from(loaded, Some(payment_id), |snapshot, now| {
                    payments::claimed_amount_mismatch(snapshot, claimed, now)
                })
                .await?;
            return Ok(committed.into());
        }
        // A redelivery of what we already applied: no re-fetch, nothing written.
        if claimed_state
            .is_some_and(|claimed| payments::notification_tells_nothing_new(state, claimed))
        {
            return Ok(NotificationOutcome::Duplicate);
        }
        let merchant = self.merchant(&loaded.order.merchant).await?;
        let unconfirmed = || {
            NotificationOutcome::Ignored(format!(
                "payment {provider_payment_id} not confirmed by the provider's API"
            ))
        };
        let committed = match refund_id {
            Some(refund_id) => {
                let refund = match gateway.get_refund(&merchant, &refund_id).await {
                    Ok(refund) => refund,
                    Err(PaymentGatewayError::NotFound) => return Ok(unconfirmed()),
                    Err(error) => return Err(SettlementError::Unavailable(error.to_string())),
                };
                self.ctx
                    .commit_retrying_from(loaded, Some(payment_id), |snapshot, now| {
                        refunds::refund_notice(snapshot, &refund, now)
                    })
                    .await?
            }
            None => {
                let fetched = match gateway.get_payment(&merchant, &provider_payment_id).await {
                    Ok(fetched) => fetched,
                    Err(PaymentGatewayError::NotFound) => return Ok(unconfirmed()),
                    Err(error) => return Err(SettlementError::Unavailable(error.to_string())),
                };
                self.ctx
                    .commit_retrying_from(loaded, Some(payment_id), |snapshot, now| {
                        payments::provider_payment(snapshot, &fetched, now)
                    })
                    .await?
            }
        };
        Ok(committed.into())
    }

    /// A verified notification that moves no money, kept in the history of the order whose
    /// payment attempt it names.
    async fn record(
        &self,
        payment_id: PaymentId,
        message: String,
    ) -> Result<NotificationOutcome, SettlementError> {
        let Some(payment) = self.ctx.ports.payments.get(payment_id).await? else {
            return Ok(NotificationOutcome::Ignored(format!(
                "notification about unknown payment attempt {payment_id}: {message}"
            )));
        };
        tracing::Span::current().record("order.id", tracing::field::display(payment.order_id));
        let committed = self
            .ctx
            .commit_retrying_on(payment.order_id, Some(payment.id), |snapshot, now| {
                payments::provider_note(snapshot, &message, now)
            })
            .await?;
        Ok(committed.into())
    }

    async fn merchant(&self, key: &crate::MerchantKey) -> Result<Merchant, SettlementError> {
        self.ctx
            .ports
            .catalog
            .merchant(key)
            .await?
            .ok_or_else(|| SettlementError::Unavailable(format!("merchant {key} missing")))
    }

    /// Applies the provider's (trusted, fetched) view of one of our payments.
    #[tracing::instrument(skip_all, fields(order.id = %payment.order_id))]
    pub async fn apply_provider_payment(
        &self,
        payment: &Payment,
        fetched: &ProviderPayment,
    ) -> Result<NotificationOutcome, SettlementError> {
        let committed = self
            .ctx
            .commit_retrying_on(payment.order_id, Some(payment.id), |snapshot, now| {
                payments::provider_payment(snapshot, fetched, now)
            })
            .await?;
        Ok(committed.into())
    }

    /// Applies a money event we caused ourselves (our capture or cancel succeeded).
    #[tracing::instrument(skip_all, fields(order.id = %payment.order_id, ?event))]
    pub async fn apply_payment_event(
        &self,
        payment: &Payment,
        event: PaymentEvent,
    ) -> Result<NotificationOutcome, SettlementError> {
        let committed = self
            .ctx
            .commit_retrying_on(payment.order_id, Some(payment.id), |snapshot, now| {
                payments::payment_event(snapshot, event, None, now)
            })
            .await?;
        Ok(committed.into())
    }

    /// Applies the provider's answer about our refund of `payment`.
    #[tracing::instrument(skip_all, fields(order.id = %payment.order_id))]
    pub async fn apply_refund_answer(
        &self,
        payment: &Payment,
        refund: &RefundStatus,
    ) -> Result<NotificationOutcome, SettlementError> {
        let committed = self
            .ctx
            .commit_retrying_on(payment.order_id, Some(payment.id), |snapshot, now| {
                refunds::refund_answer(snapshot, refund, now)
            })
            .await?;
        Ok(committed.into())
    }
}
