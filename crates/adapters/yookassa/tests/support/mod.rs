//! Shared fixtures for the YooKassa adapter tests: domain values, accounts, a gateway pointed at
//! a wiremock server, and YooKassa-shaped JSON answers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration as ChronoDuration, Utc};
use coffee_adapter_yookassa::{SecretKey, YookassaAccount, YookassaConfig, YookassaGateway};
use coffee_domain::ports::CreatePaymentRequest;
use coffee_domain::{
    idempotency, CaptureMode, DeviceUuid, DrinkNo, MachineOrderId, Merchant, MerchantKey, Money,
    Order, OrderId, OrderStatus, Payment, PaymentId, PaymentMethod, PaymentState, ProviderKind,
    ReceiptContact, Size,
};
use coffee_test_support::fixtures;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use wiremock::{MockServer, Request};

/// YooKassa's worked Basic-auth example: `123456:test_XXXXXXXX`.
pub const SHOP_ID: &str = "123456";
pub const SECRET_KEY: &str = "test_XXXXXXXX";
pub const EXPECTED_AUTHORIZATION: &str = "Basic MTIzNDU2OnRlc3RfWFhYWFhYWFg=";

pub const ORDER_UUID: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
pub const PAYMENT_UUID: &str = "9b2f7c1e-4d3a-4e5f-8a6b-7c8d9e0f1a2b";
pub const PROVIDER_PAYMENT_ID: &str = "23d93cac-000f-5000-8000-126628f15141";
pub const CONFIRMATION_URL: &str =
    "https://yoomoney.ru/api-pages/v2/payment-confirm/epl?orderId=23d93cac-000f-5000-8000-126628f15141";

/// The shop's merchant (no YooKassa settings: the gateway gets its account from [`account`]).
pub fn merchant(capture: CaptureMode) -> Merchant {
    fixtures::merchant("acme-coffee")
        .name("Acme Coffee")
        .contact_email("owner@acme.example")
        .capture(capture)
        .build()
}

pub fn order_id() -> OrderId {
    OrderId::parse(ORDER_UUID).unwrap()
}

pub fn order(price_kopecks: i64) -> Order {
    let now = Utc::now();
    Order {
        id: order_id(),
        machine_order_id: MachineOrderId::parse("20250317110122659ba6d7-9ace-cndn").unwrap(),
        device: DeviceUuid::parse("VM-42").unwrap(),
        merchant: MerchantKey::parse("acme-coffee").unwrap(),
        drink_no: DrinkNo::parse("7").unwrap(),
        drink_name: "Капучино".into(),
        size: Size::Medium,
        price: Money::rub(price_kopecks).unwrap(),
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

pub fn create_request(
    price_kopecks: i64,
    capture: CaptureMode,
    contact: Option<ReceiptContact>,
) -> CreatePaymentRequest {
    let order = order(price_kopecks);
    CreatePaymentRequest {
        payment_id: PaymentId::parse(PAYMENT_UUID).unwrap(),
        merchant: merchant(capture),
        amount: order.price,
        capture,
        description: "Оплата напитка: Капучино".into(),
        method: PaymentMethod::Card,
        return_url: format!("https://pay.example.ru/v1/order-status-page?order_id={ORDER_UUID}"),
        receipt_contact: contact,
        drink_receipt: Default::default(),
        idempotency_key: idempotency::create(order.id, 1),
        order,
    }
}

pub fn payment(amount_kopecks: i64) -> Payment {
    let now = Utc::now();
    Payment {
        id: PaymentId::parse(PAYMENT_UUID).unwrap(),
        order_id: order_id(),
        provider: ProviderKind::Yookassa,
        provider_payment_id: PROVIDER_PAYMENT_ID.into(),
        amount: Money::rub(amount_kopecks).unwrap(),
        capture: CaptureMode::AfterDispense,
        state: PaymentState::Authorized,
        confirmation_url: CONFIRMATION_URL.into(),
        idempotency_key: idempotency::create(order_id(), 1),
        refund_id: None,
        created_at: now,
        updated_at: now,
    }
}

pub fn account(vat_code: u8, tax_system_code: Option<u8>) -> YookassaAccount {
    YookassaAccount {
        shop_id: SHOP_ID.into(),
        secret_key: SecretKey::new(SECRET_KEY),
        vat_code,
        tax_system_code,
    }
}

/// Test timings: tiny backoff so retries cost milliseconds.
pub fn fast_config(server: &MockServer) -> YookassaConfig {
    YookassaConfig {
        api_url: format!("{}/v3", server.uri()),
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        ..YookassaConfig::default()
    }
}

pub fn gateway_with(config: YookassaConfig, account: YookassaAccount) -> YookassaGateway {
    let mut accounts = HashMap::new();
    accounts.insert(MerchantKey::parse("acme-coffee").unwrap(), account);
    YookassaGateway::new(config, Arc::new(accounts)).unwrap()
}

pub fn gateway(server: &MockServer) -> YookassaGateway {
    gateway_with(fast_config(server), account(1, None))
}

/// A gateway whose account table is empty.
pub fn gateway_without_accounts(server: &MockServer) -> YookassaGateway {
    let accounts: HashMap<MerchantKey, YookassaAccount> = HashMap::new();
    YookassaGateway::new(fast_config(server), Arc::new(accounts)).unwrap()
}

/// A payment object as YooKassa returns it from create and get.
pub fn payment_json(id: &str, status: &str, value: &str) -> Value {
    json!({
        "id": id,
        "status": status,
        "paid": status == "succeeded" || status == "waiting_for_capture",
        "amount": { "value": value, "currency": "RUB" },
        "confirmation": { "type": "redirect", "confirmation_url": CONFIRMATION_URL },
        "created_at": "2019-01-22T14:30:45.129Z",
        "description": "Оплата напитка: Капучино",
        "metadata": { "order_id": ORDER_UUID, "machine_order_id": "20250317110122659ba6d7-9ace-cndn" },
        "recipient": { "account_id": SHOP_ID, "gateway_id": "100700" },
        "refundable": false,
        "test": true
    })
}

pub fn error_json(code: &str, description: &str) -> Value {
    json!({
        "type": "error",
        "id": "ab5a11cd-13cc-4e33-af8b-75a74e18dd09",
        "code": code,
        "description": description
    })
}

pub fn header_of(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

pub fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

pub fn new_uuid() -> Uuid {
    Uuid::new_v4()
}
