//! A stateful fake of the Tmetr telemetry/commander API: prices, heartbeats, and a record of
//! every make command it accepted.

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One command of a make request's array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeRecord {
    pub device_id: String,
    pub order_uuid: String,
    pub drink_uuid: String,
    pub size: String,
    pub price: i64,
}

#[derive(Default)]
struct State {
    prices: HashMap<(String, String, String), i64>,
    default_price: Option<i64>,
    offline: HashSet<String>,
    accepted: Vec<MakeRecord>,
    make_requests: usize,
    make_failures: VecDeque<u16>,
    make_delay: Option<Duration>,
    /// Statuses answered after the command was recorded (a proxy's 502/504 in front of Tmetr).
    make_answers_after_recording: VecDeque<u16>,
}

#[derive(Clone)]
pub struct FakeTmetr {
    server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

struct Handler {
    state: Arc<Mutex<State>>,
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.headers.get("authorization").is_none() {
            return ResponseTemplate::new(401).set_body_json(json!({"errorCode": "unauthorized"}));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut state = lock(&self.state);
        match request.url.path() {
            "/api/ui/v1/static/drink" => {
                let key = (
                    body["deviceId"].as_str().unwrap_or_default().to_owned(),
                    body["drinkIdAtDevice"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    body["drinkSize"].as_str().unwrap_or_default().to_owned(),
                );
                match state.prices.get(&key).copied().or(state.default_price) {
                    Some(price) => ResponseTemplate::new(200)
                        .set_body_json(json!({"price": price, "name": "drink"})),
                    None => ResponseTemplate::new(200).set_body_json(json!({})),
                }
            }
            "/api/commander/v1/command/make" => {
                state.make_requests += 1;
                if let Some(status) = state.make_failures.pop_front() {
                    return ResponseTemplate::new(status)
                        .set_body_json(json!({"errorCode": "fake"}));
                }
                let Some(commands) = body.as_array() else {
                    return ResponseTemplate::new(400)
                        .set_body_json(json!({"errorCode": "not an array"}));
                };
                for command in commands {
                    state.accepted.push(MakeRecord {
                        device_id: command["deviceId"].as_str().unwrap_or_default().to_owned(),
                        order_uuid: command["orderUuid"].as_str().unwrap_or_default().to_owned(),
                        drink_uuid: command["drinkUuid"].as_str().unwrap_or_default().to_owned(),
                        size: command["size"].as_str().unwrap_or_default().to_owned(),
                        price: command["price"].as_i64().unwrap_or_default(),
                    });
                }
                if let Some(status) = state.make_answers_after_recording.pop_front() {
                    return ResponseTemplate::new(status).set_body_string("Gateway Timeout");
                }
                let accepted = ResponseTemplate::new(200).set_body_json(json!({}));
                match state.make_delay {
                    // Recorded as accepted now, answered later: the window in which a caller
                    // that dies has had its command accepted without learning it.
                    Some(delay) => accepted.set_delay(delay),
                    None => accepted,
                }
            }
            "/api/ui/v1/stat/heartbeat/recent" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let content: Vec<Value> = body["deviceIds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|id| !state.offline.contains(*id))
                    .map(|id| json!({"deviceId": id, "deviceIotName": id, "heartbeatCreatedAt": now}))
                    .collect();
                let total = content.len();
                ResponseTemplate::new(200).set_body_json(
                    json!({"content": content, "totalElements": total, "offset": 0, "limit": 1}),
                )
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

impl FakeTmetr {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(path_regex("^/api/.*$"))
            .respond_with(Handler {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// What `TMETR_HOST` should be.
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    /// Price of a drink size (`SMALL`/`MEDIUM`/`BIG`) in kopecks.
    pub fn set_price(&self, device: &str, drink: &str, size: &str, kopecks: i64) {
        lock(&self.state)
            .prices
            .insert((device.into(), drink.into(), size.into()), kopecks);
    }

    /// Price of anything not priced explicitly.
    pub fn set_default_price(&self, kopecks: i64) {
        lock(&self.state).default_price = Some(kopecks);
    }

    pub fn set_offline(&self, device: &str, offline: bool) {
        let mut state = lock(&self.state);
        if offline {
            state.offline.insert(device.into());
        } else {
            state.offline.remove(device);
        }
    }

    /// The next make requests fail with these statuses, in order.
    pub fn fail_next_make(&self, status: u16) {
        lock(&self.state).make_failures.push_back(status);
    }

    /// The next make request is recorded as accepted (the drink is made) and then answered with
    /// `status`, as a proxy in front of Tmetr would after timing out on it.
    pub fn accept_next_make_then_answer(&self, status: u16) {
        lock(&self.state)
            .make_answers_after_recording
            .push_back(status);
    }

    /// Make commands are recorded as accepted at once but answered only after `delay`.
    pub fn set_make_delay(&self, delay: Duration) {
        lock(&self.state).make_delay = Some(delay);
    }

    /// Every accepted make command, in arrival order (repeats included).
    pub fn accepted(&self) -> Vec<MakeRecord> {
        lock(&self.state).accepted.clone()
    }

    /// Accepted make commands for one machine order id.
    pub fn accepted_for(&self, order_uuid: &str) -> usize {
        lock(&self.state)
            .accepted
            .iter()
            .filter(|m| m.order_uuid == order_uuid)
            .count()
    }

    /// Make requests received, failed ones included.
    pub fn make_requests(&self) -> usize {
        lock(&self.state).make_requests
    }
}
