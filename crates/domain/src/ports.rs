//! Ports: what the domain needs from the outside world. Adapters implement them; every
//! method documents the errors it must return.

use crate::{
    Attention, CaptureMode, Device, DeviceUuid, Drink, DrinkNo, FailureReason, Fleet, FleetChanges,
    HistoryEntry, Job, JobId, JobKind, JobState, MachineOrderId, Merchant, MerchantKey, Money,
    NewJob, Order, OrderId, OrderStatus, Payment, PaymentId, PaymentState, ProviderKind,
    ReceiptContact, Size,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;
use uuid::Uuid;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of every repository and of the job queue.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// A compare-and-set found another value than expected: someone else won the race.
    /// Nothing of the change was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the change refers to does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule was violated (e.g. a second payment for one order).
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// The store cannot be reached or failed; the caller may retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

/// A compare-and-set of an order's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub expected: OrderStatus,
    /// May equal `expected` to record a reason without moving.
    pub next: OrderStatus,
    /// Sets the order's failure reason; `None` keeps the one it has.
    pub failure_reason: Option<FailureReason>,
    /// Clears the reason a failed payment attempt left (a new attempt starts).
    pub clears_failure_reason: bool,
    pub dispense_assumed: bool,
}

/// A compare-and-set of a payment's money state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStateChange {
    pub payment_id: PaymentId,
    pub expected: PaymentState,
    pub next: PaymentState,
}

/// A provider message that was applied: `(provider, event_key)` is unique, so the same message
/// delivered again can never be applied twice, whatever else races it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEventRecord {
    pub provider: ProviderKind,
    /// What the message says, e.g. `<provider payment id>:succeeded`.
    pub event_key: String,
}

/// Everything one decision writes, committed all-or-nothing: the order's status, the payment
/// it creates or moves, the provider message that caused it, the history lines and the jobs it
/// causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub order_id: OrderId,
    pub status: Option<StatusChange>,
    pub receipt_contact: Option<ReceiptContact>,
    pub new_payment: Option<Payment>,
    pub payment_state: Option<PaymentStateChange>,
    pub provider_event: Option<ProviderEventRecord>,
    /// The provider's id of a refund just asked for, kept on the payment.
    pub refund_id: Option<RefundRecord>,
    /// Marks the make command's fate unknown (never cleared).
    pub make_outcome_unknown: bool,
    /// Flags the order for an operator (never cleared by a decision).
    pub attention: Option<Attention>,
    pub history: Vec<HistoryEntry>,
    pub jobs: Vec<NewJob>,
}

/// A refund's provider id, recorded on its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub payment_id: PaymentId,
    pub refund_id: String,
}

impl OrderChange {
    pub fn new(order_id: OrderId) -> Self {
        Self {
            order_id,
            status: None,
            receipt_contact: None,
            new_payment: None,
            payment_state: None,
            provider_event: None,
            refund_id: None,
            make_outcome_unknown: false,
            attention: None,
            history: Vec::new(),
            jobs: Vec::new(),
        }
    }
}

/// Merchants, devices and drinks.
#[async_trait]
pub trait CatalogRepository: Send + Sync {
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn merchant(&self, key: &MerchantKey) -> Result<Option<Merchant>, RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn device(&self, device: &DeviceUuid) -> Result<Option<Device>, RepositoryError>;
    /// All devices, ordered by id. Errors: `Unavailable`.
    async fn devices(&self) -> Result<Vec<Device>, RepositoryError>;
    /// `Ok(None)` when the device does not sell it. Errors: `Unavailable`.
    async fn drink(
        &self,
        device: &DeviceUuid,
        drink_no: &DrinkNo,
    ) -> Result<Option<Drink>, RepositoryError>;
    /// All drinks of a device. Errors: `Unavailable`.
    async fn drinks(&self, device: &DeviceUuid) -> Result<Vec<Drink>, RepositoryError>;
    /// Upserts the whole fleet atomically; applying the same fleet twice changes nothing.
    /// Errors: `NotFound` when a device names an unknown merchant or a drink an unknown
    /// device (nothing written); `Unavailable`.
    async fn apply_fleet(&self, fleet: &Fleet) -> Result<FleetChanges, RepositoryError>;
}

/// Orders, their history, and the atomic unit of change.
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Inserts the order unless one with the same device and machine order id exists; returns
    /// the stored order and whether it was inserted now. Errors: `Unavailable`.
    async fn insert_or_get(&self, order: Order) -> Result<(Order, bool), RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError>;
    /// Applies the change all-or-nothing. Errors: `Conflict` when the order's status or the
    /// payment's state is not the expected one; `Duplicate` when `new_payment` would give the
    /// order a second live payment (one not `canceled`) or reuse a provider payment id, or when `provider_event` was
    /// already recorded; `NotFound` for an unknown order
    /// or payment; `Unavailable`.
    async fn apply(&self, change: OrderChange) -> Result<(), RepositoryError>;
    /// Adds history lines that change nothing else. Errors: `Unavailable`.
    async fn record(&self, entries: Vec<HistoryEntry>) -> Result<(), RepositoryError>;
    /// The order's timeline, oldest first. Errors: `Unavailable`.
    async fn history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError>;
    /// Orders flagged for an operator, newest first, at most `limit`. Errors: `Unavailable`.
    async fn needing_attention(&self, limit: usize) -> Result<Vec<Order>, RepositoryError>;
    /// Orders in `created` or `pending` whose `expires_at` is at or before `now`, oldest
    /// first, at most `limit`. Errors: `Unavailable`.
    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, RepositoryError>;
    /// Cheap reachability probe for `/ready`. Errors: `Unavailable`.
    async fn ping(&self) -> Result<(), RepositoryError>;
}

/// Payments.
#[async_trait]
pub trait PaymentRepository: Send + Sync {
    /// The order's latest payment attempt, if it has one. Errors: `Unavailable`.
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>, RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError>;
    /// Every payment attempt of the order, oldest first. Errors: `Unavailable`.
    async fn attempts_of(&self, order: OrderId) -> Result<Vec<Payment>, RepositoryError>;
    /// How many payments of the device's orders are still `pending` at their provider.
    /// Errors: `Unavailable`.
    async fn pending_on_device(&self, device: &DeviceUuid) -> Result<usize, RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, RepositoryError>;
}

/// The durable job queue. Jobs are enqueued through [`OrderRepository::apply`] together with
/// the transition that causes them; the queue hands them to workers.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Claims up to `limit` queued jobs whose run time has come (and running jobs whose lease
    /// ran out: their worker died), increments their attempts and leases them until
    /// `now + lease`. A claimed job is never handed to two workers while its lease holds.
    /// Errors: `Unavailable`.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, RepositoryError>;
    /// Marks the claimed job done. Errors: `Conflict` when `job` is no longer the current
    /// claim (its lease ran out and another worker took it over, or it already ended);
    /// `NotFound`; `Unavailable`.
    async fn complete(&self, job: &Job) -> Result<(), RepositoryError>;
    /// Puts the claimed job back to run at `run_at`, recording why; `count_attempt = false`
    /// for a planned re-run (polling) that is not a failure. Errors: as [`JobQueue::complete`].
    async fn retry(
        &self,
        job: &Job,
        run_at: DateTime<Utc>,
        error: &str,
        count_attempt: bool,
    ) -> Result<(), RepositoryError>;
    /// Records, before the make command is sent, that this claim is sending it: a claim that
    /// takes over after a crash sees `Job::sent` and does not send again. `retry` clears it.
    /// Errors: as [`JobQueue::complete`].
    async fn mark_sent(&self, job: &Job) -> Result<(), RepositoryError>;
    /// Gives up: the job becomes `dead` with its last error. Errors: as [`JobQueue::complete`].
    async fn bury(&self, job: &Job, error: &str) -> Result<(), RepositoryError>;
    /// Jobs of an order with their states, for operators and tests. Errors: `Unavailable`.
    async fn jobs_of(&self, order: OrderId) -> Result<Vec<JobSummary>, RepositoryError>;
}

/// A job as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    pub id: JobId,
    pub kind: JobKind,
    pub order_id: OrderId,
    pub state: JobState,
    pub attempts: u32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

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
    /// A status we do not know: never acted upon.
    Other(String),
}

/// What a notification claims happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationClaim {
    /// Something happened to this payment; re-fetch it to learn what.
    Payment { provider_payment_id: String },
    /// A refund of this payment completed; believed only after the refund is fetched.
    RefundSucceeded {
        provider_payment_id: String,
        refund_id: String,
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
    pub capture: CaptureMode,
    pub description: String,
    pub return_url: String,
    pub receipt_contact: Option<ReceiptContact>,
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

/// Errors of a machine gateway call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// The request certainly did not reach the machine or its cloud (connection refused or
    /// reset before it was written, DNS failure, 429/503 with nothing accepted): retry later.
    #[error("machine gateway unavailable: {0}")]
    Unavailable(String),
    /// The make command was sent and no clear answer came back (a timeout after sending, an
    /// ambiguous 5xx): it may have been accepted. Never resent blindly, never assumed made.
    #[error("make command outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// Refused for good (4xx): retrying will not help.
    #[error("machine gateway rejected the request: {0}")]
    Rejected(String),
    /// No usable price (missing or zero); never made up.
    #[error("price unknown")]
    PriceUnknown,
    /// This gateway cannot answer this question (e.g. a simulated machine's price).
    #[error("not supported by this machine gateway")]
    NotSupported,
}

/// The one make command of a paid order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCommand {
    pub order_id: OrderId,
    pub device: Device,
    pub machine_order_id: MachineOrderId,
    pub drink_no: DrinkNo,
    pub size: Size,
    pub price: Money,
}

/// A coffee machine, or the cloud that speaks for it.
#[async_trait]
pub trait MachineGateway: Send + Sync {
    /// The drink's price at the machine. Errors: `PriceUnknown`, `Unavailable`, `Rejected`,
    /// `NotSupported`.
    async fn price(
        &self,
        device: &Device,
        drink_no: &DrinkNo,
        size: Size,
    ) -> Result<Money, MachineError>;
    /// The time of the last heartbeat, `Ok(None)` when there never was one.
    /// Errors: `Unavailable`, `Rejected`.
    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError>;
    /// Sends the make command once (no retry inside the adapter once the request may have
    /// been written). Errors: `Unavailable` (certainly not delivered: the caller may retry),
    /// `OutcomeUnknown` (may have been accepted: the caller must not resend), `Rejected`
    /// (refused for good).
    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError>;
}

/// The time. Tests control it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// New unique ids. Tests may make them predictable.
pub trait IdGenerator: Send + Sync {
    fn new_uuid(&self) -> Uuid;
}
