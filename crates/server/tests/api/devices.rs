//! Machine reports: `POST /v1/devices/{device_uuid}/events`, signed with the device's key.
//! Only an authentic, fresh, first-seen report decides a `make_pending` order; everything
//! else is refused and changes nothing.

use crate::helpers::{app, TestApp};
use crate::tmetr_flow::{make_pending_order, spawn_with_tmetr, tm_fleet, tmetr_vars};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use coffee_adapter_memory::MemoryStore;
use coffee_domain::ports::{Clock, OrderChange, OrderRepository, RepositoryError};
use coffee_domain::{
    DeviceUuid, HistoryEntry, HistorySource, MachineOrderId, Order, OrderId, OrderStatus,
};
use coffee_server::device_auth::sign;
use coffee_test_support::fakes::tmetr::FakeTmetr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A report body as a machine would send it.
pub fn event_body(order_uuid: &str, result: &str, at: DateTime<Utc>) -> String {
    serde_json::json!({ "order_uuid": order_uuid, "result": result, "at": at.to_rfc3339() })
        .to_string()
}

/// Signs `body` with `secret`, posts it for `device`; returns the status and the JSON answer.
pub async fn report(
    app: &TestApp,
    device: &str,
    secret: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let signature = sign(secret.as_bytes(), body.as_bytes());
    answer(app.post_device_event(device, body, Some(&signature)).await).await
}

async fn answer(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

async fn history(app: &TestApp, order: &str) -> Vec<HistoryEntry> {
    app.ctx
        .ports
        .orders
        .history(OrderId::parse(order).unwrap())
        .await
        .unwrap()
}

/// What a refused report must not change: the order as the customer sees it and its history.
async fn snapshot(app: &TestApp, order: &str) -> (serde_json::Value, Vec<HistoryEntry>) {
    (app.status(order).await, history(app, order).await)
}

fn transitions_to(history: &[HistoryEntry], status: OrderStatus) -> usize {
    history.iter().filter(|e| e.to == Some(status)).count()
}

#[tokio::test]
async fn a_signed_dispensed_report_makes_the_order_successful() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "ok-1").await;
    let body = event_body("ok-1", "dispensed", app.clock.now());
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, serde_json::json!({ "outcome": "successful" }));
    assert_eq!(app.status(&order).await["status"], "successful");
    let last = history(&app, &order).await.pop().unwrap();
    assert_eq!(last.source, HistorySource::Machine);
    assert_eq!(last.from, Some(OrderStatus::MakePending));
    assert_eq!(last.to, Some(OrderStatus::Successful));
    assert!(
        last.message.starts_with("автомат сообщил: напиток выдан"),
        "{}",
        last.message
    );
}

#[tokio::test]
async fn a_failed_report_fails_the_order_and_returns_the_money() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "fail-1").await;
    let body = serde_json::json!({
        "order_uuid": "fail-1",
        "result": "failed",
        "code": "E42",
        "at": app.clock.now().to_rfc3339(),
    })
    .to_string();
    // The `sha256=` prefix is accepted too.
    let signature = format!("sha256={}", sign(b"tm-1-key", body.as_bytes()));
    let (status, json) = answer(app.post_device_event("tm-1", &body, Some(&signature)).await).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["outcome"], "failed");

    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert_eq!(json["status"], "failed");
    assert_eq!(json["failure_reason"], "dispense_failed");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("Деньги возвращены"),
        "{json}"
    );
    let failed = history(&app, &order)
        .await
        .into_iter()
        .find(|e| e.to == Some(OrderStatus::Failed))
        .unwrap();
    assert!(failed.message.contains("(E42)"), "{}", failed.message);
}

#[tokio::test]
async fn a_report_with_a_bad_or_missing_signature_is_refused_with_401_and_changes_nothing() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "forged-1").await;
    let before = snapshot(&app, &order).await;
    let body = event_body("forged-1", "dispensed", app.clock.now());
    let other_body = event_body("forged-1", "failed", app.clock.now());

    let wrong_key = sign(b"not-the-key", body.as_bytes());
    let other_bodys = sign(b"tm-1-key", other_body.as_bytes());
    let attempts = [
        Some(wrong_key.as_str()),
        Some(other_bodys.as_str()),
        Some("zz-not-hex"),
        Some(""),
        None,
    ];
    for signature in attempts {
        let (status, json) = answer(app.post_device_event("tm-1", &body, signature).await).await;
        assert_eq!(status, 401, "signature {signature:?}: {json}");
        assert_eq!(json["error"], "bad_signature");
    }
    assert_eq!(snapshot(&app, &order).await, before);
    assert_eq!(before.0["status"], "make_pending");

    // A refused body was not remembered: the genuine report still counts.
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("successful"))
    );
}

#[tokio::test]
async fn a_report_with_a_stale_or_future_timestamp_is_refused_with_401_and_changes_nothing() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "stale-1").await;
    let before = snapshot(&app, &order).await;
    let now = app.clock.now();
    for at in [now - Duration::seconds(301), now + Duration::seconds(301)] {
        let body = event_body("stale-1", "dispensed", at);
        let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
        assert_eq!(status, 401, "at {at}: {json}");
        assert_eq!(json["error"], "stale_timestamp");
    }
    assert_eq!(snapshot(&app, &order).await, before);

    // Inside the ±300 s window the report counts.
    let body = event_body("stale-1", "dispensed", now - Duration::seconds(299));
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("successful"))
    );
}

#[tokio::test]
async fn a_replayed_report_is_refused_with_401_and_changes_nothing() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "replay-1").await;
    let body = event_body("replay-1", "dispensed", app.clock.now());
    let (status, _) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(status, 200);
    let before = snapshot(&app, &order).await;

    app.clock.advance(Duration::seconds(10));
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["error"], "replayed");
    assert_eq!(snapshot(&app, &order).await.1, before.1);
    assert_eq!(app.status(&order).await["status"], "successful");

    // A new report (another `at`) with the same verdict is a harmless duplicate.
    let again = event_body("replay-1", "dispensed", app.clock.now());
    let (status, json) = report(&app, "tm-1", "tm-1-key", &again).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("duplicate")));
    assert_eq!(
        transitions_to(&history(&app, &order).await, OrderStatus::Successful),
        1
    );
}

#[tokio::test]
async fn a_device_without_an_events_key_is_refused_with_401() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-nokey", "nokey-1").await;
    let before = snapshot(&app, &order).await;
    let body = event_body("nokey-1", "dispensed", app.clock.now());
    for signature in [Some(sign(b"", body.as_bytes())), None] {
        let (status, json) = answer(
            app.post_device_event("tm-nokey", &body, signature.as_deref())
                .await,
        )
        .await;
        assert_eq!(status, 401, "{json}");
        assert_eq!(json["error"], "no_events_key");
    }
    assert_eq!(snapshot(&app, &order).await, before);
}

#[tokio::test]
async fn a_report_for_an_unknown_device_or_order_is_404() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    make_pending_order(&app, "tm-1", "known-1").await;
    let now = app.clock.now();

    let body = event_body("known-1", "dispensed", now);
    let (status, json) = report(&app, "tm-ghost", "tm-1-key", &body).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (404, Some("unknown_device"))
    );

    let body = event_body("never-ordered", "dispensed", now);
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (404, Some("unknown_order"))
    );

    // Orders belong to their device: another device cannot decide this one.
    let body = event_body("known-1", "failed", now);
    let (status, json) = report(&app, "tm-assume", "tm-assume-key", &body).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (404, Some("unknown_order"))
    );
}

#[tokio::test]
async fn a_malformed_report_is_400_and_changes_nothing() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "malformed-1").await;
    let before = snapshot(&app, &order).await;
    let at = app.clock.now().to_rfc3339();
    let bodies = [
        "{not json".to_owned(),
        serde_json::json!({"order_uuid": "malformed-1", "result": "exploded", "at": at})
            .to_string(),
        serde_json::json!({"order_uuid": "malformed-1", "result": "dispensed", "at": "yesterday"})
            .to_string(),
        serde_json::json!({"order_uuid": "malformed-1", "result": "dispensed"}).to_string(),
        serde_json::json!({"order_uuid": "malformed-1", "result": "dispensed", "at": at, "extra": 1})
            .to_string(),
    ];
    for body in &bodies {
        let (status, json) = report(&app, "tm-1", "tm-1-key", body).await;
        assert_eq!(status, 400, "{body}: {json}");
        assert_eq!(json["error"], "malformed_event");
    }
    assert_eq!(snapshot(&app, &order).await, before);
}

#[tokio::test]
async fn with_fail_and_refund_a_missed_deadline_fails_the_order_and_returns_the_money() {
    let (app, tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "deadline-1").await;
    app.clock.advance(Duration::seconds(119));
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert_eq!(app.status(&order).await["status"], "make_pending");

    app.clock.advance(Duration::seconds(2));
    let json = app.wait_for_status(&order, "failed").await;
    assert_eq!(json["failure_reason"], "dispense_timed_out");
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("Деньги возвращены"),
        "{json}"
    );
    let failed = history(&app, &order)
        .await
        .into_iter()
        .find(|e| e.to == Some(OrderStatus::Failed))
        .unwrap();
    assert_eq!(failed.source, HistorySource::Worker);
    assert!(
        failed.message.contains("к сроку отчёта от автомата нет"),
        "{}",
        failed.message
    );
    assert_eq!(tmetr.make_requests(), 1);
}

#[tokio::test]
async fn a_result_arriving_after_the_deadline_decided_is_recorded_without_a_second_transition() {
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "late-1").await;
    app.clock.advance(Duration::seconds(121));
    app.wait_for_status(&order, "failed").await;
    app.wait_for_payment_status(&order, "refunded").await;
    let entries_before = history(&app, &order).await.len();

    app.clock.advance(Duration::seconds(30));
    let body = event_body("late-1", "dispensed", app.clock.now());
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["outcome"], "recorded (failed)");

    let json = app.status(&order).await;
    assert_eq!(json["status"], "failed");
    assert_eq!(json["failure_reason"], "dispense_timed_out");
    assert_eq!(json["payment_status"], "refunded");
    let history = history(&app, &order).await;
    assert_eq!(
        history.len(),
        entries_before + 1,
        "the late result is in the history"
    );
    assert_eq!(transitions_to(&history, OrderStatus::Failed), 1);
    assert_eq!(transitions_to(&history, OrderStatus::Successful), 0);
    let late = history.last().unwrap();
    assert_eq!(late.source, HistorySource::Machine);
    assert_eq!((late.from, late.to), (None, None));
    assert!(
        late.message.starts_with("автомат сообщил: напиток выдан")
            && late.message.contains("не учтено"),
        "{}",
        late.message
    );
}

#[tokio::test]
async fn with_assume_success_a_missed_deadline_makes_the_order_successful_and_the_history_says_so()
{
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-assume", "assume-1").await;
    app.clock.advance(Duration::seconds(121));
    let json = app.wait_for_status(&order, "successful").await;
    assert_eq!(json["payment_status"], "succeeded");
    let order_id = OrderId::parse(&order).unwrap();
    assert!(
        app.ctx
            .ports
            .orders
            .get(order_id)
            .await
            .unwrap()
            .unwrap()
            .dispense_assumed
    );
    let assumed = history(&app, &order)
        .await
        .into_iter()
        .find(|e| e.to == Some(OrderStatus::Successful))
        .unwrap();
    assert_eq!(assumed.source, HistorySource::Worker);
    assert!(
        assumed.message.contains("напиток считается выданным"),
        "{}",
        assumed.message
    );

    // The machine says otherwise, too late: recorded for the operator, nothing moves.
    app.clock.advance(Duration::seconds(30));
    let body = event_body("assume-1", "failed", app.clock.now());
    let (status, json) = report(&app, "tm-assume", "tm-assume-key", &body).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["outcome"], "recorded (successful)");
    let history = history(&app, &order).await;
    assert_eq!(transitions_to(&history, OrderStatus::Successful), 1);
    assert_eq!(transitions_to(&history, OrderStatus::Failed), 0);
    assert!(history
        .last()
        .unwrap()
        .message
        .starts_with("автомат сообщил: напиток не приготовлен"));
    let json = app.status(&order).await;
    assert_eq!(json["status"], "successful");
    assert_eq!(json["payment_status"], "succeeded");
}

#[tokio::test]
async fn a_tmetr_machine_without_an_events_key_is_not_refunded_at_its_deadline_by_default() {
    // tm-nokey declares no on_dispense_deadline: it cannot report, so silence is not failure.
    let (app, _tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-nokey", "nokey-deadline-1").await;
    app.clock.advance(Duration::seconds(181));
    let json = app.wait_for_status(&order, "successful").await;
    assert_eq!(json["payment_status"], "succeeded");
    assert_eq!(
        transitions_to(&history(&app, &order).await, OrderStatus::Failed),
        0
    );
}

/// Orders whose lookup by machine order id fails while `failing` is set: the database dropping
/// out after a report passed its checks, just as it is applied.
struct FlakyLookups {
    inner: Arc<MemoryStore>,
    failing: Arc<AtomicBool>,
}

#[async_trait]
impl OrderRepository for FlakyLookups {
    async fn insert_or_get(
        &self,
        order: Order,
        history: Vec<HistoryEntry>,
    ) -> Result<(Order, bool), RepositoryError> {
        self.inner.insert_or_get(order, history).await
    }
    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        self.inner.get(id).await
    }
    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(RepositoryError::Unavailable("database went away".into()));
        }
        self.inner
            .find_by_machine_order_id(device, machine_order_id)
            .await
    }
    async fn with_payment(
        &self,
        id: OrderId,
        payment: Option<coffee_domain::PaymentId>,
    ) -> Result<Option<(Order, Option<coffee_domain::Payment>)>, RepositoryError> {
        self.inner.with_payment(id, payment).await
    }
    async fn with_payment_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<(Order, Option<coffee_domain::Payment>)>, RepositoryError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(RepositoryError::Unavailable("database went away".into()));
        }
        self.inner
            .with_payment_by_machine_order_id(device, machine_order_id)
            .await
    }
    async fn with_payment_by_provider_id(
        &self,
        provider: coffee_domain::ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<(Order, coffee_domain::Payment)>, RepositoryError> {
        self.inner
            .with_payment_by_provider_id(provider, provider_payment_id)
            .await
    }
    async fn ids_by_machine_order_id(
        &self,
        machine_order_id: &MachineOrderId,
        limit: usize,
    ) -> Result<Vec<OrderId>, RepositoryError> {
        self.inner
            .ids_by_machine_order_id(machine_order_id, limit)
            .await
    }
    async fn apply(&self, change: OrderChange) -> Result<(), RepositoryError> {
        self.inner.apply(change).await
    }
    async fn record(&self, entries: Vec<HistoryEntry>) -> Result<(), RepositoryError> {
        self.inner.record(entries).await
    }
    async fn history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError> {
        self.inner.history(id).await
    }
    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, RepositoryError> {
        self.inner.due_for_expiry(now, limit).await
    }
    async fn count_needing_attention(&self) -> Result<u64, RepositoryError> {
        self.inner.count_needing_attention().await
    }
    async fn needing_attention(&self, limit: usize) -> Result<Vec<Order>, RepositoryError> {
        self.inner.needing_attention(limit).await
    }
    async fn ping(&self) -> Result<(), RepositoryError> {
        self.inner.ping().await
    }
}

/// Like `spawn_with_tmetr`, with the orders served through [`FlakyLookups`]; the switch
/// returned turns the failure on and off.
async fn spawn_with_flaky_lookups() -> (TestApp, FakeTmetr, Arc<AtomicBool>) {
    let tmetr = FakeTmetr::start().await;
    tmetr.set_default_price(15000);
    let failing = Arc::new(AtomicBool::new(false));
    let switch = failing.clone();
    let app = app(&tm_fleet())
        .vars(&tmetr_vars(&tmetr))
        .orders(move |store| {
            Arc::new(FlakyLookups {
                inner: store,
                failing: switch,
            })
        })
        .spawn()
        .await;
    (app, tmetr, failing)
}

#[tokio::test]
async fn a_report_that_met_a_storage_outage_is_503_and_its_retry_is_not_a_replay() {
    let (app, _tmetr, failing) = spawn_with_flaky_lookups().await;
    let order = make_pending_order(&app, "tm-1", "outage-1").await;
    let body = event_body("outage-1", "dispensed", app.clock.now());

    failing.store(true, Ordering::SeqCst);
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (503, Some("service_unavailable"))
    );
    assert_eq!(app.status(&order).await["status"], "make_pending");

    // The machine sends the very same report again once the database is back.
    failing.store(false, Ordering::SeqCst);
    let (status, json) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(
        status, 200,
        "the retry of an unapplied report was refused: {json}"
    );
    assert_eq!(json["outcome"], "successful");
    assert_eq!(app.status(&order).await["status"], "successful");
}
