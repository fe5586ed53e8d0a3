//! `PaymentRepository` and the money side of `OrderRepository::apply`: one live payment per order,
//! provider ids and provider messages stored once, payment states moved by compare-and-set.

use super::support::{
    assert_conflict, assert_refused_untouched, at, by_provider_id, entry, is_conflict,
    is_duplicate, new_job, new_order, payment, payment_move, pending_order_with_payment, seed,
    status_move, stored_order,
};
use super::Stores;
use coffee_domain::ports::{OrderChange, ProviderEventRecord, RefundRecord};
use coffee_domain::{Attention, JobKind, OrderStatus, PaymentState, ProviderKind};

/// An order has at most one live payment: a second one is `Duplicate` and the change writes
/// nothing.
pub async fn a_second_payment_for_an_order_is_duplicate(stores: &Stores) {
    seed(stores).await;
    let (order, first) = pending_order_with_payment(stores, "moid-1", "pp-1").await;

    let mut change = status_move(order.id, OrderStatus::Pending, OrderStatus::Pending);
    change.new_payment = Some(payment(&order, "pp-2"));
    change.history = vec![entry(order.id, 70, None, None, "second payment")];
    change.jobs = vec![new_job(JobKind::PollPayment, order.id, at(70))];
    assert_refused_untouched(stores, order.id, change, is_duplicate).await;
    assert_eq!(
        stores.payments.for_order(order.id).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        by_provider_id(stores, ProviderKind::Sandbox, "pp-2").await,
        None
    );
}

/// A provider message is recorded with the change it causes; the same `(provider, event_key)`
/// again is `Duplicate` and writes nothing, while another provider may use the same key.
pub async fn a_provider_event_is_applied_once(stores: &Stores) {
    seed(stores).await;
    let (order, _) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let event = |provider| ProviderEventRecord {
        provider,
        event_key: "pp-1:succeeded".into(),
    };
    let mut first = OrderChange::new(order.id);
    first.provider_event = Some(event(ProviderKind::Sandbox));
    first.history = vec![entry(order.id, 70, None, None, "first delivery")];
    stores.orders.apply(first).await.unwrap();

    let mut again = OrderChange::new(order.id);
    again.provider_event = Some(event(ProviderKind::Sandbox));
    again.history = vec![entry(order.id, 71, None, None, "second delivery")];
    again.jobs = vec![new_job(JobKind::SendMakeCommand, order.id, at(71))];
    assert_refused_untouched(stores, order.id, again, is_duplicate).await;

    let mut other_provider = OrderChange::new(order.id);
    other_provider.provider_event = Some(event(ProviderKind::Yookassa));
    stores.orders.apply(other_provider).await.unwrap();
}

/// A message delivered again is refused by the first check that fails, in this order: the
/// order's status, then the message already applied, then the payment's state — whatever
/// else the change would write, and nothing is written.
pub async fn a_redelivery_is_refused_by_the_first_check_that_fails(stores: &Stores) {
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let delivery = |event_key: &str, line: i64| {
        let mut change = status_move(order.id, OrderStatus::Pending, OrderStatus::Paid);
        change.payment_state =
            payment_move(payment.id, PaymentState::Pending, PaymentState::Succeeded);
        change.provider_event = Some(ProviderEventRecord {
            provider: ProviderKind::Sandbox,
            event_key: event_key.into(),
        });
        change.history = vec![entry(order.id, line, None, None, "delivery")];
        change.jobs = vec![new_job(JobKind::SendMakeCommand, order.id, at(line))];
        change
    };
    stores
        .orders
        .apply(delivery("pp-1:succeeded", 70))
        .await
        .unwrap();

    // The order moved on: its conflict, not the message's duplicate.
    assert_refused_untouched(
        stores,
        order.id,
        delivery("pp-1:succeeded", 71),
        is_conflict,
    )
    .await;

    // The order is back where a delivery expects it, the payment is not.
    let mut back = status_move(order.id, OrderStatus::Paid, OrderStatus::Pending);
    back.history = vec![entry(order.id, 72, None, None, "back to pending")];
    stores.orders.apply(back).await.unwrap();
    assert_refused_untouched(
        stores,
        order.id,
        delivery("pp-1:succeeded", 73),
        is_duplicate,
    )
    .await;
    assert_refused_untouched(stores, order.id, delivery("pp-1:other", 74), is_conflict).await;
    let stored = stores.payments.for_order(order.id).await.unwrap().unwrap();
    assert_eq!(stored.state, PaymentState::Succeeded);
}

/// A provider payment id is stored once per provider: reusing it is `Duplicate`; another
/// provider may use the same id.
pub async fn a_reused_provider_payment_id_is_duplicate(stores: &Stores) {
    seed(stores).await;
    let (_, first) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let other = new_order(stores, "moid-2").await;

    let mut change = status_move(other.id, OrderStatus::Created, OrderStatus::Pending);
    change.new_payment = Some(payment(&other, "pp-1"));
    change.history = vec![entry(other.id, 1, None, None, "reuse")];
    assert_refused_untouched(stores, other.id, change, is_duplicate).await;
    assert_eq!(
        by_provider_id(stores, ProviderKind::Sandbox, "pp-1").await,
        Some(first)
    );

    let mut elsewhere = payment(&other, "pp-1");
    elsewhere.provider = ProviderKind::Tbank;
    let mut change = status_move(other.id, OrderStatus::Created, OrderStatus::Pending);
    change.new_payment = Some(elsewhere.clone());
    stores.orders.apply(change).await.unwrap();
    assert_eq!(
        by_provider_id(stores, ProviderKind::Tbank, "pp-1").await,
        Some(elsewhere)
    );
}

/// Money state moves only from the expected state; a loser gets `Conflict`.
pub async fn payment_state_is_compare_and_set(stores: &Stores) {
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let moves = |expected, next| {
        let mut change = OrderChange::new(order.id);
        change.payment_state = payment_move(payment.id, expected, next);
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
        by_provider_id(stores, ProviderKind::Sandbox, "pp-1")
            .await
            .unwrap()
            .state,
        PaymentState::Succeeded
    );
}

/// After a canceled attempt the order may get a new payment; the latest attempt is the
/// order's payment, every attempt is kept, and only pending ones count as waiting on the device.
pub async fn a_new_attempt_follows_a_canceled_payment(stores: &Stores) {
    seed(stores).await;
    let (order, first) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let mut cancel = status_move(order.id, OrderStatus::Pending, OrderStatus::Created);
    cancel.payment_state = payment_move(first.id, PaymentState::Pending, PaymentState::Canceled);
    cancel.history = vec![entry(order.id, 70, None, None, "canceled")];
    stores.orders.apply(cancel).await.unwrap();

    let mut second = payment(&order, "pp-2");
    second.created_at = at(80);
    let mut retry = status_move(order.id, OrderStatus::Created, OrderStatus::Pending);
    retry.new_payment = Some(second.clone());
    retry.history = vec![entry(order.id, 80, None, None, "second attempt")];
    stores.orders.apply(retry).await.unwrap();

    assert_eq!(
        stores
            .payments
            .for_order(order.id)
            .await
            .unwrap()
            .map(|p| p.id),
        Some(second.id)
    );
    // Read with its order: the latest attempt, or the one asked for; never another order's.
    let with = |payment| stores.orders.with_payment(order.id, payment);
    let (read, latest) = with(None).await.unwrap().unwrap();
    assert_eq!(read.id, order.id);
    assert_eq!(latest.map(|p| p.id), Some(second.id));
    let (_, asked) = with(Some(first.id)).await.unwrap().unwrap();
    assert_eq!(
        asked.map(|p| (p.id, p.state)),
        Some((first.id, PaymentState::Canceled))
    );
    let stranger = new_order(stores, "moid-2").await;
    let stranger_id = stranger.id;
    assert_eq!(
        stores.orders.with_payment(stranger.id, None).await.unwrap(),
        Some((stranger.clone(), None))
    );
    assert_eq!(
        stores
            .orders
            .with_payment(stranger.id, Some(first.id))
            .await
            .unwrap(),
        Some((stranger, None))
    );
    assert_eq!(
        stores
            .orders
            .with_payment(
                coffee_domain::OrderId::from_uuid(uuid::Uuid::new_v4()),
                None
            )
            .await
            .unwrap(),
        None
    );
    // By the machine's order id: the order with its latest attempt, in one read.
    let by_machine = |device: &str, moid: &str| {
        let (device, moid) = (
            coffee_domain::DeviceUuid::parse(device).unwrap(),
            coffee_domain::MachineOrderId::parse(moid).unwrap(),
        );
        async move {
            stores
                .orders
                .with_payment_by_machine_order_id(&device, &moid)
                .await
                .unwrap()
        }
    };
    let (read, latest) = by_machine("dev-a", "moid-1").await.unwrap();
    assert_eq!(read.id, order.id);
    assert_eq!(latest.map(|p| p.id), Some(second.id));
    assert_eq!(
        by_machine("dev-a", "moid-2").await.map(|(o, p)| (o.id, p)),
        Some((stranger_id, None))
    );
    assert_eq!(by_machine("dev-a", "moid-404").await, None);
    assert_eq!(by_machine("dev-b", "moid-1").await, None);
    // By the provider's payment id: that attempt (even an old one) with its order.
    let by_provider = |id: &'static str| async move {
        stores
            .orders
            .with_payment_by_provider_id(ProviderKind::Sandbox, id)
            .await
            .unwrap()
            .map(|(order, payment)| (order.id, payment.id, payment.state))
    };
    assert_eq!(
        by_provider("pp-1").await,
        Some((order.id, first.id, PaymentState::Canceled))
    );
    assert_eq!(
        by_provider("pp-2").await,
        Some((order.id, second.id, PaymentState::Pending))
    );
    assert_eq!(by_provider("pp-404").await, None);
    let attempts: Vec<_> = stores
        .payments
        .attempts_of(order.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.state))
        .collect();
    assert_eq!(
        attempts,
        [
            (first.id, PaymentState::Canceled),
            (second.id, PaymentState::Pending)
        ]
    );
    assert_eq!(
        stores
            .payments
            .get(first.id)
            .await
            .unwrap()
            .map(|p| p.state),
        Some(PaymentState::Canceled)
    );
    assert_eq!(
        stores
            .payments
            .pending_on_device(&order.device)
            .await
            .unwrap(),
        1
    );
    // A third while the second is live: refused.
    let mut third = status_move(order.id, OrderStatus::Pending, OrderStatus::Pending);
    third.new_payment = Some(payment(&order, "pp-3"));
    third.history = vec![entry(order.id, 90, None, None, "third attempt")];
    assert_refused_untouched(stores, order.id, third, is_duplicate).await;
}

/// A refund's provider id is kept on its payment, and an order flagged for an operator is
/// listed until someone looks (the flag is never cleared by a change).
pub async fn refund_ids_and_operator_flags_are_kept(stores: &Stores) {
    seed(stores).await;
    let (order, payment) = pending_order_with_payment(stores, "moid-1", "pp-1").await;
    let mut change = OrderChange::new(order.id);
    change.refund_id = Some(RefundRecord {
        payment_id: payment.id,
        refund_id: "rf-1".into(),
    });
    change.attention = Some(Attention::RefundRefused);
    change.make_outcome_unknown = true;
    change.history = vec![entry(order.id, 70, None, None, "flagged")];
    stores.orders.apply(change).await.unwrap();
    let mut later = OrderChange::new(order.id);
    later.history = vec![entry(order.id, 80, None, None, "nothing new")];
    stores.orders.apply(later).await.unwrap();

    let stored = stored_order(stores, order.id).await;
    assert_eq!(stored.attention, Some(Attention::RefundRefused));
    assert!(stored.make_outcome_unknown);
    assert_eq!(
        stores
            .payments
            .get(payment.id)
            .await
            .unwrap()
            .and_then(|p| p.refund_id),
        Some("rf-1".into())
    );
    let flagged: Vec<_> = stores
        .orders
        .needing_attention(10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(flagged, [order.id]);
    assert_eq!(stores.orders.count_needing_attention().await.unwrap(), 1);
}

/// A payment that leaves `pending` ends its own queued polls in the same commit; another
/// payment's polls stay queued.
pub async fn a_settled_payment_ends_its_queued_polls(stores: &Stores) {
    seed(stores).await;
    let mut polls = Vec::new();
    for moid in ["moid-1", "moid-2"] {
        let order = new_order(stores, moid).await;
        let payment = payment(&order, &format!("pp-{moid}"));
        let mut change = status_move(order.id, OrderStatus::Created, OrderStatus::Pending);
        change.new_payment = Some(payment.clone());
        change.history = vec![entry(order.id, 1, None, None, "payment created")];
        change.jobs = vec![coffee_domain::NewJob::for_payment(
            JobKind::PollPayment,
            &payment,
            at(30),
        )];
        stores.orders.apply(change).await.unwrap();
        polls.push((order, payment));
    }
    let (order, payment) = &polls[0];
    let mut paid = status_move(order.id, OrderStatus::Pending, OrderStatus::Paid);
    paid.payment_state = payment_move(payment.id, PaymentState::Pending, PaymentState::Succeeded);
    paid.history = vec![entry(order.id, 2, None, None, "paid")];
    stores.orders.apply(paid).await.unwrap();
    let state_of_poll = |order| async move {
        let jobs = stores.jobs.jobs_of(order).await.unwrap();
        jobs.iter()
            .find(|j| j.kind == JobKind::PollPayment)
            .map(|j| j.state)
    };
    assert_eq!(
        state_of_poll(order.id).await,
        Some(coffee_domain::JobState::Done)
    );
    assert_eq!(
        state_of_poll(polls[1].0.id).await,
        Some(coffee_domain::JobState::Queued)
    );
}
