use crate::helpers::{qr, spawn_app};
use coffee_domain::DeviceUuid;

async fn assert_error_page(app: &crate::helpers::TestApp, path: &str, status: u16, text: &str) {
    let response = app.get(path).await;
    assert_eq!(response.status().as_u16(), status, "{path}");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(
        body.contains(text),
        "{path}: page does not say {text:?}:\n{body}"
    );
    assert!(body.contains("lang=\"ru\""));
}

#[tokio::test]
async fn every_missing_qr_parameter_is_a_400_page() {
    let app = spawn_app().await;
    let full = [
        ("deviceUuid", "dev-1"),
        ("drinkNo", "1"),
        ("size", "1"),
        ("uuid", "u-1"),
        ("drinkName", "x"),
    ];
    for skipped in 0..full.len() {
        let query: Vec<String> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skipped)
            .map(|(_, (k, v))| format!("{k}={v}"))
            .collect();
        assert_error_page(
            &app,
            &format!("/v1/pay?{}", query.join("&")),
            400,
            "Отсутствуют обязательные параметры",
        )
        .await;
    }
}

#[tokio::test]
async fn invalid_qr_parameters_are_a_400_page() {
    let app = spawn_app().await;
    assert_error_page(
        &app,
        &qr("dev-1", "1", "3", "u-1"),
        400,
        "Некорректный QR-код",
    )
    .await;
    assert_error_page(
        &app,
        &qr("dev-1", "1", "large", "u-1"),
        400,
        "Некорректный QR-код",
    )
    .await;
    let long_uuid = "x".repeat(256);
    assert_error_page(
        &app,
        &qr("dev-1", "1", "1", &long_uuid),
        400,
        "Некорректный QR-код",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_device_is_a_404_page() {
    let app = spawn_app().await;
    assert_error_page(
        &app,
        &qr("nope", "1", "1", "u-1"),
        404,
        "Устройство не найдено",
    )
    .await;
}

#[tokio::test]
async fn a_merchant_is_refused_the_day_after_valid_until_but_served_on_it() {
    let app = spawn_app().await;
    assert_error_page(
        &app,
        &qr("dev-old", "1", "1", "u-1"),
        403,
        "Доступ к устройству запрещен",
    )
    .await;
    // "shop" is valid until 2026-06-01, today in the test clock: still active.
    app.scan("dev-1", "1", "1", "u-last-day").await;
    app.clock.advance(chrono::Duration::days(1));
    assert_error_page(
        &app,
        &qr("dev-1", "1", "1", "u-next-day"),
        403,
        "Доступ к устройству запрещен",
    )
    .await;
}

#[tokio::test]
async fn an_offline_machine_is_a_503_page() {
    let app = spawn_app().await;
    app.machine
        .set_offline(&DeviceUuid::parse("dev-1").unwrap(), true);
    assert_error_page(
        &app,
        &qr("dev-1", "1", "1", "u-1"),
        503,
        "Автомат не в сети",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_drink_or_a_size_not_sold_is_a_404_page() {
    let app = spawn_app().await;
    assert_error_page(&app, &qr("dev-1", "99", "1", "u-1"), 404, "не продаётся").await;
    assert_error_page(&app, &qr("dev-1", "1", "2", "u-2"), 404, "размер").await;
}

#[tokio::test]
async fn order_pages_for_missing_or_unknown_orders_are_friendly_errors() {
    let app = spawn_app().await;
    assert_error_page(
        &app,
        "/v1/order-status-page",
        400,
        "Отсутствует идентификатор заказа",
    )
    .await;
    assert_error_page(
        &app,
        "/v1/order-status-page?order_id=not-a-uuid",
        404,
        "Заказ не найден",
    )
    .await;
    assert_error_page(
        &app,
        "/v1/order-status-page?order_id=67e55044-10b1-426f-9247-bb680e5fe0c8",
        404,
        "Заказ не найден",
    )
    .await;
    let json = app
        .get("/v1/order-status/67e55044-10b1-426f-9247-bb680e5fe0c8")
        .await;
    assert_eq!(json.status().as_u16(), 404);
    assert_error_page(&app, "/no/such/page", 404, "Страница не найдена").await;
}

#[tokio::test]
async fn initiate_payment_answers_404_409_422_and_400_as_documented() {
    let app = spawn_app().await;
    let unknown = app
        .initiate("67e55044-10b1-426f-9247-bb680e5fe0c8", None)
        .await;
    assert_eq!(unknown.status().as_u16(), 404);
    let garbage = app
        .client
        .post(format!("{}/v1/initiate-payment", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 400);
    let no_id = app
        .post_json("/v1/initiate-payment", serde_json::json!({}))
        .await;
    assert_eq!(no_id.status().as_u16(), 400);

    let strict = app.scan("dev-strict", "1", "1", "s-1").await;
    let missing_contact = app.initiate(&strict, None).await;
    assert_eq!(missing_contact.status().as_u16(), 422);
    let body: serde_json::Value = missing_contact.json().await.unwrap();
    assert_eq!(body["error"], "contact_required");
    let bad_email = app.initiate(&strict, Some("anna@")).await;
    assert_eq!(bad_email.status().as_u16(), 422);
    let bad_phone = app
        .post_json(
            "/v1/initiate-payment",
            serde_json::json!({"order_id": strict, "phone": "12"}),
        )
        .await;
    assert_eq!(bad_phone.status().as_u16(), 422);
    let phone = app
        .post_json(
            "/v1/initiate-payment",
            serde_json::json!({"order_id": strict, "phone": "+7 900 123-45-67"}),
        )
        .await;
    assert_eq!(phone.status().as_u16(), 200);

    let order = app.scan("dev-1", "1", "1", "paid-1").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "successful").await;
    let again = app.initiate(&order, None).await;
    assert_eq!(again.status().as_u16(), 409);
}

#[tokio::test]
async fn readiness_follows_the_storage_and_health_does_not() {
    let app = spawn_app().await;
    assert_eq!(app.get("/ready").await.status().as_u16(), 200);
    app.store.set_unavailable(true);
    assert_eq!(app.get("/ready").await.status().as_u16(), 503);
    let health = app.get("/health").await;
    assert_eq!(health.status().as_u16(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "healthy", "the original's probes read this");
    assert!(body["timestamp"].as_str().is_some());
    assert_error_page(
        &app,
        &qr("dev-1", "1", "1", "u-down"),
        503,
        "Сервис временно недоступен",
    )
    .await;
    app.store.set_unavailable(false);
    assert_eq!(app.get("/ready").await.status().as_u16(), 200);
}
