//! The gateway against a wiremock MAPI: every call, the Token on every request, retries,
//! `CheckOrder` recovery, error mapping and notification verification.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration as ChronoDuration, Utc};
use coffee_adapter_tbank::token;
use coffee_adapter_tbank::{Password, TbankAccount, TbankConfig, TbankGateway};
use coffee_domain::ports::{
    CreatePaymentRequest, InboundNotification, NotificationClaim, NotificationError,
    PaymentGateway, PaymentGatewayError, ProviderPaymentStatus, RefundState,
};
use coffee_domain::{
    idempotency, CaptureMode, DeviceUuid, DrinkNo, MachineOrderId, Merchant, MerchantKey, Money,
    Order, OrderId, OrderStatus, Payment, PaymentId, PaymentMethod, PaymentState, ProviderKind,
    ReceiptContact, Size,
};
use coffee_test_support::fixtures;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TERMINAL: &str = "1234567890DEMO";
const PASSWORD: &str = "s3cr3tpassw0rd";
const ORDER_UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
const PAYMENT_UUID: &str = "9b2f7c1e-4d3a-4e5f-8a6b-7c8d9e0f1a2b";
const PAYMENT_URL: &str = "https://securepay.tinkoff.ru/new/fU1ppgqa";
const RETURN_URL: &str = "https://pay.example.ru/v1/order-status-page?order_id=67e55044";

fn merchant(capture: CaptureMode) -> Merchant {
    fixtures::merchant("acme-coffee").capture(capture).build()
}

fn order() -> Order {
    let now = Utc::now();
    Order {
        id: OrderId::parse(ORDER_UUID).unwrap(),
        machine_order_id: MachineOrderId::parse("20250317110122659ba6d7-9ace-cndn").unwrap(),
        device: DeviceUuid::parse("VM-42").unwrap(),
        merchant: MerchantKey::parse("acme-coffee").unwrap(),
        drink_no: DrinkNo::parse("7").unwrap(),
        drink_name: "Капучино".into(),
        size: Size::Medium,
        price: Money::rub(15_000).unwrap(),
        status: OrderStatus::Created,
        expires_at: now + ChronoDuration::minutes(15),
        failure_reason: None,
        receipt_contact: None,
        dispense_assumed: false,
        make_outcome_unknown: false,
        make_resent: false,
        attention: None,
        created_at: now,
        updated_at: now,
    }
}

fn create_request(capture: CaptureMode, contact: Option<ReceiptContact>) -> CreatePaymentRequest {
    let order = order();
    CreatePaymentRequest {
        payment_id: PaymentId::parse(PAYMENT_UUID).unwrap(),
        merchant: merchant(capture),
        amount: order.price,
        capture,
        description: "Оплата напитка: Капучино".into(),
        method: PaymentMethod::Card,
        return_url: RETURN_URL.into(),
        receipt_contact: contact,
        drink_receipt: Default::default(),
        idempotency_key: idempotency::create(order.id, 1),
        order,
    }
}

fn payment(state: PaymentState) -> Payment {
    let now = Utc::now();
    Payment {
        id: PaymentId::parse(PAYMENT_UUID).unwrap(),
        order_id: OrderId::parse(ORDER_UUID).unwrap(),
        provider: ProviderKind::Tbank,
        provider_payment_id: "3093639567".into(),
        amount: Money::rub(15_000).unwrap(),
        capture: CaptureMode::AfterDispense,
        state,
        confirmation_url: PAYMENT_URL.into(),
        idempotency_key: "coffee-refund-1".into(),
        refund_id: None,
        created_at: now,
        updated_at: now,
    }
}

fn account() -> TbankAccount {
    TbankAccount {
        terminal_key: TERMINAL.into(),
        password: Password::new(PASSWORD),
        taxation: "usn_income".into(),
        vat: "none".into(),
        sbp: false,
    }
}

fn gateway(server: &MockServer) -> TbankGateway {
    let config = TbankConfig {
        api_url: format!("{}/v2", server.uri()),
        notification_url: Some("https://pay.example.ru/v1/tbank-pay-webhook".into()),
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
        ..TbankConfig::default()
    };
    let mut accounts = HashMap::new();
    accounts.insert(MerchantKey::parse("acme-coffee").unwrap(), account());
    TbankGateway::new(config, Arc::new(accounts)).unwrap()
}

fn answer(status: &str, amount: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "Success": true, "ErrorCode": "0", "TerminalKey": TERMINAL, "Status": status,
        "PaymentId": "3093639567", "OrderId": PAYMENT_UUID, "Amount": amount,
        "PaymentURL": PAYMENT_URL
    }))
}

fn refusal(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "Success": false, "ErrorCode": code, "Message": message, "Details": "подробности"
    }))
}

async fn mount(server: &MockServer, name: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/v2/{name}")))
        .respond_with(response)
        .mount(server)
        .await;
}

fn body(request: &Request) -> Map<String, Value> {
    serde_json::from_slice(&request.body).unwrap()
}

/// Every request T-Bank receives: its method name, after checking its terminal and Token.
async fn signed_calls(server: &MockServer) -> Vec<(String, Map<String, Value>)> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|request| {
            let params = body(request);
            assert_eq!(params["TerminalKey"], json!(TERMINAL));
            assert!(
                token::verify(&params, &Password::new(PASSWORD)),
                "bad token on {}",
                request.url.path()
            );
            let name = request.url.path().trim_start_matches("/v2/").to_owned();
            (name, params)
        })
        .collect()
}

#[tokio::test]
async fn a_payment_is_created_by_a_signed_one_stage_init_carrying_our_ids_urls_and_receipt() {
    let server = MockServer::start().await;
    mount(&server, "Init", answer("NEW", 15_000)).await;
    let contact = Some(ReceiptContact::Email("buyer@example.ru".into()));
    let created = gateway(&server)
        .create_payment(&create_request(CaptureMode::Immediate, contact))
        .await
        .unwrap();
    assert_eq!(created.provider_payment_id, "3093639567");
    assert_eq!(created.confirmation_url, PAYMENT_URL);
    let calls = signed_calls(&server).await;
    assert_eq!(calls.len(), 1);
    let (name, init) = &calls[0];
    assert_eq!(name, "Init");
    assert_eq!(init["Amount"], json!(15_000));
    assert_eq!(init["OrderId"], json!(PAYMENT_UUID));
    assert_eq!(init["PayType"], json!("O"));
    assert_eq!(init["Description"], json!("Оплата напитка: Капучино"));
    assert_eq!(
        init["NotificationURL"],
        json!("https://pay.example.ru/v1/tbank-pay-webhook")
    );
    assert_eq!(init["SuccessURL"], json!(RETURN_URL));
    assert_eq!(init["FailURL"], json!(RETURN_URL));
    assert!(init["RedirectDueDate"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    assert_eq!(init["DATA"]["order_id"], json!(ORDER_UUID));
    assert_eq!(
        init["Receipt"],
        json!({
            "Email": "buyer@example.ru", "Taxation": "usn_income",
            "Items": [{"Name": "Капучино", "Price": 15_000, "Quantity": 1, "Amount": 15_000,
                       "Tax": "none", "PaymentMethod": "full_payment", "PaymentObject": "commodity"}]
        })
    );
}

#[tokio::test]
async fn after_dispense_merchants_get_two_stage_payments_without_a_receipt_when_no_contact() {
    let server = MockServer::start().await;
    mount(&server, "Init", answer("NEW", 15_000)).await;
    gateway(&server)
        .create_payment(&create_request(CaptureMode::AfterDispense, None))
        .await
        .unwrap();
    let calls = signed_calls(&server).await;
    assert_eq!(calls[0].1["PayType"], json!("T"));
    assert!(!calls[0].1.contains_key("Receipt"));
}

#[tokio::test]
async fn an_init_whose_answer_was_lost_and_created_nothing_is_sent_once_more_after_check_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/Init"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount(&server, "Init", answer("NEW", 15_000)).await;
    mount(
        &server,
        "CheckOrder",
        ResponseTemplate::new(200).set_body_json(json!({
            "Success": true, "ErrorCode": "0", "OrderId": PAYMENT_UUID, "Payments": []
        })),
    )
    .await;
    let created = gateway(&server)
        .create_payment(&create_request(CaptureMode::Immediate, None))
        .await
        .unwrap();
    assert_eq!(created.provider_payment_id, "3093639567");
    let calls = signed_calls(&server).await;
    let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Init", "CheckOrder", "Init"]);
    assert_eq!(calls[1].1["OrderId"], json!(PAYMENT_UUID));
    assert_eq!(calls[0].1, calls[2].1, "the same signed body both times");
}

#[tokio::test]
async fn an_init_whose_answer_was_lost_but_created_a_payment_never_creates_a_second_one() {
    let server = MockServer::start().await;
    mount(&server, "Init", ResponseTemplate::new(500)).await;
    mount(
        &server,
        "CheckOrder",
        ResponseTemplate::new(200).set_body_json(json!({
            "Success": true, "ErrorCode": "0", "OrderId": PAYMENT_UUID,
            "Payments": [{"PaymentId": "777", "Amount": 15_000, "Status": "NEW", "Success": "true", "ErrorCode": 0}]
        })),
    )
    .await;
    mount(&server, "Cancel", answer("CANCELED", 15_000)).await;
    let error = gateway(&server)
        .create_payment(&create_request(CaptureMode::Immediate, None))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Unavailable(_)),
        "{error:?}"
    );
    let calls = signed_calls(&server).await;
    let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Init", "CheckOrder", "Cancel"]);
    assert_eq!(calls[2].1["PaymentId"], json!("777"));
}

#[tokio::test]
async fn get_state_is_the_payment_with_its_status_amount_and_our_attempt_id() {
    let server = MockServer::start().await;
    mount(&server, "GetState", answer("AUTHORIZED", 15_000)).await;
    let fetched = gateway(&server)
        .get_payment(&merchant(CaptureMode::AfterDispense), "3093639567")
        .await
        .unwrap();
    assert_eq!(fetched.status, ProviderPaymentStatus::WaitingForCapture);
    assert_eq!(fetched.amount, Money::rub(15_000).unwrap());
    assert_eq!(
        fetched.payment_id,
        Some(PaymentId::parse(PAYMENT_UUID).unwrap())
    );
    let calls = signed_calls(&server).await;
    assert_eq!(calls[0].0, "GetState");
    assert_eq!(calls[0].1["PaymentId"], json!("3093639567"));
}

#[tokio::test]
async fn get_state_of_a_payment_the_original_system_created_names_the_machines_order_id() {
    let server = MockServer::start().await;
    let legacy = ResponseTemplate::new(200).set_body_json(json!({
        "Success": true, "ErrorCode": "0", "TerminalKey": TERMINAL, "Status": "CONFIRMED",
        "PaymentId": "6157436581", "OrderId": "20250610113045321ee11f-2b3c-tbnk", "Amount": 18_000
    }));
    mount(&server, "GetState", legacy).await;
    let fetched = gateway(&server)
        .get_payment(&merchant(CaptureMode::Immediate), "6157436581")
        .await
        .unwrap();
    assert_eq!(fetched.payment_id, None);
    assert_eq!(
        fetched.machine_order_id,
        Some(MachineOrderId::parse("20250610113045321ee11f-2b3c-tbnk").unwrap())
    );
    assert_eq!(fetched.status, ProviderPaymentStatus::Succeeded);
}

#[tokio::test]
async fn reads_are_retried_with_the_same_body_after_server_errors_then_reported_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/GetState"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    mount(&server, "GetState", answer("CONFIRMED", 15_000)).await;
    let fetched = gateway(&server)
        .get_payment(&merchant(CaptureMode::Immediate), "3093639567")
        .await
        .unwrap();
    assert_eq!(fetched.status, ProviderPaymentStatus::Succeeded);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.body == requests[0].body));

    let down = MockServer::start().await;
    mount(&down, "GetState", ResponseTemplate::new(500)).await;
    let error = gateway(&down)
        .get_payment(&merchant(CaptureMode::Immediate), "1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Unavailable(_)),
        "{error:?}"
    );
    assert_eq!(down.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn refusals_carry_t_bank_error_code_and_message_and_a_bad_token_means_credentials() {
    let server = MockServer::start().await;
    mount(&server, "Init", refusal("204", "Неверный токен")).await;
    let error = gateway(&server)
        .create_payment(&create_request(CaptureMode::Immediate, None))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PaymentGatewayError::Unauthorized(_)),
        "{error:?}"
    );

    let other = MockServer::start().await;
    mount(&other, "GetState", refusal("7", "Неверный статус")).await;
    let error = gateway(&other)
        .get_payment(&merchant(CaptureMode::Immediate), "1")
        .await
        .unwrap_err();
    assert_eq!(
        error,
        PaymentGatewayError::Rejected {
            code: "7".into(),
            message: "Неверный статус (подробности)".into()
        }
    );
    assert_eq!(
        other.received_requests().await.unwrap().len(),
        1,
        "a refusal is not retried"
    );
}

#[tokio::test]
async fn capture_is_a_confirm_of_the_whole_amount() {
    let server = MockServer::start().await;
    mount(&server, "Confirm", answer("CONFIRMED", 15_000)).await;
    gateway(&server)
        .capture(
            &merchant(CaptureMode::AfterDispense),
            &payment(PaymentState::Authorized),
            "k",
        )
        .await
        .unwrap();
    let calls = signed_calls(&server).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "Confirm");
    assert_eq!(calls[0].1["PaymentId"], json!("3093639567"));
    assert_eq!(calls[0].1["Amount"], json!(15_000));
}

#[tokio::test]
async fn a_confirm_refused_because_an_earlier_attempt_did_it_is_settled_by_get_state() {
    let server = MockServer::start().await;
    mount(
        &server,
        "Confirm",
        refusal("8", "Неверный статус транзакции"),
    )
    .await;
    mount(&server, "GetState", answer("CONFIRMED", 15_000)).await;
    gateway(&server)
        .capture(
            &merchant(CaptureMode::AfterDispense),
            &payment(PaymentState::Authorized),
            "k",
        )
        .await
        .unwrap();
    let names: Vec<String> = signed_calls(&server)
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["Confirm", "GetState"]);
}

#[tokio::test]
async fn cancel_releases_a_hold_without_an_amount() {
    let server = MockServer::start().await;
    mount(&server, "Cancel", answer("REVERSED", 15_000)).await;
    gateway(&server)
        .cancel(
            &merchant(CaptureMode::AfterDispense),
            &payment(PaymentState::Authorized),
            "k",
        )
        .await
        .unwrap();
    let calls = signed_calls(&server).await;
    assert_eq!(calls[0].0, "Cancel");
    assert!(!calls[0].1.contains_key("Amount"));
}

#[tokio::test]
async fn a_refund_is_a_cancel_with_the_amount_known_by_its_payment_and_rechecked_by_get_state() {
    let server = MockServer::start().await;
    mount(&server, "Cancel", answer("REFUNDING", 15_000)).await;
    mount(&server, "GetState", answer("REFUNDED", 15_000)).await;
    let gateway = gateway(&server);
    let merchant = merchant(CaptureMode::Immediate);
    let refund = gateway
        .refund(
            &merchant,
            &payment(PaymentState::Succeeded),
            "coffee-refund-1",
        )
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Pending);
    assert_eq!(refund.refund_id, "3093639567");
    let later = gateway
        .get_refund(&merchant, &refund.refund_id)
        .await
        .unwrap();
    assert_eq!(later.state, RefundState::Succeeded);
    let calls = signed_calls(&server).await;
    assert_eq!(calls[0].0, "Cancel");
    assert_eq!(calls[0].1["Amount"], json!(15_000));
    assert_eq!(calls[0].1["ExternalRequestId"], json!("coffee-refund-1"));
    assert_eq!(calls[1].0, "GetState");
}

fn notification(mut params: Map<String, Value>, password: &str) -> InboundNotification {
    token::sign(&mut params, &Password::new(password));
    InboundNotification {
        body: serde_json::to_vec(&params).unwrap(),
        headers: Vec::new(),
        sender_ip: None,
    }
}

fn confirmed(terminal: &str) -> Map<String, Value> {
    match json!({
        "TerminalKey": terminal, "OrderId": PAYMENT_UUID, "Success": true, "Status": "CONFIRMED",
        "PaymentId": 3093639567u64, "ErrorCode": "0", "Amount": 15_000, "Pan": "430000******0777",
        "DATA": {"Route": "ACQ"}
    }) {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_notification_signed_with_the_terminal_password_names_its_payment() {
    let server = MockServer::start().await;
    let claim = gateway(&server)
        .verify_notification(&notification(confirmed(TERMINAL), PASSWORD))
        .await
        .unwrap();
    assert_eq!(
        claim,
        NotificationClaim::Payment {
            provider_payment_id: "3093639567".into(),
            claimed_amount: Some(Money::rub(15_000).unwrap()),
            claimed_state: Some(PaymentState::Succeeded),
        }
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_forged_tampered_unsigned_or_foreign_terminal_notification_is_untrusted() {
    let server = MockServer::start().await;
    let gateway = gateway(&server);
    let forged = notification(confirmed(TERMINAL), "guessed");
    let mut tampered: Map<String, Value> =
        serde_json::from_slice(&notification(confirmed(TERMINAL), PASSWORD).body).unwrap();
    tampered.insert("Amount".into(), json!(1));
    let tampered = InboundNotification {
        body: serde_json::to_vec(&tampered).unwrap(),
        headers: Vec::new(),
        sender_ip: None,
    };
    let unsigned = InboundNotification {
        body: serde_json::to_vec(&confirmed(TERMINAL)).unwrap(),
        headers: Vec::new(),
        sender_ip: None,
    };
    let foreign = notification(confirmed("OtherTerminal"), PASSWORD);
    for inbound in [forged, tampered, unsigned, foreign] {
        let verdict = gateway.verify_notification(&inbound).await;
        assert!(
            matches!(verdict, Err(NotificationError::Untrusted(_))),
            "{verdict:?}"
        );
    }
    let garbage = InboundNotification {
        body: b"not json".to_vec(),
        headers: Vec::new(),
        sender_ip: None,
    };
    assert!(matches!(
        gateway.verify_notification(&garbage).await,
        Err(NotificationError::Malformed(_))
    ));
}

#[tokio::test]
async fn a_verified_fiscal_receipt_notification_is_recorded_not_acted_on() {
    let server = MockServer::start().await;
    let mut receipt = confirmed(TERMINAL);
    receipt.insert("Status".into(), json!("RECEIPT"));
    receipt.insert("FiscalNumber".into(), json!(12));
    let claim = gateway(&server)
        .verify_notification(&notification(receipt, PASSWORD))
        .await
        .unwrap();
    match claim {
        NotificationClaim::Recorded {
            payment_id,
            message,
        } => {
            assert_eq!(payment_id.to_string(), PAYMENT_UUID);
            assert!(message.contains("чек"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_sbp_payment_is_one_stage_even_for_a_holding_merchant_and_carries_its_qr_payload() {
    let server = MockServer::start().await;
    mount(&server, "Init", answer("NEW", 15_000)).await;
    let payload = "https://qr.nspk.ru/AS1000670LSS7DN18SJQDNP4B05KLJL2?type=01&bank=100000000001&sum=15000&cur=RUB&crc=C08B";
    mount(
        &server,
        "GetQr",
        ResponseTemplate::new(200).set_body_json(json!({
            "Success": true, "ErrorCode": "0", "TerminalKey": TERMINAL, "OrderId": PAYMENT_UUID,
            "PaymentId": 3093639567u64, "Data": payload
        })),
    )
    .await;
    let mut request = create_request(CaptureMode::AfterDispense, None);
    request.method = PaymentMethod::Sbp;
    let created = gateway(&server).create_payment(&request).await.unwrap();
    assert_eq!(created.provider_payment_id, "3093639567");
    assert_eq!(created.confirmation_url, payload);
    let calls = signed_calls(&server).await;
    let names: Vec<&str> = calls.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["Init", "GetQr"]);
    assert_eq!(calls[0].1["PayType"], json!("O"), "SBP has no holds");
    assert_eq!(calls[1].1["PaymentId"], json!("3093639567"));
    assert_eq!(calls[1].1["DataType"], json!("PAYLOAD"));
}

#[tokio::test]
async fn with_trusted_ips_a_signed_notification_is_believed_only_from_a_listed_sender() {
    let server = MockServer::start().await;
    let config = TbankConfig {
        api_url: format!("{}/v2", server.uri()),
        trusted_ips: vec!["91.194.226.0/23".parse().unwrap()],
        ..TbankConfig::default()
    };
    let mut accounts = HashMap::new();
    accounts.insert(MerchantKey::parse("acme-coffee").unwrap(), account());
    let gateway = TbankGateway::new(config, Arc::new(accounts)).unwrap();
    let from = |sender: Option<&str>| {
        let mut signed = notification(confirmed(TERMINAL), PASSWORD);
        signed.sender_ip = sender.map(|ip| ip.parse().unwrap());
        signed
    };
    for sender in [None, Some("203.0.113.9"), Some("91.194.228.1")] {
        assert!(
            matches!(
                gateway.verify_notification(&from(sender)).await,
                Err(NotificationError::Untrusted(_))
            ),
            "{sender:?}"
        );
    }
    for sender in ["91.194.226.1", "91.194.227.254", "::ffff:91.194.227.10"] {
        assert!(
            matches!(
                gateway.verify_notification(&from(Some(sender))).await,
                Ok(NotificationClaim::Payment { .. })
            ),
            "{sender}"
        );
    }
}

#[tokio::test]
async fn without_trusted_ips_any_sender_may_deliver_a_signed_notification() {
    let server = MockServer::start().await;
    let mut signed = notification(confirmed(TERMINAL), PASSWORD);
    signed.sender_ip = Some("203.0.113.9".parse().unwrap());
    assert!(matches!(
        gateway(&server).verify_notification(&signed).await,
        Ok(NotificationClaim::Payment { .. })
    ));
}

#[tokio::test]
async fn an_sbp_payment_whose_qr_code_cannot_be_had_is_canceled_not_left_open() {
    let server = MockServer::start().await;
    mount(&server, "Init", answer("NEW", 15_000)).await;
    mount(&server, "GetQr", ResponseTemplate::new(503)).await;
    mount(&server, "Cancel", answer("CANCELED", 15_000)).await;
    let mut request = create_request(CaptureMode::Immediate, None);
    request.method = PaymentMethod::Sbp;
    let refused = gateway(&server).create_payment(&request).await;
    assert!(
        matches!(refused, Err(PaymentGatewayError::Unavailable(_))),
        "{refused:?}"
    );
    let calls = signed_calls(&server).await;
    let cancels: Vec<_> = calls.iter().filter(|(name, _)| name == "Cancel").collect();
    assert_eq!(cancels.len(), 1, "{calls:?}");
    assert_eq!(cancels[0].1["PaymentId"], json!("3093639567"));
    assert!(
        !cancels[0].1.contains_key("Amount"),
        "a NEW payment is canceled, not refunded"
    );
}
