//! Each device's face to its customers: its logo and text on the order page, its own text per
//! status, its error text on error pages about it — all plain text, linked and escaped, never
//! markup of its own.

use crate::helpers::{app, qr, shop_fleet, TestApp};
use coffee_domain::{DeviceUuid, OrderStatus, SimulatedOutcome};
use coffee_test_support::fixtures::{device, drink};

const HOSTILE: &str =
    "<script>alert(1)</script> <a href=\"javascript:alert(1)\">x</a> javascript:alert(2)";

/// [`shop_fleet`] with a branded machine and one whose texts try to be markup.
async fn spawn_branded() -> TestApp {
    let fleet = shop_fleet()
        .device(
            device("dev-brand", "shop")
                .location("Бизнес-центр «Утро»")
                .simulated_delay_ms(20)
                .logo_url("https://cdn.example/logo.png")
                .client_info("Кофейня «Утро»\nМеню: https://coffee.example/menu")
                .client_error_info("Поддержка: tel:+79001234567 или help@coffee.example")
                .status_text(OrderStatus::Successful, "Спасибо, что выбрали «Утро»!")
                .status_text(OrderStatus::Failed, "Мы уже знаем о поломке."),
        )
        .device(
            device("dev-hostile", "shop")
                .simulated_delay_ms(20)
                .client_info(HOSTILE)
                .client_error_info(HOSTILE),
        )
        .device(
            device("dev-brand-broken", "shop")
                .simulated_delay_ms(20)
                .simulated_outcome(SimulatedOutcome::Failed)
                .status_text(OrderStatus::Failed, "Мы уже знаем о поломке."),
        )
        .drink(drink("dev-brand-broken", "1").name("Раф").medium(15000))
        .drink(drink("dev-brand", "1").name("Капучино").medium(15000))
        .drink(drink("dev-hostile", "1").name("Латте").medium(15000));
    app(&fleet).spawn().await
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_order_page_shows_the_devices_logo_and_its_text_with_links_and_line_breaks() {
    let app = spawn_branded().await;
    let order = app.scan("dev-brand", "1", "1", "brand-1").await;
    let (status, html) = page(&app, &format!("/v1/order-status-page?order_id={order}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<img id="logo" class="logo" src="https:&#x2F;&#x2F;cdn.example&#x2F;logo.png" alt="Логотип продавца">"#),
        "{html}"
    );
    assert!(
        html.contains(
            "Кофейня «Утро»<br>Меню: <a href=\"https:&#x2F;&#x2F;coffee.example&#x2F;menu\""
        ),
        "{html}"
    );
}

#[tokio::test]
async fn a_device_without_branding_shows_neither_logo_nor_text() {
    let app = spawn_branded().await;
    let order = app.scan("dev-1", "1", "1", "plain-1").await;
    let (_, html) = page(&app, &format!("/v1/order-status-page?order_id={order}")).await;
    assert!(!html.contains("id=\"logo\""), "{html}");
    assert!(!html.contains("id=\"client-info\""), "{html}");
}

#[tokio::test]
async fn the_devices_own_status_text_replaces_ours_on_the_page_and_in_the_json() {
    let app = spawn_branded().await;
    let order = app.scan("dev-brand", "1", "1", "brand-2").await;
    let created = app.status(&order).await;
    assert_eq!(
        created["message"],
        "Оплатите заказ, и автомат приготовит напиток."
    );
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    let done = app.wait_for_status(&order, "successful").await;
    assert_eq!(done["message"], "Спасибо, что выбрали «Утро»!");
    let (_, html) = page(&app, &format!("/v1/order-status-page?order_id={order}")).await;
    assert!(html.contains("Спасибо, что выбрали «Утро»!"), "{html}");
    assert!(!html.contains("Готово! Заберите напиток."), "{html}");
}

#[tokio::test]
async fn the_devices_text_for_a_failed_order_is_followed_by_what_becomes_of_the_money() {
    let app = spawn_branded().await;
    let order = app.scan("dev-brand-broken", "1", "1", "brand-broken").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    let failed = app.wait_for_status(&order, "failed").await;
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("Мы уже знаем о поломке.\nДеньги"),
        "{message}"
    );
    let (_, html) = page(&app, &format!("/v1/order-status-page?order_id={order}")).await;
    assert!(html.contains("Мы уже знаем о поломке.<br>Деньги"), "{html}");
}

#[tokio::test]
async fn an_error_page_about_a_known_device_carries_its_error_text() {
    let app = spawn_branded().await;
    let (status, html) = page(&app, &qr("dev-brand", "99", "1", "brand-nodrink")).await;
    assert_eq!(status, 404);
    assert!(html.contains("id=\"client-error-info\""), "{html}");
    app.machine
        .set_offline(&DeviceUuid::parse("dev-brand").unwrap(), true);
    let (status, html) = page(&app, &qr("dev-brand", "1", "1", "brand-off")).await;
    assert_eq!(status, 503);
    assert!(html.contains("Автомат не в сети"), "{html}");
    assert!(
        html.contains(r#"Поддержка: <a href="tel:+79001234567" rel="nofollow noopener noreferrer">tel:+79001234567</a> или <a href="mailto:help@coffee.example""#),
        "{html}"
    );
}

#[tokio::test]
async fn an_error_page_about_an_unknown_device_or_another_device_has_no_device_text() {
    let app = spawn_branded().await;
    let (status, html) = page(&app, &qr("nobody", "1", "1", "u-1")).await;
    assert_eq!(status, 404);
    assert!(!html.contains("client-error-info"), "{html}");
    let (_, html) = page(&app, &qr("dev-1", "99", "1", "u-2")).await;
    assert!(!html.contains("client-error-info"), "{html}");
}

#[tokio::test]
async fn hostile_device_texts_are_shown_as_text_and_never_as_markup() {
    let app = spawn_branded().await;
    let order = app.scan("dev-hostile", "1", "1", "hostile-1").await;
    let (_, html) = page(&app, &format!("/v1/order-status-page?order_id={order}")).await;
    let (_, error_html) = page(&app, &qr("dev-hostile", "99", "1", "hostile-2")).await;
    for html in [html, error_html] {
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            !html.to_ascii_lowercase().contains("href=\"javascript"),
            "{html}"
        );
        assert!(
            html.contains("&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;&#x2F;a&gt;"),
            "{html}"
        );
    }
}
