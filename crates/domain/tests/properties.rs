//! Property tests: random interleavings of customers, the provider, the machine, the worker and
//! time, on the in-memory adapters. Whatever happens in whatever order, the promises hold:
//! terminal statuses stay terminal, one drink at most per order, money taken without a drink
//! comes back, nothing is left half-way, no job dies.

#[cfg(test)]
mod support;

use chrono::Duration;
use coffee_adapter_sandbox::{MachineFailure, SandboxAction};
use coffee_domain::ports::{
    InboundNotification, PaymentGatewayError, PaymentRepository, ProviderPaymentStatus,
};
use coffee_domain::services::checkout::PaymentRequest;
use coffee_domain::services::dispensing::DispenseResult;
use coffee_domain::services::settlement::SettlementError;
use coffee_domain::{
    transition, CaptureMode, DeadlinePolicy, FailureReason, JobState, Order, OrderEvent, OrderId,
    OrderStatus, PaymentEvent, PaymentId, PaymentMethod, PaymentState, PaymentTransition,
    ProviderKind, Transition,
};
use proptest::prelude::*;
use std::sync::Arc;
use support::*;

const CASES: u32 = 1_000;

fn capture_mode() -> impl Strategy<Value = CaptureMode> {
    prop_oneof![
        Just(CaptureMode::Immediate),
        Just(CaptureMode::AfterDispense)
    ]
}

fn deadline_policy() -> impl Strategy<Value = DeadlinePolicy> {
    prop_oneof![
        Just(DeadlinePolicy::FailAndRefund),
        Just(DeadlinePolicy::AssumeSuccess)
    ]
}

#[derive(Debug, Clone, Copy)]
struct DeviceConfig {
    capture: CaptureMode,
    policy: DeadlinePolicy,
}

#[derive(Debug, Clone, Copy)]
struct OrderConfig {
    /// Which of the three devices the QR was scanned at.
    device: usize,
    /// Whether the customer started the payment before the first action.
    initiated: bool,
}

/// One thing that happens. Order indexes are taken modulo the number of orders.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// The customer presses «Оплатить» (again).
    Initiate(usize),
    /// The customer pays on the provider's page; its notification is delivered now, or later
    /// by a `Notify`, or never (then only polling can find the payment).
    Pay { order: usize, deliver: bool },
    /// The customer cancels on the provider's page.
    Cancel { order: usize, deliver: bool },
    /// The provider (re)delivers a notification about the order's payment.
    Notify(usize),
    /// The worker runs the jobs due now.
    RunJobs,
    /// The machine fails its next make command.
    MachineFails { permanent: bool },
    /// The provider's next API call times out (whichever call it is).
    ProviderGlitch,
    /// The machine reports a result for the order.
    Report { order: usize, dispensed: bool },
    /// Time passes, then (usually) the expiry sweep runs; without it, an order may be paid
    /// after `expires_at` before the sweep saw it.
    AdvanceAndExpire { seconds: i64, sweep: bool },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => (0..3usize).prop_map(Action::Initiate),
        3 => (0..3usize, any::<bool>()).prop_map(|(order, deliver)| Action::Pay { order, deliver }),
        1 => (0..3usize, any::<bool>()).prop_map(|(order, deliver)| Action::Cancel { order, deliver }),
        3 => (0..3usize).prop_map(Action::Notify),
        3 => Just(Action::RunJobs),
        1 => any::<bool>().prop_map(|permanent| Action::MachineFails { permanent }),
        1 => Just(Action::ProviderGlitch),
        2 => (0..3usize, any::<bool>()).prop_map(|(order, dispensed)| Action::Report { order, dispensed }),
        2 => (prop_oneof![0..240i64, 0..1_800i64], prop::bool::weighted(0.7))
            .prop_map(|(seconds, sweep)| Action::AdvanceAndExpire { seconds, sweep }),
    ]
}

/// What the test has seen of each order so far, checked after every step.
struct Observer {
    ids: Vec<OrderId>,
    /// The first terminal status seen.
    terminal: Vec<Option<OrderStatus>>,
    /// The stored payment was seen holding the customer's money.
    held_money: Vec<bool>,
    /// The stored payment was seen having returned the money (canceled or refunded).
    returned_money: Vec<bool>,
    /// The money was first seen held at or after the order's `expires_at`.
    paid_late: Vec<bool>,
    /// Whether "now" at an observation is the time of what happened since the last one (not
    /// when a concurrent task moves the clock).
    clock_is_step_time: bool,
    /// The order's payment (ours and the provider's id), once it has one.
    payment_ids: Vec<Option<(PaymentId, String)>>,
}

impl Observer {
    fn new(ids: Vec<OrderId>, clock_is_step_time: bool) -> Self {
        let n = ids.len();
        Self {
            ids,
            terminal: vec![None; n],
            held_money: vec![false; n],
            returned_money: vec![false; n],
            paid_late: vec![false; n],
            clock_is_step_time,
            payment_ids: vec![None; n],
        }
    }

    async fn observe(&mut self, h: &Harness, step: &str) -> Result<(), TestCaseError> {
        for (i, id) in self.ids.iter().copied().enumerate() {
            let order = h.order(id).await;
            // (a) a terminal status is final.
            match self.terminal[i] {
                Some(terminal) => prop_assert_eq!(
                    order.status,
                    terminal,
                    "order {} left terminal status {} after {}",
                    i,
                    terminal,
                    step
                ),
                None if order.status.is_terminal() => self.terminal[i] = Some(order.status),
                None => {}
            }
            if let Some(payment) = h.payment(id).await {
                // A new attempt after a canceled one starts its own money story (the replaced
                // attempt is checked to be canceled below).
                if self.payment_ids[i]
                    .as_ref()
                    .is_some_and(|(seen, _)| *seen != payment.id)
                {
                    self.returned_money[i] = false;
                }
                if self.returned_money[i] {
                    prop_assert!(
                        !payment.state.holds_customer_money(),
                        "order {i}: money returned, then held again ({}) after {step}",
                        payment.state
                    );
                }
                if payment.state.holds_customer_money() && !self.held_money[i] {
                    // The clock only moves between steps, so "now" is when the money was taken.
                    self.held_money[i] = true;
                    self.paid_late[i] = self.clock_is_step_time && order.is_expired_at(h.now());
                }
                if matches!(
                    payment.state,
                    PaymentState::Canceled | PaymentState::Refunded
                ) {
                    self.returned_money[i] = true;
                }
            }
            // (b) one drink at most: the domain never has two make commands accepted for one
            // order, and the machine never holds two commands for one order.
            let accepted_calls = h.recorder.accepted_calls(id);
            prop_assert!(
                accepted_calls <= 1,
                "order {i}: {accepted_calls} accepted make calls after {step}"
            );
            prop_assert!(
                h.accepted_commands(&order) <= 1,
                "order {i}: two commands at the machine"
            );
            // No drink without money, and none for money that came after expiry.
            if accepted_calls > 0 {
                prop_assert!(
                    self.held_money[i],
                    "order {i}: make command for an order that never paid"
                );
                prop_assert!(
                    !self.paid_late[i],
                    "order {i}: make command for an order paid after expiry"
                );
            }
            if self.paid_late[i] {
                prop_assert_eq!(
                    order.status,
                    OrderStatus::NotPaid,
                    "order {} paid after expiry",
                    i
                );
                prop_assert_eq!(order.failure_reason, Some(FailureReason::PaidAfterExpiry));
            }
            // At most one live payment per order: a new attempt only once the one before it
            // was canceled (the customer may pay again after a failed attempt).
            let current = h.payment(id).await.map(|p| (p.id, p.provider_payment_id));
            if let (Some(seen), Some(now)) = (&self.payment_ids[i], &current) {
                if seen.0 != now.0 {
                    let previous = h
                        .store
                        .get(seen.0)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?
                        .map(|p| p.state);
                    prop_assert_eq!(
                        previous,
                        Some(PaymentState::Canceled),
                        "order {}: payment replaced while live",
                        i
                    );
                }
            }
            prop_assert!(
                current.is_some() || self.payment_ids[i].is_none(),
                "order {i}: payment vanished"
            );
            self.payment_ids[i] = current;
        }
        // A make command is only ever sent for a paid order.
        let calls = h.recorder.calls();
        prop_assert_eq!(calls.len(), h.machine.make_calls());
        for call in &calls {
            prop_assert_eq!(
                call.status_when_sent,
                Some(OrderStatus::Paid),
                "make sent: {:?}",
                call
            );
        }
        Ok(())
    }

    /// The end state, after everything settled.
    async fn settled(&self, h: &Harness) -> Result<(), TestCaseError> {
        for (i, id) in self.ids.iter().copied().enumerate() {
            let order = h.order(id).await;
            // (d) nothing left half-way (not even waiting for a payment).
            prop_assert!(
                order.status.is_terminal(),
                "order {i} left in {}",
                order.status
            );
            let payment = h.payment(id).await;
            let state = payment.as_ref().map(|p| p.state);
            // (c) money taken ⇒ a drink and a capture, or the money back.
            if self.held_money[i] {
                let captured_for_a_drink = order.status == OrderStatus::Successful
                    && state == Some(PaymentState::Succeeded);
                let returned =
                    matches!(state, Some(PaymentState::Refunded | PaymentState::Canceled));
                prop_assert!(
                    captured_for_a_drink || returned,
                    "order {i} held money and ended {} with payment {:?}",
                    order.status,
                    state
                );
            }
            if order.status == OrderStatus::Successful {
                prop_assert!(
                    matches!(
                        state,
                        Some(PaymentState::Succeeded | PaymentState::Refunded)
                    ),
                    "order {i} successful with payment {:?}",
                    state
                );
            } else {
                prop_assert!(
                    !state.is_some_and(|s| s.holds_customer_money()),
                    "order {i} ended {} and still holds money ({:?})",
                    order.status,
                    state
                );
            }
            // What we store about the money agrees with the provider.
            if let (Some(state), Some(at_provider)) = (state, h.sandbox_payment(id).await) {
                match state {
                    PaymentState::Succeeded => prop_assert!(
                        at_provider.status == ProviderPaymentStatus::Succeeded
                            && !at_provider.refunded,
                        "order {i}: succeeded here, {:?} at the provider",
                        at_provider
                    ),
                    PaymentState::Refunded => prop_assert!(
                        at_provider.refunded,
                        "order {i}: refund not at the provider"
                    ),
                    PaymentState::Canceled => {
                        prop_assert_eq!(at_provider.status, ProviderPaymentStatus::Canceled)
                    }
                    PaymentState::Pending
                    | PaymentState::Authorized
                    | PaymentState::RefundPending => {}
                }
            }
            check_history(h, &order, i).await?;
        }
        // (e) no job died, none is left behind.
        for job in h.store.all_jobs() {
            prop_assert!(job.state != JobState::Dead, "dead job {:?}", job);
            prop_assert_eq!(job.state, JobState::Done, "job left open: {:?}", job);
        }
        Ok(())
    }
}

/// The history is one unbroken chain of legal transitions ending in the order's status.
async fn check_history(h: &Harness, order: &Order, i: usize) -> Result<(), TestCaseError> {
    let mut current: Option<OrderStatus> = None;
    for entry in h.history(order.id).await {
        match (entry.from, entry.to) {
            (None, None) => {} // a message that changed nothing
            (None, Some(OrderStatus::Created)) if current.is_none() => {
                current = Some(OrderStatus::Created)
            }
            (Some(from), to) => {
                prop_assert_eq!(
                    Some(from),
                    current,
                    "order {}: history breaks at {:?}",
                    i,
                    entry
                );
                if let Some(to) = to.filter(|to| *to != from) {
                    let legal = OrderEvent::ALL
                        .into_iter()
                        .any(|e| transition(from, e) == Ok(Transition::To(to)))
                        // A dispense result may overtake the record of the command's acceptance.
                        || (from == OrderStatus::Paid
                            && matches!(to, OrderStatus::Successful | OrderStatus::Failed));
                    prop_assert!(legal, "order {i}: illegal {from} → {to} in history");
                    current = Some(to);
                }
            }
            (None, Some(_)) => {
                prop_assert!(false, "order {i}: transition without origin {entry:?}")
            }
        }
    }
    prop_assert_eq!(
        current,
        Some(order.status),
        "order {}: history does not end in its status",
        i
    );
    Ok(())
}

/// A webhook delivery; when the provider's API is down we answer 5xx and the provider retries
/// later (here: a later `Notify`, or never).
async fn deliver_or_retry_later(
    h: &Harness,
    notification: &InboundNotification,
) -> Result<(), TestCaseError> {
    match h
        .settlement
        .handle_notification(ProviderKind::Sandbox, notification)
        .await
    {
        Ok(_) | Err(SettlementError::Unavailable(_)) => Ok(()),
        Err(other) => Err(TestCaseError::fail(format!("delivery failed: {other}"))),
    }
}

async fn open_work(h: &Harness, ids: &[OrderId]) -> bool {
    let open_jobs = h
        .store
        .all_jobs()
        .iter()
        .any(|j| matches!(j.state, JobState::Queued | JobState::Running));
    let mut open_orders = false;
    for id in ids {
        open_orders |= !h.order(*id).await.status.is_terminal();
    }
    open_jobs || open_orders
}

async fn run_interleaving(
    devices: Vec<DeviceConfig>,
    orders: Vec<OrderConfig>,
    actions: Vec<Action>,
) -> Result<(), TestCaseError> {
    let setups: Vec<DeviceSetup> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            DeviceSetup::new(&format!("dev-{i}"))
                .capture(d.capture)
                .policy(d.policy)
        })
        .collect();
    let h = Harness::with(&setups).await;
    let mut ids = Vec::new();
    let mut handles: Vec<Order> = Vec::new();
    for (i, config) in orders.iter().enumerate() {
        let order = h
            .scan_order(&format!("dev-{}", config.device), &format!("mo-{i}"))
            .await;
        if config.initiated {
            h.initiate(order.id).await;
        }
        ids.push(order.id);
        handles.push(order);
    }
    let mut observer = Observer::new(ids.clone(), true);
    observer.observe(&h, "setup").await?;

    for (step, action) in actions.iter().enumerate() {
        let pick = |i: usize| i % ids.len();
        match *action {
            Action::Initiate(i) => {
                let request = PaymentRequest {
                    order_id: ids[pick(i)],
                    email: None,
                    phone: None,
                    return_url: "http://test/order".into(),
                    method: PaymentMethod::Card,
                };
                // Refusals (expired, already paid) are part of the game.
                let _ = h.checkout.initiate_payment(request).await;
            }
            Action::Pay { order, deliver } | Action::Cancel { order, deliver } => {
                let id = ids[pick(order)];
                if h.payment(id).await.is_some() {
                    let what = if matches!(action, Action::Pay { .. }) {
                        SandboxAction::Pay
                    } else {
                        SandboxAction::Cancel
                    };
                    let notification = h.customer_acts(id, what).await;
                    if deliver {
                        deliver_or_retry_later(&h, &notification).await?;
                    }
                }
            }
            Action::Notify(i) => {
                let id = ids[pick(i)];
                if h.payment(id).await.is_some() {
                    deliver_or_retry_later(&h, &h.notification_for(id).await).await?;
                }
            }
            Action::RunJobs => {
                h.run_jobs().await;
            }
            Action::MachineFails { permanent } => h.machine.fail_next(if permanent {
                MachineFailure::Rejected
            } else {
                MachineFailure::Unavailable
            }),
            Action::ProviderGlitch => h
                .sandbox
                .fail_next(PaymentGatewayError::Unavailable("simulated timeout".into())),
            Action::Report { order, dispensed } => {
                let result = if dispensed {
                    DispenseResult::Dispensed
                } else {
                    DispenseResult::Failed { code: None }
                };
                h.report(&handles[pick(order)], result).await;
            }
            Action::AdvanceAndExpire { seconds, sweep } => {
                h.advance(Duration::seconds(seconds));
                if sweep {
                    h.sweep().await;
                }
            }
        }
        observer
            .observe(&h, &format!("step {step}: {action:?}"))
            .await?;
    }

    // Settle: nothing more is delivered; jobs and the sweep run while time passes.
    let mut rounds = 0;
    while open_work(&h, &ids).await {
        rounds += 1;
        prop_assert!(
            rounds <= 1_000,
            "still not settled after {rounds} rounds: {:?}",
            h.store.all_jobs()
        );
        h.advance(Duration::minutes(10));
        h.sweep().await;
        h.run_jobs().await;
        observer
            .observe(&h, &format!("drain round {rounds}"))
            .await?;
    }
    // Long after: nothing moves any more.
    h.advance(Duration::days(2));
    h.sweep().await;
    prop_assert_eq!(h.run_jobs().await, 0);
    observer.observe(&h, "two days later").await?;
    observer.settled(&h).await
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// (a)–(e) over random interleavings of up to 40 actions on 1–3 orders.
    #[test]
    fn any_interleaving_of_customers_provider_machine_worker_and_time_keeps_every_promise(
        devices in prop::collection::vec(
            (capture_mode(), deadline_policy()).prop_map(|(capture, policy)| DeviceConfig { capture, policy }),
            3,
        ),
        orders in prop::collection::vec(
            (0..3usize, prop::bool::weighted(0.8)).prop_map(|(device, initiated)| OrderConfig { device, initiated }),
            1..=3,
        ),
        actions in prop::collection::vec(action(), 0..40),
    ) {
        current_thread_runtime().block_on(run_interleaving(devices, orders, actions))?;
    }
}

/// A payment notification delivered many times at once, racing workers, the expiry sweep and
/// the clock crossing `expires_at`.
async fn run_race(
    capture: CaptureMode,
    policy: DeadlinePolicy,
    before_expiry: i64,
    deliveries: usize,
    workers: usize,
    sweep: bool,
) -> Result<(), TestCaseError> {
    let h =
        Arc::new(Harness::with(&[DeviceSetup::new("dev-1").capture(capture).policy(policy)]).await);
    let order = h.pending_order("dev-1", "mo-1").await;
    h.clock
        .set(order.expires_at - Duration::seconds(before_expiry));
    let notification = Arc::new(h.customer_acts(order.id, SandboxAction::Pay).await);

    let mut tasks = Vec::new();
    for _ in 0..deliveries {
        let (h, notification) = (h.clone(), notification.clone());
        tasks.push(tokio::spawn(async move {
            h.deliver(&notification).await;
        }));
    }
    for _ in 0..workers {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            h.run_due_once().await;
        }));
    }
    {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            h.advance(Duration::seconds(1));
            if sweep {
                h.sweep().await;
            }
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| TestCaseError::fail(format!("task panicked: {e}")))?;
    }

    let mut observer = Observer::new(vec![order.id], false);
    observer.observe(&h, "race").await?;
    let paid = h
        .payment(order.id)
        .await
        .is_some_and(|p| p.state != PaymentState::Pending);
    prop_assert!(paid, "one of {deliveries} deliveries applied the payment");
    let mut rounds = 0;
    while open_work(&h, &[order.id]).await {
        rounds += 1;
        prop_assert!(rounds <= 100, "not settled: {:?}", h.store.all_jobs());
        h.advance(Duration::minutes(10));
        h.sweep().await;
        h.run_jobs().await;
        observer.observe(&h, "drain").await?;
    }
    observer.settled(&h).await?;

    let settled = h.order(order.id).await;
    let brewed = h.recorder.accepted_calls(order.id);
    match settled.status {
        OrderStatus::NotPaid => prop_assert_eq!(brewed, 0),
        OrderStatus::Successful | OrderStatus::Failed => prop_assert_eq!(brewed, 1),
        other => prop_assert!(false, "unexpected end status {}", other),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Exactly one winner: brewed once, or not paid and the money returned — never both.
    #[test]
    fn a_payment_racing_duplicates_workers_and_expiry_brews_once_or_returns_the_money(
        capture in capture_mode(),
        policy in deadline_policy(),
        before_expiry in 0..3i64,
        deliveries in 1..8usize,
        workers in 0..3usize,
        sweep in any::<bool>(),
    ) {
        multi_thread_runtime().block_on(run_race(capture, policy, before_expiry, deliveries, workers, sweep))?;
    }

    /// The pure table, on random event sequences: once terminal, an order never moves again.
    #[test]
    fn random_event_sequences_never_move_an_order_out_of_a_terminal_status(
        events in prop::collection::vec(prop::sample::select(OrderEvent::ALL.to_vec()), 0..40),
    ) {
        let mut status = OrderStatus::Created;
        let mut terminal = None;
        for event in events {
            if let Ok(Transition::To(next)) = transition(status, event) {
                prop_assert!(terminal.is_none(), "{status} moved to {next} on {event:?}");
                status = next;
            }
            if status.is_terminal() {
                terminal = Some(status);
            }
        }
    }

    /// The pure money table, on random event sequences: money returned is never held again.
    #[test]
    fn random_money_event_sequences_never_hold_money_once_it_was_returned(
        events in prop::collection::vec(
            prop::sample::select(vec![
                PaymentEvent::Authorized,
                PaymentEvent::Captured,
                PaymentEvent::Canceled,
                PaymentEvent::RefundRequested,
                PaymentEvent::Refunded,
            ]),
            0..40,
        ),
    ) {
        let mut state = PaymentState::Pending;
        let mut returned = false;
        for event in events {
            if let Ok(PaymentTransition::To(next)) = state.apply(event) {
                state = next;
            }
            prop_assert!(!(returned && state.holds_customer_money()), "{state} after the money was returned");
            returned |= matches!(state, PaymentState::Canceled | PaymentState::Refunded);
        }
    }
}
