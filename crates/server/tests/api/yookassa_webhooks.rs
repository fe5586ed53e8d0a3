//! `POST /v1/yook-pay-webhook`: a notification is believed only when it comes from YooKassa's
//! networks and the payment, re-fetched from the API with the merchant's credentials, says so
//! — and then it is applied exactly once.

use crate::helpers::TestApp;
use crate::yookassa::{
    api_calls, deliver, history, our_payment, spawn_with_yookassa, spawn_with_yookassa_and,
    start_payment,
};
use coffee_domain::idempotency;
use coffee_domain::services::expiry::Expiry;
use std::time::Duration;

/// One of YooKassa's official notification addresses.
const YOOKASSA_IP: &str = "77.75.156.11";

/// A notification that claims success whatever the API says.
fn forged_success(payment_id: &str, value: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "notification",
        "event": "payment.succeeded",
        "object": {
            "id": payment_id,
            "status": "succeeded",
            "paid": true,
            "amount": {"value": value, "currency": "RUB"}
        }
    }))
    .unwrap()
}

/// The order stays `pending` and no drink is made, for a while.
async fn assert_still_pending_without_a_drink(app: &TestApp, order: &str) {
    tokio::time::sleep(Duration::from_millis(150)).await;
    let json = app.status(order).await;
    assert_eq!(json["status"], "pending", "{json}");
    assert_eq!(json["payment_status"], "pending", "{json}");
    assert!(app.machine.accepted().is_empty());
    assert_eq!(app.machine.make_calls(), 0);
}

#[tokio::test]
async fn a_forged_success_for_a_payment_the_api_says_is_pending_brews_no_drink() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-forged").await;
    assert_eq!(
        deliver(&app, forged_success(&payment_id, "150.00")).await,
        200
    );
    assert_still_pending_without_a_drink(&app, &order).await;
    // The claim was checked with the merchant's own credentials.
    let fetches = api_calls(&fake, "GET", &format!("/v3/payments/{payment_id}"));
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].shop_id.as_deref(), Some("shop-1"));

    // The order is not damaged: the real payment still brews the drink.
    fake.pay(&payment_id);
    assert_eq!(
        deliver(&app, fake.notification("payment.succeeded", &payment_id)).await,
        200
    );
    app.wait_for_status(&order, "successful").await;
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_notification_from_outside_the_trusted_ranges_brews_no_drink() {
    let (app, fake) =
        spawn_with_yookassa_and(&[("YOOKASSA_TRUSTED_IPS", "185.71.76.0/27".to_owned())]).await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-outsider").await;
    // Even a true story is not believed from an outsider (127.0.0.1 here).
    fake.pay(&payment_id);
    let status = deliver(&app, fake.notification("payment.succeeded", &payment_id)).await;
    assert_eq!(status, 200);
    assert_still_pending_without_a_drink(&app, &order).await;
    // An outsider learns nothing: no 400 for garbage either, and YooKassa is not even asked.
    assert_eq!(deliver(&app, b"not json".to_vec()).await, 200);
    assert!(api_calls(&fake, "GET", &format!("/v3/payments/{payment_id}")).is_empty());
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // YooKassa's official ranges (the default) and a reverse proxy on 127.0.0.1.
    let (app, fake) =
        spawn_with_yookassa_and(&[("TRUSTED_PROXIES", "127.0.0.1/32".to_owned())]).await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-proxy").await;
    fake.pay(&payment_id);
    let body = fake.notification("payment.succeeded", &payment_id);
    let webhook = format!("{}/v1/yook-pay-webhook", app.address);
    let send = |client: reqwest::Client, forwarded: Option<&'static str>| {
        let mut request = client.post(&webhook).body(body.clone());
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Another loopback address: a peer that is not a trusted proxy.
    let outsider = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let fetch_path = format!("/v3/payments/{payment_id}");

    // The proxy itself is not YooKassa.
    assert_eq!(send(app.client.clone(), None).await, 200);
    // An untrusted peer's X-Forwarded-For is ignored.
    assert_eq!(send(outsider.clone(), Some(YOOKASSA_IP)).await, 200);
    // Through the proxy, the client is the rightmost address the proxy did not add itself:
    // an official address prepended by the client does not help.
    assert_eq!(
        send(app.client.clone(), Some("77.75.156.11, 203.0.113.7")).await,
        200
    );
    assert_still_pending_without_a_drink(&app, &order).await;
    assert!(api_calls(&fake, "GET", &fetch_path).is_empty());

    // YooKassa through the trusted proxy is believed.
    assert_eq!(
        send(app.client.clone(), Some("203.0.113.7, 77.75.156.11")).await,
        200
    );
    app.wait_for_status(&order, "successful").await;
    assert_eq!(api_calls(&fake, "GET", &fetch_path).len(), 1);
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_forged_x_forwarded_for_line_does_not_get_past_a_proxy_that_adds_its_own_line() {
    let (app, fake) =
        spawn_with_yookassa_and(&[("TRUSTED_PROXIES", "127.0.0.1/32".to_owned())]).await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-proxy-lines").await;
    fake.pay(&payment_id);
    let body = fake.notification("payment.succeeded", &payment_id);
    let send = |lines: [&'static str; 2]| {
        let request = app
            .client
            .post(format!("{}/v1/yook-pay-webhook", app.address))
            .header("x-forwarded-for", lines[0])
            .header("x-forwarded-for", lines[1])
            .body(body.clone());
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let fetch_path = format!("/v3/payments/{payment_id}");

    // The client forged a YooKassa address; the proxy put the real one on a line of its own.
    assert_eq!(send([YOOKASSA_IP, "203.0.113.7"]).await, 200);
    assert_still_pending_without_a_drink(&app, &order).await;
    assert!(api_calls(&fake, "GET", &fetch_path).is_empty());

    // Past a second trusted proxy's line, YooKassa's address on the first line is believed.
    assert_eq!(send([YOOKASSA_IP, "127.0.0.1"]).await, 200);
    app.wait_for_status(&order, "successful").await;
    assert_eq!(api_calls(&fake, "GET", &fetch_path).len(), 1);
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_payment_whose_amount_differs_from_the_order_brews_no_drink() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-amount").await;
    fake.pay(&payment_id);
    fake.set_amount(&payment_id, "1.50");
    let status = deliver(&app, fake.notification("payment.succeeded", &payment_id)).await;
    assert_eq!(status, 200);
    assert_still_pending_without_a_drink(&app, &order).await;
    let history = history(&app, &order).await;
    assert!(
        history.iter().any(|m| m.contains("сумма не совпадает")),
        "{history:?}"
    );
}

#[tokio::test]
async fn the_same_notification_twenty_times_at_once_brews_one_drink() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-storm").await;
    fake.pay(&payment_id);
    let body = fake.notification("payment.succeeded", &payment_id);
    let url = format!("{}/v1/yook-pay-webhook", app.address);
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = app.client.post(&url).body(body.clone());
        deliveries.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let statuses: Vec<u16> = deliveries.join_all().await;
    assert_eq!(statuses.len(), 20);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    app.wait_for_status(&order, "successful").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.machine.accepted().len(), 1);
    assert_eq!(app.machine.make_calls(), 1);
    let history = history(&app, &order).await;
    assert_eq!(
        history
            .iter()
            .filter(|m| m.contains("команда приготовления поставлена в очередь"))
            .count(),
        1,
        "{history:?}"
    );
}

#[tokio::test]
async fn a_repeated_notification_answers_200_and_changes_nothing() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-dup").await;
    fake.pay(&payment_id);
    let body = fake.notification("payment.succeeded", &payment_id);
    assert_eq!(deliver(&app, body.clone()).await, 200);
    let before = app.wait_for_status(&order, "successful").await;
    let history_before = history(&app, &order).await;
    for _ in 0..3 {
        assert_eq!(deliver(&app, body.clone()).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.status(&order).await, before);
    assert_eq!(history(&app, &order).await, history_before);
    assert_eq!(app.machine.accepted().len(), 1);
    assert_eq!(app.machine.make_calls(), 1);
    // What we already applied is not asked about again.
    let fetches = api_calls(&fake, "GET", &format!("/v3/payments/{payment_id}"));
    assert_eq!(fetches.len(), 1, "only the first delivery re-fetches");
}

#[tokio::test]
async fn a_cancel_claim_for_a_paid_payment_is_still_checked_with_the_api_and_changes_nothing() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-claim").await;
    fake.pay(&payment_id);
    assert_eq!(
        deliver(&app, fake.notification("payment.succeeded", &payment_id)).await,
        200
    );
    let before = app.wait_for_status(&order, "successful").await;
    let forged = serde_json::to_vec(&serde_json::json!({
        "type": "notification",
        "event": "payment.canceled",
        "object": {"id": payment_id, "status": "canceled"}
    }))
    .unwrap();
    assert_eq!(deliver(&app, forged).await, 200);
    let fetches = api_calls(&fake, "GET", &format!("/v3/payments/{payment_id}"));
    assert_eq!(fetches.len(), 2, "a claim of news is checked");
    assert_eq!(app.status(&order).await, before);
}

#[tokio::test]
async fn a_notification_about_an_unknown_payment_answers_200_and_changes_nothing() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-unknown").await;
    fake.pay(&payment_id);
    let before = app.status(&order).await;
    let unknown = "2f999999-000f-5000-8000-999999999999";
    let status = deliver(&app, fake.notification("payment.succeeded", unknown)).await;
    assert_eq!(status, 200);
    assert_eq!(deliver(&app, forged_success(unknown, "150.00")).await, 200);
    // Events we do not handle are acknowledged too.
    let other_event = serde_json::to_vec(&serde_json::json!({
        "type": "notification",
        "event": "payment_method.active",
        "object": {"id": payment_id}
    }))
    .unwrap();
    assert_eq!(deliver(&app, other_event).await, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.status(&order).await, before);
    assert!(app.machine.accepted().is_empty());
    assert!(
        fake.requests().iter().all(|r| r.method != "GET"),
        "nobody was asked about an unknown payment: {:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_malformed_notification_from_yookassa_is_answered_400_and_changes_nothing() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-malformed").await;
    fake.pay(&payment_id);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"[1, 2]".to_vec(),
        b"{}".to_vec(),
        br#"{"type": "notification", "event": "payment.succeeded"}"#.to_vec(),
        br#"{"type": "notification", "event": "payment.succeeded", "object": {}}"#.to_vec(),
        br#"{"type": "notification", "object": {"id": "x"}}"#.to_vec(),
        format!(r#"{{"type": "payment", "event": "payment.succeeded", "object": {{"id": "{payment_id}"}}}}"#)
            .into_bytes(),
    ];
    for body in bodies {
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(deliver(&app, body).await, 400, "{text}");
    }
    assert_still_pending_without_a_drink(&app, &order).await;
    assert!(api_calls(&fake, "GET", &format!("/v3/payments/{payment_id}")).is_empty());
}

#[tokio::test]
async fn a_notification_is_answered_503_while_yookassa_or_our_storage_is_down_and_applied_on_retry()
{
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-outage").await;
    fake.pay(&payment_id);
    let body = fake.notification("payment.succeeded", &payment_id);

    // YooKassa's API fails every attempt of the re-fetch: YooKassa must deliver again.
    for _ in 0..3 {
        fake.fail_next(500);
    }
    assert_eq!(deliver(&app, body.clone()).await, 503);
    assert_eq!(
        api_calls(&fake, "GET", &format!("/v3/payments/{payment_id}")).len(),
        3
    );
    // Our storage is down.
    app.store.set_unavailable(true);
    let during_outage = deliver(&app, body.clone()).await;
    app.store.set_unavailable(false);
    assert_eq!(during_outage, 503);
    assert_still_pending_without_a_drink(&app, &order).await;

    // The retry is applied.
    assert_eq!(deliver(&app, body).await, 200);
    app.wait_for_status(&order, "successful").await;
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_payment_after_expiry_brews_no_drink_and_is_refunded() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-late").await;
    app.clock.advance(chrono::Duration::minutes(16));
    Expiry::new(app.ctx.clone()).expire_due(100).await.unwrap();
    let json = app.wait_for_status(&order, "not_paid").await;
    assert_eq!(json["failure_reason"], "expired");

    fake.pay(&payment_id);
    let status = deliver(&app, fake.notification("payment.succeeded", &payment_id)).await;
    assert_eq!(status, 200);
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert_eq!(json["status"], "not_paid");
    assert_eq!(json["failure_reason"], "paid_after_expiry");

    let ours = our_payment(&app, &order).await;
    let refunds = api_calls(&fake, "POST", "/v3/refunds");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].body["payment_id"], payment_id.as_str());
    assert_eq!(refunds[0].body["amount"]["value"], "150.00");
    assert_eq!(
        refunds[0].idempotence_key.as_deref(),
        Some(idempotency::refund(ours.id).as_str())
    );
    assert!(fake.payment(&payment_id).unwrap().refunded);
    assert!(app.machine.accepted().is_empty());
    assert_eq!(app.machine.make_calls(), 0);
}

#[tokio::test]
async fn a_refund_notice_for_a_payment_we_did_not_refund_is_not_believed() {
    let (app, fake) = spawn_with_yookassa().await;
    let (order, payment_id) = start_payment(&app, "yk-1", "yk-refund-forged").await;
    fake.pay(&payment_id);
    assert_eq!(
        deliver(&app, fake.notification("payment.succeeded", &payment_id)).await,
        200
    );
    app.wait_for_status(&order, "successful").await;
    let refund_notice = serde_json::to_vec(&serde_json::json!({
        "type": "notification",
        "event": "refund.succeeded",
        "object": {"id": "rf-forged", "payment_id": payment_id, "status": "succeeded",
                   "amount": {"value": "150.00", "currency": "RUB"}}
    }))
    .unwrap();
    assert_eq!(deliver(&app, refund_notice).await, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let json = app.status(&order).await;
    assert_eq!(json["status"], "successful");
    assert_eq!(
        json["payment_status"], "succeeded",
        "a refund we never asked for is not recorded"
    );
}

#[tokio::test]
async fn a_pending_refund_is_fetched_again_never_asked_for_twice_and_its_notice_is_believed_after_fetching(
) {
    let (app, fake) = spawn_with_yookassa().await;
    fake.hold_refunds();
    let (order, payment_id) = start_payment(&app, "yk-broken", "yk-refund-pending").await;
    fake.pay(&payment_id);
    assert_eq!(
        deliver(&app, fake.notification("payment.succeeded", &payment_id)).await,
        200
    );
    app.wait_for_status(&order, "failed").await;
    app.wait_for_payment_status(&order, "refund_pending").await;
    let refund_path = format!("/v3/refunds/rf-{payment_id}");
    within_5s(|| !api_calls(&fake, "POST", "/v3/refunds").is_empty()).await;
    // The refund job has put itself back for later (before the clock moves, or it would
    // count its minute from the moved clock)...
    within_5s(|| {
        app.store.all_jobs().iter().any(|job| {
            job.kind == coffee_domain::JobKind::RefundPayment
                && job.state == coffee_domain::JobState::Queued
        })
    })
    .await;
    // ...comes back later and fetches the refund by its id.
    app.clock.advance(chrono::Duration::seconds(61));
    within_5s(|| !api_calls(&fake, "GET", &refund_path).is_empty()).await;
    assert!(
        !api_calls(&fake, "GET", &refund_path).is_empty(),
        "the pending refund is fetched"
    );
    assert_eq!(app.status(&order).await["payment_status"], "refund_pending");

    // YooKassa completes it and says so: the notice is believed after fetching the refund.
    fake.complete_refund(&payment_id);
    let fetched_before = api_calls(&fake, "GET", &refund_path).len();
    assert_eq!(
        deliver(&app, fake.refund_notification(&payment_id)).await,
        200
    );
    app.wait_for_payment_status(&order, "refunded").await;
    assert!(api_calls(&fake, "GET", &refund_path).len() > fetched_before);
    assert_eq!(
        api_calls(&fake, "POST", "/v3/refunds").len(),
        1,
        "a refund is asked for once"
    );
}

/// Waits up to 5 s for `done`.
async fn within_5s(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
