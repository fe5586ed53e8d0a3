//! T-Bank end to end against the stateful local fake of MAPI: signed notifications answered
//! `OK`, forged or foreign ones refused, one drink per payment, Confirm/Cancel/refunds after
//! the machine's report, and polling when a notification is lost.

use crate::helpers::{app, TestApp};
use coffee_domain::{CaptureMode, ProviderKind, SimulatedOutcome};
use coffee_test_support::fakes::tbank::FakeTbank;
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::{fleet, FleetBuilder};
use serde_json::{json, Map, Value};
use std::time::Duration;

const TERMINAL: &str = "CoffeeTerminalDEMO";
const PASSWORD: &str = "tb-password";
const HOLD_TERMINAL: &str = "HoldTerminalDEMO";
const HOLD_PASSWORD: &str = "hold-password";

/// T-Bank merchants — one charged at once, one holding the money until the drink is out —
/// each with a machine that brews and one that fails.
fn tb_fleet() -> FleetBuilder {
    let tbank = |id, merchant| {
        device(id, merchant)
            .provider(ProviderKind::Tbank)
            .simulated_delay_ms(20)
    };
    fleet()
        .merchant(merchant("tb").name("Кофе Т-Банк").tbank(TERMINAL, PASSWORD))
        .merchant(
            merchant("tb-hold")
                .name("Кофе с удержанием")
                .capture(CaptureMode::AfterDispense)
                .tbank(HOLD_TERMINAL, HOLD_PASSWORD),
        )
        .device(tbank("tb-1", "tb"))
        .device(tbank("tb-broken", "tb").simulated_outcome(SimulatedOutcome::Failed))
        .device(tbank("tb-hold", "tb-hold"))
        .device(tbank("tb-hold-broken", "tb-hold").simulated_outcome(SimulatedOutcome::Failed))
        .drink(drink("tb-1", "1").name("Капучино").medium(15000))
        .drink(drink("tb-broken", "1").name("Латте").medium(16000))
        .drink(drink("tb-hold", "1").name("Флэт уайт").medium(17000))
        .drink(drink("tb-hold-broken", "1").name("Раф").medium(18000))
}

async fn spawn_with_tbank() -> (TestApp, FakeTbank) {
    let fake = FakeTbank::start(&[(TERMINAL, PASSWORD), (HOLD_TERMINAL, HOLD_PASSWORD)]).await;
    let app = app(&tb_fleet())
        .var("TBANK_API_URL", fake.api_url())
        .spawn()
        .await;
    (app, fake)
}

/// Scans `device`'s drink 1 and presses «Оплатить»; returns the order id and T-Bank's
/// `PaymentId`.
async fn start_payment(app: &TestApp, device: &str, uuid: &str) -> (String, String) {
    let order = app.scan(device, "1", "1", uuid).await;
    let response = app
        .post_json("/v1/initiate-payment", json!({ "order_id": order }))
        .await;
    assert_eq!(response.status().as_u16(), 200, "initiate {device}/{uuid}");
    let redirect: Value = response.json().await.unwrap();
    let url = redirect["redirect_url"].as_str().unwrap();
    let payment_id = url.rsplit('/').next().unwrap().to_owned();
    (order, payment_id)
}

/// POSTs a notification as T-Bank would; returns the HTTP status and body.
async fn deliver(app: &TestApp, body: Vec<u8>) -> (u16, String) {
    let response = app
        .client
        .post(format!("{}/v1/tbank-pay-webhook", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn unchanged(_: &mut Map<String, Value>) {}

#[tokio::test]
async fn a_signed_notification_of_a_confirmed_payment_brews_one_drink_and_is_answered_ok() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-happy").await;
    let init = &fake.calls_of("Init")[0];
    assert!(init.signed);
    assert_eq!(init.body["Amount"], 15000);
    assert_eq!(init.body["PayType"], "O");
    assert_eq!(init.body["Description"], "Оплата напитка: Капучино");
    assert_eq!(init.body["DATA"]["order_id"], order.as_str());
    assert!(init.body["NotificationURL"]
        .as_str()
        .unwrap()
        .ends_with("/v1/tbank-pay-webhook"));

    fake.pay(&payment_id);
    let (status, body) = deliver(&app, fake.notification(&payment_id, unchanged)).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    let json = app.wait_for_status(&order, "successful").await;
    assert_eq!(json["payment_status"], "succeeded");
    assert_eq!(app.machine.accepted().len(), 1);
    assert!(
        fake.calls().iter().all(|call| call.signed),
        "every request signed"
    );
}

#[tokio::test]
async fn a_notification_with_a_forged_token_is_refused_and_brews_nothing() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-forged").await;
    fake.pay(&payment_id);
    let forged = fake.notification(&payment_id, |params| {
        params.insert("Amount".into(), json!(1));
    });
    let mut tampered: Map<String, Value> = serde_json::from_slice(&forged).unwrap();
    tampered.insert("Amount".into(), json!(15000));
    let (status, body) = deliver(&app, serde_json::to_vec(&tampered).unwrap()).await;
    assert_eq!(status, 403);
    assert_ne!(body, "OK");
    let mut unsigned = tampered;
    unsigned.remove("Token");
    assert_eq!(
        deliver(&app, serde_json::to_vec(&unsigned).unwrap())
            .await
            .0,
        403
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status(&order).await["status"], "pending");
    assert!(app.machine.accepted().is_empty());
    assert!(fake.calls_of("GetState").is_empty(), "nothing fetched");
}

#[tokio::test]
async fn a_notification_from_an_unknown_terminal_is_refused_and_brews_nothing() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-stranger").await;
    fake.pay(&payment_id);
    let foreign = fake.notification(&payment_id, |params| {
        params.insert("TerminalKey".into(), json!("StrangerDEMO"));
    });
    let (status, body) = deliver(&app, foreign).await;
    assert_eq!(status, 403);
    assert_ne!(body, "OK");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status(&order).await["status"], "pending");
    assert!(app.machine.accepted().is_empty());
}

#[tokio::test]
async fn a_payment_whose_amount_differs_from_ours_brews_nothing_but_is_answered_ok() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-amount").await;
    fake.pay(&payment_id);
    fake.set_amount(&payment_id, 100);
    let (status, body) = deliver(&app, fake.notification(&payment_id, unchanged)).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status(&order).await["status"], "pending");
    assert!(app.machine.accepted().is_empty());
}

#[tokio::test]
async fn twenty_concurrent_identical_notifications_make_one_drink() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-storm").await;
    fake.pay(&payment_id);
    let body = fake.notification(&payment_id, unchanged);
    let url = format!("{}/v1/tbank-pay-webhook", app.address);
    let deliveries: Vec<_> = (0..20)
        .map(|_| {
            let (client, url, body) = (app.client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let response = client.post(url).body(body).send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            })
        })
        .collect();
    for delivery in deliveries {
        let (status, text) = delivery.await.unwrap();
        assert_eq!((status, text.as_str()), (200, "OK"));
    }
    app.wait_for_status(&order, "successful").await;
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn an_authorized_payment_is_confirmed_once_after_the_drink_is_dispensed() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-hold", "tb-hold-ok").await;
    assert_eq!(fake.calls_of("Init")[0].body["PayType"], "T");
    fake.pay(&payment_id);
    assert_eq!(fake.payment(&payment_id).unwrap().status, "AUTHORIZED");
    let (status, _) = deliver(&app, fake.notification(&payment_id, unchanged)).await;
    assert_eq!(status, 200);
    app.wait_for_status(&order, "successful").await;
    app.wait_for_payment_status(&order, "succeeded").await;
    let confirms = fake.calls_of("Confirm");
    assert_eq!(confirms.len(), 1, "{confirms:?}");
    assert_eq!(confirms[0].body["Amount"], 17000);
    assert_eq!(fake.payment(&payment_id).unwrap().status, "CONFIRMED");
    assert!(fake.calls_of("Cancel").is_empty());
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn an_authorized_payment_is_released_by_one_cancel_when_the_drink_fails() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-hold-broken", "tb-hold-fail").await;
    fake.pay(&payment_id);
    deliver(&app, fake.notification(&payment_id, unchanged)).await;
    app.wait_for_status(&order, "failed").await;
    let json = app.wait_for_payment_status(&order, "canceled").await;
    assert_eq!(json["failure_reason"], "dispense_failed");
    let cancels = fake.calls_of("Cancel");
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert!(
        cancels[0].body.get("Amount").is_none(),
        "a release, not a refund"
    );
    assert_eq!(fake.payment(&payment_id).unwrap().status, "REVERSED");
    assert!(fake.calls_of("Confirm").is_empty(), "nothing charged");
}

#[tokio::test]
async fn a_confirmed_payment_is_refunded_by_one_cancel_with_the_amount_when_the_drink_fails() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-broken", "tb-refund").await;
    fake.pay(&payment_id);
    deliver(&app, fake.notification(&payment_id, unchanged)).await;
    app.wait_for_status(&order, "failed").await;
    app.wait_for_payment_status(&order, "refunded").await;
    let cancels = fake.calls_of("Cancel");
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0].body["Amount"], 16000);
    assert_eq!(fake.payment(&payment_id).unwrap().status, "REFUNDED");
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_paid_order_whose_notification_is_lost_is_found_by_polling_get_state() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-poll").await;
    fake.pay(&payment_id);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status(&order).await["status"], "pending");
    app.clock.advance(chrono::Duration::seconds(6));
    app.wait_for_status(&order, "successful").await;
    assert!(
        !fake.calls_of("GetState").is_empty(),
        "the poller asked T-Bank"
    );
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn paying_on_the_checkout_page_sends_a_signed_notification_that_brews_the_drink() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-page").await;
    let page = app
        .client
        .get(format!("{}/checkout/{payment_id}", fake.uri()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Оплатить") && page.contains("Отказ"),
        "{page}"
    );
    let pressed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/checkout/{payment_id}/pay", fake.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status().as_u16(), 303);
    app.wait_for_status(&order, "successful").await;
    assert_eq!(app.machine.accepted().len(), 1);
}
