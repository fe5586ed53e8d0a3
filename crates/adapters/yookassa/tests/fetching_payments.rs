//! `GET /v3/payments/{id}`: the trusted view. Statuses map exhaustively, amounts parse exactly,
//! and anything that does not add up is an invalid response.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use coffee_domain::ports::{PaymentGateway, PaymentGatewayError, ProviderPaymentStatus};
use coffee_domain::{CaptureMode, Money};
use serde_json::{json, Value};
use support::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn fetch(
    answer: Value,
) -> Result<coffee_domain::ports::ProviderPayment, PaymentGatewayError> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/payments/{PROVIDER_PAYMENT_ID}")))
        .and(header("authorization", EXPECTED_AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;
    gateway(&server)
        .get_payment(&merchant(CaptureMode::Immediate), PROVIDER_PAYMENT_ID)
        .await
}

#[tokio::test]
async fn get_maps_every_yookassa_status_and_keeps_unknown_ones_as_other() {
    let cases = [
        ("pending", ProviderPaymentStatus::Pending),
        (
            "waiting_for_capture",
            ProviderPaymentStatus::WaitingForCapture,
        ),
        ("succeeded", ProviderPaymentStatus::Succeeded),
        ("canceled", ProviderPaymentStatus::Canceled),
        (
            "refunded_somehow",
            ProviderPaymentStatus::Other("refunded_somehow".into()),
        ),
    ];
    for (wire, expected) in cases {
        let fetched = fetch(payment_json(PROVIDER_PAYMENT_ID, wire, "150.00"))
            .await
            .unwrap();
        assert_eq!(fetched.status, expected, "{wire}");
        assert_eq!(fetched.provider_payment_id, PROVIDER_PAYMENT_ID);
        assert_eq!(fetched.order_id, Some(order_id()));
    }
}

#[tokio::test]
async fn get_parses_amounts_exactly() {
    for (value, kopecks) in [("150.00", 15000), ("0.05", 5), ("2.5", 250), ("99", 9900)] {
        let fetched = fetch(payment_json(PROVIDER_PAYMENT_ID, "succeeded", value))
            .await
            .unwrap();
        assert_eq!(fetched.amount, Money::rub(kopecks).unwrap(), "{value}");
    }
}

#[tokio::test]
async fn a_malformed_amount_is_an_invalid_response() {
    for value in ["150.001", "1e2", "-1.00", "", "150,00", "abc"] {
        let error = fetch(payment_json(PROVIDER_PAYMENT_ID, "succeeded", value))
            .await
            .unwrap_err();
        assert!(
            matches!(error, PaymentGatewayError::InvalidResponse(_)),
            "{value}: {error:?}"
        );
    }
    let mut numeric = payment_json(PROVIDER_PAYMENT_ID, "succeeded", "150.00");
    numeric["amount"]["value"] = json!(150.0);
    assert!(matches!(
        fetch(numeric).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn a_foreign_currency_is_an_invalid_response() {
    let mut answer = payment_json(PROVIDER_PAYMENT_ID, "succeeded", "150.00");
    answer["amount"]["currency"] = json!("USD");
    assert!(matches!(
        fetch(answer).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn a_payment_without_our_order_id_in_metadata_has_no_order_id() {
    let mut answer = payment_json(PROVIDER_PAYMENT_ID, "pending", "150.00");
    answer["metadata"] = json!({});
    assert_eq!(fetch(answer).await.unwrap().order_id, None);
    let mut no_metadata = payment_json(PROVIDER_PAYMENT_ID, "pending", "150.00");
    no_metadata.as_object_mut().unwrap().remove("metadata");
    assert_eq!(fetch(no_metadata).await.unwrap().order_id, None);
}

#[tokio::test]
async fn a_metadata_order_id_that_is_not_ours_is_an_invalid_response() {
    let mut answer = payment_json(PROVIDER_PAYMENT_ID, "succeeded", "150.00");
    answer["metadata"] = json!({ "order_id": "vm42-000123" });
    assert!(matches!(
        fetch(answer).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn a_payment_of_another_shop_is_an_invalid_response() {
    let mut answer = payment_json(PROVIDER_PAYMENT_ID, "succeeded", "150.00");
    answer["recipient"]["account_id"] = json!("999999");
    assert!(matches!(
        fetch(answer).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn an_answer_about_another_payment_is_an_invalid_response() {
    let answer = payment_json(
        "2a000000-000f-5000-8000-000000000000",
        "succeeded",
        "150.00",
    );
    assert!(matches!(
        fetch(answer).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn a_body_that_is_not_a_payment_is_an_invalid_response() {
    assert!(matches!(
        fetch(json!({ "hello": "world" })).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn get_of_an_unknown_payment_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(error_json("not_found", "Payment not found")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = gateway(&server)
        .get_payment(&merchant(CaptureMode::Immediate), PROVIDER_PAYMENT_ID)
        .await
        .unwrap_err();
    assert_eq!(error, PaymentGatewayError::NotFound);
}

#[tokio::test]
async fn get_sends_no_idempotence_key_and_encodes_the_id_as_one_path_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let _ = gateway(&server)
        .get_payment(&merchant(CaptureMode::Immediate), "../refunds?x=1")
        .await;
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].url.path(), "/v3/payments/..%2Frefunds%3Fx=1");
    assert_eq!(received[0].url.query(), None);
    assert_eq!(header_of(&received[0], "idempotence-key"), None);
}
