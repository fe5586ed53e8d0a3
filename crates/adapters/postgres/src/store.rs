//! [`PgStore`]: every repository port and the job queue on one connection pool.

use crate::codes::Code;
use crate::connection::{config, error_chain, establish, PgOptions};
use crate::error::{StoreError, TimedOut};
use crate::models::{
    contact_columns, ClaimedJobRow, DeviceRow, DrinkRow, HistoryRow, JobSummaryRow, MerchantRow,
    NewJobRow, OrderPatch, OrderRow, PaymentRow,
};
use crate::schema::{
    devices, drinks, jobs, merchants, order_history, orders, payments, provider_events,
};
use crate::SetupError;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use coffee_domain::ports::{
    CatalogRepository, JobQueue, JobSummary, OrderChange, OrderRepository, PaymentRepository,
    RepositoryError,
};
use coffee_domain::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, FleetChanges, HistoryEntry, Job, JobState,
    MachineOrderId, Merchant, MerchantKey, Order, OrderId, OrderStatus, Payment, PaymentState,
    ProviderKind,
};
use diesel::dsl::{exists, now as db_now, select, sql};
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

/// Serialises concurrent fleet applies (a transaction-level advisory lock).
const FLEET_LOCK: i64 = 0x00C0_FFEE_0002;

/// The Postgres adapter: catalogue, orders, payments, history and the job queue.
///
/// Cheap to clone; clones share the pool. Every call is bounded by
/// [`PgOptions::operation_timeout`] and fails with `RepositoryError::Unavailable` while the
/// database is down; broken connections are dropped and replaced, so calls succeed again as
/// soon as it is back.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    operation_timeout: std::time::Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

impl PgStore {
    /// Opens a pool of at most `pool_size` connections with the default timeouts and checks
    /// that the database answers. Errors: `InvalidUrl`, `Connect` (unreachable, refused).
    pub async fn connect(database_url: &str, pool_size: usize) -> Result<Self, SetupError> {
        Self::connect_with(
            database_url,
            PgOptions {
                pool_size,
                ..PgOptions::default()
            },
        )
        .await
    }

    /// Like [`PgStore::connect`] with explicit options.
    pub async fn connect_with(database_url: &str, options: PgOptions) -> Result<Self, SetupError> {
        let store = Self::connect_lazy(database_url, options)?;
        store
            .ping()
            .await
            .map_err(|e| SetupError::Connect(error_chain(&e)))?;
        Ok(store)
    }

    /// Builds the pool without touching the database: the first call connects. For starting
    /// while the database is still down (`/ready` then reports it). Errors: `InvalidUrl`,
    /// `Pool`.
    pub fn connect_lazy(database_url: &str, options: PgOptions) -> Result<Self, SetupError> {
        let config = Arc::new(config(
            database_url,
            options.connect_timeout,
            Some(options.statement_timeout),
        )?);
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // No `SELECT 1` per checkout: a connection whose socket closed (server restarted,
        // backend killed) is already refused by the pool's broken-connection check, and one
        // that timed out is discarded by `run`.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |_url| {
            let config = Arc::clone(&config);
            Box::pin(async move { establish(&config).await })
        });
        // The URL is carried inside the setup callback's config; the manager's copy is unused.
        let manager = AsyncDieselConnectionManager::new_with_config(String::new(), manager_config);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .build()
            .map_err(|e| SetupError::Pool(e.to_string()))?;
        Ok(Self {
            pool,
            operation_timeout: options.operation_timeout,
        })
    }

    /// Runs one repository call with a pooled connection, bounded by the operation timeout.
    /// A connection whose call timed out is discarded, never handed to the next caller: it may
    /// sit on a dead network or in the middle of an abandoned statement.
    async fn run<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, StoreError>,
    {
        let deadline = tokio::time::Instant::now() + self.operation_timeout;
        let timed_out = || RepositoryError::Unavailable(Box::new(TimedOut(self.operation_timeout)));
        let mut conn = tokio::time::timeout_at(deadline, self.pool.get())
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| StoreError::Pool(e).into_repository())?;
        match tokio::time::timeout_at(deadline, work(&mut conn)).await {
            Ok(result) => result.map_err(StoreError::into_repository),
            Err(_) => {
                drop(Object::take(conn));
                Err(timed_out())
            }
        }
    }
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Upsert outcome of one fleet item.
enum Upsert {
    Inserted,
    Updated,
    Unchanged,
}

impl Upsert {
    fn count(self, changes: &mut FleetChanges) {
        match self {
            Upsert::Inserted => changes.inserted += 1,
            Upsert::Updated => changes.updated += 1,
            Upsert::Unchanged => changes.unchanged += 1,
        }
    }
}

/// One upsert per fleet item kind: lock the stored row, compare it with the declared item,
/// then update (stamping `updated_at`) or insert — or leave it alone when it is unchanged.
macro_rules! upsert {
    ($name:ident, $item:ident: $domain:ty, $table:ident, $row:ty, key = $key:expr, row = $make_row:expr) => {
        async fn $name(
            conn: &mut AsyncPgConnection,
            $item: &$domain,
        ) -> Result<Upsert, StoreError> {
            let key = $key;
            let stored = $table::table
                .find(key)
                .select(<$row>::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let row = $make_row;
            match stored.map(|stored| stored.into_domain()).transpose()? {
                Some(stored) if stored == *$item => Ok(Upsert::Unchanged),
                Some(_) => {
                    diesel::update($table::table.find(key))
                        .set((&row, $table::updated_at.eq(db_now)))
                        .execute(conn)
                        .await?;
                    Ok(Upsert::Updated)
                }
                None => {
                    diesel::insert_into($table::table)
                        .values(&row)
                        .execute(conn)
                        .await?;
                    Ok(Upsert::Inserted)
                }
            }
        }
    };
}

upsert!(upsert_merchant, merchant: Merchant, merchants, MerchantRow,
    key = merchant.key.as_str(), row = MerchantRow::from_domain(merchant));
upsert!(upsert_device, device: Device, devices, DeviceRow,
    key = device.device_uuid.as_str(), row = DeviceRow::from_domain(device)?);
upsert!(upsert_drink, drink: Drink, drinks, DrinkRow,
    key = (drink.device.as_str(), drink.drink_no.as_str()), row = DrinkRow::from_domain(drink));

#[async_trait]
impl CatalogRepository for PgStore {
    async fn merchant(&self, key: &MerchantKey) -> Result<Option<Merchant>, RepositoryError> {
        self.run(async |conn| {
            let row = merchants::table
                .find(key.as_str())
                .select(MerchantRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(MerchantRow::into_domain).transpose()
        })
        .await
    }

    async fn device(&self, device: &DeviceUuid) -> Result<Option<Device>, RepositoryError> {
        self.run(async |conn| {
            let row = devices::table
                .find(device.as_str())
                .select(DeviceRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(DeviceRow::into_domain).transpose()
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<Device>, RepositoryError> {
        self.run(async |conn| {
            let rows = devices::table
                .order(devices::device_uuid)
                .select(DeviceRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(DeviceRow::into_domain).collect()
        })
        .await
    }

    async fn drink(
        &self,
        device: &DeviceUuid,
        drink_no: &DrinkNo,
    ) -> Result<Option<Drink>, RepositoryError> {
        self.run(async |conn| {
            let row = drinks::table
                .find((device.as_str(), drink_no.as_str()))
                .select(DrinkRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(DrinkRow::into_domain).transpose()
        })
        .await
    }

    async fn drinks(&self, device: &DeviceUuid) -> Result<Vec<Drink>, RepositoryError> {
        self.run(async |conn| {
            let rows = drinks::table
                .filter(drinks::device_uuid.eq(device.as_str()))
                .order(drinks::drink_no)
                .select(DrinkRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(DrinkRow::into_domain).collect()
        })
        .await
    }

    async fn apply_fleet(&self, fleet: &Fleet) -> Result<FleetChanges, RepositoryError> {
        self.run(async |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                diesel::sql_query(format!("SELECT pg_advisory_xact_lock({FLEET_LOCK})"))
                    .execute(conn)
                    .await?;
                // Check every reference before writing anything: all or nothing.
                let referenced: Vec<&str> =
                    fleet.devices.iter().map(|d| d.merchant.as_str()).collect();
                let stored_merchants: HashSet<String> = merchants::table
                    .filter(merchants::key.eq_any(&referenced))
                    .select(merchants::key)
                    .load::<String>(conn)
                    .await?
                    .into_iter()
                    .collect();
                let referenced: Vec<&str> =
                    fleet.drinks.iter().map(|d| d.device.as_str()).collect();
                let stored_devices: HashSet<String> = devices::table
                    .filter(devices::device_uuid.eq_any(&referenced))
                    .select(devices::device_uuid)
                    .load::<String>(conn)
                    .await?
                    .into_iter()
                    .collect();
                fleet.check_references(
                    |merchant| stored_merchants.contains(merchant.as_str()),
                    |device| stored_devices.contains(device.as_str()),
                )?;
                let mut changes = FleetChanges::default();
                for merchant in &fleet.merchants {
                    upsert_merchant(conn, merchant).await?.count(&mut changes);
                }
                for device in &fleet.devices {
                    upsert_device(conn, device).await?.count(&mut changes);
                }
                for drink in &fleet.drinks {
                    upsert_drink(conn, drink).await?.count(&mut changes);
                }
                Ok(changes)
            })
            .await
        })
        .await
    }
}

/// Step 1 of `apply`: the order's compare-and-set (or, with nothing to set, its existence).
async fn apply_to_order(
    conn: &mut AsyncPgConnection,
    change: &OrderChange,
) -> Result<(), StoreError> {
    let order_id = change.order_id.as_uuid();
    let contact = change.receipt_contact.as_ref().map(contact_columns);
    let status = change.status.as_ref();
    let patch = OrderPatch {
        status: status.map(|s| s.next.code()),
        failure_reason: status.and_then(|s| s.failure_reason).map(Code::code),
        dispense_assumed: status.filter(|s| s.dispense_assumed).map(|_| true),
        receipt_contact_kind: contact.map(|(kind, _)| kind),
        receipt_contact_value: contact.map(|(_, value)| value),
        updated_at: change.history.last().map(|h| h.at),
    };
    let touched = if patch.is_empty() {
        orders::table
            .find(order_id)
            .select(orders::id)
            .for_update()
            .execute(conn)
            .await?
    } else if let Some(status) = status {
        diesel::update(
            orders::table
                .find(order_id)
                .filter(orders::status.eq(status.expected.code())),
        )
        .set(&patch)
        .execute(conn)
        .await?
    } else {
        diesel::update(orders::table.find(order_id))
            .set(&patch)
            .execute(conn)
            .await?
    };
    if touched > 0 {
        return Ok(());
    }
    let current: Option<String> = orders::table
        .find(order_id)
        .select(orders::status)
        .first(conn)
        .await
        .optional()?;
    match (current, status) {
        (None, _) => Err(RepositoryError::NotFound(format!("order {}", change.order_id)).into()),
        (Some(current), Some(status)) => Err(RepositoryError::Conflict(format!(
            "order {} is {}, expected {}",
            change.order_id,
            OrderStatus::decode(&current)?,
            status.expected
        ))
        .into()),
        (Some(_), None) => Err(StoreError::corrupt(format!(
            "order {} vanished while updated",
            change.order_id
        ))),
    }
}

/// Step 2 of `apply`: a new payment must be the order's first and reuse no provider id.
async fn check_new_payment(
    conn: &mut AsyncPgConnection,
    payment: &Payment,
) -> Result<(), StoreError> {
    let order_has_payment = select(exists(
        payments::table.filter(payments::order_id.eq(payment.order_id.as_uuid())),
    ))
    .get_result::<bool>(conn)
    .await?;
    if order_has_payment {
        return Err(RepositoryError::Duplicate(format!(
            "order {} already has a payment",
            payment.order_id
        ))
        .into());
    }
    let provider_id_taken = select(exists(
        payments::table
            .filter(payments::provider.eq(payment.provider.code()))
            .filter(payments::provider_payment_id.eq(&payment.provider_payment_id)),
    ))
    .get_result::<bool>(conn)
    .await?;
    if provider_id_taken {
        return Err(RepositoryError::Duplicate(format!(
            "provider payment {} already stored",
            payment.provider_payment_id
        ))
        .into());
    }
    Ok(())
}

/// Step 3 of `apply`: the payment's money-state compare-and-set.
async fn apply_to_payment(
    conn: &mut AsyncPgConnection,
    change: &OrderChange,
) -> Result<(), StoreError> {
    let Some(payment_change) = &change.payment_state else {
        return Ok(());
    };
    let payment_id = payment_change.payment_id.as_uuid();
    let target = payments::table
        .find(payment_id)
        .filter(payments::state.eq(payment_change.expected.code()));
    let touched = match change.history.last() {
        Some(entry) => {
            diesel::update(target)
                .set((
                    payments::state.eq(payment_change.next.code()),
                    payments::updated_at.eq(entry.at),
                ))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(target)
                .set(payments::state.eq(payment_change.next.code()))
                .execute(conn)
                .await?
        }
    };
    if touched > 0 {
        return Ok(());
    }
    let current: Option<String> = payments::table
        .find(payment_id)
        .select(payments::state)
        .first(conn)
        .await
        .optional()?;
    match current {
        None => {
            Err(RepositoryError::NotFound(format!("payment {}", payment_change.payment_id)).into())
        }
        Some(current) => Err(RepositoryError::Conflict(format!(
            "payment {} is {}, expected {}",
            payment_change.payment_id,
            PaymentState::decode(&current)?,
            payment_change.expected
        ))
        .into()),
    }
}

async fn insert_history(
    conn: &mut AsyncPgConnection,
    entries: &[HistoryEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<HistoryRow> = entries.iter().map(HistoryRow::from_domain).collect();
    diesel::insert_into(order_history::table)
        .values(&rows)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl OrderRepository for PgStore {
    async fn insert_or_get(&self, order: Order) -> Result<(Order, bool), RepositoryError> {
        self.run(async |conn| {
            let row = OrderRow::from_domain(&order);
            let inserted = diesel::insert_into(orders::table)
                .values(&row)
                .on_conflict((orders::device_uuid, orders::machine_order_id))
                .do_nothing()
                .returning(OrderRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if let Some(inserted) = inserted {
                return Ok((inserted.into_domain()?, true));
            }
            let existing = orders::table
                .filter(orders::device_uuid.eq(order.device.as_str()))
                .filter(orders::machine_order_id.eq(order.machine_order_id.as_str()))
                .select(OrderRow::as_select())
                .first(conn)
                .await?;
            Ok((existing.into_domain()?, false))
        })
        .await
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        self.run(async |conn| {
            let row = orders::table
                .find(id.as_uuid())
                .select(OrderRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(OrderRow::into_domain).transpose()
        })
        .await
    }

    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        self.run(async |conn| {
            let row = orders::table
                .filter(orders::device_uuid.eq(device.as_str()))
                .filter(orders::machine_order_id.eq(machine_order_id.as_str()))
                .select(OrderRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(OrderRow::into_domain).transpose()
        })
        .await
    }

    async fn apply(&self, change: OrderChange) -> Result<(), RepositoryError> {
        let change = &change;
        self.run(async |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                // The same order of checks as the in-memory store, so both report the same
                // error when several preconditions fail; any error rolls everything back.
                apply_to_order(conn, change).await?;
                if let Some(payment) = &change.new_payment {
                    check_new_payment(conn, payment).await?;
                }
                apply_to_payment(conn, change).await?;
                if let Some(payment) = &change.new_payment {
                    // A racing insert still ends here as a unique violation: `Duplicate`.
                    diesel::insert_into(payments::table)
                        .values(PaymentRow::from_domain(payment))
                        .execute(conn)
                        .await?;
                }
                if let Some(event) = &change.provider_event {
                    // A second delivery of an applied message is a unique violation: `Duplicate`.
                    diesel::insert_into(provider_events::table)
                        .values((
                            provider_events::provider.eq(event.provider.code()),
                            provider_events::event_key.eq(&event.event_key),
                            provider_events::order_id.eq(change.order_id.as_uuid()),
                        ))
                        .execute(conn)
                        .await?;
                }
                insert_history(conn, &change.history).await?;
                if !change.jobs.is_empty() {
                    let rows = change
                        .jobs
                        .iter()
                        .map(NewJobRow::from_domain)
                        .collect::<Result<Vec<_>, _>>()?;
                    diesel::insert_into(jobs::table)
                        .values(&rows)
                        .execute(conn)
                        .await?;
                }
                Ok(())
            })
            .await
        })
        .await
    }

    async fn record(&self, entries: Vec<HistoryEntry>) -> Result<(), RepositoryError> {
        self.run(async |conn| insert_history(conn, &entries).await)
            .await
    }

    async fn history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError> {
        self.run(async |conn| {
            let rows = order_history::table
                .filter(order_history::order_id.eq(id.as_uuid()))
                .order(order_history::seq)
                .select(HistoryRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(HistoryRow::into_domain).collect()
        })
        .await
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, RepositoryError> {
        self.run(async |conn| {
            let open = [OrderStatus::Created.code(), OrderStatus::Pending.code()];
            let rows = orders::table
                .filter(orders::status.eq_any(open))
                .filter(orders::expires_at.le(now))
                .order((orders::expires_at, orders::created_at, orders::id))
                .limit(limit_of(limit))
                .select(OrderRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(OrderRow::into_domain).collect()
        })
        .await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            select(1_i32.into_sql::<Integer>())
                .get_result::<i32>(conn)
                .await?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl PaymentRepository for PgStore {
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>, RepositoryError> {
        self.run(async |conn| {
            let row = payments::table
                .filter(payments::order_id.eq(order.as_uuid()))
                .select(PaymentRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(PaymentRow::into_domain).transpose()
        })
        .await
    }

    async fn by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, RepositoryError> {
        self.run(async |conn| {
            let row = payments::table
                .filter(payments::provider.eq(provider.code()))
                .filter(payments::provider_payment_id.eq(provider_payment_id))
                .select(PaymentRow::as_select())
                .first(conn)
                .await
                .optional()?;
            row.map(PaymentRow::into_domain).transpose()
        })
        .await
    }
}

/// A job row filtered down to one claim.
type HeldJob = diesel::dsl::Filter<
    diesel::dsl::Find<jobs::table, Uuid>,
    diesel::dsl::And<
        diesel::dsl::Eq<jobs::state, &'static str>,
        diesel::dsl::Eq<jobs::claim_token, Uuid>,
    >,
>;

/// The job's row while `job` is its current claim.
fn held(job: &Job) -> HeldJob {
    jobs::table.find(job.id.as_uuid()).filter(
        jobs::state
            .eq(JobState::Running.code())
            .and(jobs::claim_token.eq(job.claim)),
    )
}

/// Nothing was updated: the job is unknown (`NotFound`) or no longer this claim's (`Conflict`).
async fn not_held_unless_touched(
    conn: &mut AsyncPgConnection,
    job: &Job,
    touched: usize,
) -> Result<(), StoreError> {
    if touched > 0 {
        return Ok(());
    }
    let exists: bool = select(exists(jobs::table.find(job.id.as_uuid())))
        .get_result(conn)
        .await?;
    let error = if exists {
        RepositoryError::Conflict(format!("job {} is no longer held by this claim", job.id))
    } else {
        RepositoryError::NotFound(format!("job {}", job.id))
    };
    Err(StoreError::Repo(error))
}

#[async_trait]
impl JobQueue for PgStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>, RepositoryError> {
        let lease_until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.run(async |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let queued = JobState::Queued.code();
                let running = JobState::Running.code();
                // Rows another claimer holds are skipped, not waited for: no job is handed
                // to two workers, and claimers never queue up behind each other.
                let due: Vec<Uuid> = jobs::table
                    .filter(
                        (jobs::state.eq(queued).and(jobs::run_at.le(now)))
                            .or(jobs::state.eq(running).and(jobs::lease_until.le(now))),
                    )
                    .order((jobs::run_at, jobs::seq))
                    .limit(limit_of(limit))
                    .select(jobs::id)
                    .for_update()
                    .skip_locked()
                    .load(conn)
                    .await?;
                if due.is_empty() {
                    return Ok(Vec::new());
                }
                // One token for this claim; with the job id it names the claim uniquely.
                let claim = Uuid::new_v4();
                let mut claimed: Vec<ClaimedJobRow> =
                    diesel::update(jobs::table.filter(jobs::id.eq_any(&due)))
                        .set((
                            jobs::state.eq(running),
                            jobs::attempts.eq(jobs::attempts + 1),
                            jobs::lease_until.eq(lease_until),
                            jobs::claim_token.eq(claim),
                            jobs::updated_at.eq(db_now),
                        ))
                        .returning(ClaimedJobRow::as_returning())
                        .get_results(conn)
                        .await?;
                claimed.sort_by_key(|row| (row.run_at, row.seq));
                claimed
                    .into_iter()
                    .map(ClaimedJobRow::into_domain)
                    .collect()
            })
            .await
        })
        .await
    }

    async fn complete(&self, job: &Job) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let touched = diesel::update(held(job))
                .set((
                    jobs::state.eq(JobState::Done.code()),
                    jobs::lease_until.eq(None::<DateTime<Utc>>),
                    jobs::claim_token.eq(None::<Uuid>),
                    jobs::updated_at.eq(db_now),
                ))
                .execute(conn)
                .await?;
            not_held_unless_touched(conn, job, touched).await
        })
        .await
    }

    async fn retry(
        &self,
        job: &Job,
        run_at: DateTime<Utc>,
        error: &str,
        count_attempt: bool,
    ) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let requeue = (
                jobs::state.eq(JobState::Queued.code()),
                jobs::run_at.eq(run_at),
                jobs::lease_until.eq(None::<DateTime<Utc>>),
                jobs::claim_token.eq(None::<Uuid>),
                jobs::updated_at.eq(db_now),
            );
            let touched = if count_attempt {
                diesel::update(held(job))
                    .set((requeue, jobs::last_error.eq(error)))
                    .execute(conn)
                    .await?
            } else {
                // A planned re-run (polling) is no failure: give the attempt back.
                diesel::update(held(job))
                    .set((
                        requeue,
                        jobs::attempts.eq(sql::<Integer>("GREATEST(attempts - 1, 0)")),
                    ))
                    .execute(conn)
                    .await?
            };
            not_held_unless_touched(conn, job, touched).await
        })
        .await
    }

    async fn bury(&self, job: &Job, error: &str) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let touched = diesel::update(held(job))
                .set((
                    jobs::state.eq(JobState::Dead.code()),
                    jobs::lease_until.eq(None::<DateTime<Utc>>),
                    jobs::claim_token.eq(None::<Uuid>),
                    jobs::last_error.eq(error),
                    jobs::updated_at.eq(db_now),
                ))
                .execute(conn)
                .await?;
            not_held_unless_touched(conn, job, touched).await
        })
        .await
    }

    async fn jobs_of(&self, order: OrderId) -> Result<Vec<JobSummary>, RepositoryError> {
        self.run(async |conn| {
            let rows = jobs::table
                .filter(jobs::order_id.eq(order.as_uuid()))
                .order(jobs::seq)
                .select(JobSummaryRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(JobSummaryRow::into_domain).collect()
        })
        .await
    }
}
