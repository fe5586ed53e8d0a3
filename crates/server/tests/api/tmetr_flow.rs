//! Tmetr machines end to end: prices and the online check come from the (fake) Tmetr cloud,
//! the make command goes to it once, retried only while it is unavailable, and the money
//! comes back when no drink will be made.

use crate::devices::{event_body, report};
use crate::helpers::{app, qr, TestApp};
use chrono::Duration;
use coffee_domain::ports::{Clock, JobSummary};
use coffee_domain::{
    DeadlinePolicy, JobKind, JobState, MachineKind, OrderId, OrderStatus, ProviderKind,
};
use coffee_test_support::fakes::tmetr::{FakeTmetr, MakeRecord};
use coffee_test_support::fakes::yookassa::FakeYookassa;
use coffee_test_support::fixtures::{device, merchant};
use coffee_test_support::fleet_file::{fleet, FleetBuilder};

/// Tmetr machines: one with a report key and a 120 s deadline after which the money goes
/// back, one whose deadline assumes the drink was made, one without a key, a test device, and
/// one of a YooKassa merchant.
pub fn tm_fleet() -> FleetBuilder {
    let tmetr = |id, merchant| device(id, merchant).machine(MachineKind::Tmetr);
    fleet()
        .merchant(merchant("tm").name("Кофе Тметр"))
        .merchant(
            merchant("tm-yk")
                .name("Кофе Тметр ЮKassa")
                .yookassa("shop-tm", "test_secret", 1),
        )
        .device(
            tmetr("tm-1", "tm")
                .location("Вокзал")
                .events_secret("tm-1-key")
                .dispense_deadline_seconds(120)
                .on_dispense_deadline(DeadlinePolicy::FailAndRefund),
        )
        .device(
            tmetr("tm-assume", "tm")
                .events_secret("tm-assume-key")
                .dispense_deadline_seconds(120)
                .on_dispense_deadline(DeadlinePolicy::AssumeSuccess),
        )
        .device(tmetr("tm-nokey", "tm"))
        .device(tmetr("tm-test", "tm").test_device())
        .device(
            tmetr("tm-yk", "tm-yk")
                .provider(ProviderKind::Yookassa)
                .events_secret("tm-yk-key"),
        )
}

/// The configuration that points the application at `tmetr`.
pub fn tmetr_vars(tmetr: &FakeTmetr) -> [(&'static str, String); 2] {
    [
        ("TMETR_HOST", tmetr.base_url()),
        ("TMETR_TOKEN", "test-token".to_owned()),
    ]
}

/// The application with [`tm_fleet`] talking to a fresh fake Tmetr (every drink 150,00 ₽
/// unless priced otherwise).
pub async fn spawn_with_tmetr() -> (TestApp, FakeTmetr) {
    spawn_with_tmetr_and(&[]).await
}

pub async fn spawn_with_tmetr_and(extra: &[(&str, String)]) -> (TestApp, FakeTmetr) {
    let tmetr = FakeTmetr::start().await;
    tmetr.set_default_price(15000);
    let app = app(&tm_fleet())
        .vars(&tmetr_vars(&tmetr))
        .vars(extra)
        .spawn()
        .await;
    (app, tmetr)
}

/// Scans drink 1 (medium) on `device` and pays in the sandbox; returns the order id.
pub async fn pay_in_sandbox(app: &TestApp, device: &str, uuid: &str) -> String {
    let order = app.scan(device, "1", "1", uuid).await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    let back = app
        .pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    assert_eq!(back.status().as_u16(), 303);
    order
}

/// An order on `device` that is paid and whose make command Tmetr accepted.
pub async fn make_pending_order(app: &TestApp, device: &str, uuid: &str) -> String {
    let order = pay_in_sandbox(app, device, uuid).await;
    app.wait_for_status(&order, "make_pending").await;
    order
}

/// The order's make-command job once `ready` holds for it (at most 5 s).
async fn wait_for_make_job(
    app: &TestApp,
    order: &str,
    ready: impl Fn(&JobSummary) -> bool,
) -> JobSummary {
    let order_id = OrderId::parse(order).unwrap();
    let mut last = None;
    for _ in 0..250 {
        let jobs = app.ctx.ports.jobs.jobs_of(order_id).await.unwrap();
        last = jobs
            .into_iter()
            .find(|j| j.kind == JobKind::SendMakeCommand);
        if let Some(job) = last.as_ref().filter(|j| ready(j)) {
            return job.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("make job of {order} never got there: {last:?}");
}

async fn quiet_moment() {
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
}

#[tokio::test]
async fn a_tmetr_drink_paid_in_the_sandbox_is_made_once_and_a_signed_dispensed_report_completes_it()
{
    let (app, tmetr) = spawn_with_tmetr().await;
    let order = make_pending_order(&app, "tm-1", "flow-1").await;
    assert_eq!(
        tmetr.accepted(),
        vec![MakeRecord {
            device_id: "tm-1".into(),
            order_uuid: "flow-1".into(),
            drink_uuid: "1".into(),
            size: "medium".into(),
            price: 15000,
        }]
    );

    let body = event_body("flow-1", "dispensed", app.clock.now());
    let (status, answer) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "successful");

    let json = app.status(&order).await;
    assert_eq!(json["status"], "successful");
    assert_eq!(json["payment_status"], "succeeded");
    assert_eq!(json["message"], "Готово! Заберите напиток.");
    quiet_moment().await;
    assert_eq!(tmetr.make_requests(), 1);
    assert_eq!(tmetr.accepted_for("flow-1"), 1);
}

#[tokio::test]
async fn a_tmetr_drink_paid_through_yookassa_is_made_once_and_a_signed_dispensed_report_completes_it(
) {
    let yookassa = FakeYookassa::start().await;
    let (app, tmetr) = spawn_with_tmetr_and(&[
        ("YOOKASSA_API_URL", yookassa.api_url()),
        ("YOOKASSA_TRUSTED_IPS", "127.0.0.1/32".to_owned()),
    ])
    .await;
    yookassa.send_webhooks_to(format!("{}/v1/yook-pay-webhook", app.address));
    tmetr.set_price("tm-yk", "1", "MEDIUM", 17000);

    let order = app.scan("tm-yk", "1", "1", "yk-flow-1").await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("anna@example.com"))
        .await
        .json()
        .await
        .unwrap();
    let payment_id = redirect["redirect_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(yookassa.requests()[0].body["amount"]["value"], "170.00");
    yookassa.pay(&payment_id);
    let webhook = app
        .client
        .post(format!("{}/v1/yook-pay-webhook", app.address))
        .body(yookassa.notification("payment.succeeded", &payment_id))
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status().as_u16(), 200);
    app.wait_for_status(&order, "make_pending").await;
    assert_eq!(tmetr.accepted_for("yk-flow-1"), 1);
    assert_eq!(tmetr.accepted()[0].price, 17000);

    let body = event_body("yk-flow-1", "dispensed", app.clock.now());
    let (status, answer) = report(&app, "tm-yk", "tm-yk-key", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "successful");
    let json = app.status(&order).await;
    assert_eq!(json["status"], "successful");
    assert_eq!(json["payment_status"], "succeeded");
    quiet_moment().await;
    assert_eq!(tmetr.make_requests(), 1);
}

#[tokio::test]
async fn tmetr_devices_are_priced_by_tmetr_and_the_price_in_the_qr_is_ignored() {
    let (app, tmetr) = spawn_with_tmetr().await;
    tmetr.set_price("tm-1", "3", "BIG", 23000);
    let response = app
        .get("/v1/pay?deviceUuid=tm-1&drinkNo=3&size=2&uuid=price-1&drinkName=Raf&price=1")
        .await;
    assert_eq!(response.status().as_u16(), 302);
    let order = response.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let json = app.status(&order).await;
    assert_eq!(json["price"], 23000);
    assert_eq!(json["size"], "big");
    // The QR's text is never shown: without a catalogue entry the drink is «Напиток».
    assert_eq!(json["drink_name"], "Напиток");

    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "make_pending").await;
    let made = tmetr.accepted();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].price, 23000);
    assert_eq!(made[0].size, "big");
    assert_eq!(made[0].drink_uuid, "3");
}

#[tokio::test]
async fn a_tmetr_drink_without_a_price_is_a_503_page_and_no_order() {
    let tmetr = FakeTmetr::start().await; // no default price
    let app = app(&tm_fleet()).vars(&tmetr_vars(&tmetr)).spawn().await;
    let response = app.get(&qr("tm-1", "1", "1", "no-price-1")).await;
    assert_eq!(response.status().as_u16(), 503);
    let page = response.text().await.unwrap();
    assert!(page.contains("Не удалось узнать цену напитка"), "{page}");
    assert!(app.store.all_orders().is_empty());

    tmetr.set_price("tm-1", "1", "MEDIUM", 0);
    let response = app.get(&qr("tm-1", "1", "1", "zero-price-1")).await;
    assert_eq!(response.status().as_u16(), 503, "a zero price is no price");
    assert!(app.store.all_orders().is_empty());
}

#[tokio::test]
async fn a_machine_offline_at_tmetr_is_a_503_page_but_test_devices_skip_the_check() {
    let (app, tmetr) = spawn_with_tmetr().await;
    tmetr.set_offline("tm-1", true);
    let response = app.get(&qr("tm-1", "1", "1", "offline-1")).await;
    assert_eq!(response.status().as_u16(), 503);
    let page = response.text().await.unwrap();
    assert!(page.contains("Автомат не в сети"), "{page}");
    assert!(app.store.all_orders().is_empty());

    tmetr.set_offline("tm-test", true);
    app.scan("tm-test", "1", "1", "test-device-1").await;

    tmetr.set_offline("tm-1", false);
    app.scan("tm-1", "1", "1", "online-again-1").await;
}

#[tokio::test]
async fn a_make_command_refused_once_with_503_is_retried_and_tmetr_gets_exactly_one_command() {
    let (app, tmetr) = spawn_with_tmetr().await;
    tmetr.fail_next_make(503);
    let order = pay_in_sandbox(&app, "tm-1", "retry-once-1").await;
    let job = wait_for_make_job(&app, &order, |j| {
        j.state == JobState::Queued && j.attempts == 1
    })
    .await;
    assert_eq!(job.run_at, app.clock.now() + Duration::seconds(2));
    assert_eq!(app.status(&order).await["status"], "paid");

    app.clock.advance(Duration::seconds(2));
    app.wait_for_status(&order, "make_pending").await;
    assert_eq!(tmetr.make_requests(), 2);
    assert_eq!(tmetr.accepted_for("retry-once-1"), 1);
    assert_eq!(tmetr.accepted().len(), 1);

    let body = event_body("retry-once-1", "dispensed", app.clock.now());
    let (status, answer) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(status, 200, "{answer}");
    app.wait_for_status(&order, "successful").await;
    quiet_moment().await;
    assert_eq!(tmetr.make_requests(), 2);
}

#[tokio::test]
async fn a_machine_unreachable_after_the_last_retry_fails_the_order_and_returns_the_money() {
    let (app, tmetr) = spawn_with_tmetr().await;
    for _ in 0..6 {
        tmetr.fail_next_make(503);
    }
    let order = pay_in_sandbox(&app, "tm-1", "unreachable-1").await;
    // Attempts 1–5 fail and are retried after 2, 4, 8, 16 and 32 seconds — not earlier.
    for attempt in 1..=5_u32 {
        let job = wait_for_make_job(&app, &order, |j| {
            j.state == JobState::Queued && j.attempts == attempt
        })
        .await;
        let backoff = 2_i64 << (attempt - 1);
        assert_eq!(
            job.run_at,
            app.clock.now() + Duration::seconds(backoff),
            "backoff after attempt {attempt}"
        );
        assert_eq!(tmetr.make_requests(), attempt as usize);
        assert_eq!(app.status(&order).await["status"], "paid");
        app.clock.advance(Duration::seconds(backoff - 1));
        quiet_moment().await;
        assert_eq!(
            tmetr.make_requests(),
            attempt as usize,
            "retried before the backoff elapsed"
        );
        app.clock.advance(Duration::seconds(1));
    }
    let json = app.wait_for_status(&order, "failed").await;
    assert_eq!(json["failure_reason"], "machine_unreachable");
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("Деньги возвращены"),
        "{json}"
    );
    let job = wait_for_make_job(&app, &order, |j| j.state == JobState::Done).await;
    assert_eq!(job.attempts, 6);

    let history = app
        .ctx
        .ports
        .orders
        .history(OrderId::parse(&order).unwrap())
        .await
        .unwrap();
    let failed = history
        .iter()
        .find(|e| e.to == Some(OrderStatus::Failed))
        .expect("a transition to failed");
    assert!(failed.message.contains("попыток: 6"), "{}", failed.message);

    // No seventh attempt, however long we wait: the next one would have been accepted.
    app.clock.advance(Duration::minutes(10));
    quiet_moment().await;
    assert_eq!(tmetr.make_requests(), 6);
    assert!(tmetr.accepted().is_empty());
    assert!(app.sandbox.calls().iter().any(|c| c.starts_with("refund")));
}

#[tokio::test]
async fn a_make_command_refused_with_a_4xx_fails_the_order_and_refunds_without_retrying() {
    let (app, tmetr) = spawn_with_tmetr().await;
    tmetr.fail_next_make(400);
    let order = pay_in_sandbox(&app, "tm-1", "rejected-1").await;
    let json = app.wait_for_status(&order, "failed").await;
    assert_eq!(json["failure_reason"], "machine_unreachable");
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("Деньги возвращены"),
        "{json}"
    );
    let job = wait_for_make_job(&app, &order, |j| j.state == JobState::Done).await;
    assert_eq!(job.attempts, 1);

    app.clock.advance(Duration::minutes(10));
    quiet_moment().await;
    assert_eq!(tmetr.make_requests(), 1, "a 4xx is not retried");
    assert!(tmetr.accepted().is_empty());
}

#[tokio::test]
async fn a_504_after_tmetr_took_the_command_is_not_resent_and_a_report_decides() {
    let (app, tmetr) = spawn_with_tmetr().await;
    tmetr.accept_next_make_then_answer(504);
    let order = pay_in_sandbox(&app, "tm-1", "gateway-timeout-1").await;
    let json = app.wait_for_status(&order, "make_pending").await;
    assert_eq!(json["status"], "make_pending");
    app.clock.advance(Duration::minutes(1));
    quiet_moment().await;
    assert_eq!(
        tmetr.make_requests(),
        1,
        "an unknown outcome is never resent"
    );
    assert_eq!(tmetr.accepted_for("gateway-timeout-1"), 1);

    let body = event_body("gateway-timeout-1", "dispensed", app.clock.now());
    let (status, answer) = report(&app, "tm-1", "tm-1-key", &body).await;
    assert_eq!(status, 200, "{answer}");
    app.wait_for_status(&order, "successful").await;
    assert_eq!(tmetr.make_requests(), 1);
}

#[tokio::test]
async fn an_unknown_make_outcome_without_a_report_is_refunded_at_the_deadline_and_flagged() {
    let (app, tmetr) = spawn_with_tmetr().await;
    tmetr.accept_next_make_then_answer(502);
    let order = pay_in_sandbox(&app, "tm-1", "gateway-timeout-2").await;
    app.wait_for_status(&order, "make_pending").await;
    app.clock.advance(Duration::seconds(181));
    app.wait_for_status(&order, "failed").await;
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert_eq!(json["failure_reason"], "dispense_timed_out");
    assert_eq!(tmetr.make_requests(), 1);
    let flagged = app.ctx.ports.orders.needing_attention(10).await.unwrap();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].id.to_string(), order);
    assert_eq!(
        flagged[0].attention,
        Some(coffee_domain::Attention::MakeOutcomeUnknown)
    );
}
