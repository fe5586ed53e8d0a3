//! Prices (`static/drink`) and make commands (`command/make`) against a local Tmetr fake.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use coffee_adapter_tmetr::{TmetrConfig, TmetrGateway};
use coffee_domain::ports::{MachineError, MachineGateway};
use coffee_domain::{Money, Size};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn price_answer(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn price_posts_static_drink_with_upper_case_sizes_and_reads_integer_kopecks() {
    let server = MockServer::start().await;
    for (size, kopecks) in [("SMALL", 12_000), ("MEDIUM", 15_000), ("BIG", 18_050)] {
        Mock::given(method("POST"))
            .and(path(DRINK_PATH))
            .and(header("Authorization", format!("Bearer {TOKEN}").as_str()))
            .and(header("TimeZoneOffset", "0"))
            .and(header("Content-Type", "application/json"))
            .and(body_json(json!({
                "deviceId": DEVICE,
                "drinkIdAtDevice": DRINK,
                "drinkSize": size,
            })))
            .respond_with(price_answer(json!({"name": "Latte", "price": kopecks})))
            .expect(1)
            .named(size)
            .mount(&server)
            .await;
    }
    let gateway = gateway(&server);

    let small = gateway.price(&device(), &drink(), Size::Small).await;
    let medium = gateway.price(&device(), &drink(), Size::Medium).await;
    let big = gateway.price(&device(), &drink(), Size::Big).await;

    assert_eq!(small, Ok(Money::rub(12_000).unwrap()));
    assert_eq!(medium, Ok(Money::rub(15_000).unwrap()));
    assert_eq!(big, Ok(Money::rub(18_050).unwrap()));
    server.verify().await;
}

#[tokio::test]
async fn a_missing_price_is_unknown_and_never_an_invented_fifty_roubles() {
    let server = MockServer::start().await;
    Mock::given(path(DRINK_PATH))
        .respond_with(price_answer(json!({"name": "Latte"})))
        .mount(&server)
        .await;

    let price = gateway(&server)
        .price(&device(), &drink(), Size::Medium)
        .await;

    assert_eq!(price, Err(MachineError::PriceUnknown));
}

#[tokio::test]
async fn a_zero_null_or_negative_price_is_unknown() {
    for body in [
        json!({"price": 0}),
        json!({"price": null}),
        json!({"price": -100}),
    ] {
        let server = MockServer::start().await;
        Mock::given(path(DRINK_PATH))
            .respond_with(price_answer(body.clone()))
            .mount(&server)
            .await;

        let price = gateway(&server)
            .price(&device(), &drink(), Size::Small)
            .await;

        assert_eq!(price, Err(MachineError::PriceUnknown), "{body}");
    }
}

#[tokio::test]
async fn a_server_error_on_price_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(path(DRINK_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;

    let price = gateway(&server)
        .price(&device(), &drink(), Size::Small)
        .await;

    assert!(
        matches!(price, Err(MachineError::Unavailable(ref m)) if m.contains("500")),
        "{price:?}"
    );
}

#[tokio::test]
async fn an_unknown_drink_answered_with_404_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(path(DRINK_PATH))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorCode": "NOT_FOUND", "errorId": "e1", "errorMessage": "drink not found"
        })))
        .mount(&server)
        .await;

    let price = gateway(&server)
        .price(&device(), &drink(), Size::Small)
        .await;

    assert!(
        matches!(price, Err(MachineError::Rejected(ref m)) if m.contains("404") && m.contains("drink not found")),
        "{price:?}"
    );
}

#[tokio::test]
async fn make_posts_a_one_element_array_with_lower_case_sizes_and_integer_kopecks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MAKE_PATH))
        .and(header("Authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("TimeZoneOffset", "0"))
        .and(header("Content-Type", "application/json"))
        .respond_with(ResponseTemplate::new(200))
        .expect(3)
        .mount(&server)
        .await;
    let gateway = gateway(&server);

    for (size, kopecks) in [
        (Size::Small, 12_000),
        (Size::Medium, 15_000),
        (Size::Big, 18_050),
    ] {
        gateway.make(&command(size, kopecks)).await.unwrap();
    }

    let requests = server.received_requests().await.unwrap();
    let bodies: Vec<Value> = requests.iter().map(|r| r.body_json().unwrap()).collect();
    let expected: Vec<Value> = [("small", 12_000), ("medium", 15_000), ("big", 18_050)]
        .into_iter()
        .map(|(size, price)| {
            json!([{
                "deviceId": DEVICE,
                "orderUuid": MACHINE_ORDER,
                "drinkUuid": DRINK,
                "size": size,
                "price": price,
            }])
        })
        .collect();
    assert_eq!(bodies, expected);
    for body in &bodies {
        assert!(body.is_array(), "make body must be a JSON array: {body}");
        assert!(
            body[0]["price"].is_i64(),
            "price must be integer kopecks: {body}"
        );
        assert_ne!(body[0]["size"], "large");
    }
}

#[tokio::test]
async fn a_server_error_on_make_is_unavailable_and_the_retry_is_accepted_exactly_once() {
    let server = MockServer::start().await;
    Mock::given(path(MAKE_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .named("first attempt fails")
        .mount(&server)
        .await;
    Mock::given(path(MAKE_PATH))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .named("retry accepted")
        .mount(&server)
        .await;
    let gateway = gateway(&server);
    let command = command(Size::Medium, 15_000);

    let first = gateway.make(&command).await;
    let retry = gateway.make(&command).await;

    assert!(
        matches!(first, Err(MachineError::Unavailable(ref m)) if m.contains("503")),
        "{first:?}"
    );
    assert_eq!(retry, Ok(()));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let order_ids: Vec<Value> = requests
        .iter()
        .map(|r| r.body_json::<Value>().unwrap()[0]["orderUuid"].clone())
        .collect();
    assert_eq!(order_ids, vec![json!(MACHINE_ORDER), json!(MACHINE_ORDER)]);
    server.verify().await; // one refused, one accepted: one command for the order
}

#[tokio::test]
async fn too_many_requests_on_make_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(path(MAKE_PATH))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;

    let made = gateway(&server).make(&command(Size::Small, 100)).await;

    assert!(
        matches!(made, Err(MachineError::Unavailable(_))),
        "{made:?}"
    );
}

#[tokio::test]
async fn a_client_error_on_make_is_rejected_with_status_and_body_excerpt() {
    let server = MockServer::start().await;
    Mock::given(path(MAKE_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorCode": "BAD_REQUEST", "errorMessage": "unknown drink"
        })))
        .mount(&server)
        .await;

    let made = gateway(&server).make(&command(Size::Small, 100)).await;

    assert!(
        matches!(made, Err(MachineError::Rejected(ref m)) if m.contains("400") && m.contains("unknown drink")),
        "{made:?}"
    );
}

#[tokio::test]
async fn a_make_command_that_times_out_after_sending_has_an_unknown_outcome() {
    let server = MockServer::start().await;
    Mock::given(path(MAKE_PATH))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.timeout = Duration::from_millis(200);
    let gateway = TmetrGateway::new(config).unwrap();

    let started = Instant::now();
    let made = gateway.make(&command(Size::Small, 100)).await;

    assert!(
        matches!(made, Err(MachineError::OutcomeUnknown(ref m)) if m.contains("timed out")),
        "{made:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_tmetr_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again: nothing listens there
    let mut config = TmetrConfig::new(&format!("http://127.0.0.1:{port}"));
    config.token = Some(TOKEN.into());
    config.timeout = Duration::from_millis(500);
    let gateway = TmetrGateway::new(config).unwrap();

    let price = gateway.price(&device(), &drink(), Size::Small).await;

    assert!(
        matches!(price, Err(MachineError::Unavailable(_))),
        "{price:?}"
    );
}
