//! YooKassa's response-handling rules: which answers are retried with the same
//! key, which become typed errors, and the timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use coffee_domain::ports::{PaymentGateway, PaymentGatewayError};
use coffee_domain::CaptureMode;
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CREATE_KEY: &str = "coffee-create-67e55044-10b1-426f-9247-bb680e5fe0c8";

async fn create(
    server: &MockServer,
) -> Result<coffee_domain::ports::CreatedPayment, PaymentGatewayError> {
    gateway(server)
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
}

/// Mounts `first` for the first `times` requests, then a successful creation.
async fn failing_then_ok(first: ResponseTemplate, times: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .respond_with(first)
        .up_to_n_times(times)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "pending",
            "150.00",
        )))
        .mount(&server)
        .await;
    server
}

async fn assert_all_keys_are_the_create_key(server: &MockServer, count: usize) {
    let received = requests(server).await;
    assert_eq!(received.len(), count);
    for request in &received {
        assert_eq!(
            header_of(request, "idempotence-key").as_deref(),
            Some(CREATE_KEY)
        );
    }
}

async fn error_for(status: u16, body: serde_json::Value) -> PaymentGatewayError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    create(&server).await.unwrap_err()
}

#[tokio::test]
async fn http_200_is_answered_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "pending",
            "150.00",
        )))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        create(&server).await.unwrap().provider_payment_id,
        PROVIDER_PAYMENT_ID
    );
    assert_all_keys_are_the_create_key(&server, 1).await;
}

#[tokio::test]
async fn http_202_processing_is_retried_with_the_same_key_until_200() {
    let processing = ResponseTemplate::new(202).set_body_json(json!({
        "type": "processing",
        "description": "Request accepted, but not processed yet. Retry again with the same Idempotence-Key",
        "retry_after": 1
    }));
    let server = failing_then_ok(processing, 1).await;
    assert_eq!(
        create(&server).await.unwrap().provider_payment_id,
        PROVIDER_PAYMENT_ID
    );
    assert_all_keys_are_the_create_key(&server, 2).await;
}

#[tokio::test]
async fn http_429_backs_off_and_retries_with_the_same_key() {
    let limited = ResponseTemplate::new(429).set_body_json(error_json(
        "too_many_requests",
        "The limit of requests per unit of time has been exceeded",
    ));
    let server = failing_then_ok(limited, 1).await;
    assert_eq!(
        create(&server).await.unwrap().provider_payment_id,
        PROVIDER_PAYMENT_ID
    );
    assert_all_keys_are_the_create_key(&server, 2).await;
}

#[tokio::test]
async fn a_retry_after_header_is_respected_but_capped() {
    let limited = ResponseTemplate::new(429).insert_header("Retry-After", "3600");
    let server = failing_then_ok(limited, 1).await;
    let started = Instant::now();
    create(&server).await.unwrap();
    // max_backoff in the test config is 20 ms: the hour-long hint is capped.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_all_keys_are_the_create_key(&server, 2).await;
}

#[tokio::test]
async fn http_500_on_every_attempt_is_unavailable_after_max_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(error_json("internal_server_error", "Internal server error")),
        )
        .expect(3)
        .mount(&server)
        .await;
    let error = create(&server).await.unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Unavailable(_)),
        "{error:?}"
    );
    assert_all_keys_are_the_create_key(&server, 3).await;
}

#[tokio::test]
async fn http_400_is_rejected_with_yookassas_code_and_description() {
    let error = error_for(
        400,
        error_json("invalid_request", "Idempotence key duplicated"),
    )
    .await;
    assert_eq!(
        error,
        PaymentGatewayError::Rejected {
            code: "invalid_request".into(),
            message: "Idempotence key duplicated".into()
        }
    );
}

#[tokio::test]
async fn a_rejection_names_the_offending_parameter() {
    let mut body = error_json("invalid_request", "Idempotence key is too long");
    body["parameter"] = json!("Idempotence-Key");
    match error_for(400, body).await {
        PaymentGatewayError::Rejected { code, message } => {
            assert_eq!(code, "invalid_request");
            assert_eq!(
                message,
                "Idempotence key is too long (parameter: Idempotence-Key)"
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn http_401_is_unauthorized() {
    let error = error_for(
        401,
        error_json("invalid_credentials", "Login or password is incorrect"),
    )
    .await;
    match error {
        PaymentGatewayError::Unauthorized(message) => {
            assert!(message.contains("invalid_credentials"), "{message}");
            assert!(!message.contains(SECRET_KEY), "{message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn http_403_is_rejected_as_forbidden() {
    let error = error_for(403, error_json("forbidden", "Not enough rights")).await;
    assert_eq!(
        error,
        PaymentGatewayError::Rejected {
            code: "forbidden".into(),
            message: "Not enough rights".into()
        }
    );
}

#[tokio::test]
async fn a_4xx_without_an_error_body_is_rejected_with_the_http_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(415).set_body_string("Unsupported Media Type"))
        .expect(1)
        .mount(&server)
        .await;
    match create(&server).await.unwrap_err() {
        PaymentGatewayError::Rejected { code, .. } => assert_eq!(code, "http_415"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_2xx_body_that_is_not_json_is_an_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        create(&server).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(payment_json(PROVIDER_PAYMENT_ID, "pending", "150.00"))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let config = coffee_adapter_yookassa::YookassaConfig {
        timeout: Duration::from_millis(150),
        max_attempts: 2,
        ..fast_config(&server)
    };
    let started = Instant::now();
    let error = gateway_with(config, account(1, None))
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
        .unwrap_err();
    match error {
        PaymentGatewayError::Unavailable(message) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_all_keys_are_the_create_key(&server, 2).await;
}

#[tokio::test]
async fn an_unreachable_api_is_unavailable() {
    let server = MockServer::start().await;
    let config = coffee_adapter_yookassa::YookassaConfig {
        api_url: "http://127.0.0.1:9/v3".into(),
        ..fast_config(&server)
    };
    let error = gateway_with(config, account(1, None))
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Unavailable(_)),
        "{error:?}"
    );
}
