//! Abuse limits on scans and payment requests: per client address (as the trusted-proxy rule
//! resolves it) and per device, answered with 429 and `Retry-After`.

use crate::helpers::{app, qr, shop_fleet, TestApp};

/// The application behind a trusted proxy at 127.0.0.1, so tests speak for any client
/// through `X-Forwarded-For`.
async fn spawn_with_limits(per_ip: u32, per_device: u32) -> TestApp {
    app(&shop_fleet())
        .var("RATE_LIMIT_PER_IP_PER_MINUTE", per_ip.to_string())
        .var("RATE_LIMIT_PER_DEVICE_PER_MINUTE", per_device.to_string())
        .var("TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await
}

async fn scan_from(app: &TestApp, client: &str, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    let seconds: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
    seconds
}

async fn assert_limited_page(response: reqwest::Response) {
    assert_eq!(response.status().as_u16(), 429);
    retry_after(&response);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(body.contains("Слишком много запросов"), "{body}");
}

#[tokio::test]
async fn the_scan_after_a_clients_allowance_is_429_with_retry_after_and_other_clients_go_on() {
    let app = spawn_with_limits(3, 0).await;
    let client = "203.0.113.7";
    // The QR's aliases share the client's allowance.
    for (i, route) in ["/v1/pay", "/v1/yook-pay", "/v1/tbank-pay"]
        .iter()
        .enumerate()
    {
        let path = qr("dev-1", "1", "1", &format!("ip-{i}")).replacen("/v1/pay", route, 1);
        let response = scan_from(&app, client, &path).await;
        assert_eq!(response.status().as_u16(), 302, "{path}");
    }
    assert_limited_page(scan_from(&app, client, &qr("dev-1", "1", "1", "ip-3")).await).await;

    let other = scan_from(&app, "198.51.100.9", &qr("dev-1", "1", "1", "ip-other")).await;
    assert_eq!(other.status().as_u16(), 302);
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit() {
    // No trusted proxy: the header is the client's own claim, and the client is the peer.
    let app = app(&shop_fleet())
        .var("RATE_LIMIT_PER_IP_PER_MINUTE", "2")
        .spawn()
        .await;
    for (i, forged) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let response = scan_from(&app, forged, &qr("dev-1", "1", "1", &format!("f-{i}"))).await;
        assert_eq!(response.status().as_u16(), 302);
    }
    assert_limited_page(scan_from(&app, "203.0.113.3", &qr("dev-1", "1", "1", "f-2")).await).await;
}

#[tokio::test]
async fn the_scan_after_a_devices_allowance_is_429_whoever_scans_and_other_devices_go_on() {
    let app = spawn_with_limits(0, 2).await;
    for (i, client) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let response = scan_from(&app, client, &qr("dev-1", "1", "1", &format!("d-{i}"))).await;
        assert_eq!(response.status().as_u16(), 302);
    }
    assert_limited_page(scan_from(&app, "203.0.113.3", &qr("dev-1", "1", "1", "d-2")).await).await;
    let other_device = scan_from(&app, "203.0.113.3", &qr("dev-broken", "1", "1", "d-3")).await;
    assert_eq!(other_device.status().as_u16(), 302);
}

#[tokio::test]
async fn payment_requests_over_a_clients_allowance_are_429_in_json_or_as_a_page() {
    let app = spawn_with_limits(2, 0).await;
    let order = app.scan("dev-1", "1", "1", "pay-limit-1").await;
    let first = app.initiate(&order, None).await;
    assert_eq!(first.status().as_u16(), 200);

    let limited = app.initiate(&order, None).await;
    assert_eq!(limited.status().as_u16(), 429);
    retry_after(&limited);
    let json: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(json["error"], "too_many_requests");
    assert!(json["message"]
        .as_str()
        .unwrap()
        .contains("Слишком много запросов"));

    let form = app
        .client
        .post(format!("{}/v1/initiate-payment", app.address))
        .form(&[("order_id", order.as_str())])
        .send()
        .await
        .unwrap();
    assert_limited_page(form).await;
}
