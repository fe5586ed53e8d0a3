//! The sandbox payment provider: a provider that lives in this process. Demo mode pays with
//! it through a checkout page; tests use it as the payment double (it records every call and
//! can be told to fail). Its notifications go through the same verify → re-fetch → apply path
//! as real providers'.

use async_trait::async_trait;
use coffee_domain::ports::{
    CreatePaymentRequest, CreatedPayment, InboundNotification, NotificationClaim,
    NotificationError, PaymentGateway, PaymentGatewayError, ProviderPayment, ProviderPaymentStatus,
    RefundState, RefundStatus,
};
use coffee_domain::{CaptureMode, Merchant, Money, OrderId, Payment};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

/// What the customer does on the sandbox checkout page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxAction {
    Pay,
    Cancel,
    /// The bank declines the card.
    Fail,
}

/// A payment as the sandbox provider keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPayment {
    pub id: String,
    pub order_id: OrderId,
    pub amount: Money,
    pub capture: CaptureMode,
    pub status: ProviderPaymentStatus,
    pub refunded: bool,
    pub description: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Notification {
    event: String,
    payment_id: String,
}

#[derive(Debug, Default)]
struct State {
    payments: HashMap<String, SandboxPayment>,
    by_idempotency_key: HashMap<String, String>,
    calls: Vec<String>,
    failures: VecDeque<PaymentGatewayError>,
}

#[derive(Debug)]
pub struct SandboxProvider {
    base_url: String,
    state: Mutex<State>,
}

impl SandboxProvider {
    /// `base_url` is our own public URL: the checkout page is served under it.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next gateway calls fail with these errors, in order.
    pub fn fail_next(&self, error: PaymentGatewayError) {
        self.lock().failures.push_back(error);
    }

    /// Every call made, as `"<operation> <idempotency key or id>"`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    pub fn payment(&self, id: &str) -> Option<SandboxPayment> {
        self.lock().payments.get(id).cloned()
    }

    fn begin(&self, call: String) -> Result<MutexGuard<'_, State>, PaymentGatewayError> {
        let mut state = self.lock();
        state.calls.push(call);
        match state.failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(state),
        }
    }

    /// Records `call`, then applies `step` to the stored `payment`; a refusal is the
    /// `invalid_request` rejection a real provider would answer with.
    fn move_payment<T>(
        &self,
        call: String,
        payment: &Payment,
        step: impl FnOnce(&mut SandboxPayment) -> Result<T, &'static str>,
    ) -> Result<T, PaymentGatewayError> {
        let mut state = self.begin(call)?;
        let stored = state
            .payments
            .get_mut(&payment.provider_payment_id)
            .ok_or(PaymentGatewayError::NotFound)?;
        step(stored).map_err(|message| PaymentGatewayError::Rejected {
            code: "invalid_request".into(),
            message: message.into(),
        })
    }

    /// The customer acts on the checkout page. Returns the notification the provider sends.
    pub fn act(
        &self,
        payment_id: &str,
        action: SandboxAction,
    ) -> Result<InboundNotification, PaymentGatewayError> {
        let mut state = self.lock();
        let payment = state
            .payments
            .get_mut(payment_id)
            .ok_or(PaymentGatewayError::NotFound)?;
        if payment.status == ProviderPaymentStatus::Pending {
            payment.status = match (action, payment.capture) {
                (SandboxAction::Pay, CaptureMode::Immediate) => ProviderPaymentStatus::Succeeded,
                (SandboxAction::Pay, CaptureMode::AfterDispense) => {
                    ProviderPaymentStatus::WaitingForCapture
                }
                (SandboxAction::Cancel | SandboxAction::Fail, _) => ProviderPaymentStatus::Canceled,
            };
        }
        Ok(Self::notification("payment", payment_id))
    }

    /// A notification as the sandbox would send it (tests use it to forge and replay).
    pub fn notification(event: &str, payment_id: &str) -> InboundNotification {
        let body = serde_json::to_vec(&Notification {
            event: event.into(),
            payment_id: payment_id.into(),
        })
        .unwrap_or_default();
        InboundNotification {
            body,
            headers: vec![],
            sender_ip: None,
        }
    }

    fn snapshot(payment: &SandboxPayment) -> ProviderPayment {
        ProviderPayment {
            provider_payment_id: payment.id.clone(),
            status: payment.status.clone(),
            amount: payment.amount,
            order_id: Some(payment.order_id),
            payment_id: None,
            machine_order_id: None,
            paid_at: None,
        }
    }

    /// The sandbox's one refund of a payment.
    fn refund_id(provider_payment_id: &str) -> String {
        format!("sbr_{provider_payment_id}")
    }

    fn refund_status(payment: &SandboxPayment) -> RefundStatus {
        RefundStatus {
            refund_id: Self::refund_id(&payment.id),
            provider_payment_id: payment.id.clone(),
            state: if payment.refunded {
                RefundState::Succeeded
            } else {
                RefundState::Pending
            },
        }
    }
}

#[async_trait]
impl PaymentGateway for SandboxProvider {
    async fn create_payment(
        &self,
        request: &CreatePaymentRequest,
    ) -> Result<CreatedPayment, PaymentGatewayError> {
        let mut state = self.begin(format!("create {}", request.idempotency_key))?;
        let id = match state.by_idempotency_key.get(&request.idempotency_key) {
            Some(existing) => existing.clone(),
            None => {
                let id = format!("sbx_{}", Uuid::new_v4().simple());
                state.payments.insert(
                    id.clone(),
                    SandboxPayment {
                        id: id.clone(),
                        order_id: request.order.id,
                        amount: request.amount,
                        capture: request.capture,
                        status: ProviderPaymentStatus::Pending,
                        refunded: false,
                        description: request.description.clone(),
                    },
                );
                state
                    .by_idempotency_key
                    .insert(request.idempotency_key.clone(), id.clone());
                id
            }
        };
        Ok(CreatedPayment {
            confirmation_url: format!("{}/sandbox/checkout/{id}", self.base_url),
            provider_payment_id: id,
        })
    }

    async fn get_payment(
        &self,
        _merchant: &Merchant,
        provider_payment_id: &str,
    ) -> Result<ProviderPayment, PaymentGatewayError> {
        let state = self.begin(format!("get {provider_payment_id}"))?;
        state
            .payments
            .get(provider_payment_id)
            .map(Self::snapshot)
            .ok_or(PaymentGatewayError::NotFound)
    }

    async fn capture(
        &self,
        _merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let call = format!("capture {idempotency_key}");
        self.move_payment(call, payment, |stored| match stored.status {
            ProviderPaymentStatus::WaitingForCapture | ProviderPaymentStatus::Succeeded => {
                stored.status = ProviderPaymentStatus::Succeeded;
                Ok(())
            }
            _ => Err("payment cannot be captured"),
        })
    }

    async fn cancel(
        &self,
        _merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let call = format!("cancel {idempotency_key}");
        self.move_payment(call, payment, |stored| match stored.status {
            ProviderPaymentStatus::Pending
            | ProviderPaymentStatus::WaitingForCapture
            | ProviderPaymentStatus::Canceled => {
                stored.status = ProviderPaymentStatus::Canceled;
                Ok(())
            }
            _ => Err("payment cannot be canceled"),
        })
    }

    async fn refund(
        &self,
        _merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let call = format!("refund {idempotency_key}");
        self.move_payment(call, payment, |stored| {
            if stored.status != ProviderPaymentStatus::Succeeded {
                return Err("payment is not captured");
            }
            stored.refunded = true;
            Ok(Self::refund_status(stored))
        })
    }

    async fn get_refund(
        &self,
        _merchant: &Merchant,
        refund_id: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let state = self.begin(format!("get refund {refund_id}"))?;
        refund_id
            .strip_prefix("sbr_")
            .and_then(|payment_id| state.payments.get(payment_id))
            .filter(|payment| payment.refunded)
            .map(Self::refund_status)
            .ok_or(PaymentGatewayError::NotFound)
    }

    async fn verify_notification(
        &self,
        notification: &InboundNotification,
    ) -> Result<NotificationClaim, NotificationError> {
        let parsed: Notification = serde_json::from_slice(&notification.body)
            .map_err(|e| NotificationError::Malformed(e.to_string()))?;
        if parsed.payment_id.is_empty() {
            return Err(NotificationError::Malformed("empty payment_id".into()));
        }
        if !self.lock().payments.contains_key(&parsed.payment_id) {
            return Err(NotificationError::Untrusted(format!(
                "sandbox never issued {}",
                parsed.payment_id
            )));
        }
        match parsed.event.as_str() {
            "payment" => Ok(NotificationClaim::Payment {
                provider_payment_id: parsed.payment_id,
                claimed_amount: None,
                claimed_state: None,
            }),
            "refund" => Ok(NotificationClaim::RefundSucceeded {
                refund_id: Self::refund_id(&parsed.payment_id),
                provider_payment_id: parsed.payment_id,
            }),
            other => Ok(NotificationClaim::Ignored {
                reason: format!("event {other}"),
            }),
        }
    }
}
