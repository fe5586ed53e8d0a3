//! The storage ports: catalogue, orders, payments and the durable job queue.

use super::*;
use crate::moving_over::{ImportChanges, NetworkImport};
use crate::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, FleetChanges, HistoryEntry, Job, JobId, JobKind,
    JobState, MachineOrderId, Merchant, MerchantKey, Order, OrderId, Payment, PaymentId,
    ProviderKind,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// Merchants, devices and drinks.
#[async_trait]
pub trait CatalogRepository: Send + Sync {
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn merchant(&self, key: &MerchantKey) -> Result<Option<Merchant>, RepositoryError>;
    /// All merchants, ordered by key. Errors: `Unavailable`.
    async fn merchants(&self) -> Result<Vec<Merchant>, RepositoryError>;
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
    /// Upserts the whole fleet atomically; applying the same fleet twice changes nothing. A
    /// secret that changes records `now` as when it was set.
    /// Errors: `Invalid` when an entity breaks a fleet rule ([`Fleet::check`]), `NotFound`
    /// when a device names an unknown merchant or a drink an unknown device (nothing written
    /// either way); `Unavailable`.
    async fn apply_fleet(
        &self,
        fleet: &Fleet,
        now: DateTime<Utc>,
    ) -> Result<FleetChanges, RepositoryError>;
}

/// Orders, their history, and the atomic unit of change.
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Inserts the order, with its first `history` lines in the same commit, unless one with
    /// the same device and machine order id exists (then nothing is written); returns the
    /// stored order and whether it was inserted now. Errors: `Unavailable`.
    async fn insert_or_get(
        &self,
        order: Order,
        history: Vec<HistoryEntry>,
    ) -> Result<(Order, bool), RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError>;
    /// The order with one payment attempt, read together (one round trip): `payment` when
    /// given and it is this order's, else the latest attempt. `Ok(None)` when the order is
    /// unknown. Errors: `Unavailable`.
    async fn with_payment(
        &self,
        id: OrderId,
        payment: Option<PaymentId>,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError>;
    /// The device's order with this machine order id and its latest payment attempt, read
    /// together (one round trip): what a machine's report is decided on. `Ok(None)` when
    /// unknown. Errors: `Unavailable`.
    async fn with_payment_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError>;
    /// The payment the provider knows by this id with its order, read together (one round
    /// trip): what a provider's notification is decided on. `Ok(None)` when unknown.
    /// Errors: `Unavailable`.
    async fn with_payment_by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<(Order, Payment)>, RepositoryError>;
    /// Ids of the orders with this machine order id on any device, oldest first, at most
    /// `limit` (the original system's order page named an order by it alone).
    /// Errors: `Unavailable`.
    async fn ids_by_machine_order_id(
        &self,
        machine_order_id: &MachineOrderId,
        limit: usize,
    ) -> Result<Vec<OrderId>, RepositoryError>;
    /// Applies the change all-or-nothing. A payment that leaves `pending` ends its queued
    /// `poll_payment` jobs in the same commit (there is nothing left to ask); an order that
    /// leaves `make_pending` ends its queued `dispense_deadline` jobs (nothing left to decide). Errors: `Conflict` when the order's status or the
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
    /// How many orders are flagged for an operator. Errors: `Unavailable`.
    async fn count_needing_attention(&self) -> Result<u64, RepositoryError>;
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
}

/// The durable job queue. Jobs are enqueued through [`OrderRepository::apply`] together with
/// the transition that causes them; the queue hands them to workers.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Claims up to `claim.limit` queued jobs whose run time has come (and running jobs whose
    /// lease ran out: their worker died) — urgent kinds first, then by run time —, increments
    /// their attempts and leases them until `claim.now + claim.lease`. A claimed job is never
    /// handed to two workers while its lease holds. Errors: `Unavailable`.
    async fn claim_due(&self, claim: Claim) -> Result<Vec<Job>, RepositoryError>;
    /// Marks the claimed job done. Errors: `Conflict` when `job` is no longer the current
    /// claim (its lease ran out and another worker took it over, or it already ended);
    /// `NotFound`; `Unavailable`.
    async fn complete(&self, job: &Job) -> Result<(), RepositoryError>;
    /// Puts the claimed job back to run again as `again` says. Errors: as
    /// [`JobQueue::complete`].
    async fn retry(&self, job: &Job, again: RunAgain<'_>) -> Result<(), RepositoryError>;
    /// Records, before the make command is sent, that this claim is sending it: a claim that
    /// takes over after a crash sees `Job::sent` and does not send again. `retry` clears it.
    /// Errors: as [`JobQueue::complete`].
    async fn mark_sent(&self, job: &Job) -> Result<(), RepositoryError>;
    /// Gives up: the job becomes `dead` with its last error. Errors: as [`JobQueue::complete`].
    async fn bury(&self, job: &Job, error: &str) -> Result<(), RepositoryError>;
    /// An operator's retry: a `dead` job is queued again to run at `now`, its attempts
    /// counted from zero (its last error is kept until the next attempt; a make command's
    /// sent mark is kept, so it is never resent blindly). Errors: `Conflict` when the job is
    /// not dead (retried already, or never died); `NotFound`; `Unavailable`.
    async fn revive(&self, job: JobId, now: DateTime<Utc>) -> Result<(), RepositoryError>;
    /// Jobs of an order with their states, for operators and tests. Errors: `Unavailable`.
    async fn jobs_of(&self, order: OrderId) -> Result<Vec<JobSummary>, RepositoryError>;
    /// A signal that resolves once jobs due at once are committed after this call — through
    /// this store, or by another process where the store hears of it — so an idle worker
    /// wakes at once instead of at its next tick (see `OrderChange::jobs_due_at_once`). Take
    /// it *before* claiming: a job committed while the claim runs is not missed. Only a hint
    /// (claiming may then find nothing); a store that cannot tell returns a signal that never
    /// resolves, and workers keep their timer.
    fn jobs_committed(&self) -> JobsCommitted;
    /// How many jobs there are of each kind in each state, and how long the oldest queued job
    /// due at `now` has waited. Errors: `Unavailable`.
    async fn backlog(&self, now: DateTime<Utc>) -> Result<Backlog, RepositoryError>;
}

/// See [`JobQueue::jobs_committed`].
pub type JobsCommitted = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The queue at a glance, for metrics and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Jobs per kind and state (kinds and states without jobs are left out).
    pub counts: Vec<(JobKind, JobState, u64)>,
    /// How long the oldest queued job due now has been due.
    pub oldest_overdue: Option<Duration>,
}

/// What a worker asks the queue for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Jobs due at or before this time.
    pub now: DateTime<Utc>,
    pub limit: usize,
    /// How long the claimed jobs are this worker's.
    pub lease: Duration,
}

/// When a claimed job runs again, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAgain<'a> {
    pub at: DateTime<Utc>,
    /// A failure: the error is recorded and the attempt counts.
    pub failed: Option<&'a str>,
}

impl<'a> RunAgain<'a> {
    /// After a failed attempt: recorded, and counted against the kind's attempt budget.
    pub fn after_failure(at: DateTime<Utc>, error: &'a str) -> Self {
        Self {
            at,
            failed: Some(error),
        }
    }

    /// A planned re-run (polling) that is no failure: the attempt is given back.
    pub fn as_planned(at: DateTime<Utc>) -> Self {
        Self { at, failed: None }
    }
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

/// Writes a network moved over from another system (see [`crate::moving_over`]).
#[async_trait]
pub trait NetworkImportTarget: Send + Sync {
    /// Upserts the fleet as [`CatalogRepository::apply_fleet`] does, then inserts every order
    /// not yet here (by device and machine order id) with its payment, history and jobs; an
    /// order already here is left as it is. All in one transaction; with `dry_run` it is
    /// rolled back and only the counts are returned. Errors: as `apply_fleet`; `Duplicate`
    /// when an imported payment's provider id already belongs to another order (nothing
    /// written); `Unavailable`.
    async fn import_network(
        &self,
        import: &NetworkImport,
        dry_run: bool,
    ) -> Result<ImportChanges, RepositoryError>;
}
