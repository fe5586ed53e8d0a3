#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! `/metrics` after a full order: the counters moved by exactly what one order does, and the
//! endpoint answers nobody without the token. (A test binary of its own: the process has one
//! metrics recorder, and other tests running beside this one would move the counters too.)

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{app, shop_fleet};

const TOKEN: &str = "metrics-token-0123456789";

/// The value of the series `name` whose labels include every `labels` pair.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_one_full_order_exactly_and_answer_nobody_without_the_token() {
    let app = app(&shop_fleet()).var("METRICS_TOKEN", TOKEN).spawn().await;
    let anonymous = app.get("/metrics").await;
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let wrong = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    let order = app.scan("dev-1", "1", "1", "metrics-1").await;
    let redirect: serde_json::Value = app.initiate(&order, None).await.json().await.unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "successful").await;

    let scraped = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status().as_u16(), 200);
    let text = scraped.text().await.unwrap();
    let expect = |name: &str, labels: &[(&str, &str)], expected: f64| {
        assert_eq!(
            value(&text, name, labels),
            Some(expected),
            "{name} {labels:?} in:\n{text}"
        );
    };
    expect("coffee_orders_created_total", &[], 1.0);
    for (from, to) in [
        ("created", "pending"),
        ("pending", "paid"),
        ("paid", "make_pending"),
        ("make_pending", "successful"),
    ] {
        expect(
            "coffee_order_transitions_total",
            &[("from", from), ("to", to)],
            1.0,
        );
    }
    expect(
        "coffee_payments_created_total",
        &[("provider", "sandbox")],
        1.0,
    );
    expect(
        "coffee_machine_commands_total",
        &[("machine", "simulated"), ("outcome", "accepted")],
        1.0,
    );
    expect(
        "coffee_dispense_reports_total",
        &[("result", "dispensed")],
        1.0,
    );
    expect(
        "coffee_http_requests_total",
        &[("route", "/v1/pay"), ("method", "GET"), ("status", "302")],
        1.0,
    );
    expect(
        "coffee_jobs",
        &[("kind", "send_make_command"), ("state", "done")],
        1.0,
    );
    expect("coffee_orders_needing_operator", &[], 0.0);
    expect(
        "coffee_provider_calls_total",
        &[
            ("provider", "sandbox"),
            ("call", "create"),
            ("outcome", "ok"),
        ],
        1.0,
    );
    expect(
        "coffee_machine_calls_total",
        &[
            ("machine", "simulated"),
            ("call", "make"),
            ("outcome", "ok"),
        ],
        1.0,
    );
    assert!(
        value(&text, "coffee_order_failures_total", &[]).is_none(),
        "nothing failed"
    );
    assert!(text.contains("coffee_http_request_duration_seconds_bucket"));
}
