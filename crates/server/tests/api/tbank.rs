//! T-Bank end to end against the stateful local fake of MAPI: signed notifications answered
//! `OK`, forged or foreign ones refused, one drink per payment, Confirm/Cancel/refunds after
//! the machine's report, and polling when a notification is lost.

use crate::helpers::{app, TestApp};
use coffee_domain::services::expiry::Expiry;
use coffee_domain::{
    Attention, CaptureMode, HistoryEntry, OrderId, ProviderKind, SimulatedOutcome,
};
use coffee_test_support::fakes::tbank::FakeTbank;
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::{fleet, FleetBuilder};
use serde_json::{json, Map, Value};
use std::time::Duration;

const TERMINAL: &str = "CoffeeTerminalDEMO";
const PASSWORD: &str = "tb-password";
const HOLD_TERMINAL: &str = "HoldTerminalDEMO";
const HOLD_PASSWORD: &str = "hold-password";

/// T-Bank merchants — one charged at once, one holding the money until the drink is out (and
/// taking SBP too) — each with a machine that brews and one that fails.
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
                .tbank(HOLD_TERMINAL, HOLD_PASSWORD)
                .tbank_sbp(),
        )
        .device(tbank("tb-1", "tb"))
        .device(tbank("tb-broken", "tb").simulated_outcome(SimulatedOutcome::Failed))
        .device(tbank("tb-hold", "tb-hold"))
        .device(tbank("tb-hold-broken", "tb-hold").simulated_outcome(SimulatedOutcome::Failed))
        .drink(drink("tb-1", "1").name("Капучино").medium(15000))
        .drink(drink("tb-broken", "1").name("Латте").medium(16000))
        .drink(drink("tb-hold", "1").name("Флэт уайт").medium(17000))
        .drink(drink("tb-hold", "2").name("Ристретто").medium(900))
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

/// The order as stored, for what the customer does not see (operator flags).
async fn stored(app: &TestApp, order: &str) -> coffee_domain::Order {
    app.ctx
        .ports
        .orders
        .get(OrderId::parse(order).unwrap())
        .await
        .unwrap()
        .unwrap()
}

async fn history(app: &TestApp, order: &str) -> Vec<HistoryEntry> {
    app.ctx
        .ports
        .orders
        .history(OrderId::parse(order).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_notification_stating_another_amount_brews_nothing_is_answered_ok_and_flags_the_order(
) {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-claimed-amount").await;
    fake.pay(&payment_id);
    let other_amount = fake.notification(&payment_id, |params| {
        params.insert("Amount".into(), json!(100));
    });
    let (status, body) = deliver(&app, other_amount).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status(&order).await["status"], "pending");
    assert!(app.machine.accepted().is_empty());
    assert_eq!(
        stored(&app, &order).await.attention,
        Some(Attention::ProviderMismatch)
    );
    assert!(
        fake.calls_of("GetState").is_empty(),
        "nothing fetched for it"
    );
}

#[tokio::test]
async fn a_signed_fiscal_receipt_notification_is_kept_in_the_order_history_and_answered_ok() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-receipt").await;
    fake.pay(&payment_id);
    deliver(&app, fake.notification(&payment_id, unchanged)).await;
    app.wait_for_status(&order, "successful").await;
    let receipt = fake.notification(&payment_id, |params| {
        params.insert("Status".into(), json!("RECEIPT"));
        params.insert("FiscalDocumentNumber".into(), json!(4321));
        params.insert("Url".into(), json!("https://ofd.example/receipt/4321"));
    });
    let (status, body) = deliver(&app, receipt).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    let kept = history(&app, &order).await;
    let line = kept
        .iter()
        .find(|entry| entry.message.contains("чек"))
        .unwrap_or_else(|| panic!("no receipt line in {kept:?}"));
    assert!(line.message.contains("4321"), "{}", line.message);
    assert_eq!(line.to, None, "a receipt moves nothing");
    assert_eq!(app.status(&order).await["status"], "successful");
    assert_eq!(app.machine.accepted().len(), 1);

    let other_kind = fake.notification(&payment_id, |params| {
        params.insert("NotificationType".into(), json!("LINKCARD"));
    });
    let (status, body) = deliver(&app, other_kind).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert!(history(&app, &order)
        .await
        .iter()
        .any(|entry| entry.message.contains("LINKCARD")));
}

#[tokio::test]
async fn with_tbank_trusted_ips_a_signed_notification_is_believed_only_from_a_listed_sender() {
    let fake = FakeTbank::start(&[(TERMINAL, PASSWORD), (HOLD_TERMINAL, HOLD_PASSWORD)]).await;
    let app = app(&tb_fleet())
        .var("TBANK_API_URL", fake.api_url())
        .var("TBANK_TRUSTED_IPS", "91.194.226.0/23")
        .var("TRUSTED_PROXIES", "127.0.0.1/32")
        .spawn()
        .await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-trusted-ips").await;
    fake.pay(&payment_id);
    let body = fake.notification(&payment_id, unchanged);
    let send = |forwarded: &'static str| {
        app.client
            .post(format!("{}/v1/tbank-pay-webhook", app.address))
            .header("content-type", "application/json")
            .header("x-forwarded-for", forwarded)
            .body(body.clone())
            .send()
    };
    // Signed, but from outside the list (the proxy says who the sender is): refused.
    let outside = send("203.0.113.9").await.unwrap();
    assert_eq!(outside.status().as_u16(), 403);
    assert_ne!(outside.text().await.unwrap(), "OK");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status(&order).await["status"], "pending");
    assert!(fake.calls_of("GetState").is_empty(), "nothing fetched");

    let listed = send("91.194.227.10").await.unwrap();
    assert_eq!(listed.status().as_u16(), 200);
    assert_eq!(listed.text().await.unwrap(), "OK");
    app.wait_for_status(&order, "successful").await;
    assert_eq!(app.machine.accepted().len(), 1);
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

async fn order_page(app: &TestApp, order: &str) -> String {
    app.get(&format!("/v1/order-status-page?order_id={order}"))
        .await
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_sbp_payment_shows_its_qr_code_on_the_order_page_and_brews_once_paid() {
    let (app, fake) = spawn_with_tbank().await;
    let order = app.scan("tb-hold", "1", "1", "tb-sbp").await;
    let before = order_page(&app, &order).await;
    assert!(before.contains("Оплатить через СБП"), "{before}");
    assert!(before.contains(r#"name="method" value="sbp""#));

    let response = app
        .post_json(
            "/v1/initiate-payment",
            json!({ "order_id": order, "method": "sbp" }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["method"], "sbp");
    assert!(answer["redirect_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v1/order-status-page?order_id={order}")));
    let payload = answer["sbp_payload"].as_str().unwrap().to_owned();
    assert!(payload.starts_with("https://qr.nspk.ru/"), "{payload}");

    // SBP has no holds: one-stage even for a merchant that holds card payments.
    let init = &fake.calls_of("Init")[0];
    assert_eq!(init.body["PayType"], "O");
    let get_qr = fake.calls_of("GetQr");
    assert_eq!(get_qr.len(), 1);
    assert_eq!(get_qr[0].body["DataType"], "PAYLOAD");
    assert!(get_qr[0].signed);

    let page = order_page(&app, &order).await;
    assert!(page.contains("<svg"), "the QR code is drawn on the page");
    assert!(!page.contains("<?xml"));
    assert!(page.contains("Открыть в приложении банка"));
    let link = format!(r#"id="sbp-open" href="{payload}""#);
    let unescaped = page.replace("&#x2F;", "/").replace("&amp;", "&");
    assert!(unescaped.contains(&link), "{page}");
    assert!(!page.contains("Перейти к оплате"));
    let status = app.status(&order).await;
    assert_eq!(status["payment_method"], "sbp");
    assert_eq!(status["payment_url"], payload.as_str());

    // A second press shows the same QR: still one payment.
    let again: Value = app
        .post_json(
            "/v1/initiate-payment",
            json!({ "order_id": order, "method": "sbp" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["sbp_payload"], payload.as_str());
    assert_eq!(fake.calls_of("Init").len(), 1);

    let payment_id = get_qr[0].body["PaymentId"]
        .to_string()
        .trim_matches('"')
        .to_owned();
    fake.pay(&payment_id);
    assert_eq!(fake.payment(&payment_id).unwrap().status, "CONFIRMED");
    let (status, body) = deliver(&app, fake.notification(&payment_id, unchanged)).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    app.wait_for_status(&order, "successful").await;
    app.wait_for_payment_status(&order, "succeeded").await;
    assert_eq!(app.machine.accepted().len(), 1);
    assert!(
        fake.calls_of("Confirm").is_empty(),
        "nothing held, nothing to confirm"
    );
}

#[tokio::test]
async fn the_sbp_button_works_without_javascript_and_leads_back_to_the_qr_code() {
    let (app, fake) = spawn_with_tbank().await;
    let order = app.scan("tb-hold", "1", "1", "tb-sbp-form").await;
    let pressed = app
        .client
        .post(format!("{}/v1/initiate-payment", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("order_id={order}&contact=&method=sbp"))
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status().as_u16(), 303);
    assert_eq!(
        pressed.headers()["location"].to_str().unwrap(),
        format!("/v1/order-status-page?order_id={order}")
    );
    assert_eq!(fake.calls_of("GetQr").len(), 1);
    assert!(order_page(&app, &order).await.contains("<svg"));
}

#[tokio::test]
async fn an_sbp_payment_whose_drink_fails_is_refunded_not_released() {
    let (app, fake) = spawn_with_tbank().await;
    let order = app.scan("tb-hold-broken", "1", "1", "tb-sbp-fail").await;
    let response = app
        .post_json(
            "/v1/initiate-payment",
            json!({ "order_id": order, "method": "sbp" }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let payment_id = fake.calls_of("GetQr")[0].body["PaymentId"]
        .to_string()
        .trim_matches('"')
        .to_owned();
    fake.pay(&payment_id);
    deliver(&app, fake.notification(&payment_id, unchanged)).await;
    app.wait_for_status(&order, "failed").await;
    app.wait_for_payment_status(&order, "refunded").await;
    let cancels = fake.calls_of("Cancel");
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(
        cancels[0].body["Amount"], 18000,
        "a refund of the whole amount"
    );
}

#[tokio::test]
async fn sbp_is_refused_for_a_merchant_without_it_and_its_page_offers_only_the_card() {
    let (app, fake) = spawn_with_tbank().await;
    let order = app.scan("tb-1", "1", "1", "tb-no-sbp").await;
    let page = order_page(&app, &order).await;
    assert!(!page.contains("Оплатить через СБП"));
    let response = app
        .post_json(
            "/v1/initiate-payment",
            json!({ "order_id": order, "method": "sbp" }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_unavailable");
    assert!(body["message"].as_str().unwrap().contains("способ оплаты"));
    assert!(fake.calls_of("Init").is_empty(), "nothing sent to T-Bank");
    assert_eq!(app.status(&order).await["status"], "created");

    let unknown = app
        .post_json(
            "/v1/initiate-payment",
            json!({ "order_id": order, "method": "cash" }),
        )
        .await;
    assert_eq!(unknown.status().as_u16(), 400);
}

#[tokio::test]
async fn a_payment_confirmed_after_its_order_expired_brews_nothing_and_is_refunded() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-late").await;
    app.clock.advance(chrono::Duration::minutes(16));
    Expiry::new(app.ctx.clone()).expire_due(100).await.unwrap();
    let json = app.wait_for_status(&order, "not_paid").await;
    assert_eq!(json["failure_reason"], "expired");

    fake.pay(&payment_id);
    let (status, body) = deliver(&app, fake.notification(&payment_id, unchanged)).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert_eq!(json["status"], "not_paid");
    assert_eq!(json["failure_reason"], "paid_after_expiry");
    let cancels = fake.calls_of("Cancel");
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(
        cancels[0].body["Amount"], 15000,
        "a refund of the whole amount"
    );
    assert_eq!(fake.payment(&payment_id).unwrap().status, "REFUNDED");
    assert!(app.machine.accepted().is_empty());
}

#[tokio::test]
async fn the_receipt_sent_with_init_carries_the_customer_contact_and_the_merchant_tax_settings() {
    let (app, fake) = spawn_with_tbank().await;
    let order = app.scan("tb-1", "1", "1", "tb-receipt-fields").await;
    let response = app.initiate(&order, Some("anna@example.com")).await;
    assert_eq!(response.status().as_u16(), 200);
    let init = &fake.calls_of("Init")[0];
    assert!(init.signed);
    assert_eq!(
        init.body["Receipt"],
        json!({
            "Email": "anna@example.com", "Taxation": "usn_income",
            "Items": [{"Name": "Капучино", "Price": 15000, "Quantity": 1, "Amount": 15000,
                       "Tax": "none", "PaymentMethod": "full_payment", "PaymentObject": "commodity"}]
        })
    );

    let by_phone = app.scan("tb-1", "1", "1", "tb-receipt-phone").await;
    let response = app
        .post_json(
            "/v1/initiate-payment",
            json!({ "order_id": by_phone, "phone": "+79001234567" }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let init = &fake.calls_of("Init")[1];
    assert_eq!(init.body["Receipt"]["Phone"], "+79001234567");
    assert!(init.body["Receipt"].get("Email").is_none());
}

#[tokio::test]
async fn a_payment_declined_on_the_checkout_page_charges_nothing_and_the_order_can_be_paid_again() {
    let (app, fake) = spawn_with_tbank().await;
    let (order, payment_id) = start_payment(&app, "tb-1", "tb-declined").await;
    let declined = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/checkout/{payment_id}/decline", fake.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status().as_u16(), 303);
    let json = app.wait_for_payment_status(&order, "canceled").await;
    assert_eq!(json["status"], "created", "still payable before expiry");
    assert_eq!(json["failure_reason"], "payment_canceled");
    assert!(app.machine.accepted().is_empty());
    assert!(fake.calls_of("Confirm").is_empty() && fake.calls_of("Cancel").is_empty());

    let (_, second) = start_payment(&app, "tb-1", "tb-declined").await;
    assert_ne!(second, payment_id, "a new attempt is a new T-Bank payment");
    assert_eq!(fake.calls_of("Init").len(), 2);
}

#[tokio::test]
async fn sbp_is_not_offered_under_t_bank_minimum_of_ten_roubles() {
    let (app, fake) = spawn_with_tbank().await;
    let order = app.scan("tb-hold", "2", "1", "tb-sbp-cheap").await;
    assert!(!order_page(&app, &order)
        .await
        .contains("Оплатить через СБП"));
    let response = app
        .post_json(
            "/v1/initiate-payment",
            json!({ "order_id": order, "method": "sbp" }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_unavailable");
    assert!(fake.calls_of("Init").is_empty());
}

#[tokio::test]
async fn a_drinks_receipt_data_overrides_the_terminals_defaults_on_the_receipt_item() {
    let fake = FakeTbank::start(&[(TERMINAL, PASSWORD), (HOLD_TERMINAL, HOLD_PASSWORD)]).await;
    let fleet = tb_fleet().drink(drink("tb-1", "5").name("Сироп").medium(3000).receipt_of(
        3,
        "piece",
        "service",
        "partial_prepayment",
    ));
    let app = app(&fleet)
        .var("TBANK_API_URL", fake.api_url())
        .spawn()
        .await;
    let order = app.scan("tb-1", "5", "1", "tb-drink-receipt").await;
    let response = app.initiate(&order, Some("anna@example.com")).await;
    assert_eq!(response.status().as_u16(), 200);
    let item = &fake.calls_of("Init")[0].body["Receipt"]["Items"][0];
    // vat_code 3 (10 %) is T-Bank's vat10; a partial prepayment is T-Bank's `prepayment`; the
    // measure is not sent in an FFD 1.05 receipt.
    assert_eq!(
        item,
        &json!({"Name": "Сироп", "Price": 3000, "Quantity": 1, "Amount": 3000,
                "Tax": "vat10", "PaymentMethod": "prepayment", "PaymentObject": "service"})
    );
}
