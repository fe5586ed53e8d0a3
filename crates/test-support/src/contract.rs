//! The repository contract: what every storage adapter must do, checked the same way against
//! each of them (the in-memory store and Postgres).
//!
//! Every check is a `pub async fn(&Stores)` that panics on a violation and starts from an empty
//! store. [`contract_tests!`](crate::contract_tests) expands one `#[tokio::test]` per check:
//!
//! ```ignore
//! async fn fixture() -> Option<(Stores, ())> {
//!     Some((Stores::from_one(Arc::new(MemoryStore::new())), ()))
//! }
//! coffee_test_support::contract_tests!(fixture);
//! ```
//!
//! The fixture returns `None` to skip (Postgres not reachable outside CI); its second value is
//! a guard kept alive for the test (e.g. the throw-away database).
//!
//! Times are whole seconds: Postgres keeps microseconds, the domain's `DateTime` nanoseconds.

use chrono::{DateTime, Duration, TimeZone, Utc};
use coffee_domain::ports::{
    CatalogRepository, JobQueue, JobSummary, OrderChange, OrderRepository, PaymentRepository,
    PaymentStateChange, RepositoryError, StatusChange,
};
use coffee_domain::{
    CaptureMode, DeadlinePolicy, Device, DeviceUuid, Drink, DrinkNo, FailureReason, Fleet,
    FleetChanges, HistoryEntry, HistorySource, Job, JobId, JobKind, JobState, MachineKind,
    MachineOrderId, Merchant, MerchantKey, Money, NewJob, Order, OrderId, OrderStatus, Payment,
    PaymentId, PaymentState, ProviderKind, ReceiptContact, ReceiptPolicy, SimulatedOutcome,
    Simulation, Size, SizePrices,
};
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;
use uuid::Uuid;

/// The four ports of one storage adapter.
#[derive(Clone)]
pub struct Stores {
    pub catalog: Arc<dyn CatalogRepository>,
    pub orders: Arc<dyn OrderRepository>,
    pub payments: Arc<dyn PaymentRepository>,
    pub jobs: Arc<dyn JobQueue>,
}

impl Stores {
    /// All four ports served by one store.
    pub fn from_one<S>(store: Arc<S>) -> Self
    where
        S: CatalogRepository + OrderRepository + PaymentRepository + JobQueue + 'static,
    {
        Self {
            catalog: store.clone(),
            orders: store.clone(),
            payments: store.clone(),
            jobs: store,
        }
    }
}

/// Expands one `#[tokio::test]` per contract check. The argument names an `async fn` returning
/// `Option<(Stores, Guard)>`; `None` skips the test, the guard lives until the test ends.
#[macro_export]
macro_rules! contract_tests {
    ($fixture:path) => {
        $crate::contract_tests!(@each $fixture;
            fleet_apply_is_idempotent_and_counts_changes,
            fleet_with_an_unknown_reference_writes_nothing,
            catalog_lists_in_key_order,
            insert_or_get_is_idempotent_per_device_and_machine_order_id,
            concurrent_insert_or_get_inserts_once,
            apply_writes_status_payment_history_and_jobs_together,
            apply_keeps_failure_reason_and_dispense_assumed_unless_set,
            apply_status_conflict_writes_nothing,
            apply_payment_conflict_rolls_back_the_status_too,
            apply_to_an_unknown_order_or_payment_is_not_found,
            a_second_payment_for_an_order_is_duplicate,
            a_reused_provider_payment_id_is_duplicate,
            a_provider_event_is_applied_once,
            payment_state_is_compare_and_set,
            history_is_oldest_first_and_record_changes_nothing_else,
            due_for_expiry_filters_orders_and_limits,
            claim_due_respects_run_at_order_and_limit,
            concurrent_claimers_never_share_a_job,
            an_expired_lease_makes_a_job_claimable_again,
            retry_counts_attempts_and_records_the_error,
            retry_without_counting_keeps_attempts,
            bury_and_complete_end_a_job,
            unknown_jobs_are_not_found,
            a_stale_claim_cannot_end_a_job_taken_over,
            ping_answers,
        );
    };
    (@each $fixture:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some((stores, guard)) = $fixture().await else {
                    return;
                };
                $crate::contract::$check(&stores).await;
                drop(stores);
                drop(guard);
            }
        )+
    };
}

// ----------------------------------------------------------------------------------------------
// Fixtures

/// 2030-01-01 12:00:00 UTC, the contract's "now".
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// `t0` plus whole seconds (negative for the past).
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn rub(kopecks: i64) -> Money {
    Money::rub(kopecks).unwrap()
}

pub fn merchant(key: &str) -> Merchant {
    Merchant {
        key: MerchantKey::parse(key).unwrap(),
        name: format!("Merchant {key}"),
        contact_email: format!("{key}@example.com"),
        valid_until: chrono::NaiveDate::from_ymd_opt(2030, 12, 31).unwrap(),
        capture: CaptureMode::Immediate,
        receipt: ReceiptPolicy::Optional,
        yookassa: None,
    }
}

pub fn device(uuid: &str, merchant: &str) -> Device {
    Device {
        device_uuid: DeviceUuid::parse(uuid).unwrap(),
        merchant: MerchantKey::parse(merchant).unwrap(),
        location: format!("Lobby of {uuid}"),
        provider: ProviderKind::Sandbox,
        redirect_url: None,
        machine: MachineKind::Simulated,
        test: false,
        dispense_deadline_seconds: 120,
        on_dispense_deadline: DeadlinePolicy::FailAndRefund,
        simulation: Simulation {
            outcome: SimulatedOutcome::Dispensed,
            delay_ms: 500,
        },
        events_secret: None,
    }
}

pub fn drink(device: &str, drink_no: &str, small: Option<i64>, big: Option<i64>) -> Drink {
    Drink {
        device: DeviceUuid::parse(device).unwrap(),
        drink_no: DrinkNo::parse(drink_no).unwrap(),
        name: format!("Drink {drink_no}"),
        prices: SizePrices {
            small: small.map(rub),
            medium: None,
            big: big.map(rub),
        },
    }
}

/// One merchant `m1`, devices `dev-a` and `dev-b`, three drinks.
pub fn base_fleet() -> Fleet {
    Fleet {
        merchants: vec![merchant("m1")],
        devices: vec![device("dev-a", "m1"), device("dev-b", "m1")],
        drinks: vec![
            drink("dev-a", "1", Some(15000), Some(20000)),
            drink("dev-a", "2", Some(9900), None),
            drink("dev-b", "1", None, Some(25050)),
        ],
    }
}

async fn seed(stores: &Stores) {
    stores.catalog.apply_fleet(&base_fleet()).await.unwrap();
}

/// A new order in `created`, created at `t0 - 60`, expiring at `expires_at`.
pub fn order(device: &str, machine_order_id: &str, expires_at: DateTime<Utc>) -> Order {
    Order {
        id: OrderId::from_uuid(Uuid::new_v4()),
        machine_order_id: MachineOrderId::parse(machine_order_id).unwrap(),
        device: DeviceUuid::parse(device).unwrap(),
        merchant: MerchantKey::parse("m1").unwrap(),
        drink_no: DrinkNo::parse("1").unwrap(),
        drink_name: "Капучино".into(),
        size: Size::Big,
        price: rub(20000),
        status: OrderStatus::Created,
        expires_at,
        failure_reason: None,
        receipt_contact: None,
        dispense_assumed: false,
        created_at: at(-60),
        updated_at: at(-60),
    }
}

/// A pending sandbox payment of `order`.
pub fn payment(order: &Order, provider_payment_id: &str) -> Payment {
    let id = PaymentId::from_uuid(Uuid::new_v4());
    Payment {
        id,
        order_id: order.id,
        provider: ProviderKind::Sandbox,
        provider_payment_id: provider_payment_id.into(),
        amount: order.price,
        capture: CaptureMode::Immediate,
        state: PaymentState::Pending,
        confirmation_url: format!("https://pay.example/{provider_payment_id}"),
        idempotency_key: format!("coffee-create-{}", order.id),
        created_at: at(0),
        updated_at: at(0),
    }
}

pub fn entry(
    order: OrderId,
    seconds: i64,
    from: Option<OrderStatus>,
    to: Option<OrderStatus>,
    message: &str,
) -> HistoryEntry {
    HistoryEntry {
        order_id: order,
        at: at(seconds),
        source: HistorySource::Worker,
        from,
        to,
        message: message.into(),
    }
}

fn status(expected: OrderStatus, next: OrderStatus) -> Option<StatusChange> {
    Some(StatusChange {
        expected,
        next,
        failure_reason: None,
        dispense_assumed: false,
    })
}

/// Inserts a new order for `dev-a` expiring at `t0 + 900`.
async fn new_order(stores: &Stores, machine_order_id: &str) -> Order {
    let (order, inserted) = stores
        .orders
        .insert_or_get(order("dev-a", machine_order_id, at(900)))
        .await
        .unwrap();
    assert!(inserted);
    order
}

/// Moves a new order to `pending` with a payment `provider_payment_id`, one history line and a
/// poll job; returns the order and the payment as stored.
async fn pending_order_with_payment(
    stores: &Stores,
    machine_order_id: &str,
    provider_payment_id: &str,
) -> (Order, Payment) {
    let order = new_order(stores, machine_order_id).await;
    let payment = payment(&order, provider_payment_id);
    let mut change = OrderChange::new(order.id);
    change.status = status(OrderStatus::Created, OrderStatus::Pending);
    change.new_payment = Some(payment.clone());
    change.history = vec![entry(
        order.id,
        1,
        Some(OrderStatus::Created),
        Some(OrderStatus::Pending),
        "payment created",
    )];
    change.jobs = vec![NewJob {
        kind: JobKind::PollPayment,
        order_id: order.id,
        run_at: at(30),
    }];
    stores.orders.apply(change).await.unwrap();
    (stores.orders.get(order.id).await.unwrap().unwrap(), payment)
}

/// An order with `kinds.len()` queued jobs, the i-th running at `run_at[i]`.
async fn order_with_jobs(
    stores: &Stores,
    machine_order_id: &str,
    jobs: &[(JobKind, DateTime<Utc>)],
) -> Order {
    let order = new_order(stores, machine_order_id).await;
    let mut change = OrderChange::new(order.id);
    change.jobs = jobs
        .iter()
        .map(|(kind, run_at)| NewJob {
            kind: *kind,
            order_id: order.id,
            run_at: *run_at,
        })
        .collect();
    stores.orders.apply(change).await.unwrap();
    order
}

/// Everything one order's change may touch, to show that a refused change touched nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    order: Option<Order>,
    payment: Option<Payment>,
    history: Vec<HistoryEntry>,
    jobs: Vec<JobSummary>,
}

async fn snapshot(stores: &Stores, id: OrderId) -> Snapshot {
    Snapshot {
        order: stores.orders.get(id).await.unwrap(),
        payment: stores.payments.for_order(id).await.unwrap(),
        history: stores.orders.history(id).await.unwrap(),
        jobs: stores.jobs.jobs_of(id).await.unwrap(),
    }
}

#[track_caller]
fn assert_conflict<T: Debug>(result: Result<T, RepositoryError>) {
    assert!(
        matches!(result, Err(RepositoryError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );
}

#[track_caller]
fn assert_not_found<T: Debug>(result: Result<T, RepositoryError>) {
    assert!(
        matches!(result, Err(RepositoryError::NotFound(_))),
        "expected NotFound, got {result:?}"
    );
}

#[track_caller]
fn assert_duplicate<T: Debug>(result: Result<T, RepositoryError>) {
    assert!(
        matches!(result, Err(RepositoryError::Duplicate(_))),
        "expected Duplicate, got {result:?}"
    );
}

fn changes(inserted: usize, updated: usize, unchanged: usize) -> FleetChanges {
    FleetChanges {
        inserted,
        updated,
        unchanged,
    }
}

async fn job_by_kind(stores: &Stores, order: OrderId, kind: JobKind) -> JobSummary {
    let jobs = stores.jobs.jobs_of(order).await.unwrap();
    jobs.into_iter()
        .find(|j| j.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} job"))
}

async fn job(stores: &Stores, order: OrderId, id: JobId) -> JobSummary {
    let jobs = stores.jobs.jobs_of(order).await.unwrap();
    jobs.into_iter()
        .find(|j| j.id == id)
        .unwrap_or_else(|| panic!("no job {id}"))
}

// ----------------------------------------------------------------------------------------------
// Catalogue

/// Applying a fleet counts inserts, updates and unchanged rows; the same fleet twice changes
/// nothing; what is read back is what was applied.
pub async fn fleet_apply_is_idempotent_and_counts_changes(stores: &Stores) {
    let fleet = base_fleet();
    assert_eq!(
        stores.catalog.apply_fleet(&fleet).await.unwrap(),
        changes(6, 0, 0)
    );
    assert_eq!(
        stores.catalog.apply_fleet(&fleet).await.unwrap(),
        changes(0, 0, 6)
    );

    let mut edited = fleet.clone();
    edited.merchants[0].name = "Renamed".into();
    edited.merchants[0].capture = CaptureMode::AfterDispense;
    edited.devices[1].provider = ProviderKind::Custom;
    edited.devices[1].redirect_url = Some("https://ext.example/pay".into());
    edited.devices[1].test = true;
    edited.drinks[0].prices.big = None;
    edited.drinks.push(drink("dev-b", "7", Some(1), None));
    assert_eq!(
        stores.catalog.apply_fleet(&edited).await.unwrap(),
        changes(1, 3, 3)
    );
    assert_eq!(
        stores.catalog.apply_fleet(&edited).await.unwrap(),
        changes(0, 0, 7)
    );

    let m1 = MerchantKey::parse("m1").unwrap();
    assert_eq!(
        stores.catalog.merchant(&m1).await.unwrap(),
        Some(edited.merchants[0].clone())
    );
    let dev_b = DeviceUuid::parse("dev-b").unwrap();
    assert_eq!(
        stores.catalog.device(&dev_b).await.unwrap(),
        Some(edited.devices[1].clone())
    );
    let dev_a = DeviceUuid::parse("dev-a").unwrap();
    let one = DrinkNo::parse("1").unwrap();
    assert_eq!(
        stores.catalog.drink(&dev_a, &one).await.unwrap(),
        Some(edited.drinks[0].clone())
    );

    // Setting an optional value back to nothing is an update too.
    let mut reverted = edited.clone();
    reverted.devices[1].redirect_url = None;
    assert_eq!(
        stores.catalog.apply_fleet(&reverted).await.unwrap(),
        changes(0, 1, 6)
    );
    assert_eq!(
        stores
            .catalog
            .device(&dev_b)
            .await
            .unwrap()
            .unwrap()
            .redirect_url,
        None
    );

    // A fleet may name merchants and devices stored before.
    let later = Fleet {
        merchants: vec![],
        devices: vec![device("dev-c", "m1")],
        drinks: vec![drink("dev-a", "3", Some(100), None)],
    };
    assert_eq!(
        stores.catalog.apply_fleet(&later).await.unwrap(),
        changes(2, 0, 0)
    );
    assert_eq!(
        stores.catalog.apply_fleet(&Fleet::default()).await.unwrap(),
        changes(0, 0, 0)
    );
}

/// A device naming an unknown merchant, or a drink an unknown device: `NotFound`, and nothing
/// of that fleet is written.
pub async fn fleet_with_an_unknown_reference_writes_nothing(stores: &Stores) {
    let orphan_device = Fleet {
        merchants: vec![merchant("m-new")],
        devices: vec![device("dev-new", "m-new"), device("dev-orphan", "ghost")],
        drinks: vec![],
    };
    assert_not_found(stores.catalog.apply_fleet(&orphan_device).await);

    let orphan_drink = Fleet {
        merchants: vec![merchant("m-new")],
        devices: vec![device("dev-new", "m-new")],
        drinks: vec![
            drink("dev-new", "1", Some(100), None),
            drink("ghost-device", "1", Some(100), None),
        ],
    };
    assert_not_found(stores.catalog.apply_fleet(&orphan_drink).await);

    assert_eq!(
        stores
            .catalog
            .merchant(&MerchantKey::parse("m-new").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .catalog
            .device(&DeviceUuid::parse("dev-new").unwrap())
            .await
            .unwrap(),
        None
    );
    assert!(stores.catalog.devices().await.unwrap().is_empty());
    assert!(stores
        .catalog
        .drinks(&DeviceUuid::parse("dev-new").unwrap())
        .await
        .unwrap()
        .is_empty());

    // Stored data is not touched either.
    seed(stores).await;
    let mut edit_then_fail = base_fleet();
    edit_then_fail.merchants[0].name = "Should not stick".into();
    edit_then_fail
        .drinks
        .push(drink("ghost-device", "9", None, None));
    assert_not_found(stores.catalog.apply_fleet(&edit_then_fail).await);
    let m1 = stores
        .catalog
        .merchant(&MerchantKey::parse("m1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m1, base_fleet().merchants[0]);
}

/// Devices list by id and drinks by number, in byte order (`Z` before `a`); unknown keys read
/// as `None`.
pub async fn catalog_lists_in_key_order(stores: &Stores) {
    let fleet = Fleet {
        merchants: vec![merchant("m1")],
        devices: vec![
            device("dev-a", "m1"),
            device("Dev-Z", "m1"),
            device("dev-B", "m1"),
        ],
        drinks: vec![
            drink("dev-a", "b", Some(1), None),
            drink("dev-a", "A", Some(2), None),
            drink("dev-a", "10", Some(3), None),
            drink("dev-a", "9", Some(4), None),
            drink("Dev-Z", "1", Some(5), None),
        ],
    };
    stores.catalog.apply_fleet(&fleet).await.unwrap();
    let ids: Vec<String> = stores
        .catalog
        .devices()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.device_uuid.to_string())
        .collect();
    assert_eq!(ids, ["Dev-Z", "dev-B", "dev-a"]);
    let dev_a = DeviceUuid::parse("dev-a").unwrap();
    let numbers: Vec<String> = stores
        .catalog
        .drinks(&dev_a)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.drink_no.to_string())
        .collect();
    assert_eq!(numbers, ["10", "9", "A", "b"]);

    let nobody = DeviceUuid::parse("nobody").unwrap();
    assert_eq!(stores.catalog.device(&nobody).await.unwrap(), None);
    assert!(stores.catalog.drinks(&nobody).await.unwrap().is_empty());
    assert_eq!(
        stores
            .catalog
            .drink(&dev_a, &DrinkNo::parse("404").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .catalog
            .merchant(&MerchantKey::parse("nobody").unwrap())
            .await
            .unwrap(),
        None
    );
}

// ----------------------------------------------------------------------------------------------
// Orders

/// The same device and machine order id returns the stored order, never a second one; the same
/// machine order id on another device is another order.
pub async fn insert_or_get_is_idempotent_per_device_and_machine_order_id(stores: &Stores) {
    seed(stores).await;
    let mut first = order("dev-a", "moid-1", at(900));
    first.receipt_contact = Some(ReceiptContact::Phone("+79001234567".into()));
    let (stored, inserted) = stores.orders.insert_or_get(first.clone()).await.unwrap();
    assert!(inserted);
    assert_eq!(stored, first);

    let mut rescan = order("dev-a", "moid-1", at(1800));
    rescan.price = rub(1);
    let (stored, inserted) = stores.orders.insert_or_get(rescan.clone()).await.unwrap();
    assert!(!inserted);
    assert_eq!(stored, first);

    assert_eq!(
        stores.orders.get(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(stores.orders.get(rescan.id).await.unwrap(), None);
    let dev_a = DeviceUuid::parse("dev-a").unwrap();
    let dev_b = DeviceUuid::parse("dev-b").unwrap();
    let moid = MachineOrderId::parse("moid-1").unwrap();
    assert_eq!(
        stores
            .orders
            .find_by_machine_order_id(&dev_a, &moid)
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        stores
            .orders
            .find_by_machine_order_id(&dev_b, &moid)
            .await
            .unwrap(),
        None
    );
    let other = MachineOrderId::parse("moid-2").unwrap();
    assert_eq!(
        stores
            .orders
            .find_by_machine_order_id(&dev_a, &other)
            .await
            .unwrap(),
        None
    );

    let elsewhere = order("dev-b", "moid-1", at(900));
    let (stored, inserted) = stores
        .orders
        .insert_or_get(elsewhere.clone())
        .await
        .unwrap();
    assert!(inserted);
    assert_eq!(stored, elsewhere);
    assert_eq!(
        stores
            .orders
            .find_by_machine_order_id(&dev_b, &moid)
            .await
            .unwrap(),
        Some(elsewhere)
    );
}

/// Ten scans of one QR at once: one order is inserted, all ten get it.
pub async fn concurrent_insert_or_get_inserts_once(stores: &Stores) {
    seed(stores).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let orders = stores.orders.clone();
        tasks.push(tokio::spawn(async move {
            orders
                .insert_or_get(order("dev-a", "same-qr", at(900)))
                .await
        }));
    }
    let mut ids = HashSet::new();
    let mut inserted = 0;
    for task in tasks {
        let (order, was_inserted) = task.await.unwrap().unwrap();
        ids.insert(order.id);
        inserted += usize::from(was_inserted);
    }
    assert_eq!(inserted, 1);
    assert_eq!(ids.len(), 1);
}

/// One `apply` moves the status, sets the contact, stores the payment, appends the history and
/// enqueues the jobs; `updated_at` becomes the time of its last history line.
pub async fn apply_writes_status_payment_history_and_jobs_together(stores: &Stores) {
    seed(stores).await;
    let order = new_order(stores, "moid-1").await;
    let payment = payment(&order, "pp-1");
    let contact = ReceiptContact::Email("anna@example.com".into());
    let history = vec![
        entry(order.id, 1, None, None, "receipt contact given"),
        entry(
            order.id,
            2,
            Some(OrderStatus::Created),
            Some(OrderStatus::Pending),
            "payment created",
        ),
    ];
    let mut change = OrderChange::new(order.id);
    change.status = status(OrderStatus::Created, OrderStatus::Pending);
    change.receipt_contact = Some(contact.clone());
    change.new_payment = Some(payment.clone());
    change.history = history.clone();
    change.jobs = vec![
        NewJob {
            kind: JobKind::PollPayment,
            order_id: order.id,
            run_at: at(30),
        },
        NewJob {
            kind: JobKind::CancelPayment,
            order_id: order.id,
            run_at: at(900),
        },
    ];
    stores.orders.apply(change).await.unwrap();

    let stored = stores.orders.get(order.id).await.unwrap().unwrap();
    let expected = Order {
        status: OrderStatus::Pending,
        receipt_contact: Some(contact),
        updated_at: at(2),
        ..order.clone()
    };
    assert_eq!(stored, expected);
    assert_eq!(
        stores.payments.for_order(order.id).await.unwrap(),
        Some(payment.clone())
    );
    assert_eq!(
        stores
            .payments
            .by_provider_id(ProviderKind::Sandbox, "pp-1")
            .await
            .unwrap(),
        Some(payment.clone())
    );
    assert_eq!(
        stores
            .payments
            .by_provider_id(ProviderKind::Yookassa, "pp-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .payments
            .by_provider_id(ProviderKind::Sandbox, "pp-2")
            .await
            .unwrap(),
        None
    );
    assert_eq!(stores.orders.history(order.id).await.unwrap(), history);

    let jobs = stores.jobs.jobs_of(order.id).await.unwrap();
    let summary: Vec<_> = jobs
        .iter()
        .map(|j| {
            (
                j.kind,
                j.order_id,
                j.state,
                j.attempts,
                j.run_at,
                j.last_error.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                JobKind::PollPayment,
                order.id,
                JobState::Queued,
                0,
                at(30),
                None
            ),
            (
                JobKind::CancelPayment,
                order.id,
                JobState::Queued,
                0,
                at(900),
                None
            ),
        ]
    );
    assert_ne!(jobs[0].id, jobs[1].id);

    // A money move with its status move: the payment's `updated_at` follows the history too.
    let mut paid = OrderChange::new(order.id);
    paid.status = status(OrderStatus::Pending, OrderStatus::Paid);
    paid.payment_state = Some(PaymentStateChange {
        payment_id: payment.id,
        expected: PaymentState::Pending,
        next: PaymentState::Succeeded,
    });
    paid.history = vec![entry(
        order.id,
        5,
        Some(OrderStatus::Pending),
        Some(OrderStatus::Paid),
        "paid",
    )];
    stores.orders.apply(paid).await.unwrap();
    let stored_payment = stores.payments.for_order(order.id).await.unwrap().unwrap();
    assert_eq!(
        stored_payment,
        Payment {
            state: PaymentState::Succeeded,
            updated_at: at(5),
            ..payment
        }
    );
    assert_eq!(
        stores.orders.get(order.id).await.unwrap().unwrap().status,
        OrderStatus::Paid
    );
    assert_eq!(
        stores
            .orders
            .get(order.id)
            .await
            .unwrap()
            .unwrap()
            .updated_at,
        at(5)
    );

    // A change without history lines leaves `updated_at` alone.
    let mut quiet = OrderChange::new(order.id);
    quiet.status = status(OrderStatus::Paid, OrderStatus::MakePending);
    stores.orders.apply(quiet).await.unwrap();
    let stored = stores.orders.get(order.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.updated_at),
        (OrderStatus::MakePending, at(5))
    );

    // An empty change of a known order is accepted and changes nothing.
    let before = snapshot(stores, order.id).await;
    stores
        .orders
        .apply(OrderChange::new(order.id))
        .await
        .unwrap();
    assert_eq!(snapshot(stores, order.id).await, before);
}

/// A status change without a failure reason keeps the one recorded; `dispense_assumed` only
/// ever becomes true.
pub async fn apply_keeps_failure_reason_and_dispense_assumed_unless_set(stores: &Stores) {
    seed(stores).await;
    let order = new_order(stores, "moid-1").await;
    let mut fail = OrderChange::new(order.id);
    fail.status = Some(StatusChange {
        expected: OrderStatus::Created,
        next: OrderStatus::Failed,
        failure_reason: Some(FailureReason::PaymentRejected),
        dispense_assumed: false,
    });
    stores.orders.apply(fail).await.unwrap();
    let mut again = OrderChange::new(order.id);
    again.status = status(OrderStatus::Failed, OrderStatus::Failed);
    stores.orders.apply(again).await.unwrap();
    let stored = stores.orders.get(order.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.failure_reason),
        (OrderStatus::Failed, Some(FailureReason::PaymentRejected))
    );

    let mut reason = OrderChange::new(order.id);
    reason.status = Some(StatusChange {
        expected: OrderStatus::Failed,
        next: OrderStatus::Failed,
        failure_reason: Some(FailureReason::PaidAfterExpiry),
        dispense_assumed: false,
    });
    stores.orders.apply(reason).await.unwrap();
    assert_eq!(
        stores
            .orders
            .get(order.id)
            .await
            .unwrap()
            .unwrap()
            .failure_reason,
        Some(FailureReason::PaidAfterExpiry)
    );

    let other = new_order(stores, "moid-2").await;
    let mut assumed = OrderChange::new(other.id);
    assumed.status = Some(StatusChange {
        expected: OrderStatus::Created,
        next: OrderStatus::Created,
        failure_reason: None,
        dispense_assumed: true,
    });
    stores.orders.apply(assumed).await.unwrap();
    let mut plain = OrderChange::new(other.id);
    plain.status = status(OrderStatus::Created, OrderStatus::Created);
    stores.orders.apply(plain).await.unwrap();
    let stored = stores.orders.get(other.id).await.unwrap().unwrap();
    assert!(stored.dispense_assumed);
    assert_eq!(stored.failure_reason, None);
}

/// A status compare-and-set that loses writes nothing at all: not the contact, not the payment
/// move, not the history, not the jobs.
pub async fn apply_status_conflict_writes_nothing(stores: &Stores) {
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let before = snapshot(stores, order.id).await;

    let mut stale = OrderChange::new(order.id);
    stale.status = status(OrderStatus::Created, OrderStatus::Failed);
    stale.receipt_contact = Some(ReceiptContact::Email("late@example.com".into()));
    stale.payment_state = Some(PaymentStateChange {
        payment_id: payment.id,
        expected: PaymentState::Pending,
        next: PaymentState::Canceled,
    });
    stale.history = vec![entry(
        order.id,
        50,
        Some(OrderStatus::Created),
        Some(OrderStatus::Failed),
        "stale",
    )];
    stale.jobs = vec![NewJob {
        kind: JobKind::CancelPayment,
        order_id: order.id,
        run_at: at(50),
    }];
    assert_conflict(stores.orders.apply(stale).await);
    assert_eq!(snapshot(stores, order.id).await, before);

    // The same change with a new payment for another order still writes nothing.
    let other = new_order(stores, "moid-2").await;
    let mut stale_with_payment = OrderChange::new(order.id);
    stale_with_payment.status = status(OrderStatus::Paid, OrderStatus::MakePending);
    stale_with_payment.new_payment = Some(self::payment(&other, "pp-2"));
    assert_conflict(stores.orders.apply(stale_with_payment).await);
    assert_eq!(stores.payments.for_order(other.id).await.unwrap(), None);
    assert_eq!(snapshot(stores, order.id).await, before);
}

/// A payment compare-and-set that loses undoes the order's status move made in the same
/// change: all or nothing.
pub async fn apply_payment_conflict_rolls_back_the_status_too(stores: &Stores) {
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let before = snapshot(stores, order.id).await;

    let mut change = OrderChange::new(order.id);
    change.status = status(OrderStatus::Pending, OrderStatus::Paid);
    change.payment_state = Some(PaymentStateChange {
        payment_id: payment.id,
        expected: PaymentState::Authorized,
        next: PaymentState::Succeeded,
    });
    change.history = vec![entry(
        order.id,
        60,
        Some(OrderStatus::Pending),
        Some(OrderStatus::Paid),
        "paid",
    )];
    change.jobs = vec![NewJob {
        kind: JobKind::SendMakeCommand,
        order_id: order.id,
        run_at: at(60),
    }];
    assert_conflict(stores.orders.apply(change).await);
    assert_eq!(snapshot(stores, order.id).await, before);
    assert_eq!(
        stores.orders.get(order.id).await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
}

/// An unknown order, or a payment move of an unknown payment: `NotFound`, nothing written.
pub async fn apply_to_an_unknown_order_or_payment_is_not_found(stores: &Stores) {
    seed(stores).await;
    let ghost = OrderId::from_uuid(Uuid::new_v4());
    let mut change = OrderChange::new(ghost);
    change.status = status(OrderStatus::Created, OrderStatus::Pending);
    assert_not_found(stores.orders.apply(change).await);
    assert_not_found(stores.orders.apply(OrderChange::new(ghost)).await);
    assert_eq!(stores.orders.get(ghost).await.unwrap(), None);

    let order = new_order(stores, "moid-1").await;
    let before = snapshot(stores, order.id).await;
    let mut change = OrderChange::new(order.id);
    change.status = status(OrderStatus::Created, OrderStatus::Pending);
    change.payment_state = Some(PaymentStateChange {
        payment_id: PaymentId::from_uuid(Uuid::new_v4()),
        expected: PaymentState::Pending,
        next: PaymentState::Succeeded,
    });
    change.history = vec![entry(order.id, 1, None, None, "never")];
    change.jobs = vec![NewJob {
        kind: JobKind::PollPayment,
        order_id: order.id,
        run_at: at(1),
    }];
    assert_not_found(stores.orders.apply(change).await);
    assert_eq!(snapshot(stores, order.id).await, before);
}

/// An order has at most one payment: a second one is `Duplicate` and the change writes nothing.
pub async fn a_second_payment_for_an_order_is_duplicate(stores: &Stores) {
    seed(stores).await;
    let (order, first) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let before = snapshot(stores, order.id).await;

    let mut change = OrderChange::new(order.id);
    change.status = status(OrderStatus::Pending, OrderStatus::Pending);
    change.new_payment = Some(payment(&order, "pp-2"));
    change.history = vec![entry(order.id, 70, None, None, "second payment")];
    change.jobs = vec![NewJob {
        kind: JobKind::PollPayment,
        order_id: order.id,
        run_at: at(70),
    }];
    assert_duplicate(stores.orders.apply(change).await);
    assert_eq!(snapshot(stores, order.id).await, before);
    assert_eq!(
        stores.payments.for_order(order.id).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        stores
            .payments
            .by_provider_id(ProviderKind::Sandbox, "pp-2")
            .await
            .unwrap(),
        None
    );
}

/// A provider message is recorded with the change it causes; the same `(provider, event_key)`
/// again is `Duplicate` and writes nothing, while another provider may use the same key.
pub async fn a_provider_event_is_applied_once(stores: &Stores) {
    seed(stores).await;
    let (order, _) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let event = |provider| coffee_domain::ports::ProviderEventRecord {
        provider,
        event_key: "pp-1:succeeded".into(),
    };
    let mut first = OrderChange::new(order.id);
    first.provider_event = Some(event(ProviderKind::Sandbox));
    first.history = vec![entry(order.id, 70, None, None, "first delivery")];
    stores.orders.apply(first).await.unwrap();
    let before = snapshot(stores, order.id).await;

    let mut again = OrderChange::new(order.id);
    again.provider_event = Some(event(ProviderKind::Sandbox));
    again.history = vec![entry(order.id, 71, None, None, "second delivery")];
    again.jobs = vec![NewJob {
        kind: JobKind::SendMakeCommand,
        order_id: order.id,
        run_at: at(71),
    }];
    assert_duplicate(stores.orders.apply(again).await);
    assert_eq!(snapshot(stores, order.id).await, before);

    let mut other_provider = OrderChange::new(order.id);
    other_provider.provider_event = Some(event(ProviderKind::Yookassa));
    stores.orders.apply(other_provider).await.unwrap();
}

/// A provider payment id is stored once per provider: reusing it is `Duplicate`; another
/// provider may use the same id.
pub async fn a_reused_provider_payment_id_is_duplicate(stores: &Stores) {
    seed(stores).await;
    let (_, first) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let other = new_order(stores, "moid-2").await;
    let before = snapshot(stores, other.id).await;

    let mut change = OrderChange::new(other.id);
    change.status = status(OrderStatus::Created, OrderStatus::Pending);
    change.new_payment = Some(payment(&other, "pp-1"));
    change.history = vec![entry(other.id, 1, None, None, "reuse")];
    assert_duplicate(stores.orders.apply(change).await);
    assert_eq!(snapshot(stores, other.id).await, before);
    assert_eq!(
        stores
            .payments
            .by_provider_id(ProviderKind::Sandbox, "pp-1")
            .await
            .unwrap(),
        Some(first)
    );

    let mut elsewhere = payment(&other, "pp-1");
    elsewhere.provider = ProviderKind::Tbank;
    let mut change = OrderChange::new(other.id);
    change.status = status(OrderStatus::Created, OrderStatus::Pending);
    change.new_payment = Some(elsewhere.clone());
    stores.orders.apply(change).await.unwrap();
    assert_eq!(
        stores
            .payments
            .by_provider_id(ProviderKind::Tbank, "pp-1")
            .await
            .unwrap(),
        Some(elsewhere)
    );
}

/// Money state moves only from the expected state; a loser gets `Conflict`.
pub async fn payment_state_is_compare_and_set(stores: &Stores) {
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let moves = |expected, next| {
        let mut change = OrderChange::new(order.id);
        change.payment_state = Some(PaymentStateChange {
            payment_id: payment.id,
            expected,
            next,
        });
        change
    };
    stores
        .orders
        .apply(moves(PaymentState::Pending, PaymentState::Authorized))
        .await
        .unwrap();
    assert_conflict(
        stores
            .orders
            .apply(moves(PaymentState::Pending, PaymentState::Canceled))
            .await,
    );
    let stored = stores.payments.for_order(order.id).await.unwrap().unwrap();
    assert_eq!(stored.state, PaymentState::Authorized);
    // Without a history line the payment's `updated_at` stays.
    assert_eq!(stored.updated_at, payment.updated_at);
    stores
        .orders
        .apply(moves(PaymentState::Authorized, PaymentState::Succeeded))
        .await
        .unwrap();
    assert_eq!(
        stores
            .payments
            .by_provider_id(ProviderKind::Sandbox, "pp-1")
            .await
            .unwrap()
            .unwrap()
            .state,
        PaymentState::Succeeded
    );
}

/// The timeline is returned in the order written; `record` adds lines and nothing else.
pub async fn history_is_oldest_first_and_record_changes_nothing_else(stores: &Stores) {
    seed(stores).await;
    let order = new_order(stores, "moid-1").await;
    let other = new_order(stores, "moid-2").await;
    let e1 = entry(order.id, 1, None, Some(OrderStatus::Created), "scanned");
    let e2 = entry(order.id, 2, None, None, "same second, first");
    let e3 = entry(
        order.id,
        2,
        Some(OrderStatus::Created),
        Some(OrderStatus::Pending),
        "same second, second",
    );
    let e4 = HistoryEntry {
        source: HistorySource::Provider,
        ..entry(order.id, 3, None, None, "webhook ignored")
    };
    let noise = entry(other.id, 1, None, None, "other order");
    stores
        .orders
        .record(vec![e1.clone(), noise.clone(), e2.clone()])
        .await
        .unwrap();
    let mut change = OrderChange::new(order.id);
    change.status = status(OrderStatus::Created, OrderStatus::Pending);
    change.history = vec![e3.clone()];
    stores.orders.apply(change).await.unwrap();
    stores.orders.record(vec![e4.clone()]).await.unwrap();
    stores.orders.record(vec![]).await.unwrap();

    assert_eq!(
        stores.orders.history(order.id).await.unwrap(),
        [e1, e2, e3, e4]
    );
    assert_eq!(stores.orders.history(other.id).await.unwrap(), [noise]);
    let stored = stores.orders.get(order.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.updated_at),
        (OrderStatus::Pending, at(2))
    );
    assert_eq!(stores.orders.get(other.id).await.unwrap(), Some(other));
    assert!(stores
        .orders
        .history(OrderId::from_uuid(Uuid::new_v4()))
        .await
        .unwrap()
        .is_empty());
}

/// Only `created` and `pending` orders whose deadline is at or before `now`, earliest deadline
/// first, at most `limit`.
pub async fn due_for_expiry_filters_orders_and_limits(stores: &Stores) {
    seed(stores).await;
    async fn insert(stores: &Stores, moid: &str, expires: i64) -> Order {
        stores
            .orders
            .insert_or_get(order("dev-a", moid, at(expires)))
            .await
            .unwrap()
            .0
    }
    async fn move_to(stores: &Stores, order: &Order, path: &[OrderStatus]) {
        for pair in path.windows(2) {
            let mut change = OrderChange::new(order.id);
            change.status = status(pair[0], pair[1]);
            stores.orders.apply(change).await.unwrap();
        }
    }
    let created_early = insert(stores, "o1", -30).await;
    let pending = insert(stores, "o2", -10).await;
    move_to(
        stores,
        &pending,
        &[OrderStatus::Created, OrderStatus::Pending],
    )
    .await;
    let not_yet = insert(stores, "o3", 60).await;
    let paid = insert(stores, "o4", -50).await;
    move_to(
        stores,
        &paid,
        &[
            OrderStatus::Created,
            OrderStatus::Pending,
            OrderStatus::Paid,
        ],
    )
    .await;
    let exactly_now = insert(stores, "o5", 0).await;
    let expired = insert(stores, "o6", -40).await;
    move_to(
        stores,
        &expired,
        &[OrderStatus::Created, OrderStatus::NotPaid],
    )
    .await;

    let ids = |orders: Vec<Order>| orders.into_iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(
        ids(stores.orders.due_for_expiry(t0(), 10).await.unwrap()),
        [created_early.id, pending.id, exactly_now.id]
    );
    assert_eq!(
        ids(stores.orders.due_for_expiry(t0(), 2).await.unwrap()),
        [created_early.id, pending.id]
    );
    assert!(stores
        .orders
        .due_for_expiry(t0(), 0)
        .await
        .unwrap()
        .is_empty());
    assert!(stores
        .orders
        .due_for_expiry(at(-31), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(stores.orders.due_for_expiry(at(3600), 10).await.unwrap()),
        [created_early.id, pending.id, exactly_now.id, not_yet.id]
    );
    let due = stores.orders.due_for_expiry(t0(), 1).await.unwrap();
    assert_eq!(due, [created_early]);
}

// ----------------------------------------------------------------------------------------------
// Job queue

/// Due jobs are claimed earliest run time first (ties in enqueue order), at most `limit`;
/// future jobs wait; a claim counts an attempt and carries the kind's attempt budget.
pub async fn claim_due_respects_run_at_order_and_limit(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(
        stores,
        "moid-1",
        &[
            (JobKind::SendMakeCommand, at(10)),
            (JobKind::PollPayment, at(-5)),
            (JobKind::CapturePayment, at(-20)),
            (JobKind::RefundPayment, at(-5)),
        ],
    )
    .await;
    let kinds: Vec<JobKind> = stores
        .jobs
        .jobs_of(order.id)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            JobKind::SendMakeCommand,
            JobKind::PollPayment,
            JobKind::CapturePayment,
            JobKind::RefundPayment
        ]
    );

    let lease = Duration::minutes(5);
    let first = stores.jobs.claim_due(t0(), 2, lease).await.unwrap();
    let claimed: Vec<_> = first
        .iter()
        .map(|j| (j.kind, j.order_id, j.attempts, j.max_attempts))
        .collect();
    assert_eq!(
        claimed,
        [
            (
                JobKind::CapturePayment,
                order.id,
                1,
                JobKind::CapturePayment.max_attempts()
            ),
            (
                JobKind::PollPayment,
                order.id,
                1,
                JobKind::PollPayment.max_attempts()
            ),
        ]
    );
    let second = stores.jobs.claim_due(t0(), 10, lease).await.unwrap();
    assert_eq!(
        second.iter().map(|j| j.kind).collect::<Vec<_>>(),
        [JobKind::RefundPayment]
    );
    assert!(stores
        .jobs
        .claim_due(t0(), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(stores
        .jobs
        .claim_due(at(9), 10, lease)
        .await
        .unwrap()
        .is_empty());
    let third = stores.jobs.claim_due(at(10), 10, lease).await.unwrap();
    assert_eq!(
        third.iter().map(|j| j.kind).collect::<Vec<_>>(),
        [JobKind::SendMakeCommand]
    );
    assert!(stores
        .jobs
        .claim_due(at(10), 0, lease)
        .await
        .unwrap()
        .is_empty());

    for job in stores.jobs.jobs_of(order.id).await.unwrap() {
        assert_eq!((job.state, job.attempts), (JobState::Running, 1), "{job:?}");
    }
    let capture = job_by_kind(stores, order.id, JobKind::CapturePayment).await;
    assert_eq!(capture.id, first[0].id);
    assert_eq!(capture.run_at, at(-20));
}

/// Twenty workers claiming fifty jobs at once: every job is handed out exactly once.
pub async fn concurrent_claimers_never_share_a_job(stores: &Stores) {
    seed(stores).await;
    let mut orders = Vec::new();
    for batch in 0..5 {
        let jobs: Vec<(JobKind, DateTime<Utc>)> = (0..10)
            .map(|i| {
                (
                    JobKind::ALL[i % JobKind::ALL.len()],
                    at(-(i as i64) - batch),
                )
            })
            .collect();
        orders.push(order_with_jobs(stores, &format!("moid-{batch}"), &jobs).await);
    }
    let mut workers = Vec::new();
    for _ in 0..20 {
        let queue = stores.jobs.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = queue.claim_due(t0(), 3, Duration::hours(1)).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|job| job.id));
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let unique: HashSet<JobId> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a job was handed to two claimers");
    assert_eq!(all.len(), 50, "every job is claimed");
    assert!(stores
        .jobs
        .claim_due(t0(), 100, Duration::hours(1))
        .await
        .unwrap()
        .is_empty());
    for order in orders {
        for job in stores.jobs.jobs_of(order.id).await.unwrap() {
            assert_eq!((job.state, job.attempts), (JobState::Running, 1), "{job:?}");
        }
    }
}

/// A running job whose lease ran out (its worker died) is claimed again, with one more attempt;
/// before that it is not.
pub async fn an_expired_lease_makes_a_job_claimable_again(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::SendMakeCommand, t0())]).await;
    let lease = Duration::seconds(60);
    let first = stores.jobs.claim_due(t0(), 10, lease).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    assert!(stores
        .jobs
        .claim_due(at(30), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(stores
        .jobs
        .claim_due(at(59), 10, lease)
        .await
        .unwrap()
        .is_empty());
    let again = stores.jobs.claim_due(at(60), 10, lease).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (first[0].id, 2));
    assert!(!again[0].is_last_attempt());
    let stored = job(stores, order.id, first[0].id).await;
    assert_eq!((stored.state, stored.attempts), (JobState::Running, 2));
    assert!(stores
        .jobs
        .claim_due(at(119), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        stores.jobs.claim_due(at(120), 10, lease).await.unwrap()[0].attempts,
        3
    );
}

/// A counted retry requeues the job for `run_at` with the error; the attempt stays counted.
pub async fn retry_counts_attempts_and_records_the_error(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::CapturePayment, t0())]).await;
    let lease = Duration::minutes(5);
    let first = stores.jobs.claim_due(t0(), 1, lease).await.unwrap()[0].clone();
    let id = first.id;
    stores
        .jobs
        .retry(&first, at(100), "provider 503", true)
        .await
        .unwrap();
    let stored = job(stores, order.id, id).await;
    assert_eq!(
        (
            stored.state,
            stored.attempts,
            stored.run_at,
            stored.last_error.as_deref()
        ),
        (JobState::Queued, 1, at(100), Some("provider 503"))
    );
    assert!(stores
        .jobs
        .claim_due(at(99), 10, lease)
        .await
        .unwrap()
        .is_empty());
    let claimed = stores.jobs.claim_due(at(100), 10, lease).await.unwrap();
    assert_eq!((claimed[0].id, claimed[0].attempts), (id, 2));
    stores
        .jobs
        .retry(&claimed[0], at(200), "timeout", true)
        .await
        .unwrap();
    let stored = job(stores, order.id, id).await;
    assert_eq!(
        (stored.attempts, stored.last_error.as_deref()),
        (2, Some("timeout"))
    );
}

/// A planned re-run (`count_attempt = false`) gives the attempt back and keeps the last error.
pub async fn retry_without_counting_keeps_attempts(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::PollPayment, t0())]).await;
    let lease = Duration::minutes(5);
    let first = stores.jobs.claim_due(t0(), 1, lease).await.unwrap()[0].clone();
    let id = first.id;
    stores
        .jobs
        .retry(&first, at(10), "provider 500", true)
        .await
        .unwrap();
    let claimed = stores.jobs.claim_due(at(10), 1, lease).await.unwrap();
    assert_eq!(claimed[0].attempts, 2);
    stores
        .jobs
        .retry(&claimed[0], at(20), "still pending", false)
        .await
        .unwrap();
    let stored = job(stores, order.id, id).await;
    assert_eq!(
        (
            stored.state,
            stored.attempts,
            stored.run_at,
            stored.last_error.as_deref()
        ),
        (JobState::Queued, 1, at(20), Some("provider 500"))
    );
    for round in 0..5 {
        let claimed = stores
            .jobs
            .claim_due(at(20 + round), 1, lease)
            .await
            .unwrap();
        assert_eq!(claimed[0].attempts, 2, "round {round}");
        stores
            .jobs
            .retry(&claimed[0], at(21 + round), "still pending", false)
            .await
            .unwrap();
    }
    assert_eq!(job(stores, order.id, id).await.attempts, 1);
}

/// `bury` makes a job dead with its error, `complete` makes it done; neither is claimed again.
pub async fn bury_and_complete_end_a_job(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(
        stores,
        "moid-1",
        &[
            (JobKind::RefundPayment, at(-2)),
            (JobKind::PollPayment, at(-1)),
        ],
    )
    .await;
    let lease = Duration::seconds(30);
    let claimed = stores.jobs.claim_due(t0(), 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let (refund, poll) = (claimed[0].id, claimed[1].id);
    stores.jobs.bury(&claimed[0], "card expired").await.unwrap();
    stores.jobs.complete(&claimed[1]).await.unwrap();

    let stored = job(stores, order.id, refund).await;
    assert_eq!(
        (stored.state, stored.last_error.as_deref(), stored.attempts),
        (JobState::Dead, Some("card expired"), 1)
    );
    let stored = job(stores, order.id, poll).await;
    assert_eq!(
        (stored.state, stored.last_error, stored.attempts),
        (JobState::Done, None, 1)
    );
    // Not even after their leases would have run out.
    assert!(stores
        .jobs
        .claim_due(at(3600), 10, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(stores
        .jobs
        .jobs_of(OrderId::from_uuid(Uuid::new_v4()))
        .await
        .unwrap()
        .is_empty());
}

/// Every job operation on an unknown id is `NotFound`.
pub async fn unknown_jobs_are_not_found(stores: &Stores) {
    let ghost = Job {
        id: JobId::from_uuid(Uuid::new_v4()),
        kind: JobKind::PollPayment,
        order_id: OrderId::from_uuid(Uuid::new_v4()),
        attempts: 1,
        max_attempts: 1,
        claim: Uuid::new_v4(),
    };
    assert_not_found(stores.jobs.complete(&ghost).await);
    assert_not_found(stores.jobs.retry(&ghost, t0(), "x", true).await);
    assert_not_found(stores.jobs.retry(&ghost, t0(), "x", false).await);
    assert_not_found(stores.jobs.bury(&ghost, "x").await);
}

/// Only the current claim ends a job: a worker whose lease ran out and whose job was taken
/// over gets `Conflict` from `complete`, `retry` and `bury`, and changes nothing.
pub async fn a_stale_claim_cannot_end_a_job_taken_over(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::SendMakeCommand, t0())]).await;
    let lease = Duration::seconds(30);
    let stale = stores.jobs.claim_due(t0(), 1, lease).await.unwrap()[0].clone();
    let current = stores.jobs.claim_due(at(31), 1, lease).await.unwrap()[0].clone();
    assert_eq!((stale.id, current.attempts), (current.id, 2));
    assert_ne!(stale.claim, current.claim);
    let before = job(stores, order.id, stale.id).await;
    assert!(matches!(
        stores.jobs.complete(&stale).await,
        Err(RepositoryError::Conflict(_))
    ));
    assert!(matches!(
        stores.jobs.retry(&stale, at(40), "x", true).await,
        Err(RepositoryError::Conflict(_))
    ));
    assert!(matches!(
        stores.jobs.bury(&stale, "x").await,
        Err(RepositoryError::Conflict(_))
    ));
    assert_eq!(job(stores, order.id, stale.id).await, before);
    stores.jobs.complete(&current).await.unwrap();
    assert_eq!(job(stores, order.id, stale.id).await.state, JobState::Done);
    assert!(
        matches!(
            stores.jobs.complete(&current).await,
            Err(RepositoryError::Conflict(_))
        ),
        "an ended job is no claim's"
    );
}

/// The readiness probe answers.
pub async fn ping_answers(stores: &Stores) {
    stores.orders.ping().await.unwrap();
}
