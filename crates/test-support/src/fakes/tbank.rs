//! A stateful fake of T-Bank's MAPI v2 (`/v2/<Method>`) plus a checkout page
//! (`/checkout/{PaymentId}`) with «Оплатить» and «Отказ».
//!
//! Every request's `Token` is checked with the terminal's password — computed here on its own,
//! not with the adapter's code, so a signing bug cannot hide — and a bad one is refused with
//! `ErrorCode` 204 as T-Bank does. The checkout buttons move the payment and send a
//! notification signed like T-Bank's to the payment's `NotificationURL`, again until the answer
//! is `OK`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One MAPI request the fake received (its `Token` already checked).
#[derive(Debug, Clone)]
pub struct TbankCall {
    /// `Init`, `GetState`, `Confirm`, `Cancel`, `CheckOrder`, `GetQr`.
    pub method: String,
    pub body: Value,
    /// Whether the `Token` was right.
    pub signed: bool,
}

#[derive(Debug, Clone)]
pub struct TbankPayment {
    pub payment_id: String,
    pub terminal_key: String,
    /// Our payment attempt id.
    pub order_id: String,
    pub amount: i64,
    pub status: String,
    /// `O` or `T`.
    pub pay_type: String,
    pub notification_url: Option<String>,
    pub success_url: String,
    pub fail_url: String,
    pub data: Value,
    pub receipt: Option<Value>,
}

#[derive(Default)]
struct State {
    passwords: HashMap<String, String>,
    payments: HashMap<String, TbankPayment>,
    calls: Vec<TbankCall>,
    failures: VecDeque<u16>,
    next_id: u64,
}

/// The fake T-Bank; clones share one state.
#[derive(Clone)]
pub struct FakeTbank {
    server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// T-Bank's `Token`: root-level scalars + `Password`, sorted by key, values concatenated,
/// SHA-256, lower-case hex.
pub fn token(params: &Map<String, Value>, password: &str) -> String {
    let mut pairs: BTreeMap<&str, String> = BTreeMap::new();
    for (key, value) in params {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        if key != "Token" {
            pairs.insert(key, text);
        }
    }
    pairs.insert("Password", password.to_owned());
    let joined: String = pairs.into_values().collect();
    hex::encode(Sha256::digest(joined.as_bytes()))
}

/// `params` with their `Token` under `password`, as JSON bytes.
pub fn signed(mut params: Map<String, Value>, password: &str) -> Vec<u8> {
    let signature = token(&params, password);
    params.insert("Token".into(), Value::String(signature));
    serde_json::to_vec(&params).unwrap_or_default()
}

fn refusal(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"Success": false, "ErrorCode": code, "Message": message}))
}

fn answer(p: &TbankPayment, base: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "Success": true, "ErrorCode": "0", "TerminalKey": p.terminal_key, "Status": p.status,
        "PaymentId": p.payment_id, "OrderId": p.order_id, "Amount": p.amount,
        "PaymentURL": format!("{base}/checkout/{}", p.payment_id)
    }))
}

fn notification_params(p: &TbankPayment) -> Map<String, Value> {
    let numeric_id: u64 = p.payment_id.parse().unwrap_or_default();
    match json!({
        "TerminalKey": p.terminal_key, "OrderId": p.order_id, "Success": true,
        "Status": p.status, "PaymentId": numeric_id, "ErrorCode": "0", "Amount": p.amount,
        "CardId": 322264, "Pan": "430000******0777", "ExpDate": "1130",
        "DATA": {"Route": "ACQ", "Source": "cards"}
    }) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Posts `body` to `url` until the answer is exactly `200 OK` (at most 5 times).
fn deliver_until_ok(url: String, body: Vec<u8>) {
    std::thread::spawn(move || {
        for _ in 0..5 {
            if post_once(&url, &body).is_some_and(|(status, text)| status == 200 && text == "OK") {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
}

fn post_once(url: &str, body: &[u8]) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let content = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, content))
}

struct Handler {
    state: Arc<Mutex<State>>,
    base: String,
}

impl Handler {
    fn api(&self, state: &mut State, method: &str, body: Value) -> ResponseTemplate {
        let params = body.as_object().cloned().unwrap_or_default();
        let terminal = params
            .get("TerminalKey")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let given = params
            .get("Token")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let signed = state
            .passwords
            .get(&terminal)
            .is_some_and(|password| token(&params, password) == given);
        state.calls.push(TbankCall {
            method: method.to_owned(),
            body: body.clone(),
            signed,
        });
        if let Some(status) = state.failures.pop_front() {
            return ResponseTemplate::new(status);
        }
        if !signed {
            return refusal(
                "204",
                "Неверный токен. Проверьте пару TerminalKey/SecretKey",
            );
        }
        let text = |key: &str| match params.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let amount = params.get("Amount").and_then(Value::as_i64);
        match method {
            "Init" => {
                state.next_id += 1;
                let payment = TbankPayment {
                    payment_id: format!("{}", 3_000_000_000u64 + state.next_id),
                    terminal_key: terminal,
                    order_id: text("OrderId"),
                    amount: amount.unwrap_or_default(),
                    status: "NEW".into(),
                    pay_type: text("PayType"),
                    notification_url: params
                        .get("NotificationURL")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    success_url: text("SuccessURL"),
                    fail_url: text("FailURL"),
                    data: params.get("DATA").cloned().unwrap_or(Value::Null),
                    receipt: params.get("Receipt").cloned(),
                };
                let reply = answer(&payment, &self.base);
                state.payments.insert(payment.payment_id.clone(), payment);
                reply
            }
            "CheckOrder" => {
                let order_id = text("OrderId");
                let payments: Vec<Value> = state
                    .payments
                    .values()
                    .filter(|p| p.order_id == order_id && p.terminal_key == terminal)
                    .map(|p| json!({"PaymentId": p.payment_id, "Amount": p.amount, "Status": p.status, "Success": "true", "ErrorCode": 0}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({"Success": true, "ErrorCode": "0", "OrderId": order_id, "Payments": payments}))
            }
            _ => {
                let base = self.base.clone();
                let Some(p) = state
                    .payments
                    .get_mut(&text("PaymentId"))
                    .filter(|p| p.terminal_key == terminal)
                else {
                    return refusal("7", "Платеж не найден");
                };
                let next = match (method, p.status.as_str()) {
                    ("GetState", status) => status.to_owned(),
                    ("Confirm", "AUTHORIZED") => "CONFIRMED".into(),
                    ("Cancel", "NEW" | "FORM_SHOWED") => "CANCELED".into(),
                    ("Cancel", "AUTHORIZED") => "REVERSED".into(),
                    ("Cancel", "CONFIRMED") if amount.is_none_or(|a| a == p.amount) => "REFUNDED".into(),
                    ("GetQr", _) => {
                        return ResponseTemplate::new(200).set_body_json(json!({
                            "Success": true, "ErrorCode": "0", "TerminalKey": p.terminal_key, "OrderId": p.order_id,
                            "PaymentId": p.payment_id.parse::<u64>().unwrap_or_default(),
                            "Data": format!("https://qr.nspk.ru/FAKE{}?type=02&sum={}&cur=RUB", p.payment_id, p.amount)
                        }))
                    }
                    _ => return refusal("8", "Неверный статус транзакции"),
                };
                p.status = next;
                answer(p, &base)
            }
        }
    }

    /// The customer presses «Оплатить» (`pay`) or «Отказ» (`decline`).
    fn checkout(&self, state: &mut State, id: &str, action: &str) -> ResponseTemplate {
        let Some(p) = state.payments.get_mut(id) else {
            return ResponseTemplate::new(404);
        };
        if p.status == "NEW" {
            p.status = match action {
                "pay" if p.pay_type == "T" => "AUTHORIZED".into(),
                "pay" => "CONFIRMED".into(),
                _ => "REJECTED".into(),
            };
        }
        let back = if action == "pay" {
            p.success_url.clone()
        } else {
            p.fail_url.clone()
        };
        let p = p.clone();
        if let (Some(url), Some(password)) = (
            p.notification_url.clone(),
            state.passwords.get(&p.terminal_key),
        ) {
            deliver_until_ok(url, signed(notification_params(&p), password));
        }
        ResponseTemplate::new(303).insert_header("location", back.as_str())
    }
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let path = request.url.path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v2", method]) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                self.api(&mut state, method, body)
            }
            ("GET", ["checkout", id]) => match state.payments.get(*id) {
                Some(p) => ResponseTemplate::new(200).set_body_raw(format!(
                    "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Т-Банк (тест)</title></head>\
                     <body><h1>Т-Банк — тестовая оплата</h1><p>{} коп.</p><p id=\"status\">{}</p>\
                     <form method=\"post\" action=\"/checkout/{id}/pay\"><button id=\"tbank-pay\" type=\"submit\">Оплатить</button></form>\
                     <form method=\"post\" action=\"/checkout/{id}/decline\"><button id=\"tbank-decline\" type=\"submit\">Отказ</button></form></body></html>",
                    p.amount, p.status, id = p.payment_id
                ), "text/html; charset=utf-8"),
                None => ResponseTemplate::new(404),
            },
            ("POST", ["checkout", id, action @ ("pay" | "decline")]) => {
                let (id, action) = (id.to_string(), action.to_string());
                self.checkout(&mut state, &id, &action)
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

impl FakeTbank {
    /// A fake knowing these terminals (`TerminalKey`, password).
    pub async fn start(terminals: &[(&str, &str)]) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        lock(&state).passwords = terminals
            .iter()
            .map(|(key, password)| ((*key).to_owned(), (*password).to_owned()))
            .collect();
        let handler = Handler {
            state: state.clone(),
            base: server.uri(),
        };
        Mock::given(path_regex("^/(v2|checkout)/.*$"))
            .respond_with(handler)
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// What `TBANK_API_URL` should be.
    pub fn api_url(&self) -> String {
        format!("{}/v2", self.server.uri())
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The next API calls fail with these HTTP statuses, in order.
    pub fn fail_next(&self, status: u16) {
        lock(&self.state).failures.push_back(status);
    }

    pub fn payment(&self, id: &str) -> Option<TbankPayment> {
        lock(&self.state).payments.get(id).cloned()
    }

    pub fn calls(&self) -> Vec<TbankCall> {
        lock(&self.state).calls.clone()
    }

    /// The calls of one method.
    pub fn calls_of(&self, method: &str) -> Vec<TbankCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The customer pays without the page: `AUTHORIZED` (two-stage) or `CONFIRMED`.
    pub fn pay(&self, id: &str) {
        if let Some(p) = lock(&self.state).payments.get_mut(id) {
            if p.status == "NEW" {
                p.status = if p.pay_type == "T" {
                    "AUTHORIZED".into()
                } else {
                    "CONFIRMED".into()
                };
            }
        }
    }

    /// Forces a status.
    pub fn set_status(&self, id: &str, status: &str) {
        if let Some(p) = lock(&self.state).payments.get_mut(id) {
            p.status = status.into();
        }
    }

    /// Changes the amount `GetState` reports (a payment that is not what we asked for).
    pub fn set_amount(&self, id: &str, kopecks: i64) {
        if let Some(p) = lock(&self.state).payments.get_mut(id) {
            p.amount = kopecks;
        }
    }

    /// The notification T-Bank would send about payment `id` now, signed with its terminal's
    /// password; `edit` may change fields before signing.
    pub fn notification(&self, id: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
        let state = lock(&self.state);
        let Some(p) = state.payments.get(id) else {
            return Vec::new();
        };
        let mut params = notification_params(p);
        edit(&mut params);
        let password = state
            .passwords
            .get(&p.terminal_key)
            .cloned()
            .unwrap_or_default();
        signed(params, &password)
    }
}
