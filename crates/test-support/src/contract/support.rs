//! The contract's fixtures (a fleet, orders, payments, history lines) and the helpers its checks
//! are written in.

use super::Stores;
use crate::fixtures::{device, drink, merchant};
use chrono::{DateTime, Duration, TimeZone, Utc};
use coffee_domain::ports::{
    JobSummary, OrderChange, PaymentStateChange, RepositoryError, StatusChange,
};
use coffee_domain::{
    CaptureMode, DeviceUuid, DrinkNo, Fleet, FleetChanges, HistoryEntry, HistorySource, Job, JobId,
    JobKind, MachineOrderId, MerchantKey, Money, NewJob, Order, OrderId, OrderStatus, Payment,
    PaymentId, PaymentState, ProviderKind, Size,
};
use std::fmt::Debug;
use uuid::Uuid;

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

pub(super) fn rub(kopecks: i64) -> Money {
    Money::rub(kopecks).unwrap()
}

/// One merchant `m1`, devices `dev-a` and `dev-b`, three drinks.
pub fn base_fleet() -> Fleet {
    crate::fleet_file::fleet()
        .merchant(merchant("m1"))
        .device(device("dev-a", "m1"))
        .device(device("dev-b", "m1"))
        .drink(drink("dev-a", "1").small(15000).big(20000))
        .drink(drink("dev-a", "2").small(9900))
        .drink(drink("dev-b", "1").big(25050))
        .build()
}

pub(super) async fn seed(stores: &Stores) {
    stores
        .catalog
        .apply_fleet(&base_fleet(), t0())
        .await
        .unwrap();
}

pub(super) fn changes(inserted: usize, updated: usize, unchanged: usize) -> FleetChanges {
    FleetChanges {
        inserted,
        updated,
        unchanged,
    }
}

pub(super) fn merchant_key(key: &str) -> MerchantKey {
    MerchantKey::parse(key).unwrap()
}

pub(super) fn device_id(id: &str) -> DeviceUuid {
    DeviceUuid::parse(id).unwrap()
}

pub(super) fn drink_no(no: &str) -> DrinkNo {
    DrinkNo::parse(no).unwrap()
}

/// A new order in `created`, created at `t0 - 60`, expiring at `expires_at`.
pub fn order(device: &str, machine_order_id: &str, expires_at: DateTime<Utc>) -> Order {
    Order {
        id: OrderId::from_uuid(Uuid::new_v4()),
        machine_order_id: MachineOrderId::parse(machine_order_id).unwrap(),
        device: device_id(device),
        merchant: merchant_key("m1"),
        drink_no: drink_no("1"),
        drink_name: "Капучино".into(),
        size: Size::Big,
        price: rub(20000),
        status: OrderStatus::Created,
        expires_at,
        failure_reason: None,
        receipt_contact: None,
        dispense_assumed: false,
        make_outcome_unknown: false,
        make_resent: false,
        attention: None,
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
        refund_id: None,
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

/// A history line of a status move.
pub(super) fn transition(
    order: OrderId,
    seconds: i64,
    from: OrderStatus,
    to: OrderStatus,
    message: &str,
) -> HistoryEntry {
    entry(order, seconds, Some(from), Some(to), message)
}

/// An order id nothing was stored under.
pub(super) fn unknown_order() -> OrderId {
    OrderId::from_uuid(Uuid::new_v4())
}

pub(super) fn status(expected: OrderStatus, next: OrderStatus) -> Option<StatusChange> {
    Some(StatusChange {
        expected,
        next,
        failure_reason: None,
        clears_failure_reason: false,
        dispense_assumed: false,
    })
}

/// A change of `order` that moves its status from `expected` to `next`, and nothing else yet.
pub(super) fn status_move(order: OrderId, expected: OrderStatus, next: OrderStatus) -> OrderChange {
    let mut change = OrderChange::new(order);
    change.status = status(expected, next);
    change
}

pub(super) fn payment_move(
    payment: PaymentId,
    expected: PaymentState,
    next: PaymentState,
) -> Option<PaymentStateChange> {
    Some(PaymentStateChange {
        payment_id: payment,
        expected,
        next,
    })
}

pub(super) fn new_job(kind: JobKind, order: OrderId, run_at: DateTime<Utc>) -> NewJob {
    NewJob::at(kind, order, run_at)
}

/// Inserts a new order for `dev-a` expiring at `t0 + 900`.
pub(super) async fn new_order(stores: &Stores, machine_order_id: &str) -> Order {
    let (order, inserted) = stores
        .orders
        .insert_or_get(order("dev-a", machine_order_id, at(900)), vec![])
        .await
        .unwrap();
    assert!(inserted);
    order
}

/// Moves a new order to `pending` with a payment `provider_payment_id`, one history line and a
/// poll job; returns the order and the payment as stored.
pub(super) async fn pending_order_with_payment(
    stores: &Stores,
    machine_order_id: &str,
    provider_payment_id: &str,
) -> (Order, Payment) {
    let order = new_order(stores, machine_order_id).await;
    let payment = payment(&order, provider_payment_id);
    let mut change = status_move(order.id, OrderStatus::Created, OrderStatus::Pending);
    change.new_payment = Some(payment.clone());
    change.history = vec![transition(
        order.id,
        1,
        OrderStatus::Created,
        OrderStatus::Pending,
        "payment created",
    )];
    change.jobs = vec![new_job(JobKind::PollPayment, order.id, at(30))];
    stores.orders.apply(change).await.unwrap();
    (stored_order(stores, order.id).await, payment)
}

/// An order with `jobs.len()` queued jobs, the i-th of kind `jobs[i].0` running at `jobs[i].1`.
pub(super) async fn order_with_jobs(
    stores: &Stores,
    machine_order_id: &str,
    jobs: &[(JobKind, DateTime<Utc>)],
) -> Order {
    let order = new_order(stores, machine_order_id).await;
    let mut change = OrderChange::new(order.id);
    change.jobs = jobs
        .iter()
        .map(|(kind, run_at)| new_job(*kind, order.id, *run_at))
        .collect();
    stores.orders.apply(change).await.unwrap();
    order
}

/// The stored order, which must exist.
pub(super) async fn stored_order(stores: &Stores, id: OrderId) -> Order {
    stores.orders.get(id).await.unwrap().unwrap()
}

pub(super) async fn by_provider_id(
    stores: &Stores,
    provider: ProviderKind,
    provider_payment_id: &str,
) -> Option<Payment> {
    stores
        .orders
        .with_payment_by_provider_id(provider, provider_payment_id)
        .await
        .unwrap()
        .map(|(_, payment)| payment)
}

/// Everything one order's change may touch, to show that a refused change touched nothing.
#[derive(Debug, PartialEq)]
pub(super) struct Snapshot {
    order: Option<Order>,
    payment: Option<Payment>,
    history: Vec<HistoryEntry>,
    jobs: Vec<JobSummary>,
}

pub(super) async fn snapshot(stores: &Stores, id: OrderId) -> Snapshot {
    Snapshot {
        order: stores.orders.get(id).await.unwrap(),
        payment: stores.payments.for_order(id).await.unwrap(),
        history: stores.orders.history(id).await.unwrap(),
        jobs: stores.jobs.jobs_of(id).await.unwrap(),
    }
}

/// Applies `change`, which must be refused with `expected`, and shows that `order` was left
/// as it was.
pub(super) async fn assert_refused_untouched(
    stores: &Stores,
    order: OrderId,
    change: OrderChange,
    expected: fn(&RepositoryError) -> bool,
) {
    let before = snapshot(stores, order).await;
    let result = stores.orders.apply(change).await;
    assert!(
        result.as_ref().is_err_and(expected),
        "unexpected answer: {result:?}"
    );
    assert_eq!(snapshot(stores, order).await, before);
}

pub(super) fn is_conflict(error: &RepositoryError) -> bool {
    matches!(error, RepositoryError::Conflict(_))
}

pub(super) fn is_not_found(error: &RepositoryError) -> bool {
    matches!(error, RepositoryError::NotFound(_))
}

pub(super) fn is_duplicate(error: &RepositoryError) -> bool {
    matches!(error, RepositoryError::Duplicate(_))
}

#[track_caller]
pub(super) fn assert_conflict<T: Debug>(result: Result<T, RepositoryError>) {
    assert!(
        matches!(result, Err(RepositoryError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );
}

#[track_caller]
pub(super) fn assert_not_found<T: Debug>(result: Result<T, RepositoryError>) {
    assert!(
        matches!(result, Err(RepositoryError::NotFound(_))),
        "expected NotFound, got {result:?}"
    );
}

/// Claims up to `limit` jobs due at `now`.
pub(super) async fn claim(
    stores: &Stores,
    now: DateTime<Utc>,
    limit: usize,
    lease: Duration,
) -> Vec<Job> {
    stores
        .jobs
        .claim_due(coffee_domain::ports::Claim { now, limit, lease })
        .await
        .unwrap()
}

/// Nothing is claimable at `now`.
pub(super) async fn assert_nothing_due(stores: &Stores, now: DateTime<Utc>, lease: Duration) {
    let claimed = claim(stores, now, 100, lease).await;
    assert!(claimed.is_empty(), "claimed at {now}: {claimed:?}");
}

pub(super) async fn job_by_kind(stores: &Stores, order: OrderId, kind: JobKind) -> JobSummary {
    let jobs = stores.jobs.jobs_of(order).await.unwrap();
    jobs.into_iter()
        .find(|j| j.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} job"))
}

pub(super) async fn job(stores: &Stores, order: OrderId, id: JobId) -> JobSummary {
    let jobs = stores.jobs.jobs_of(order).await.unwrap();
    jobs.into_iter()
        .find(|j| j.id == id)
        .unwrap_or_else(|| panic!("no job {id}"))
}
