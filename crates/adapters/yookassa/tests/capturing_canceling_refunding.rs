//! Capture, cancel and refund: the caller's key goes out unchanged, bodies are
//! exact, and the answers map to the port's outcomes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use coffee_domain::ports::{PaymentGateway, PaymentGatewayError, RefundState, RefundStatus};
use coffee_domain::{idempotency, CaptureMode, PaymentId};
use serde_json::{json, Value};
use support::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn refund_json(status: &str) -> Value {
    json!({
        "id": "216749f7-0016-50be-b000-078d43a63ae4",
        "payment_id": PROVIDER_PAYMENT_ID,
        "status": status,
        "amount": { "value": "150.00", "currency": "RUB" },
        "created_at": "2017-10-04T19:27:51.407Z"
    })
}

async fn refund_with_answer(answer: Value) -> Result<RefundState, PaymentGatewayError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/refunds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;
    let payment = payment(15000);
    gateway(&server)
        .refund(
            &merchant(CaptureMode::Immediate),
            &payment,
            &idempotency::refund(payment.id),
        )
        .await
        .map(|refund| refund.state)
}

const REFUND_ID: &str = "216749f7-0016-50be-b000-078d43a63ae4";

#[tokio::test]
async fn capture_posts_the_full_amount_with_the_callers_key() {
    let server = MockServer::start().await;
    let payment = payment(15000);
    let key = idempotency::capture(payment.id);
    Mock::given(method("POST"))
        .and(path(format!("/v3/payments/{PROVIDER_PAYMENT_ID}/capture")))
        .and(header("authorization", EXPECTED_AUTHORIZATION))
        .and(header("idempotence-key", key.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "succeeded",
            "150.00",
        )))
        .expect(1)
        .mount(&server)
        .await;

    gateway(&server)
        .capture(&merchant(CaptureMode::AfterDispense), &payment, &key)
        .await
        .unwrap();

    let received = requests(&server).await;
    assert_eq!(
        body(&received[0]),
        json!({ "amount": { "value": "150.00", "currency": "RUB" } })
    );
}

#[tokio::test]
async fn capture_of_a_payment_that_ended_canceled_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "canceled",
            "150.00",
        )))
        .mount(&server)
        .await;
    let payment = payment(15000);
    let error = gateway(&server)
        .capture(
            &merchant(CaptureMode::AfterDispense),
            &payment,
            &idempotency::capture(payment.id),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Rejected { ref code, .. } if code == "payment_canceled"),
        "{error:?}"
    );
}

#[tokio::test]
async fn capture_of_an_unknown_payment_is_rejected_with_yookassas_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(error_json("not_found", "Payment not found")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let payment = payment(15000);
    let error = gateway(&server)
        .capture(
            &merchant(CaptureMode::AfterDispense),
            &payment,
            &idempotency::capture(payment.id),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error,
        PaymentGatewayError::Rejected {
            code: "not_found".into(),
            message: "Payment not found".into()
        }
    );
}

#[tokio::test]
async fn cancel_posts_an_empty_object_with_the_callers_key() {
    let server = MockServer::start().await;
    let payment = payment(15000);
    let key = idempotency::cancel(payment.id);
    let mut answer = payment_json(PROVIDER_PAYMENT_ID, "canceled", "150.00");
    answer["cancellation_details"] =
        json!({ "party": "merchant", "reason": "canceled_by_merchant" });
    Mock::given(method("POST"))
        .and(path(format!("/v3/payments/{PROVIDER_PAYMENT_ID}/cancel")))
        .and(header("idempotence-key", key.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;

    gateway(&server)
        .cancel(&merchant(CaptureMode::AfterDispense), &payment, &key)
        .await
        .unwrap();

    assert_eq!(body(&requests(&server).await[0]), json!({}));
}

#[tokio::test]
async fn cancel_of_a_captured_payment_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "succeeded",
            "150.00",
        )))
        .mount(&server)
        .await;
    let payment = payment(15000);
    let error = gateway(&server)
        .cancel(
            &merchant(CaptureMode::AfterDispense),
            &payment,
            &idempotency::cancel(payment.id),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Rejected { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn refund_posts_payment_id_and_amount_with_the_callers_key() {
    let server = MockServer::start().await;
    let payment = payment(5);
    let key = idempotency::refund(payment.id);
    Mock::given(method("POST"))
        .and(path("/v3/refunds"))
        .and(header("authorization", EXPECTED_AUTHORIZATION))
        .and(header("idempotence-key", key.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(refund_json("succeeded")))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = gateway(&server)
        .refund(&merchant(CaptureMode::Immediate), &payment, &key)
        .await
        .unwrap();

    assert_eq!(
        outcome,
        RefundStatus {
            refund_id: REFUND_ID.into(),
            provider_payment_id: PROVIDER_PAYMENT_ID.into(),
            state: RefundState::Succeeded,
        }
    );
    assert_eq!(
        body(&requests(&server).await[0]),
        json!({ "payment_id": PROVIDER_PAYMENT_ID, "amount": { "value": "0.05", "currency": "RUB" } })
    );
}

#[tokio::test]
async fn refund_outcomes_follow_the_refund_status() {
    assert_eq!(
        refund_with_answer(refund_json("succeeded")).await,
        Ok(RefundState::Succeeded)
    );
    assert_eq!(
        refund_with_answer(refund_json("pending")).await,
        Ok(RefundState::Pending)
    );
    // A canceled refund is a state the domain flags for an operator, not a transport error.
    let mut canceled = refund_json("canceled");
    canceled["cancellation_details"] =
        json!({ "party": "yoo_money", "reason": "insufficient_funds" });
    assert_eq!(
        refund_with_answer(canceled).await,
        Ok(RefundState::Canceled)
    );

    assert!(matches!(
        refund_with_answer(refund_json("mystery")).await,
        Err(PaymentGatewayError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn a_refund_is_fetched_by_its_id_without_a_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/refunds/{REFUND_ID}")))
        .and(header("authorization", EXPECTED_AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(refund_json("succeeded")))
        .expect(1)
        .mount(&server)
        .await;
    let refund = gateway(&server)
        .get_refund(&merchant(CaptureMode::Immediate), REFUND_ID)
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Succeeded);
    assert_eq!(refund.provider_payment_id, PROVIDER_PAYMENT_ID);
    assert!(requests(&server).await[0]
        .headers
        .get("idempotence-key")
        .is_none());

    let missing = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "type": "error", "code": "not_found", "description": "Refund not found"
        })))
        .mount(&missing)
        .await;
    assert_eq!(
        gateway(&missing)
            .get_refund(&merchant(CaptureMode::Immediate), "nope")
            .await,
        Err(PaymentGatewayError::NotFound)
    );
}

#[tokio::test]
async fn each_operation_passes_its_own_key_through_unchanged() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "pending",
            "150.00",
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v3/payments/{PROVIDER_PAYMENT_ID}/capture")))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "succeeded",
            "150.00",
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v3/payments/{PROVIDER_PAYMENT_ID}/cancel")))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "canceled",
            "150.00",
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/refunds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(refund_json("pending")))
        .mount(&server)
        .await;

    let gateway = gateway(&server);
    let merchant = merchant(CaptureMode::AfterDispense);
    let payment = payment(15000);
    let other_payment = PaymentId::from_uuid(new_uuid());
    let create = create_request(15000, CaptureMode::AfterDispense, None);
    gateway.create_payment(&create).await.unwrap();
    gateway
        .capture(&merchant, &payment, "caller-capture-key-1")
        .await
        .unwrap();
    gateway
        .cancel(&merchant, &payment, &idempotency::cancel(other_payment))
        .await
        .unwrap();
    gateway
        .refund(&merchant, &payment, "caller-refund-key-XYZ")
        .await
        .unwrap();

    let keys: Vec<_> = requests(&server)
        .await
        .iter()
        .map(|r| {
            (
                r.url.path().to_owned(),
                header_of(r, "idempotence-key").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("/v3/payments".to_owned(), create.idempotency_key.clone()),
            (
                format!("/v3/payments/{PROVIDER_PAYMENT_ID}/capture"),
                "caller-capture-key-1".to_owned()
            ),
            (
                format!("/v3/payments/{PROVIDER_PAYMENT_ID}/cancel"),
                idempotency::cancel(other_payment)
            ),
            ("/v3/refunds".to_owned(), "caller-refund-key-XYZ".to_owned()),
        ]
    );
}

#[tokio::test]
async fn an_idempotence_key_longer_than_64_characters_is_refused_before_sending() {
    let server = MockServer::start().await;
    let payment = payment(15000);
    let error = gateway(&server)
        .refund(&merchant(CaptureMode::Immediate), &payment, &"k".repeat(65))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Rejected { ref code, .. } if code == "invalid_idempotence_key")
    );
    assert!(requests(&server).await.is_empty());
}
