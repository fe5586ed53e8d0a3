//! [`YookassaGateway`]: the `PaymentGateway` port over YooKassa API v3. It picks the merchant's
//! account, builds each call with [`transformers`], sends it through the client and reads the
//! answer back into the domain's types.

use crate::account::{YookassaAccount, YookassaAccounts};
use crate::client::{Call, Missing, YookassaClient};
use crate::config::{ConfigError, YookassaConfig};
use crate::notification;
use crate::transformers::{self, CancelBody, CaptureBody, PaymentWire, RefundBody, RefundWire};
use async_trait::async_trait;
use coffee_domain::ports::{
    CreatePaymentRequest, CreatedPayment, InboundNotification, NotificationClaim,
    NotificationError, PaymentGateway, PaymentGatewayError, ProviderPayment, RefundStatus,
};
use coffee_domain::{Merchant, Payment};
use ipnet::IpNet;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// The YooKassa payment gateway. Cheap to share behind an `Arc`; holds one connection pool.
pub struct YookassaGateway {
    client: YookassaClient,
    accounts: Arc<dyn YookassaAccounts>,
    trusted_ips: Vec<IpNet>,
}

impl std::fmt::Debug for YookassaGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YookassaGateway")
            .field("trusted_ips", &self.trusted_ips)
            .finish_non_exhaustive()
    }
}

impl YookassaGateway {
    /// Fails on an unusable `api_url`, `max_attempts == 0`, or when the HTTP client cannot be
    /// built.
    pub fn new(
        config: YookassaConfig,
        accounts: Arc<dyn YookassaAccounts>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            client: YookassaClient::new(&config)?,
            accounts,
            trusted_ips: config.trusted_ips,
        })
    }

    async fn account(&self, merchant: &Merchant) -> Result<YookassaAccount, PaymentGatewayError> {
        self.accounts.account(merchant).await?.ok_or_else(|| {
            PaymentGatewayError::Unauthorized("merchant has no YooKassa account".to_owned())
        })
    }

    async fn post<T: DeserializeOwned>(
        &self,
        account: &YookassaAccount,
        operation: &'static str,
        path: &[&str],
        idempotency_key: &str,
        body: &impl Serialize,
    ) -> Result<T, PaymentGatewayError> {
        let body = serde_json::to_vec(body).map_err(|e| PaymentGatewayError::Rejected {
            code: "request_encoding".to_owned(),
            message: format!("cannot encode the {operation} request: {e}"),
        })?;
        let call = Call {
            operation,
            method: Method::POST,
            path,
            idempotency_key: Some(idempotency_key),
            body: Some(body),
            missing: Missing::Rejected,
        };
        let answer = self.client.execute(account, call).await?;
        decode(operation, &answer)
    }

    /// `POST /payments/{id}/{action}` (`capture`, `cancel`) with the merchant's account.
    async fn act_on_payment(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        action: &'static str,
        idempotency_key: &str,
        body: &impl Serialize,
    ) -> Result<PaymentWire, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let path = ["payments", payment.provider_payment_id.as_str(), action];
        self.post(&account, action, &path, idempotency_key, body)
            .await
    }
}

fn decode<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<T, PaymentGatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        PaymentGatewayError::InvalidResponse(format!("YooKassa {operation} answer: {e}"))
    })
}

#[async_trait]
impl PaymentGateway for YookassaGateway {
    async fn create_payment(
        &self,
        request: &CreatePaymentRequest,
    ) -> Result<CreatedPayment, PaymentGatewayError> {
        let account = self.account(&request.merchant).await?;
        let body = transformers::create_payment_body(request, &account);
        let payment: PaymentWire = self
            .post(
                &account,
                "create",
                &["payments"],
                &request.idempotency_key,
                &body,
            )
            .await?;
        let created = transformers::created_payment(payment)?;
        tracing::info!(
            payment.provider = "yookassa",
            order.id = %request.order.id,
            payment.provider_id = %created.provider_payment_id,
            receipt = request.receipt_contact.is_some(),
            "YooKassa payment {} created for order {}",
            created.provider_payment_id,
            request.order.id
        );
        Ok(created)
    }

    async fn get_payment(
        &self,
        merchant: &Merchant,
        provider_payment_id: &str,
    ) -> Result<ProviderPayment, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let call = Call {
            operation: "get",
            method: Method::GET,
            path: &["payments", provider_payment_id],
            idempotency_key: None,
            body: None,
            missing: Missing::NotFound,
        };
        let answer = self.client.execute(&account, call).await?;
        let payment: PaymentWire = decode("get", &answer)?;
        transformers::provider_payment(payment, provider_payment_id, &account.shop_id)
    }

    async fn capture(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let body = CaptureBody {
            amount: payment.amount.into(),
        };
        let answer = self
            .act_on_payment(merchant, payment, "capture", idempotency_key, &body)
            .await?;
        transformers::capture_result(answer, &payment.provider_payment_id)
    }

    async fn cancel(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let answer = self
            .act_on_payment(merchant, payment, "cancel", idempotency_key, &CancelBody {})
            .await?;
        transformers::cancel_result(answer, &payment.provider_payment_id)
    }

    async fn refund(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let body = RefundBody {
            payment_id: payment.provider_payment_id.clone(),
            amount: payment.amount.into(),
        };
        let refund: RefundWire = self
            .post(&account, "refund", &["refunds"], idempotency_key, &body)
            .await?;
        transformers::refund_status(refund, Some(&payment.provider_payment_id))
    }

    async fn get_refund(
        &self,
        merchant: &Merchant,
        refund_id: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let account = self.account(merchant).await?;
        let call = Call {
            operation: "get refund",
            method: Method::GET,
            path: &["refunds", refund_id],
            idempotency_key: None,
            body: None,
            missing: Missing::NotFound,
        };
        let answer = self.client.execute(&account, call).await?;
        let refund: RefundWire = decode("get refund", &answer)?;
        transformers::refund_status(refund, None)
    }

    async fn verify_notification(
        &self,
        notification: &InboundNotification,
    ) -> Result<NotificationClaim, NotificationError> {
        notification::verify(notification, &self.trusted_ips)
    }
}
