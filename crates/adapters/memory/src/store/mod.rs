//! [`MemoryStore`]: every repository port and the job queue in one mutex, one module per port.

mod catalog;
mod console;
mod jobs;
mod orders;
mod payments;

use coffee_domain::ports::{JobSummary, RepositoryError};
use coffee_domain::{
    ApiToken, AuditEntry, Device, DeviceUuid, Drink, DrinkNo, HistoryEntry, JobId, LoginAttempt,
    MachineOrderId, Merchant, MerchantKey, Order, OrderId, Payment, PaymentId, ProviderKind,
    Session, User, UserName,
};
use jobs::JobRow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
struct State {
    merchants: BTreeMap<MerchantKey, Merchant>,
    devices: BTreeMap<DeviceUuid, Device>,
    drinks: BTreeMap<(DeviceUuid, DrinkNo), Drink>,
    orders: HashMap<OrderId, Order>,
    order_by_machine_id: HashMap<(DeviceUuid, MachineOrderId), OrderId>,
    payments: HashMap<PaymentId, Payment>,
    /// Every payment attempt of an order, oldest first.
    payments_by_order: HashMap<OrderId, Vec<PaymentId>>,
    payment_by_provider_id: HashMap<(ProviderKind, String), PaymentId>,
    provider_events: HashSet<(ProviderKind, String)>,
    history: Vec<HistoryEntry>,
    jobs: BTreeMap<JobId, JobRow>,
    job_sequence: u64,
    users: BTreeMap<UserName, User>,
    /// Sessions by their token's digest.
    sessions: HashMap<String, Session>,
    /// API tokens by their digest.
    api_tokens: HashMap<String, ApiToken>,
    login_attempts: Vec<LoginAttempt>,
    /// Oldest first.
    audit: Vec<AuditEntry>,
}

/// All repositories and the job queue in one mutex: every method is one atomic step, like a
/// database transaction.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
    jobs_committed: Bell,
}

/// Rung once per job committed through this store; see `JobQueue::jobs_committed`. One
/// idle worker wakes per job (no stampede of empty claims); a ring with no worker waiting is
/// kept for the next one to wait.
#[derive(Debug, Default)]
struct Bell(std::sync::Arc<tokio::sync::Notify>);

impl Bell {
    fn ring(&self, jobs: usize) {
        for _ in 0..jobs {
            self.0.notify_one();
        }
    }

    fn next_ring(&self) -> coffee_domain::ports::JobsCommitted {
        let bell = self.0.clone();
        Box::pin(async move { bell.notified().await })
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with `Unavailable` (a database outage), or heals it.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The state for a port call: `Unavailable` while switched off.
    fn lock(&self) -> Result<MutexGuard<'_, State>, RepositoryError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(RepositoryError::Unavailable(
                "memory store switched off".into(),
            ));
        }
        Ok(self.inspect())
    }

    /// The state even while switched off, for tests and the demo to look at. A panic in
    /// another holder cannot leave it half-written (every method checks before it writes), so
    /// a poisoned lock is used as is.
    fn inspect(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every order, for tests and the demo.
    pub fn all_orders(&self) -> Vec<Order> {
        self.inspect().orders.values().cloned().collect()
    }

    /// Jobs in any state, for tests.
    pub fn all_jobs(&self) -> Vec<JobSummary> {
        self.inspect()
            .jobs
            .iter()
            .map(|(id, row)| row.summary(*id))
            .collect()
    }
}
