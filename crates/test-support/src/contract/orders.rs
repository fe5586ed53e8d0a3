//! `OrderRepository`: orders inserted once per QR, changed all-or-nothing by compare-and-set,
//! their history, and the orders due for expiry.

use super::support::{
    assert_not_found, assert_refused_untouched, at, by_provider_id, entry, is_conflict,
    is_not_found, new_job, new_order, order, payment, payment_move, pending_order_with_payment,
    rub, seed, snapshot, status_move, stored_order, t0, transition, unknown_order,
};
use super::Stores;
use coffee_domain::ports::{OrderChange, StatusChange};
use coffee_domain::{
    FailureReason, HistoryEntry, HistorySource, JobKind, JobState, MachineOrderId, Order, OrderId,
    OrderStatus, Payment, PaymentId, PaymentState, ProviderKind, ReceiptContact,
};
use std::collections::HashSet;
use uuid::Uuid;

async fn by_machine_order_id(stores: &Stores, device: &str, moid: &str) -> Option<Order> {
    stores
        .orders
        .find_by_machine_order_id(
            &super::support::device_id(device),
            &MachineOrderId::parse(moid).unwrap(),
        )
        .await
        .unwrap()
}

/// Inserts `order`, which must be new, with one first history line; returns it as stored.
async fn insert_new(stores: &Stores, order: Order) -> Order {
    let line = entry(order.id, 0, None, Some(order.status), "order created");
    let (stored, inserted) = stores
        .orders
        .insert_or_get(order.clone(), vec![line])
        .await
        .unwrap();
    assert!(inserted);
    assert_eq!(stored, order);
    stored
}

/// The same device and machine order id returns the stored order, never a second one; the same
/// machine order id on another device is another order.
pub async fn insert_or_get_is_idempotent_per_device_and_machine_order_id(stores: &Stores) {
    seed(stores).await;
    let mut first = order("dev-a", "moid-1", at(900));
    first.receipt_contact = Some(ReceiptContact::Phone("+79001234567".into()));
    let first = insert_new(stores, first).await;

    let mut rescan = order("dev-a", "moid-1", at(1800));
    rescan.price = rub(1);
    let rescan_line = entry(rescan.id, 5, None, None, "rescan");
    let (stored, inserted) = stores
        .orders
        .insert_or_get(rescan.clone(), vec![rescan_line])
        .await
        .unwrap();
    assert!(!inserted);
    assert_eq!(stored, first);
    // Only the inserted order's first lines are written.
    let lines = |id| stores.orders.history(id);
    assert_eq!(lines(first.id).await.unwrap().len(), 1);
    assert!(lines(rescan.id).await.unwrap().is_empty());

    assert_eq!(
        stores.orders.get(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(stores.orders.get(rescan.id).await.unwrap(), None);
    assert_eq!(
        by_machine_order_id(stores, "dev-a", "moid-1").await,
        Some(first.clone())
    );
    assert_eq!(by_machine_order_id(stores, "dev-b", "moid-1").await, None);
    assert_eq!(by_machine_order_id(stores, "dev-a", "moid-2").await, None);

    let moid = MachineOrderId::parse("moid-1").unwrap();
    let ids = |limit| stores.orders.ids_by_machine_order_id(&moid, limit);
    assert_eq!(ids(2).await.unwrap(), vec![first.id]);
    let mut later = order("dev-b", "moid-1", at(900));
    later.created_at = at(0);
    later.updated_at = at(0);
    let elsewhere = insert_new(stores, later).await;
    assert_eq!(
        by_machine_order_id(stores, "dev-b", "moid-1").await,
        Some(elsewhere.clone())
    );
    // Across devices, oldest first, at most `limit`.
    assert_eq!(ids(5).await.unwrap(), vec![first.id, elsewhere.id]);
    assert_eq!(ids(1).await.unwrap(), vec![first.id]);
    let unknown = MachineOrderId::parse("moid-9").unwrap();
    assert_eq!(
        stores
            .orders
            .ids_by_machine_order_id(&unknown, 2)
            .await
            .unwrap(),
        Vec::<OrderId>::new()
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
                .insert_or_get(order("dev-a", "same-qr", at(900)), vec![])
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
        transition(
            order.id,
            2,
            OrderStatus::Created,
            OrderStatus::Pending,
            "payment created",
        ),
    ];
    let mut change = status_move(order.id, OrderStatus::Created, OrderStatus::Pending);
    change.receipt_contact = Some(contact.clone());
    change.new_payment = Some(payment.clone());
    change.history = history.clone();
    change.jobs = vec![
        new_job(JobKind::PollPayment, order.id, at(30)),
        new_job(JobKind::CancelPayment, order.id, at(900)),
    ];
    stores.orders.apply(change).await.unwrap();

    let expected = Order {
        status: OrderStatus::Pending,
        receipt_contact: Some(contact),
        updated_at: at(2),
        ..order.clone()
    };
    assert_eq!(stored_order(stores, order.id).await, expected);
    assert_eq!(
        stores.payments.for_order(order.id).await.unwrap(),
        Some(payment.clone())
    );
    assert_eq!(
        by_provider_id(stores, ProviderKind::Sandbox, "pp-1").await,
        Some(payment.clone())
    );
    assert_eq!(
        by_provider_id(stores, ProviderKind::Yookassa, "pp-1").await,
        None
    );
    assert_eq!(
        by_provider_id(stores, ProviderKind::Sandbox, "pp-2").await,
        None
    );
    assert_eq!(stores.orders.history(order.id).await.unwrap(), history);

    let jobs = stores.jobs.jobs_of(order.id).await.unwrap();
    let queued = |kind, run_at| (kind, order.id, JobState::Queued, 0, run_at, None);
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
            queued(JobKind::PollPayment, at(30)),
            queued(JobKind::CancelPayment, at(900)),
        ]
    );
    assert_ne!(jobs[0].id, jobs[1].id);

    // A money move with its status move: the payment's `updated_at` follows the history too.
    let mut paid = status_move(order.id, OrderStatus::Pending, OrderStatus::Paid);
    paid.payment_state = payment_move(payment.id, PaymentState::Pending, PaymentState::Succeeded);
    paid.history = vec![transition(
        order.id,
        5,
        OrderStatus::Pending,
        OrderStatus::Paid,
        "paid",
    )];
    stores.orders.apply(paid).await.unwrap();
    assert_eq!(
        stores.payments.for_order(order.id).await.unwrap(),
        Some(Payment {
            state: PaymentState::Succeeded,
            updated_at: at(5),
            ..payment
        })
    );
    let stored = stored_order(stores, order.id).await;
    assert_eq!(
        (stored.status, stored.updated_at),
        (OrderStatus::Paid, at(5))
    );

    // A change without history lines leaves `updated_at` alone.
    let quiet = status_move(order.id, OrderStatus::Paid, OrderStatus::MakePending);
    stores.orders.apply(quiet).await.unwrap();
    let stored = stored_order(stores, order.id).await;
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

/// A status move of `order` that records `reason`.
fn failing_move(
    order: OrderId,
    expected: OrderStatus,
    next: OrderStatus,
    reason: FailureReason,
) -> OrderChange {
    let mut change = status_move(order, expected, next);
    change.status = change.status.map(|status| StatusChange {
        failure_reason: Some(reason),
        ..status
    });
    change
}

/// A status change without a failure reason keeps the one recorded; `dispense_assumed` only
/// ever becomes true.
pub async fn apply_keeps_failure_reason_and_dispense_assumed_unless_set(stores: &Stores) {
    use OrderStatus::{Created, Failed};
    seed(stores).await;
    let order = new_order(stores, "moid-1").await;
    let apply = move |change| stores.orders.apply(change);
    let rejected = FailureReason::PaymentRejected;
    apply(failing_move(order.id, Created, Failed, rejected))
        .await
        .unwrap();
    apply(status_move(order.id, Failed, Failed)).await.unwrap();
    let stored = stored_order(stores, order.id).await;
    assert_eq!(
        (stored.status, stored.failure_reason),
        (Failed, Some(FailureReason::PaymentRejected))
    );

    let late = FailureReason::PaidAfterExpiry;
    apply(failing_move(order.id, Failed, Failed, late))
        .await
        .unwrap();
    assert_eq!(
        stored_order(stores, order.id).await.failure_reason,
        Some(FailureReason::PaidAfterExpiry)
    );

    let other = new_order(stores, "moid-2").await;
    let mut assumed = status_move(other.id, Created, Created);
    assumed.status = assumed.status.map(|status| StatusChange {
        dispense_assumed: true,
        ..status
    });
    apply(assumed).await.unwrap();
    apply(status_move(other.id, Created, Created))
        .await
        .unwrap();
    let stored = stored_order(stores, other.id).await;
    assert!(stored.dispense_assumed);
    assert_eq!(stored.failure_reason, None);
}

/// A status compare-and-set that loses writes nothing at all: not the contact, not the payment
/// move, not the history, not the jobs.
pub async fn apply_status_conflict_writes_nothing(stores: &Stores) {
    use OrderStatus::{Created, Failed, MakePending, Paid};
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;

    let mut stale = status_move(order.id, Created, Failed);
    stale.receipt_contact = Some(ReceiptContact::Email("late@example.com".into()));
    stale.payment_state = payment_move(payment.id, PaymentState::Pending, PaymentState::Canceled);
    stale.history = vec![transition(order.id, 50, Created, Failed, "stale")];
    stale.jobs = vec![new_job(JobKind::CancelPayment, order.id, at(50))];
    assert_refused_untouched(stores, order.id, stale, is_conflict).await;

    // The same change with a new payment for another order still writes nothing.
    let other = new_order(stores, "moid-2").await;
    let mut stale_with_payment = status_move(order.id, Paid, MakePending);
    stale_with_payment.new_payment = Some(super::support::payment(&other, "pp-2"));
    assert_refused_untouched(stores, order.id, stale_with_payment, is_conflict).await;
    assert_eq!(stores.payments.for_order(other.id).await.unwrap(), None);
}

/// The make command's resend mark is a compare-and-set of its own: set once, a second change
/// setting it conflicts and writes nothing (five operators pressing «resend» queue one job).
pub async fn the_resend_mark_is_set_once_by_compare_and_set(stores: &Stores) {
    use OrderStatus::Pending;
    seed(stores).await;
    let (order, _) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let resend = |second: i64| {
        let mut change = status_move(order.id, Pending, Pending);
        change.make_resent = true;
        change.history = vec![entry(order.id, second, None, None, "resend")];
        change.jobs = vec![new_job(JobKind::ResendMakeCommand, order.id, at(second))];
        change
    };
    assert!(!stored_order(stores, order.id).await.make_resent);
    stores.orders.apply(resend(50)).await.unwrap();
    assert!(stored_order(stores, order.id).await.make_resent);
    assert_refused_untouched(stores, order.id, resend(60), is_conflict).await;
    // Other changes leave the mark as it is.
    let mut later = OrderChange::new(order.id);
    later.history = vec![entry(order.id, 70, None, None, "nothing new")];
    stores.orders.apply(later).await.unwrap();
    assert!(stored_order(stores, order.id).await.make_resent);
    let resends = stores
        .jobs
        .jobs_of(order.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == JobKind::ResendMakeCommand)
        .count();
    assert_eq!(resends, 1);
}

/// A payment compare-and-set that loses undoes the order's status move made in the same
/// change: all or nothing.
pub async fn apply_payment_conflict_rolls_back_the_status_too(stores: &Stores) {
    use OrderStatus::{Paid, Pending};
    use PaymentState::{Authorized, Succeeded};
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;

    let mut change = status_move(order.id, Pending, Paid);
    change.payment_state = payment_move(payment.id, Authorized, Succeeded);
    change.history = vec![transition(order.id, 60, Pending, Paid, "paid")];
    change.jobs = vec![new_job(JobKind::SendMakeCommand, order.id, at(60))];
    assert_refused_untouched(stores, order.id, change, is_conflict).await;
    assert_eq!(
        stored_order(stores, order.id).await.status,
        OrderStatus::Pending
    );
}

/// An unknown order, or a payment move of an unknown payment: `NotFound`, nothing written.
pub async fn apply_to_an_unknown_order_or_payment_is_not_found(stores: &Stores) {
    seed(stores).await;
    let ghost = unknown_order();
    let change = status_move(ghost, OrderStatus::Created, OrderStatus::Pending);
    assert_not_found(stores.orders.apply(change).await);
    assert_not_found(stores.orders.apply(OrderChange::new(ghost)).await);
    assert_eq!(stores.orders.get(ghost).await.unwrap(), None);

    let order = new_order(stores, "moid-1").await;
    let mut change = status_move(order.id, OrderStatus::Created, OrderStatus::Pending);
    change.payment_state = payment_move(
        PaymentId::from_uuid(Uuid::new_v4()),
        PaymentState::Pending,
        PaymentState::Succeeded,
    );
    change.history = vec![entry(order.id, 1, None, None, "never")];
    change.jobs = vec![new_job(JobKind::PollPayment, order.id, at(1))];
    assert_refused_untouched(stores, order.id, change, is_not_found).await;
}

/// The timeline is returned in the order written; `record` adds lines and nothing else.
pub async fn history_is_oldest_first_and_record_changes_nothing_else(stores: &Stores) {
    seed(stores).await;
    let order = new_order(stores, "moid-1").await;
    let other = new_order(stores, "moid-2").await;
    let e1 = entry(order.id, 1, None, Some(OrderStatus::Created), "scanned");
    let e2 = entry(order.id, 2, None, None, "same second, first");
    let e3 = transition(
        order.id,
        2,
        OrderStatus::Created,
        OrderStatus::Pending,
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
    let mut change = status_move(order.id, OrderStatus::Created, OrderStatus::Pending);
    change.history = vec![e3.clone()];
    stores.orders.apply(change).await.unwrap();
    stores.orders.record(vec![e4.clone()]).await.unwrap();
    stores.orders.record(vec![]).await.unwrap();

    assert_eq!(
        stores.orders.history(order.id).await.unwrap(),
        [e1, e2, e3, e4]
    );
    assert_eq!(stores.orders.history(other.id).await.unwrap(), [noise]);
    let stored = stored_order(stores, order.id).await;
    assert_eq!(
        (stored.status, stored.updated_at),
        (OrderStatus::Pending, at(2))
    );
    assert_eq!(stores.orders.get(other.id).await.unwrap(), Some(other));
    assert!(stores
        .orders
        .history(unknown_order())
        .await
        .unwrap()
        .is_empty());
}

/// Only `created` and `pending` orders whose deadline is at or before `now`, earliest deadline
/// first, at most `limit`.
pub async fn due_for_expiry_filters_orders_and_limits(stores: &Stores) {
    use OrderStatus::{Created, NotPaid, Paid, Pending};
    seed(stores).await;
    // An order expiring `expires` seconds after t0, moved along `path`.
    async fn insert(stores: &Stores, moid: &str, expires: i64, path: &[OrderStatus]) -> Order {
        let (order, _) = stores
            .orders
            .insert_or_get(order("dev-a", moid, at(expires)), vec![])
            .await
            .unwrap();
        for pair in path.windows(2) {
            let change = status_move(order.id, pair[0], pair[1]);
            stores.orders.apply(change).await.unwrap();
        }
        order
    }
    let created_early = insert(stores, "o1", -30, &[]).await;
    let pending = insert(stores, "o2", -10, &[Created, Pending]).await;
    let not_yet = insert(stores, "o3", 60, &[]).await;
    insert(stores, "o4", -50, &[Created, Pending, Paid]).await;
    let exactly_now = insert(stores, "o5", 0, &[]).await;
    insert(stores, "o6", -40, &[Created, NotPaid]).await;

    let due = |now, limit| async move {
        let orders = stores.orders.due_for_expiry(now, limit).await.unwrap();
        orders.into_iter().map(|o| o.id).collect::<Vec<_>>()
    };
    assert_eq!(
        due(t0(), 10).await,
        [created_early.id, pending.id, exactly_now.id]
    );
    assert_eq!(due(t0(), 2).await, [created_early.id, pending.id]);
    assert!(due(t0(), 0).await.is_empty());
    assert!(due(at(-31), 10).await.is_empty());
    assert_eq!(
        due(at(3600), 10).await,
        [created_early.id, pending.id, exactly_now.id, not_yet.id]
    );
    let due = stores.orders.due_for_expiry(t0(), 1).await.unwrap();
    assert_eq!(due, [created_early]);
}

/// The readiness probe answers.
pub async fn ping_answers(stores: &Stores) {
    stores.orders.ping().await.unwrap();
}
