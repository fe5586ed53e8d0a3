//! [`TbankGateway`]: the `PaymentGateway` port over MAPI v2. It picks the merchant's terminal,
//! builds each call with [`transformers`], sends it through the client and reads the answer
//! back into the domain's types.
//!
//! T-Bank has no idempotency key, so two calls are made safe by state instead: an `Init`
//! whose answer was lost is settled with `CheckOrder`, and a `Confirm` or `Cancel` T-Bank
//! refuses is re-checked with `GetState` (it may have been done by an earlier attempt).

use crate::account::{TbankAccount, TbankAccounts};
use crate::client::{Repeat, TbankClient, TbankError};
use crate::config::{ConfigError, TbankConfig};
use crate::notification;
use crate::transformers::{
    self, CheckOrderBody, CheckOrderWire, GetQrBody, PaymentBody, PaymentWire, QrWire, TbankStatus,
};
use async_trait::async_trait;
use coffee_domain::ports::{
    CreatePaymentRequest, CreatedPayment, InboundNotification, NotificationClaim,
    NotificationError, PaymentGateway, PaymentGatewayError, ProviderPayment, RefundStatus,
};
use coffee_domain::{MachineOrderId, Merchant, Payment, PaymentId, PaymentMethod};
use std::sync::Arc;

/// The T-Bank payment gateway. Cheap to share behind an `Arc`; holds one connection pool.
pub struct TbankGateway {
    client: TbankClient,
    accounts: Arc<dyn TbankAccounts>,
    notification_url: Option<String>,
    trusted_ips: Vec<ipnet::IpNet>,
}

impl std::fmt::Debug for TbankGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TbankGateway")
            .field("notification_url", &self.notification_url)
            .field("trusted_ips", &self.trusted_ips)
            .finish_non_exhaustive()
    }
}

fn status_of(wire: &PaymentWire) -> TbankStatus {
    TbankStatus::parse(wire.status.as_deref().unwrap_or_default())
}

impl TbankGateway {
    /// Fails on an unusable `api_url` or `notification_url`, `max_attempts == 0`, or when the
    /// HTTP client cannot be built.
    pub fn new(config: TbankConfig, accounts: Arc<dyn TbankAccounts>) -> Result<Self, ConfigError> {
        Ok(Self {
            client: TbankClient::new(&config)?,
            accounts,
            notification_url: config.notification_url,
            trusted_ips: config.trusted_ips,
        })
    }

    async fn account(&self, merchant: &Merchant) -> Result<TbankAccount, PaymentGatewayError> {
        self.accounts.account(merchant).await?.ok_or_else(|| {
            PaymentGatewayError::Unauthorized("merchant has no T-Bank terminal".to_owned())
        })
    }

    async fn state(
        &self,
        account: &TbankAccount,
        payment_id: &str,
    ) -> Result<PaymentWire, TbankError> {
        self.client
            .call(
                account,
                "GetState",
                &PaymentBody::get(payment_id),
                Repeat::Safe,
            )
            .await
    }

    /// `Init` is sent once; when its answer is lost, `CheckOrder` says whether T-Bank created
    /// the payment. None: `Init` is sent once more (still one payment per attempt). One
    /// exists: its payment link is unknown to us, so it is canceled (nobody can pay it) and the
    /// attempt reported unavailable — the customer starts a new attempt.
    async fn init(
        &self,
        account: &TbankAccount,
        request: &CreatePaymentRequest,
    ) -> Result<PaymentWire, PaymentGatewayError> {
        let body = transformers::init_body(request, account, self.notification_url.as_deref());
        let lost = match self.client.call(account, "Init", &body, Repeat::Once).await {
            Ok(created) => return Ok(created),
            Err(TbankError::Unavailable { reason, .. }) => reason,
            Err(other) => return Err(other.into()),
        };
        let order_id = request.payment_id.to_string();
        tracing::warn!(
            payment.provider = "tbank",
            payment.id = %request.payment_id,
            "T-Bank Init answer lost ({lost}); asking CheckOrder"
        );
        let found: CheckOrderWire = self
            .client
            .call(
                account,
                "CheckOrder",
                &CheckOrderBody { order_id },
                Repeat::Safe,
            )
            .await?;
        if found.payments.is_empty() {
            return Ok(self
                .client
                .call(account, "Init", &body, Repeat::Once)
                .await?);
        }
        for orphan in &found.payments {
            if let Some(id) = &orphan.payment_id {
                if let Err(error) = self
                    .client
                    .call::<PaymentWire>(account, "Cancel", &PaymentBody::get(id), Repeat::Safe)
                    .await
                {
                    tracing::warn!(payment.provider = "tbank", payment.provider_id = %id, %error, "orphan payment not canceled");
                }
            }
        }
        Err(PaymentGatewayError::Unavailable(format!(
            "T-Bank Init answer lost ({lost}); the payment it created has no known link and was canceled"
        )))
    }

    /// `Confirm` or `Cancel` on a payment; when T-Bank refuses, `GetState` tells whether an
    /// earlier attempt already did it (`done` says which statuses mean done).
    async fn settle(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        method: &'static str,
        body: PaymentBody,
        done: fn(&TbankStatus) -> bool,
    ) -> Result<TbankStatus, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let id = payment.provider_payment_id.as_str();
        match self
            .client
            .call::<PaymentWire>(&account, method, &body, Repeat::Safe)
            .await
        {
            Ok(answer) => Ok(status_of(&answer)),
            Err(TbankError::Refused {
                code,
                message,
                details,
                method,
            }) => {
                let now = status_of(&self.state(&account, id).await?);
                if done(&now) {
                    return Ok(now);
                }
                Err(TbankError::Refused {
                    method,
                    code,
                    message,
                    details,
                }
                .into())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// `GetQr` with `DataType = PAYLOAD`: the URL an SBP QR code encodes.
    pub async fn sbp_payload(
        &self,
        merchant: &Merchant,
        provider_payment_id: &str,
    ) -> Result<String, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let body = GetQrBody {
            payment_id: provider_payment_id.to_owned(),
            data_type: "PAYLOAD",
        };
        let qr: QrWire = self
            .client
            .call(&account, "GetQr", &body, Repeat::Safe)
            .await?;
        qr.data.ok_or_else(|| {
            PaymentGatewayError::InvalidResponse("T-Bank GetQr answer without Data".to_owned())
        })
    }
}

#[async_trait]
impl PaymentGateway for TbankGateway {
    async fn create_payment(
        &self,
        request: &CreatePaymentRequest,
    ) -> Result<CreatedPayment, PaymentGatewayError> {
        let account = self.account(&request.merchant).await?;
        let created = self.init(&account, request).await?;
        let (Some(provider_payment_id), Some(payment_url)) =
            (created.payment_id, created.payment_url)
        else {
            return Err(PaymentGatewayError::InvalidResponse(
                "T-Bank Init answer without PaymentId or PaymentURL".to_owned(),
            ));
        };
        // SBP: the customer needs the QR payload, not the card form; it becomes the payment's
        // confirmation URL (an NSPK link), which tells the page to draw a QR code.
        let confirmation_url = match request.method {
            PaymentMethod::Card => payment_url,
            PaymentMethod::Sbp => match self
                .sbp_payload(&request.merchant, &provider_payment_id)
                .await
            {
                Ok(payload) => payload,
                Err(error) => {
                    // Nobody can pay a payment whose QR code we never got: it is canceled
                    // rather than left open, and the customer presses the button again.
                    let body = PaymentBody::get(&provider_payment_id);
                    if let Err(cancel) = self
                        .client
                        .call::<PaymentWire>(&account, "Cancel", &body, Repeat::Safe)
                        .await
                    {
                        tracing::warn!(payment.provider = "tbank", payment.provider_id = %provider_payment_id, error = %cancel, "SBP payment without a QR code not canceled");
                    }
                    return Err(error);
                }
            },
        };
        tracing::info!(
            payment.provider = "tbank",
            order.id = %request.order.id,
            payment.provider_id = %provider_payment_id,
            receipt = request.receipt_contact.is_some(),
            method = request.method.as_str(),
            "T-Bank payment {provider_payment_id} created for order {}",
            request.order.id
        );
        Ok(CreatedPayment {
            provider_payment_id,
            confirmation_url,
        })
    }

    async fn get_payment(
        &self,
        merchant: &Merchant,
        provider_payment_id: &str,
    ) -> Result<ProviderPayment, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let wire = self.state(&account, provider_payment_id).await?;
        if wire
            .terminal_key
            .as_deref()
            .is_some_and(|key| key != account.terminal_key)
        {
            return Err(PaymentGatewayError::InvalidResponse(
                "T-Bank GetState answered for another terminal".to_owned(),
            ));
        }
        let amount = transformers::money(wire.amount).ok_or_else(|| {
            PaymentGatewayError::InvalidResponse("T-Bank GetState answer without Amount".into())
        })?;
        Ok(ProviderPayment {
            status: status_of(&wire).into(),
            provider_payment_id: wire
                .payment_id
                .unwrap_or_else(|| provider_payment_id.to_owned()),
            amount,
            order_id: None,
            // OrderId is our payment attempt id: it ties the payment to the order. The
            // original system used the machine's order id instead.
            payment_id: wire
                .order_id
                .as_deref()
                .and_then(|id| PaymentId::parse(id).ok()),
            machine_order_id: wire
                .order_id
                .as_deref()
                .filter(|id| PaymentId::parse(id).is_err())
                .and_then(|id| MachineOrderId::parse(id).ok()),
            paid_at: None,
        })
    }

    async fn capture(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        _idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let body = PaymentBody {
            payment_id: payment.provider_payment_id.clone(),
            amount: Some(payment.amount.kopecks()),
            external_request_id: None,
        };
        let status = self
            .settle(merchant, payment, "Confirm", body, |s| {
                *s == TbankStatus::Confirmed
            })
            .await?;
        match status {
            TbankStatus::Confirmed => Ok(()),
            other => Err(PaymentGatewayError::Unavailable(format!(
                "T-Bank Confirm left the payment {other:?}"
            ))),
        }
    }

    async fn cancel(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        _idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let body = PaymentBody::get(&payment.provider_payment_id);
        let released = |s: &TbankStatus| matches!(s, TbankStatus::Reversed | TbankStatus::Canceled);
        let status = self
            .settle(merchant, payment, "Cancel", body, released)
            .await?;
        if released(&status) {
            Ok(())
        } else {
            Err(PaymentGatewayError::Unavailable(format!(
                "T-Bank Cancel left the payment {status:?}"
            )))
        }
    }

    async fn refund(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let body = PaymentBody {
            payment_id: payment.provider_payment_id.clone(),
            amount: Some(payment.amount.kopecks()),
            external_request_id: Some(idempotency_key.chars().take(256).collect()),
        };
        let status = self
            .settle(merchant, payment, "Cancel", body, |s| {
                *s == TbankStatus::Refunded
            })
            .await?;
        // T-Bank has no refund of its own: the refund is known by its payment.
        Ok(RefundStatus {
            refund_id: payment.provider_payment_id.clone(),
            provider_payment_id: payment.provider_payment_id.clone(),
            state: status.refund_state(),
        })
    }

    async fn get_refund(
        &self,
        merchant: &Merchant,
        refund_id: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let wire = self.state(&account, refund_id).await?;
        Ok(RefundStatus {
            refund_id: refund_id.to_owned(),
            provider_payment_id: refund_id.to_owned(),
            state: status_of(&wire).refund_state(),
        })
    }

    async fn verify_notification(
        &self,
        notification: &InboundNotification,
    ) -> Result<NotificationClaim, NotificationError> {
        notification::verify(notification, self.accounts.as_ref(), &self.trusted_ips).await
    }
}
