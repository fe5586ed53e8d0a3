use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use coffee_domain::ports::{
    CatalogRepository, JobQueue, JobSummary, OrderChange, OrderRepository, PaymentRepository,
    RepositoryError,
};
use coffee_domain::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, FleetChanges, HistoryEntry, Job, JobId, JobKind,
    JobState, MachineOrderId, Merchant, MerchantKey, Order, OrderId, OrderStatus, Payment,
    PaymentId, ProviderKind,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

#[derive(Debug, Clone)]
struct JobRow {
    kind: JobKind,
    order_id: OrderId,
    state: JobState,
    attempts: u32,
    max_attempts: u32,
    run_at: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// The current claim's token; `None` while nobody holds the job.
    claim: Option<Uuid>,
}

#[derive(Debug, Default)]
struct State {
    merchants: BTreeMap<MerchantKey, Merchant>,
    devices: BTreeMap<DeviceUuid, Device>,
    drinks: BTreeMap<(DeviceUuid, DrinkNo), Drink>,
    orders: HashMap<OrderId, Order>,
    order_by_machine_id: HashMap<(DeviceUuid, MachineOrderId), OrderId>,
    payments: HashMap<PaymentId, Payment>,
    payment_by_order: HashMap<OrderId, PaymentId>,
    payment_by_provider_id: HashMap<(ProviderKind, String), PaymentId>,
    provider_events: std::collections::HashSet<(ProviderKind, String)>,
    history: Vec<HistoryEntry>,
    jobs: BTreeMap<JobId, JobRow>,
    job_sequence: u64,
}

/// All repositories and the job queue in one mutex: every method is one atomic step, like a
/// database transaction.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with `Unavailable` (a database outage), or heals it.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, RepositoryError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(RepositoryError::Unavailable(
                "memory store switched off".into(),
            ));
        }
        Ok(self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Every order, for tests and the demo.
    pub fn all_orders(&self) -> Vec<Order> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.orders.values().cloned().collect()
    }

    /// Jobs in any state, for tests.
    pub fn all_jobs(&self) -> Vec<JobSummary> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .jobs
            .iter()
            .map(|(id, row)| summary(*id, row))
            .collect()
    }
}

fn summary(id: JobId, row: &JobRow) -> JobSummary {
    JobSummary {
        id,
        kind: row.kind,
        order_id: row.order_id,
        state: row.state,
        attempts: row.attempts,
        run_at: row.run_at,
        last_error: row.last_error.clone(),
    }
}

#[async_trait]
impl CatalogRepository for MemoryStore {
    async fn merchant(&self, key: &MerchantKey) -> Result<Option<Merchant>, RepositoryError> {
        Ok(self.lock()?.merchants.get(key).cloned())
    }

    async fn device(&self, device: &DeviceUuid) -> Result<Option<Device>, RepositoryError> {
        Ok(self.lock()?.devices.get(device).cloned())
    }

    async fn devices(&self) -> Result<Vec<Device>, RepositoryError> {
        Ok(self.lock()?.devices.values().cloned().collect())
    }

    async fn drink(
        &self,
        device: &DeviceUuid,
        drink_no: &DrinkNo,
    ) -> Result<Option<Drink>, RepositoryError> {
        Ok(self
            .lock()?
            .drinks
            .get(&(device.clone(), drink_no.clone()))
            .cloned())
    }

    async fn drinks(&self, device: &DeviceUuid) -> Result<Vec<Drink>, RepositoryError> {
        Ok(self
            .lock()?
            .drinks
            .values()
            .filter(|d| &d.device == device)
            .cloned()
            .collect())
    }

    async fn apply_fleet(&self, fleet: &Fleet) -> Result<FleetChanges, RepositoryError> {
        let mut state = self.lock()?;
        fleet.check_references(
            |merchant| state.merchants.contains_key(merchant),
            |device| state.devices.contains_key(device),
        )?;
        let mut changes = FleetChanges::default();
        fn upsert<K: Ord, V: PartialEq>(
            map: &mut BTreeMap<K, V>,
            key: K,
            value: V,
            changes: &mut FleetChanges,
        ) {
            match map.get(&key) {
                Some(existing) if *existing == value => changes.unchanged += 1,
                Some(_) => {
                    changes.updated += 1;
                    map.insert(key, value);
                }
                None => {
                    changes.inserted += 1;
                    map.insert(key, value);
                }
            }
        }
        for merchant in &fleet.merchants {
            upsert(
                &mut state.merchants,
                merchant.key.clone(),
                merchant.clone(),
                &mut changes,
            );
        }
        for device in &fleet.devices {
            upsert(
                &mut state.devices,
                device.device_uuid.clone(),
                device.clone(),
                &mut changes,
            );
        }
        for drink in &fleet.drinks {
            upsert(
                &mut state.drinks,
                (drink.device.clone(), drink.drink_no.clone()),
                drink.clone(),
                &mut changes,
            );
        }
        Ok(changes)
    }
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn insert_or_get(&self, order: Order) -> Result<(Order, bool), RepositoryError> {
        let mut state = self.lock()?;
        let key = (order.device.clone(), order.machine_order_id.clone());
        if let Some(existing) = state
            .order_by_machine_id
            .get(&key)
            .and_then(|id| state.orders.get(id))
        {
            return Ok((existing.clone(), false));
        }
        state.order_by_machine_id.insert(key, order.id);
        state.orders.insert(order.id, order.clone());
        Ok((order, true))
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        Ok(self.lock()?.orders.get(&id).cloned())
    }

    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .order_by_machine_id
            .get(&(device.clone(), machine_order_id.clone()))
            .and_then(|id| state.orders.get(id))
            .cloned())
    }

    async fn apply(&self, change: OrderChange) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let state = &mut *state;
        // Check every precondition before writing anything: all or nothing.
        let order = state
            .orders
            .get(&change.order_id)
            .ok_or_else(|| RepositoryError::NotFound(format!("order {}", change.order_id)))?;
        if let Some(status) = &change.status {
            if order.status != status.expected {
                return Err(RepositoryError::Conflict(format!(
                    "order {} is {}, expected {}",
                    order.id, order.status, status.expected
                )));
            }
        }
        if let Some(new_payment) = &change.new_payment {
            if state.payment_by_order.contains_key(&new_payment.order_id) {
                return Err(RepositoryError::Duplicate(format!(
                    "order {} already has a payment",
                    new_payment.order_id
                )));
            }
            let provider_key = (
                new_payment.provider,
                new_payment.provider_payment_id.clone(),
            );
            if state.payment_by_provider_id.contains_key(&provider_key) {
                return Err(RepositoryError::Duplicate(format!(
                    "provider payment {} already stored",
                    new_payment.provider_payment_id
                )));
            }
        }
        if let Some(event) = &change.provider_event {
            if state
                .provider_events
                .contains(&(event.provider, event.event_key.clone()))
            {
                return Err(RepositoryError::Duplicate(format!(
                    "provider event {} already applied",
                    event.event_key
                )));
            }
        }
        if let Some(payment_change) = &change.payment_state {
            let payment = state
                .payments
                .get(&payment_change.payment_id)
                .ok_or_else(|| {
                    RepositoryError::NotFound(format!("payment {}", payment_change.payment_id))
                })?;
            if payment.state != payment_change.expected {
                return Err(RepositoryError::Conflict(format!(
                    "payment {} is {}, expected {}",
                    payment.id, payment.state, payment_change.expected
                )));
            }
        }
        let now = change.history.last().map(|h| h.at);
        if let Some(order) = state.orders.get_mut(&change.order_id) {
            if let Some(status) = &change.status {
                order.status = status.next;
                if status.failure_reason.is_some() {
                    order.failure_reason = status.failure_reason;
                }
                order.dispense_assumed |= status.dispense_assumed;
            }
            if let Some(contact) = change.receipt_contact {
                order.receipt_contact = Some(contact);
            }
            if let Some(now) = now {
                order.updated_at = now;
            }
        }
        if let Some(payment) = change.new_payment {
            state.payment_by_order.insert(payment.order_id, payment.id);
            state.payment_by_provider_id.insert(
                (payment.provider, payment.provider_payment_id.clone()),
                payment.id,
            );
            state.payments.insert(payment.id, payment);
        }
        if let Some(payment_change) = change.payment_state {
            if let Some(payment) = state.payments.get_mut(&payment_change.payment_id) {
                payment.state = payment_change.next;
                if let Some(now) = now {
                    payment.updated_at = now;
                }
            }
        }
        if let Some(event) = change.provider_event {
            state
                .provider_events
                .insert((event.provider, event.event_key));
        }
        state.history.extend(change.history);
        for job in change.jobs {
            state.job_sequence += 1;
            let id = JobId::from_uuid(Uuid::from_u128(u128::from(state.job_sequence)));
            state.jobs.insert(
                id,
                JobRow {
                    kind: job.kind,
                    order_id: job.order_id,
                    state: JobState::Queued,
                    attempts: 0,
                    max_attempts: job.kind.max_attempts(),
                    run_at: job.run_at,
                    lease_until: None,
                    last_error: None,
                    claim: None,
                },
            );
        }
        Ok(())
    }

    async fn record(&self, entries: Vec<HistoryEntry>) -> Result<(), RepositoryError> {
        self.lock()?.history.extend(entries);
        Ok(())
    }

    async fn history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError> {
        Ok(self
            .lock()?
            .history
            .iter()
            .filter(|h| h.order_id == id)
            .cloned()
            .collect())
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, RepositoryError> {
        let state = self.lock()?;
        let mut due: Vec<Order> = state
            .orders
            .values()
            .filter(|o| {
                matches!(o.status, OrderStatus::Created | OrderStatus::Pending)
                    && o.expires_at <= now
            })
            .cloned()
            .collect();
        due.sort_by_key(|o| o.expires_at);
        due.truncate(limit);
        Ok(due)
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.lock().map(|_| ())
    }
}

#[async_trait]
impl PaymentRepository for MemoryStore {
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .payment_by_order
            .get(&order)
            .and_then(|id| state.payments.get(id))
            .cloned())
    }

    async fn by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .payment_by_provider_id
            .get(&(provider, provider_payment_id.to_owned()))
            .and_then(|id| state.payments.get(id))
            .cloned())
    }
}

#[async_trait]
impl JobQueue for MemoryStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, RepositoryError> {
        let mut state = self.lock()?;
        let mut due: Vec<(DateTime<Utc>, JobId)> = state
            .jobs
            .iter()
            .filter(|(_, row)| match row.state {
                JobState::Queued => row.run_at <= now,
                JobState::Running => row.lease_until.is_some_and(|until| until <= now),
                JobState::Done | JobState::Dead => false,
            })
            .map(|(id, row)| (row.run_at, *id))
            .collect();
        due.sort();
        due.truncate(limit);
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some(row) = state.jobs.get_mut(&id) {
                row.state = JobState::Running;
                row.attempts += 1;
                row.lease_until = Some(now + lease);
                let claim = Uuid::new_v4();
                row.claim = Some(claim);
                claimed.push(Job {
                    claim,
                    id,
                    kind: row.kind,
                    order_id: row.order_id,
                    attempts: row.attempts,
                    max_attempts: row.max_attempts,
                });
            }
        }
        Ok(claimed)
    }

    async fn complete(&self, job: &Job) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let row = held(&mut state, job)?;
        row.state = JobState::Done;
        row.lease_until = None;
        row.claim = None;
        Ok(())
    }

    async fn retry(
        &self,
        job: &Job,
        run_at: DateTime<Utc>,
        error: &str,
        count_attempt: bool,
    ) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let row = held(&mut state, job)?;
        row.state = JobState::Queued;
        row.run_at = run_at;
        row.lease_until = None;
        row.claim = None;
        if count_attempt {
            row.last_error = Some(error.to_owned());
        } else {
            row.attempts = row.attempts.saturating_sub(1);
        }
        Ok(())
    }

    async fn bury(&self, job: &Job, error: &str) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let row = held(&mut state, job)?;
        row.state = JobState::Dead;
        row.lease_until = None;
        row.claim = None;
        row.last_error = Some(error.to_owned());
        Ok(())
    }

    async fn jobs_of(&self, order: OrderId) -> Result<Vec<JobSummary>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .jobs
            .iter()
            .filter(|(_, row)| row.order_id == order)
            .map(|(id, row)| summary(*id, row))
            .collect())
    }
}

/// The job's row if `job` is still its current claim.
fn held<'a>(state: &'a mut State, job: &Job) -> Result<&'a mut JobRow, RepositoryError> {
    let row = state
        .jobs
        .get_mut(&job.id)
        .ok_or_else(|| RepositoryError::NotFound(format!("job {}", job.id)))?;
    if row.state != JobState::Running || row.claim != Some(job.claim) {
        return Err(RepositoryError::Conflict(format!(
            "job {} is no longer held by this claim",
            job.id
        )));
    }
    Ok(row)
}
