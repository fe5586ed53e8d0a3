//! What every response looks like at the HTTP edge: security headers, assets instead of
//! inline code, and actix-web's own refusals answered in the project's format.

use crate::helpers::{qr, spawn_app, TestApp};
use coffee_server::edge::CONTENT_SECURITY_POLICY;

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert_eq!(csp, CONTENT_SECURITY_POLICY, "{what}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
}

async fn post(app: &TestApp, path: &str, content_type: &str, body: String) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn assert_json_refusal(response: reqwest::Response, status: u16, error: &str) {
    let what = response.url().path().to_owned();
    assert_eq!(response.status().as_u16(), status, "{what}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}"
    );
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["error"], error, "{what}: {json}");
    let message = json["message"].as_str().unwrap_or_default();
    assert!(
        message.chars().any(|c| ('а'..='я').contains(&c)),
        "{what}: the message is not Russian: {json}"
    );
}

async fn assert_page_refusal(response: reqwest::Response, status: u16, text: &str) {
    let what = response.url().path().to_owned();
    assert_eq!(response.status().as_u16(), status, "{what}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{what}"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains(text) && body.contains("lang=\"ru\""),
        "{what}:\n{body}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "headers-1").await;
    let paths = [
        qr("dev-1", "1", "1", "headers-2"),
        format!("/v1/order-status-page?order_id={order}"),
        format!("/v1/order-status/{order}"),
        "/v1/order-status-page".to_owned(),
        "/no/such/page".to_owned(),
        "/static/site.css".to_owned(),
        "/static/order.js".to_owned(),
        "/health".to_owned(),
    ];
    for path in &paths {
        assert_security_headers(&app.get(path).await, path);
    }
    let wrong_method = post(&app, "/v1/pay", "text/plain", String::new()).await;
    assert_security_headers(&wrong_method, "POST /v1/pay");
    let too_large = post(
        &app,
        "/v1/initiate-payment",
        "application/json",
        "x".repeat(100 * 1024),
    )
    .await;
    assert_security_headers(&too_large, "413");
}

#[tokio::test]
async fn pages_carry_no_inline_script_or_style_and_their_assets_are_served() {
    let app = spawn_app().await;
    let order = app.scan("dev-1", "1", "1", "inline-1").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    let checkout = redirect["redirect_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&app.address)
        .to_owned();
    for path in [
        format!("/v1/order-status-page?order_id={order}"),
        checkout,
        "/v1/order-status-page".to_owned(),
        "/".to_owned(),
    ] {
        let body = app.get(&path).await.text().await.unwrap();
        assert!(!body.contains("<style"), "{path}: inline <style>");
        assert!(!body.contains(" style="), "{path}: inline style attribute");
        assert!(
            body.contains(r#"<link rel="stylesheet" href="/static/site.css">"#),
            "{path}"
        );
        for script in body.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or_default();
            assert!(
                tag.contains("src=\"/static/"),
                "{path}: inline <script{tag}>"
            );
        }
    }
    let page = app
        .get(&format!("/v1/order-status-page?order_id={order}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<script src="/static/order.js" defer></script>"#));

    for (path, content_type, text) in [
        ("/static/site.css", "text/css", ".status.ok{"),
        ("/static/order.js", "text/javascript", "/v1/order-status/"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(content_type));
        assert!(response.text().await.unwrap().contains(text), "{path}");
    }
}

#[tokio::test]
async fn a_body_over_the_documented_64_kib_is_413_in_the_routes_own_format() {
    let app = spawn_app().await;
    let over = "x".repeat(64 * 1024 + 1);
    for path in [
        "/v1/initiate-payment",
        "/v1/yook-pay-webhook",
        "/v1/devices/dev-1/events",
    ] {
        let response = post(&app, path, "application/json", over.clone()).await;
        assert_json_refusal(response, 413, "payload_too_large").await;
    }
    // The page's own form (no JavaScript) gets a page.
    let form = post(
        &app,
        "/v1/initiate-payment",
        "application/x-www-form-urlencoded",
        format!("order_id={over}"),
    )
    .await;
    assert_page_refusal(form, 413, "Слишком большой запрос").await;

    // Just under the limit the route reads the body itself: an unknown order, not a 413.
    let order_id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let padded = serde_json::json!({ "order_id": order_id, "email": "x".repeat(60 * 1024) });
    let response = post(
        &app,
        "/v1/initiate-payment",
        "application/json",
        padded.to_string(),
    )
    .await;
    assert_json_refusal(response, 404, "order_not_found").await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_with_error_and_message() {
    let app = spawn_app().await;
    let response = post(
        &app,
        "/v1/initiate-payment",
        "application/json",
        "{not json".to_owned(),
    )
    .await;
    assert_json_refusal(response, 400, "invalid_request").await;
}

#[tokio::test]
async fn a_duplicate_query_parameter_is_a_400_page() {
    let app = spawn_app().await;
    let response = app.get("/v1/order-status-page?order_id=a&order_id=b").await;
    assert_page_refusal(response, 400, "Некорректный запрос").await;
}

#[tokio::test]
async fn a_method_a_route_does_not_take_is_405_in_the_routes_own_format() {
    let app = spawn_app().await;
    for path in [
        "/v1/initiate-payment",
        "/v1/yook-pay-webhook",
        "/v1/devices/dev-1/events",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.headers()["allow"], "POST", "{path}");
        assert_json_refusal(response, 405, "method_not_allowed").await;
    }
    let response = post(&app, "/v1/pay", "text/plain", String::new()).await;
    assert_eq!(response.headers()["allow"], "GET");
    assert_page_refusal(response, 405, "Этот адрес не принимает такой запрос").await;
    let response = post(
        &app,
        "/v1/order-status/67e55044-10b1-426f-9247-bb680e5fe0c8",
        "application/json",
        "{}".to_owned(),
    )
    .await;
    assert_json_refusal(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn an_unknown_path_under_the_api_is_a_json_404() {
    let app = spawn_app().await;
    let response = app.get("/v1/order-status/a/b").await;
    assert_json_refusal(response, 404, "not_found").await;
    let response = app.get("/v1/devices/dev-1/status").await;
    assert_json_refusal(response, 404, "not_found").await;
}
