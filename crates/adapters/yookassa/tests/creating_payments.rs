//! `POST /v3/payments`: authentication, the caller's Idempotence-Key, the exact body, and the
//! receipt rules of 54-FZ.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use coffee_domain::ports::{PaymentGateway, PaymentGatewayError};
use coffee_domain::{CaptureMode, ReceiptContact};
use serde_json::{json, Value};
use support::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server_creating(value: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "pending",
            value,
        )))
        .mount(&server)
        .await;
    server
}

/// Creates a payment and returns the JSON body YooKassa received.
async fn sent_body(
    request: coffee_domain::ports::CreatePaymentRequest,
    gateway_account: coffee_adapter_yookassa::YookassaAccount,
) -> Value {
    let server = server_creating(&request.amount.to_decimal_string()).await;
    let gateway = gateway_with(fast_config(&server), gateway_account);
    gateway.create_payment(&request).await.unwrap();
    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    body(&received[0])
}

#[tokio::test]
async fn create_sends_basic_auth_idempotence_key_and_json_and_returns_the_confirmation_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .and(header("authorization", EXPECTED_AUTHORIZATION))
        .and(header(
            "idempotence-key",
            "coffee-create-67e55044-10b1-426f-9247-bb680e5fe0c8",
        ))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_json(
            PROVIDER_PAYMENT_ID,
            "pending",
            "150.00",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let created = gateway(&server)
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
        .unwrap();

    assert_eq!(created.provider_payment_id, PROVIDER_PAYMENT_ID);
    assert_eq!(created.confirmation_url, CONFIRMATION_URL);
}

#[tokio::test]
async fn create_body_carries_amount_capture_confirmation_description_and_our_ids() {
    let sent = sent_body(
        create_request(15000, CaptureMode::Immediate, None),
        account(1, None),
    )
    .await;
    assert_eq!(
        sent,
        json!({
            "amount": { "value": "150.00", "currency": "RUB" },
            "capture": true,
            "confirmation": {
                "type": "redirect",
                "return_url": format!("https://pay.example.ru/v1/order-status-page?order_id={ORDER_UUID}")
            },
            "description": "Оплата напитка: Капучино",
            "metadata": {
                "order_id": ORDER_UUID,
                "machine_order_id": "20250317110122659ba6d7-9ace-cndn",
                "drink_no": "7",
                "size": "medium"
            }
        })
    );
}

#[tokio::test]
async fn amounts_are_sent_as_exact_decimal_strings() {
    for (kopecks, expected) in [
        (15000, "150.00"),
        (5, "0.05"),
        (12345, "123.45"),
        (100, "1.00"),
    ] {
        let sent = sent_body(
            create_request(kopecks, CaptureMode::Immediate, None),
            account(1, None),
        )
        .await;
        assert_eq!(sent["amount"]["value"], expected, "{kopecks} kopecks");
        assert_eq!(sent["amount"]["currency"], "RUB");
    }
}

#[tokio::test]
async fn capture_flag_is_true_for_immediate_and_false_for_after_dispense() {
    let immediate = sent_body(
        create_request(15000, CaptureMode::Immediate, None),
        account(1, None),
    )
    .await;
    assert_eq!(immediate["capture"], json!(true));
    let hold = sent_body(
        create_request(15000, CaptureMode::AfterDispense, None),
        account(1, None),
    )
    .await;
    assert_eq!(hold["capture"], json!(false));
}

#[tokio::test]
async fn no_receipt_is_sent_without_a_customer_contact() {
    let sent = sent_body(
        create_request(15000, CaptureMode::Immediate, None),
        account(4, Some(2)),
    )
    .await;
    assert!(sent.get("receipt").is_none(), "{sent}");
}

#[tokio::test]
async fn an_email_contact_sends_a_one_item_54fz_receipt() {
    let contact = ReceiptContact::email("buyer@example.com").unwrap();
    let sent = sent_body(
        create_request(15000, CaptureMode::Immediate, Some(contact)),
        account(4, Some(2)),
    )
    .await;
    assert_eq!(
        sent["receipt"],
        json!({
            "customer": { "email": "buyer@example.com" },
            "items": [{
                "description": "Капучино",
                "quantity": "1.00",
                "amount": { "value": "150.00", "currency": "RUB" },
                "vat_code": 4,
                "payment_subject": "commodity",
                "payment_mode": "full_payment"
            }],
            "tax_system_code": 2
        })
    );
}

#[tokio::test]
async fn the_drinks_receipt_data_wins_over_the_shops_defaults_field_by_field() {
    let contact = ReceiptContact::email("buyer@example.com").unwrap();
    let mut request = create_request(15000, CaptureMode::Immediate, Some(contact));
    request.drink_receipt = coffee_domain::DrinkReceipt {
        vat_code: Some(12),
        measure: Some("piece".into()),
        payment_subject: None,
        payment_mode: Some("advance".into()),
    };
    let sent = sent_body(request, account(4, Some(2))).await;
    assert_eq!(
        sent["receipt"]["items"][0],
        json!({
            "description": "Капучино",
            "quantity": "1.00",
            "amount": { "value": "150.00", "currency": "RUB" },
            "vat_code": 12,
            "payment_subject": "commodity",
            "payment_mode": "advance",
            "measure": "piece"
        })
    );
    assert_eq!(sent["receipt"]["tax_system_code"], 2);
}

#[tokio::test]
async fn a_phone_contact_is_sent_without_the_plus_and_tax_system_code_only_when_set() {
    let contact = ReceiptContact::phone("+7 (900) 123-45-67").unwrap();
    let sent = sent_body(
        create_request(5, CaptureMode::Immediate, Some(contact)),
        account(1, None),
    )
    .await;
    let receipt = &sent["receipt"];
    assert_eq!(receipt["customer"], json!({ "phone": "79001234567" }));
    assert_eq!(receipt["items"][0]["vat_code"], 1);
    assert_eq!(receipt["items"][0]["amount"]["value"], "0.05");
    assert_eq!(receipt["items"][0]["quantity"], "1.00");
    assert!(receipt.get("tax_system_code").is_none(), "{receipt}");
}

#[tokio::test]
async fn descriptions_longer_than_128_characters_are_cut() {
    let mut request = create_request(
        15000,
        CaptureMode::Immediate,
        Some(ReceiptContact::email("a@b.ru").unwrap()),
    );
    request.description = "Ж".repeat(300);
    request.order.drink_name = "Ы".repeat(200);
    let sent = sent_body(request, account(1, None)).await;
    assert_eq!(sent["description"].as_str().unwrap().chars().count(), 128);
    assert_eq!(
        sent["receipt"]["items"][0]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        128
    );
}

#[tokio::test]
async fn a_retried_create_reuses_the_same_idempotence_key_and_yields_one_payment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/payments"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(error_json("internal_server_error", "Internal server error")),
        )
        .up_to_n_times(1)
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

    let created = gateway(&server)
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
        .unwrap();

    assert_eq!(created.provider_payment_id, PROVIDER_PAYMENT_ID);
    let received = requests(&server).await;
    assert_eq!(received.len(), 2);
    let keys: Vec<_> = received
        .iter()
        .map(|r| header_of(r, "idempotence-key"))
        .collect();
    assert_eq!(
        keys,
        vec![Some("coffee-create-67e55044-10b1-426f-9247-bb680e5fe0c8".to_owned()); 2]
    );
    assert_eq!(
        received[0].body, received[1].body,
        "a retry sends the same body"
    );
}

#[tokio::test]
async fn a_payment_canceled_at_creation_is_rejected_with_its_reason() {
    let server = MockServer::start().await;
    let mut answer = payment_json(PROVIDER_PAYMENT_ID, "canceled", "150.00");
    answer["confirmation"] = Value::Null;
    answer["cancellation_details"] = json!({ "party": "yoo_money", "reason": "internal_timeout" });
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;

    let error = gateway(&server)
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
        .unwrap_err();

    match error {
        PaymentGatewayError::Rejected { code, message } => {
            assert_eq!(code, "payment_canceled");
            assert!(message.contains("internal_timeout"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_created_payment_without_confirmation_url_is_an_invalid_response() {
    let server = MockServer::start().await;
    let mut answer = payment_json(PROVIDER_PAYMENT_ID, "pending", "150.00");
    answer["confirmation"] = json!({ "type": "redirect" });
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;

    let error = gateway(&server)
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
        .unwrap_err();

    assert!(
        matches!(error, PaymentGatewayError::InvalidResponse(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_merchant_without_a_yookassa_account_is_unauthorized_and_nothing_is_sent() {
    let server = MockServer::start().await;
    let error = gateway_without_accounts(&server)
        .create_payment(&create_request(15000, CaptureMode::Immediate, None))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        PaymentGatewayError::Unauthorized("merchant has no YooKassa account".into())
    );
    assert!(requests(&server).await.is_empty());
}
