//! The payment provider port and what crosses it.

use crate::{
    CaptureMode, DrinkReceipt, MachineOrderId, Merchant, Money, Order, OrderId, Payment, PaymentId,
    PaymentMethod, PaymentState, ReceiptContact,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

/// Errors of a payment provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentGatewayError {
    /// The provider refused the request for good (4xx with its code and description).
    #[error("provider rejected the request: {code}: {message}")]
    Rejected { code: String, message: String },
    /// Timeout, 5xx, 429 or a network error; retrying with the same idempotency key is safe.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider does not know this payment.
    #[error("payment not found at the provider")]
    NotFound,
    /// Credentials missing or refused.
    #[error("provider credentials missing or refused: {0}")]
    Unauthorized(String),
    /// The provider answered something we cannot read.
    #[error("provider answered something unreadable: {0}")]
    InvalidResponse(String),
}

/// Why a provider notification is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// Not a notification at all (bad JSON, missing fields): answer 400.
    #[error("malformed notification: {0}")]
    Malformed(String),
    /// Well-formed but from an untrusted sender or with a bad signature: no state change,
    /// a warning, and a 2xx so the provider stops retrying.
    #[error("untrusted notification: {0}")]
    Untrusted(String),
}

/// The provider's view of a payment, as fetched from its API (trusted) or claimed by a
/// notification (not trusted until re-fetched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    pub provider_payment_id: String,
    pub status: ProviderPaymentStatus,
    pub amount: Money,
    /// Our order id, as we put it into the payment's metadata.
    pub order_id: Option<OrderId>,
    /// Our payment attempt id, for providers that keep it instead of the order id (T-Bank's
    /// `OrderId` is one per attempt and has no room for both): it ties the payment to the
    /// order just as well.
    pub payment_id: Option<PaymentId>,
    /// The machine's order id, for payments the original system created before the network
    /// moved over (YooKassa `metadata.order_uuid`, a T-Bank `OrderId` that is not one of our
    /// attempt ids): it ties such a payment to its imported order.
    pub machine_order_id: Option<MachineOrderId>,
    /// When the customer paid (captured or held), as the provider recorded it: a late payment
    /// is judged by this, not by when we heard of it.
    pub paid_at: Option<DateTime<Utc>>,
}

/// Provider statuses translated into the domain's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderPaymentStatus {
    Pending,
    /// Money held, waiting for our capture.
    WaitingForCapture,
    Succeeded,
    Canceled,
    /// Captured, then returned to the customer in full (T-Bank's `REFUNDED`).
    Refunded,
    /// A status we do not know: never acted upon.
    Other(String),
}

/// What a notification claims happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationClaim {
    /// Something happened to this payment; re-fetch it to learn what.
    Payment {
        provider_payment_id: String,
        /// The amount the (signed) notification itself states, for providers that sign
        /// theirs: a signed message about our payment with another amount is not a message we
        /// will ever accept, so the order goes to an operator instead of waiting for a fetch.
        claimed_amount: Option<Money>,
        /// The state the notification says the payment reached, where it says one. Never
        /// believed: it only spares the re-fetch when our payment is already there (see
        /// [`crate::decisions::payments::notification_tells_nothing_new`]), which writes
        /// nothing, so a forged one gains nothing.
        claimed_state: Option<PaymentState>,
    },
    /// A refund of this payment completed; believed only after the refund is fetched.
    RefundSucceeded {
        provider_payment_id: String,
        refund_id: String,
    },
    /// A verified notification about one of our payment attempts that moves no money
    /// (T-Bank's fiscal `RECEIPT`, other notification kinds): kept in the order's history.
    Recorded {
        payment_id: PaymentId,
        message: String,
    },
    /// A notification we do not act on (logged).
    Ignored { reason: String },
}

/// An incoming notification, free of any web framework's types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundNotification {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// The client address after trusted-proxy resolution.
    pub sender_ip: Option<IpAddr>,
}

/// What we ask a provider to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePaymentRequest {
    pub payment_id: PaymentId,
    pub order: Order,
    pub merchant: Merchant,
    pub amount: Money,
    /// `Immediate` for every SBP payment: SBP has no holds.
    pub capture: CaptureMode,
    /// Card: the provider's payment form. SBP (T-Bank only): the created payment's
    /// `confirmation_url` is its SBP payload, an NSPK link the page shows as a QR code.
    pub method: PaymentMethod,
    pub description: String,
    pub return_url: String,
    pub receipt_contact: Option<ReceiptContact>,
    /// The drink's receipt data: each field set overrides the merchant's default on the
    /// receipt item.
    pub drink_receipt: DrinkReceipt,
    pub idempotency_key: String,
}

/// What the provider created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedPayment {
    pub provider_payment_id: String,
    pub confirmation_url: String,
}

/// Where a refund is, as the provider says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundStatus {
    /// The provider's id of the refund: stored, so a pending refund is re-checked by fetching
    /// it, never by asking for it again.
    pub refund_id: String,
    /// The provider payment it returns money of.
    pub provider_payment_id: String,
    pub state: RefundState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    /// The money is on its way back to the customer for good.
    Succeeded,
    /// Accepted, not yet complete: fetch it again later.
    Pending,
    /// The provider refused or canceled the refund: an operator must look.
    Canceled,
}

/// A payment provider (YooKassa, T-Bank, the sandbox).
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Creates a payment. The same `idempotency_key` must never create a second payment.
    /// Errors: `Rejected`, `Unavailable`, `Unauthorized`, `InvalidResponse`.
    async fn create_payment(
        &self,
        request: &CreatePaymentRequest,
    ) -> Result<CreatedPayment, PaymentGatewayError>;
    /// Fetches the payment from the provider's API: the only view we trust.
    /// Errors: `NotFound`, `Unavailable`, `Unauthorized`, `InvalidResponse`.
    async fn get_payment(
        &self,
        merchant: &Merchant,
        provider_payment_id: &str,
    ) -> Result<ProviderPayment, PaymentGatewayError>;
    /// Captures a held payment. Errors: `Rejected`, `NotFound`, `Unavailable`, `Unauthorized`.
    async fn capture(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError>;
    /// Cancels a payment not yet captured (releases a hold).
    /// Errors: `Rejected`, `NotFound`, `Unavailable`, `Unauthorized`.
    async fn cancel(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError>;
    /// Refunds a captured payment in full; the same `idempotency_key` never refunds twice.
    /// Errors: `Rejected`, `NotFound`, `Unavailable`, `Unauthorized`.
    async fn refund(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<RefundStatus, PaymentGatewayError>;
    /// Fetches a refund by its id: the only view of a refund we trust.
    /// Errors: `NotFound`, `Unavailable`, `Unauthorized`, `InvalidResponse`.
    async fn get_refund(
        &self,
        merchant: &Merchant,
        refund_id: &str,
    ) -> Result<RefundStatus, PaymentGatewayError>;
    /// Checks who sent a notification and what it claims, without believing its content.
    /// Errors: `Malformed`, `Untrusted`.
    async fn verify_notification(
        &self,
        notification: &InboundNotification,
    ) -> Result<NotificationClaim, NotificationError>;
}
