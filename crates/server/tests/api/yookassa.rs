//! YooKassa end to end against the stateful local fake of its API: payments, polling, capture
//! modes, refunds and 54-FZ receipts. Webhook verification is in `yookassa_webhooks`.

use crate::helpers::{app, TestApp};
use coffee_domain::{
    idempotency, CaptureMode, OrderId, Payment, ProviderKind, ReceiptPolicy, SimulatedOutcome,
};
use coffee_test_support::fakes::yookassa::{FakeYookassa, RecordedRequest};
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::{fleet, FleetBuilder};
use std::time::Duration;

/// YooKassa merchants — one charged at once, one holding the money until the drink is out,
/// one requiring receipts with its tax settings — each with machines that brew, fail or stay
/// silent.
pub fn yk_fleet() -> FleetBuilder {
    let yookassa = |id, merchant| {
        device(id, merchant)
            .provider(ProviderKind::Yookassa)
            .simulated_delay_ms(20)
    };
    fleet()
        .merchant(
            merchant("yk")
                .name("Кофе ЮKassa")
                .yookassa("shop-1", "test_secret", 1),
        )
        .merchant(
            merchant("yk-hold")
                .name("Кофе с удержанием")
                .capture(CaptureMode::AfterDispense)
                .yookassa("shop-hold", "test_hold_secret", 1),
        )
        .merchant(
            merchant("yk-strict")
                .name("Кофе с чеками")
                .receipt(ReceiptPolicy::Required)
                .yookassa("shop-strict", "test_strict_secret", 4)
                .tax_system_code(2),
        )
        .device(yookassa("yk-1", "yk"))
        .device(yookassa("yk-broken", "yk").simulated_outcome(SimulatedOutcome::Failed))
        .device(yookassa("yk-hold", "yk-hold"))
        .device(yookassa("yk-hold-broken", "yk-hold").simulated_outcome(SimulatedOutcome::Failed))
        .device(
            yookassa("yk-hold-silent", "yk-hold")
                .simulated_outcome(SimulatedOutcome::Silent)
                .simulated_delay_ms(3000),
        )
        .device(yookassa("yk-strict", "yk-strict"))
        .drink(drink("yk-1", "1").name("Капучино").medium(15000))
        .drink(drink("yk-broken", "1").name("Латте").medium(16000))
        .drink(drink("yk-hold", "1").name("Флэт уайт").medium(17000))
        .drink(drink("yk-hold-broken", "1").name("Раф").medium(18000))
        .drink(drink("yk-hold-silent", "1").name("Мокко").medium(19000))
        .drink(drink("yk-strict", "1").name("Американо").medium(11000))
}

/// The application on [`yk_fleet`] against the fake YooKassa API, believing notifications
/// from 127.0.0.1.
pub async fn spawn_with_yookassa() -> (TestApp, FakeYookassa) {
    spawn_with_yookassa_and(&[("YOOKASSA_TRUSTED_IPS", "127.0.0.1/32".to_owned())]).await
}

/// The application against the fake YooKassa API with more configuration: without a
/// `YOOKASSA_TRUSTED_IPS` of its own it believes only YooKassa's official networks.
pub async fn spawn_with_yookassa_and(extra: &[(&str, String)]) -> (TestApp, FakeYookassa) {
    let fake = FakeYookassa::start().await;
    let app = app(&yk_fleet())
        .var("YOOKASSA_API_URL", fake.api_url())
        .vars(extra)
        .spawn()
        .await;
    fake.send_webhooks_to(format!("{}/v1/yook-pay-webhook", app.address));
    (app, fake)
}

/// Scans `device`'s drink 1 (medium) and presses «Оплатить» with this receipt body; returns
/// the order id and YooKassa's payment id.
pub async fn start_payment_with(
    app: &TestApp,
    device: &str,
    uuid: &str,
    contact: serde_json::Value,
) -> (String, String) {
    let order = app.scan(device, "1", "1", uuid).await;
    let mut body = contact;
    body["order_id"] = order.clone().into();
    let response = app.post_json("/v1/initiate-payment", body).await;
    assert_eq!(response.status().as_u16(), 200, "initiate {device}/{uuid}");
    let redirect: serde_json::Value = response.json().await.unwrap();
    let url = redirect["redirect_url"].as_str().unwrap();
    let payment_id = url.rsplit('/').next().unwrap().to_owned();
    (order, payment_id)
}

/// [`start_payment_with`] without a receipt contact.
pub async fn start_payment(app: &TestApp, device: &str, uuid: &str) -> (String, String) {
    start_payment_with(app, device, uuid, serde_json::json!({})).await
}

/// POSTs a notification body to the webhook as YooKassa would; returns the HTTP status.
pub async fn deliver(app: &TestApp, body: Vec<u8>) -> u16 {
    app.client
        .post(format!("{}/v1/yook-pay-webhook", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Our stored payment of an order.
pub async fn our_payment(app: &TestApp, order: &str) -> Payment {
    app.ctx
        .ports
        .payments
        .for_order(OrderId::parse(order).unwrap())
        .await
        .unwrap()
        .expect("the order has a payment")
}

/// The order's history lines.
pub async fn history(app: &TestApp, order: &str) -> Vec<String> {
    app.ctx
        .ports
        .orders
        .history(OrderId::parse(order).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.message)
        .collect()
}

/// The requests the fake API received with this method and path.
pub fn api_calls(fake: &FakeYookassa, method: &str, path: &str) -> Vec<RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

#[tokio::test]
async fn a_yookassa_payment_confirmed_by_webhook_and_api_brews_the_drink() {
    let (app, fake) = spawn_with_yookassa().await;
    let order = app.scan("yk-1", "1", "1", "yk-happy").await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("anna@example.com"))
        .await
        .json()
        .await
        .unwrap();
    let url = redirect["redirect_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/checkout/", fake.uri())),
        "{url}"
    );
    let payment_id = url.rsplit('/').next().unwrap();
    let create = &fake.requests()[0];
    assert_eq!(
        create.idempotence_key.as_deref(),
        Some(format!("coffee-create-{order}").as_str())
    );
    assert_eq!(create.shop_id.as_deref(), Some("shop-1"));
    assert_eq!(create.body["amount"]["value"], "150.00");

    fake.pay(payment_id);
    let response = app
        .client
        .post(format!("{}/v1/yook-pay-webhook", app.address))
        .body(fake.notification("payment.succeeded", payment_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let json = app.wait_for_status(&order, "successful").await;
    assert_eq!(json["payment_status"], "succeeded");
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_paid_order_whose_webhook_is_lost_is_found_by_polling_and_brews_the_drink() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-poll").await;
    let payment_path = format!("/v3/payments/{payment_id}");
    fake.pay(&payment_id);
    // No webhook arrives. Before the poll interval nothing asks YooKassa.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status(&order).await["status"], "pending");
    assert!(api_calls(&fake, "GET", &payment_path).is_empty());

    app.clock.advance(chrono::Duration::seconds(6));
    let json = app.wait_for_status(&order, "successful").await;
    assert_eq!(json["payment_status"], "succeeded");
    let polls = api_calls(&fake, "GET", &payment_path);
    assert!(!polls.is_empty(), "the poller asked the API");
    assert!(polls.iter().all(|r| r.shop_id.as_deref() == Some("shop-1")));
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_payment_canceled_at_yookassa_leaves_the_order_payable_again() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-cancel").await;
    fake.set_status(&payment_id, "canceled");
    let status = deliver(&app, fake.notification("payment.canceled", &payment_id)).await;
    assert_eq!(status, 200);
    let json = app.wait_for_payment_status(&order, "canceled").await;
    assert_eq!(json["status"], "created");
    assert_eq!(json["failure_reason"], "payment_canceled");
    assert!(app.machine.accepted().is_empty());
}

#[tokio::test]
async fn a_failed_drink_after_an_immediate_payment_is_refunded_with_a_key_derived_from_our_payment_id(
) {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-broken", "yk-refund").await;
    fake.pay(&payment_id);
    assert_eq!(
        deliver(&app, fake.notification("payment.succeeded", &payment_id)).await,
        200
    );
    app.wait_for_status(&order, "failed").await;
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert_eq!(json["failure_reason"], "dispense_failed");

    let ours = our_payment(&app, &order).await;
    let refunds = api_calls(&fake, "POST", "/v3/refunds");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let refund = &refunds[0];
    assert_eq!(
        refund.idempotence_key.as_deref(),
        Some(idempotency::refund(ours.id).as_str())
    );
    assert_eq!(refund.shop_id.as_deref(), Some("shop-1"));
    assert_eq!(refund.body["payment_id"], payment_id.as_str());
    assert_eq!(refund.body["amount"]["value"], "160.00");
    assert_eq!(refund.body["amount"]["currency"], "RUB");
    assert!(fake.payment(&payment_id).unwrap().refunded);
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_waiting_for_capture_payment_counts_as_paid_in_after_dispense_mode_and_is_not_captured_yet(
) {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-hold-silent", "yk-hold-wait").await;
    assert_eq!(fake.requests()[0].body["capture"], false);
    fake.pay(&payment_id);
    assert_eq!(
        fake.payment(&payment_id).unwrap().status,
        "waiting_for_capture"
    );
    assert_eq!(
        deliver(
            &app,
            fake.notification("payment.waiting_for_capture", &payment_id)
        )
        .await,
        200
    );
    let json = app.wait_for_status(&order, "make_pending").await;
    assert_eq!(json["payment_status"], "authorized");
    assert_eq!(app.machine.accepted().len(), 1);
    // The machine has not reported: the hold stays a hold.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let capture_path = format!("/v3/payments/{payment_id}/capture");
    assert!(api_calls(&fake, "POST", &capture_path).is_empty());
    assert_eq!(
        fake.payment(&payment_id).unwrap().status,
        "waiting_for_capture"
    );
}

#[tokio::test]
async fn an_after_dispense_payment_is_captured_only_after_the_drink_is_dispensed() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-hold", "yk-hold-ok").await;
    fake.pay(&payment_id);
    assert_eq!(
        deliver(
            &app,
            fake.notification("payment.waiting_for_capture", &payment_id)
        )
        .await,
        200
    );
    app.wait_for_status(&order, "successful").await;
    app.wait_for_payment_status(&order, "succeeded").await;

    let ours = our_payment(&app, &order).await;
    let captures = api_calls(&fake, "POST", &format!("/v3/payments/{payment_id}/capture"));
    assert_eq!(captures.len(), 1, "{captures:?}");
    assert_eq!(
        captures[0].idempotence_key.as_deref(),
        Some(idempotency::capture(ours.id).as_str())
    );
    assert_eq!(captures[0].shop_id.as_deref(), Some("shop-hold"));
    assert_eq!(captures[0].body["amount"]["value"], "170.00");
    assert_eq!(fake.payment(&payment_id).unwrap().status, "succeeded");
    assert!(api_calls(&fake, "POST", &format!("/v3/payments/{payment_id}/cancel")).is_empty());
    assert!(api_calls(&fake, "POST", "/v3/refunds").is_empty());
    let history = history(&app, &order).await;
    let dispensed = history
        .iter()
        .position(|m| m.contains("списание удержанных денег поставлено в очередь"))
        .expect("capture queued on dispense");
    let paid = history
        .iter()
        .position(|m| m.contains("заказ оплачен"))
        .expect("order paid");
    assert!(paid < dispensed, "{history:?}");
}

#[tokio::test]
async fn an_after_dispense_hold_is_canceled_when_the_machine_fails() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-hold-broken", "yk-hold-fail").await;
    fake.pay(&payment_id);
    assert_eq!(
        deliver(
            &app,
            fake.notification("payment.waiting_for_capture", &payment_id)
        )
        .await,
        200
    );
    app.wait_for_status(&order, "failed").await;
    let json = app.wait_for_payment_status(&order, "canceled").await;
    assert_eq!(json["failure_reason"], "dispense_failed");

    let ours = our_payment(&app, &order).await;
    let cancels = api_calls(&fake, "POST", &format!("/v3/payments/{payment_id}/cancel"));
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(
        cancels[0].idempotence_key.as_deref(),
        Some(idempotency::cancel(ours.id).as_str())
    );
    assert_eq!(fake.payment(&payment_id).unwrap().status, "canceled");
    assert!(api_calls(&fake, "POST", &format!("/v3/payments/{payment_id}/capture")).is_empty());
    assert!(api_calls(&fake, "POST", "/v3/refunds").is_empty());
}

#[tokio::test]
async fn an_email_for_the_receipt_goes_into_the_create_request() {
    let (app, fake) = spawn_with_yookassa().await;
    start_payment_with(
        &app,
        "yk-1",
        "yk-receipt-email",
        serde_json::json!({ "email": "anna@example.com" }),
    )
    .await;
    let create = &api_calls(&fake, "POST", "/v3/payments")[0];
    let receipt = &create.body["receipt"];
    assert_eq!(receipt["customer"]["email"], "anna@example.com");
    assert!(receipt["customer"].get("phone").is_none(), "{receipt}");
    let item = &receipt["items"][0];
    assert_eq!(item["description"], "Капучино");
    assert_eq!(item["quantity"], "1.00");
    assert_eq!(item["amount"]["value"], "150.00");
    assert_eq!(item["amount"]["currency"], "RUB");
    assert_eq!(item["vat_code"], 1);
    assert_eq!(item["payment_subject"], "commodity");
    assert_eq!(item["payment_mode"], "full_payment");
    assert!(receipt.get("tax_system_code").is_none(), "{receipt}");
}

#[tokio::test]
async fn a_phone_for_the_receipt_goes_into_the_create_request_with_the_shops_tax_settings() {
    let (app, fake) = spawn_with_yookassa().await;
    start_payment_with(
        &app,
        "yk-strict",
        "yk-receipt-phone",
        serde_json::json!({ "phone": "+7 (900) 123-45-67" }),
    )
    .await;
    let create = &api_calls(&fake, "POST", "/v3/payments")[0];
    assert_eq!(create.shop_id.as_deref(), Some("shop-strict"));
    let receipt = &create.body["receipt"];
    assert_eq!(receipt["customer"]["phone"], "79001234567");
    assert!(receipt["customer"].get("email").is_none(), "{receipt}");
    assert_eq!(receipt["items"][0]["vat_code"], 4);
    assert_eq!(receipt["items"][0]["amount"]["value"], "110.00");
    assert_eq!(receipt["tax_system_code"], 2);
}

#[tokio::test]
async fn no_contact_for_an_optional_receipt_sends_no_receipt() {
    let (app, fake) = spawn_with_yookassa().await;
    start_payment(&app, "yk-1", "yk-receipt-none").await;
    let create = &api_calls(&fake, "POST", "/v3/payments")[0];
    assert!(create.body.get("receipt").is_none(), "{}", create.body);
}

#[tokio::test]
async fn a_required_receipt_without_a_contact_is_refused_before_anything_reaches_yookassa() {
    let (app, fake) = spawn_with_yookassa().await;
    let order = app.scan("yk-strict", "1", "1", "yk-receipt-required").await;
    let response = app.initiate(&order, None).await;
    assert_eq!(response.status().as_u16(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "contact_required");
    let blank = app
        .post_json(
            "/v1/initiate-payment",
            serde_json::json!({ "order_id": order, "email": "  ", "phone": "" }),
        )
        .await;
    assert_eq!(blank.status().as_u16(), 422);
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    let json = app.status(&order).await;
    assert_eq!(json["status"], "created");
    assert_eq!(json["payment_status"], "none");
}

#[tokio::test]
async fn a_drinks_receipt_data_overrides_the_shops_defaults_on_the_receipt_item() {
    let fake = FakeYookassa::start().await;
    let fleet = yk_fleet().drink(
        drink("yk-strict", "5")
            .name("Сироп")
            .medium(3000)
            .receipt_of(11, "milliliter", "service", "full_prepayment"),
    );
    let app = app(&fleet)
        .var("YOOKASSA_API_URL", fake.api_url())
        .spawn()
        .await;
    let order = app.scan("yk-strict", "5", "1", "yk-drink-receipt").await;
    let response = app.initiate(&order, Some("anna@example.com")).await;
    assert_eq!(response.status().as_u16(), 200);
    let create = &api_calls(&fake, "POST", "/v3/payments")[0];
    let item = &create.body["receipt"]["items"][0];
    assert_eq!(item["vat_code"], 11, "{item}");
    assert_eq!(item["measure"], "milliliter", "{item}");
    assert_eq!(item["payment_subject"], "service", "{item}");
    assert_eq!(item["payment_mode"], "full_prepayment", "{item}");
    // The shop's own setting the drink does not override stays.
    assert_eq!(create.body["receipt"]["tax_system_code"], 2);

    // A drink without receipt data of its own: the shop's defaults, no measure.
    let plain = app.scan("yk-strict", "1", "1", "yk-shop-receipt").await;
    app.initiate(&plain, Some("anna@example.com")).await;
    let item = &api_calls(&fake, "POST", "/v3/payments")[1].body["receipt"]["items"][0];
    assert_eq!(item["vat_code"], 4, "{item}");
    assert!(item.get("measure").is_none(), "{item}");
    assert_eq!(item["payment_subject"], "commodity", "{item}");
}
