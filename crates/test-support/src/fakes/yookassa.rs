//! A stateful fake of YooKassa API v3 (`/v3/...`) plus a checkout page (`/checkout/{id}`).
//!
//! Payments are remembered by `Idempotence-Key`: the same key returns the same payment, as the
//! real API does. The customer's actions are methods ([`FakeYookassa::pay`], …) or the
//! checkout page's buttons; the page then "sends" the webhook to the configured URL.

use base64::Engine;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One request the fake API received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub idempotence_key: Option<String>,
    pub shop_id: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct FakePayment {
    pub id: String,
    pub status: String,
    pub amount: String,
    pub capture: bool,
    pub shop_id: String,
    pub metadata: Value,
    pub return_url: String,
    pub description: String,
    pub receipt: Option<Value>,
    pub refunded: bool,
    /// A refund was asked for and is not complete yet (see [`FakeYookassa::hold_refunds`]).
    pub refund_pending: bool,
}

#[derive(Default)]
struct State {
    payments: HashMap<String, FakePayment>,
    by_key: HashMap<String, String>,
    requests: Vec<RecordedRequest>,
    failures: VecDeque<u16>,
    webhook_url: Option<String>,
    next_id: u64,
    /// Refunds are accepted as `pending` and complete only on [`FakeYookassa::complete_refund`].
    hold_refunds: bool,
}

#[derive(Clone)]
pub struct FakeYookassa {
    server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn shop_of(request: &Request) -> Option<String> {
    let header = request.headers.get("authorization")?.to_str().ok()?;
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(shop, _)| shop.to_owned())
}

fn payment_json(p: &FakePayment, base: &str) -> Value {
    json!({
        "id": p.id,
        "status": p.status,
        "paid": matches!(p.status.as_str(), "succeeded" | "waiting_for_capture"),
        "amount": {"value": p.amount, "currency": "RUB"},
        "confirmation": {"type": "redirect", "confirmation_url": format!("{base}/checkout/{}", p.id)},
        "created_at": "2026-11-26T10:00:00.000Z",
        "description": p.description,
        "metadata": p.metadata,
        "recipient": {"account_id": p.shop_id, "gateway_id": "1"},
        "refundable": p.status == "succeeded" && !p.refunded,
        "test": true
    })
}

/// Routes every request through the shared state.
struct Handler {
    state: Arc<Mutex<State>>,
    base: String,
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let path = request.url.path().to_owned();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let key = request
            .headers
            .get("idempotence-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let shop = shop_of(request);
        if path.starts_with("/v3/") {
            state.requests.push(RecordedRequest {
                method: request.method.to_string(),
                path: path.clone(),
                idempotence_key: key.clone(),
                shop_id: shop.clone(),
                body: body.clone(),
            });
            if let Some(status) = state.failures.pop_front() {
                return ResponseTemplate::new(status)
                    .set_body_json(json!({"type": "error", "code": "internal_server_error", "description": "fake failure"}));
            }
            if shop.is_none() {
                return ResponseTemplate::new(401)
                    .set_body_json(json!({"type": "error", "code": "invalid_credentials"}));
            }
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v3", "payments"]) => {
                if let Some(existing) = key.as_ref().and_then(|k| state.by_key.get(k)).and_then(|id| state.payments.get(id)) {
                    return ResponseTemplate::new(200).set_body_json(payment_json(existing, &self.base));
                }
                state.next_id += 1;
                let id = format!("2f{:06}-000f-5000-8000-{:012}", state.next_id, state.next_id);
                let payment = FakePayment {
                    id: id.clone(),
                    status: "pending".into(),
                    amount: body["amount"]["value"].as_str().unwrap_or("0.00").to_owned(),
                    capture: body["capture"].as_bool().unwrap_or(true),
                    shop_id: shop.unwrap_or_default(),
                    metadata: body["metadata"].clone(),
                    return_url: body["confirmation"]["return_url"].as_str().unwrap_or("/").to_owned(),
                    description: body["description"].as_str().unwrap_or("").to_owned(),
                    receipt: body.get("receipt").cloned(),
                    refunded: false,
                    refund_pending: false,
                };
                let answer = payment_json(&payment, &self.base);
                if let Some(key) = key {
                    state.by_key.insert(key, id.clone());
                }
                state.payments.insert(id, payment);
                ResponseTemplate::new(200).set_body_json(answer)
            }
            ("GET", ["v3", "payments", id]) => match state.payments.get(*id) {
                Some(p) => ResponseTemplate::new(200).set_body_json(payment_json(p, &self.base)),
                None => ResponseTemplate::new(404).set_body_json(json!({"type": "error", "code": "not_found"})),
            },
            ("POST", ["v3", "payments", id, action]) => {
                let base = self.base.clone();
                let Some(p) = state.payments.get_mut(*id) else {
                    return ResponseTemplate::new(404).set_body_json(json!({"type": "error", "code": "not_found"}));
                };
                let next = match (*action, p.status.as_str()) {
                    ("capture", "waiting_for_capture" | "succeeded") => "succeeded",
                    ("cancel", "waiting_for_capture" | "canceled") => "canceled",
                    _ => {
                        return ResponseTemplate::new(400).set_body_json(
                            json!({"type": "error", "code": "invalid_request", "description": format!("cannot {action} a {} payment", p.status)}),
                        )
                    }
                };
                p.status = next.into();
                ResponseTemplate::new(200).set_body_json(payment_json(p, &base))
            }
            ("POST", ["v3", "refunds"]) => {
                let id = body["payment_id"].as_str().unwrap_or_default().to_owned();
                let hold_refunds = state.hold_refunds;
                match state.payments.get_mut(&id) {
                    Some(p) if p.status == "succeeded" => {
                        let status = if hold_refunds && !p.refunded {
                            p.refund_pending = true;
                            "pending"
                        } else {
                            p.refunded = true;
                            "succeeded"
                        };
                        ResponseTemplate::new(200).set_body_json(json!({
                            "id": format!("rf-{id}"), "payment_id": id, "status": status,
                            "amount": {"value": p.amount, "currency": "RUB"}
                        }))
                    }
                    _ => ResponseTemplate::new(400)
                        .set_body_json(json!({"type": "error", "code": "invalid_request", "description": "not refundable"})),
                }
            }
            ("GET", ["v3", "refunds", refund_id]) => {
                let refunded = refund_id
                    .strip_prefix("rf-")
                    .and_then(|id| state.payments.get(id))
                    .filter(|p| p.refunded || p.refund_pending);
                match refunded {
                    Some(p) => ResponseTemplate::new(200).set_body_json(json!({
                        "id": refund_id, "payment_id": p.id,
                        "status": if p.refunded { "succeeded" } else { "pending" },
                        "amount": {"value": p.amount, "currency": "RUB"}
                    })),
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({"type": "error", "code": "not_found"})),
                }
            }
            ("GET", ["checkout", id]) => match state.payments.get(*id) {
                // `set_body_raw` with the mime type: `set_body_string` would serve `text/plain`.
                Some(p) => ResponseTemplate::new(200).set_body_raw(format!(
                    "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>ЮKassa (тест)</title></head>\
                     <body><h1>ЮKassa — тестовая оплата</h1><p>{} — {} ₽</p><p id=\"status\">{}</p>\
                     <form method=\"post\" action=\"/checkout/{}/pay\"><button id=\"yookassa-pay\" type=\"submit\">Заплатить</button></form></body></html>",
                    p.description, p.amount, p.status, p.id
                ), "text/html; charset=utf-8"),
                None => ResponseTemplate::new(404),
            },
            ("POST", ["checkout", id, "pay"]) => {
                let Some(p) = state.payments.get_mut(*id) else { return ResponseTemplate::new(404) };
                if p.status == "pending" {
                    p.status = if p.capture { "succeeded".into() } else { "waiting_for_capture".into() };
                }
                let event = if p.capture { "payment.succeeded" } else { "payment.waiting_for_capture" };
                let notification = notification_body(event, p, &self.base);
                let return_url = p.return_url.clone();
                if let Some(url) = state.webhook_url.clone() {
                    drop(super::post_json_in_background(url, notification));
                }
                ResponseTemplate::new(303).insert_header("location", return_url.as_str())
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

fn notification_body(event: &str, payment: &FakePayment, base: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"type": "notification", "event": event, "object": payment_json(payment, base)}),
    )
    .unwrap_or_default()
}

impl FakeYookassa {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let handler = Handler {
            state: state.clone(),
            base: server.uri(),
        };
        Mock::given(path_regex("^/(v3|checkout)/.*$"))
            .respond_with(handler)
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// What `YOOKASSA_API_URL` should be.
    pub fn api_url(&self) -> String {
        format!("{}/v3", self.server.uri())
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Where the checkout page sends its webhook after the customer pays.
    pub fn send_webhooks_to(&self, url: impl Into<String>) {
        lock(&self.state).webhook_url = Some(url.into());
    }

    /// The next API calls fail with these statuses, in order.
    pub fn fail_next(&self, status: u16) {
        lock(&self.state).failures.push_back(status);
    }

    pub fn payment(&self, id: &str) -> Option<FakePayment> {
        lock(&self.state).payments.get(id).cloned()
    }

    pub fn payments(&self) -> Vec<FakePayment> {
        lock(&self.state).payments.values().cloned().collect()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    /// A payment another system created (the original, before a network moved over):
    /// `pending`, captured at once, with that system's `metadata`.
    pub fn preexisting(&self, id: &str, shop_id: &str, amount: &str, metadata: Value) {
        lock(&self.state).payments.insert(
            id.to_owned(),
            FakePayment {
                id: id.to_owned(),
                status: "pending".into(),
                amount: amount.to_owned(),
                capture: true,
                shop_id: shop_id.to_owned(),
                metadata,
                return_url: String::new(),
                description: String::new(),
                receipt: None,
                refunded: false,
                refund_pending: false,
            },
        );
    }

    /// The customer pays: `succeeded` (capture) or `waiting_for_capture` (hold).
    pub fn pay(&self, id: &str) {
        if let Some(p) = lock(&self.state).payments.get_mut(id) {
            if p.status == "pending" {
                p.status = if p.capture {
                    "succeeded".into()
                } else {
                    "waiting_for_capture".into()
                };
            }
        }
    }

    /// From now on refunds are accepted as `pending`, as YooKassa may answer, until
    /// [`FakeYookassa::complete_refund`].
    pub fn hold_refunds(&self) {
        lock(&self.state).hold_refunds = true;
    }

    /// The pending refund of payment `id` completes.
    pub fn complete_refund(&self, id: &str) {
        if let Some(p) = lock(&self.state).payments.get_mut(id) {
            if p.refund_pending {
                p.refund_pending = false;
                p.refunded = true;
            }
        }
    }

    /// The `refund.succeeded` notification YooKassa sends for the refund of payment `id`.
    pub fn refund_notification(&self, id: &str) -> Vec<u8> {
        let state = lock(&self.state);
        let amount = state
            .payments
            .get(id)
            .map(|p| p.amount.clone())
            .unwrap_or_default();
        serde_json::to_vec(&json!({"type": "notification", "event": "refund.succeeded",
            "object": {"id": format!("rf-{id}"), "payment_id": id, "status": "succeeded",
                       "amount": {"value": amount, "currency": "RUB"}}}))
        .unwrap_or_default()
    }

    /// Forces a status (e.g. `canceled` when the customer gives up).
    pub fn set_status(&self, id: &str, status: &str) {
        if let Some(p) = lock(&self.state).payments.get_mut(id) {
            p.status = status.into();
        }
    }

    /// Changes the amount the API reports (a tampered payment).
    pub fn set_amount(&self, id: &str, value: &str) {
        if let Some(p) = lock(&self.state).payments.get_mut(id) {
            p.amount = value.into();
        }
    }

    /// The notification body YooKassa would send for `event` about payment `id` now.
    pub fn notification(&self, event: &str, id: &str) -> Vec<u8> {
        let state = lock(&self.state);
        match state.payments.get(id) {
            Some(p) => notification_body(event, p, &self.server.uri()),
            None => serde_json::to_vec(&json!({"type": "notification", "event": event, "object": {"id": id, "status": "succeeded"}}))
                .unwrap_or_default(),
        }
    }
}
