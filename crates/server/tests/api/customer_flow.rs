use crate::helpers::{app, qr, spawn_app};
use coffee_domain::services::expiry::Expiry;
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::fleet;

#[tokio::test]
async fn a_scan_redirects_to_the_order_page_and_a_rescan_finds_the_same_order() {
    let app = spawn_app().await;
    let first = app
        .scan("dev-1", "1", "1", "20250317110122659ba6d7-9ace-cndn")
        .await;
    let second = app
        .scan("dev-1", "1", "1", "20250317110122659ba6d7-9ace-cndn")
        .await;
    assert_eq!(first, second);
    for alias in ["/v1/tbank-pay", "/v1/yook-pay"] {
        let response = app
            .get(&format!("{alias}?deviceUuid=dev-1&drinkNo=1&size=1&uuid=20250317110122659ba6d7-9ace-cndn&drinkName=x"))
            .await;
        assert_eq!(response.status().as_u16(), 302);
        assert!(response.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with(&first));
    }
    let other = app.scan("dev-1", "1", "1", "another").await;
    assert_ne!(first, other);
}

#[tokio::test]
async fn the_original_systems_order_page_address_with_the_machine_order_id_finds_the_order() {
    let app = spawn_app().await;
    let order_id = app
        .scan("dev-1", "1", "1", "20251124085950123ab12c-4f7e-kqzd")
        .await;
    let page = app
        .get("/v1/order-status-page?order_id=20251124085950123ab12c-4f7e-kqzd")
        .await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Капучино"), "{html}");
    assert!(
        html.contains(&order_id),
        "the page works with our id from then on"
    );
    // The same machine order id on a second machine: the address no longer says which.
    app.scan("dev-broken", "1", "1", "20251124085950123ab12c-4f7e-kqzd")
        .await;
    let ambiguous = app
        .get("/v1/order-status-page?order_id=20251124085950123ab12c-4f7e-kqzd")
        .await;
    assert_eq!(ambiguous.status().as_u16(), 404);
    assert_eq!(
        app.get(&format!("/v1/order-status-page?order_id={order_id}"))
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn the_order_page_shows_drink_size_server_side_price_and_the_pay_button() {
    let app = spawn_app().await;
    // The QR carries a price of 1 kopeck; the server's price for medium is 150,00 ₽.
    let response = app
        .get("/v1/pay?deviceUuid=dev-1&drinkNo=1&size=1&uuid=p-1&drinkName=Hacked&price=1")
        .await;
    let order_id = response.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let page = app
        .get(&format!("/v1/order-status-page?order_id={order_id}"))
        .await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    for expected in [
        "Капучино",
        "средний",
        "150,00 ₽",
        "Оплатить",
        "Email или телефон для чека",
        "Холл",
    ] {
        assert!(html.contains(expected), "page lacks {expected:?}");
    }
    let json = app.status(&order_id).await;
    assert_eq!(json["order_id"], order_id.as_str());
    assert_eq!(json["status"], "created");
    assert_eq!(json["drink_name"], "Капучино");
    assert_eq!(json["size"], "medium");
    assert_eq!(json["price"], 15000);
    assert_eq!(json["expires_at"], "2026-06-01T10:15:00+00:00");
    assert_eq!(json["receipt_required"], false);
    assert_eq!(json["payment_status"], "none");
    assert_eq!(json["payment_url"], serde_json::Value::Null);
    assert_eq!(json["failure_reason"], serde_json::Value::Null);
    assert!(json["message"].as_str().unwrap().contains("Оплатите"));
}

#[tokio::test]
async fn pressing_pay_twice_creates_one_payment() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "double-1").await;
    let (first, second) = tokio::join!(
        app.initiate(&order, Some("anna@example.com")),
        app.initiate(&order, None)
    );
    let first: serde_json::Value = first.json().await.unwrap();
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(first["redirect_url"], second["redirect_url"]);
    let third: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    assert_eq!(first["redirect_url"], third["redirect_url"]);
    let payments_created: std::collections::HashSet<String> = app
        .sandbox
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("create"))
        .collect();
    assert_eq!(
        payments_created.len(),
        1,
        "one idempotency key: {payments_created:?}"
    );
    let json = app.status(&order).await;
    assert_eq!(json["status"], "pending");
    assert_eq!(json["payment_status"], "pending");
    assert_eq!(json["payment_url"], first["redirect_url"]);
}

#[tokio::test]
async fn paying_in_the_sandbox_brews_the_drink_and_the_order_ends_successful() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "0", "happy-1").await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("anna@example.com"))
        .await
        .json()
        .await
        .unwrap();
    let url = redirect["redirect_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/sandbox/checkout/", app.address)));
    let checkout = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(checkout.contains("120,00 ₽") && checkout.contains("Оплата напитка: Капучино"));
    let back = app.pay(url, "pay").await;
    assert_eq!(back.status().as_u16(), 303);
    assert!(back.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with(&order));
    let json = app.wait_for_status(&order, "successful").await;
    assert_eq!(json["payment_status"], "succeeded");
    assert_eq!(json["message"], "Готово! Заберите напиток.");
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn a_failing_machine_fails_the_order_and_returns_the_money() {
    let app = spawn_app().await;
    let order = app.scan("dev-broken", "1", "1", "broken-1").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "failed").await;
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert_eq!(json["payment_status"], "refunded");
    assert_eq!(json["failure_reason"], "dispense_failed");
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("Деньги возвращены"),
        "{json}"
    );
}

#[tokio::test]
async fn canceling_in_the_sandbox_leaves_the_order_payable_with_a_retry_button() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "cancel-1").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    let first_url = redirect["redirect_url"].as_str().unwrap().to_owned();
    app.pay(&first_url, "cancel").await;
    let json = app.wait_for_payment_status(&order, "canceled").await;
    assert_eq!(json["status"], "created");
    assert_eq!(json["failure_reason"], "payment_canceled");
    assert!(app.machine.accepted().is_empty());
    let page = app
        .get(&format!("/v1/order-status-page?order_id={order}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Оплата не прошла"), "{page}");
    assert!(page.contains("Повторить оплату"), "{page}");

    // The retry is a new payment; paying it brews the drink.
    let again: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    let second_url = again["redirect_url"].as_str().unwrap().to_owned();
    assert_ne!(second_url, first_url);
    app.pay(&second_url, "pay").await;
    app.wait_for_status(&order, "successful").await;
    assert_eq!(app.machine.accepted().len(), 1);
}

#[tokio::test]
async fn an_unpaid_order_becomes_not_paid_after_expiry_and_cannot_be_paid() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "late-1").await;
    app.clock.advance(chrono::Duration::minutes(16));
    Expiry::new(app.ctx.clone()).expire_due(100).await.unwrap();
    let json = app.status(&order).await;
    assert_eq!(json["status"], "not_paid");
    assert_eq!(json["failure_reason"], "expired");
    let refused = app.initiate(&order, None).await;
    assert_eq!(refused.status().as_u16(), 409);
    let page = app
        .get(&format!("/v1/order-status-page?order_id={order}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Время заказа истекло"));
    assert!(!page.contains("<form id=\"pay-form\""));
}

#[tokio::test]
async fn the_pay_form_works_without_javascript() {
    let app = spawn_app().await;
    let order = app.scan("dev-strict", "1", "1", "nojs-1").await;
    let form = |contact: &str| {
        app.client
            .post(format!("{}/v1/initiate-payment", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("order_id={order}&contact={contact}"))
            .send()
    };
    let refused = form("").await.unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("обязателен для получения чека"));
    let accepted = form("anna%40example.com").await.unwrap();
    assert_eq!(accepted.status().as_u16(), 303);
    assert!(accepted.headers()["location"]
        .to_str()
        .unwrap()
        .contains("/sandbox/checkout/"));
}

#[tokio::test]
async fn after_dispense_merchants_are_charged_only_when_the_drink_is_out() {
    let app = spawn_app().await;
    let order = app.scan("dev-strict", "1", "1", "hold-1").await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("anna@example.com"))
        .await
        .json()
        .await
        .unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "successful").await;
    app.wait_for_payment_status(&order, "succeeded").await;
}

#[tokio::test]
async fn a_custom_device_hands_the_order_to_its_own_system_with_the_originals_parameters() {
    let external = fleet()
        .merchant(merchant("ext").name("Внешняя касса"))
        .device(device("ext-1", "ext").custom("https://pay.example.com/start?shop=7"))
        .drink(drink("ext-1", "1").name("Какао").small(9000));
    let app = app(&external).spawn().await;
    let response = app.get(&qr("ext-1", "1", "0", "ext-order-1")).await;
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://pay.example.com/start?shop=7&order_id=ext-order-1&"),
        "{location}"
    );
    for part in [
        "&drink_name=%D0%9A%D0%B0%D0%BA%D0%B0%D0%BE",
        "&price=9000",
        "&size=1&",
        "&device_uuid=ext-1",
        "&merchant_id=ext",
        "&coffee_order_id=",
    ] {
        assert!(location.contains(part), "{location} lacks {part}");
    }
    let again = app.get(&qr("ext-1", "1", "0", "ext-order-1")).await;
    assert_eq!(
        again.headers()["location"].to_str().unwrap(),
        location,
        "a re-scan hands over the same order"
    );
}

#[tokio::test]
async fn the_demo_index_offers_fresh_qr_links_so_every_click_is_a_new_order() {
    let app = spawn_app().await;
    let page = |html: String| -> Vec<String> {
        html.split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|href| href.starts_with("/v1/pay?"))
            .map(|href| href.replace("&amp;", "&"))
            .collect()
    };
    let first = page(app.get("/").await.text().await.unwrap());
    let second = page(app.get("/").await.text().await.unwrap());
    assert!(!first.is_empty());
    assert_ne!(first, second, "each visit hands out new machine order ids");
    let a = app.get(&first[0]).await;
    let b = app.get(&second[0]).await;
    assert_eq!(a.status().as_u16(), 302);
    assert_ne!(a.headers()["location"], b.headers()["location"]);
}

#[tokio::test]
async fn sbp_is_refused_for_a_machine_that_is_not_paid_through_t_bank() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "sbp-sandbox").await;
    let page = app
        .get(&format!("/v1/order-status-page?order_id={order}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Оплатить через СБП"));
    let response = app
        .post_json(
            "/v1/initiate-payment",
            serde_json::json!({ "order_id": order, "method": "sbp" }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_unavailable");
    assert_eq!(app.status(&order).await["status"], "created");
    let card = app
        .post_json(
            "/v1/initiate-payment",
            serde_json::json!({ "order_id": order, "method": "card" }),
        )
        .await;
    assert_eq!(card.status().as_u16(), 200);
}

#[tokio::test]
async fn a_status_request_that_waits_answers_as_soon_as_the_order_leaves_the_status_it_knows() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "waits-1").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    let started = std::time::Instant::now();
    let path = format!("/v1/order-status/{order}?status=pending&wait=20");
    let waiting = app.get(&path);
    let paying = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
            .await
    };
    let (answer, _) = tokio::join!(waiting, paying);
    assert_eq!(answer.status().as_u16(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_ne!(body["status"], "pending", "{body}");
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(300) && took < std::time::Duration::from_secs(5),
        "answered after {took:?}"
    );
}

#[tokio::test]
async fn a_status_request_that_waits_for_a_change_that_does_not_come_answers_when_its_time_is_up() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "waits-2").await;
    let started = std::time::Instant::now();
    let answer = app
        .get(&format!("/v1/order-status/{order}?status=created&wait=1"))
        .await;
    let took = started.elapsed();
    assert_eq!(answer.status().as_u16(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["status"], "created");
    assert!(
        took >= std::time::Duration::from_secs(1) && took < std::time::Duration::from_secs(4),
        "answered after {took:?}"
    );
    // A status other than the order's is answered at once, and so is a request without wait.
    let started = std::time::Instant::now();
    let other = app
        .get(&format!("/v1/order-status/{order}?status=pending&wait=20"))
        .await;
    assert_eq!(other.status().as_u16(), 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        app.get(&format!("/v1/order-status/{order}?wait=100000"))
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn a_status_request_that_waits_also_answers_when_only_the_money_moves() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "waits-3").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    let path = format!("/v1/order-status/{order}?status=pending&payment_status=pending&wait=20");
    let waiting = app.get(&path);
    let paying = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
            .await
    };
    let (answer, _) = tokio::join!(waiting, paying);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_ne!(body["payment_status"], "pending", "{body}");
    // Known status and money: the wait runs its time.
    app.wait_for_status(&order, "successful").await;
    app.wait_for_payment_status(&order, "succeeded").await;
    let started = std::time::Instant::now();
    let settled = app
        .get(&format!(
            "/v1/order-status/{order}?status=successful&payment_status=succeeded&wait=1"
        ))
        .await;
    let body: serde_json::Value = settled.json().await.unwrap();
    assert_eq!(body["payment_status"], "succeeded");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "{body}"
    );
}
