//! `spawn_app()`: the real application on a free port, in memory, with a controllable clock.

use chrono::{DateTime, TimeZone, Utc};
use coffee_adapter_memory::{FakeClock, MemoryStore};
use coffee_adapter_sandbox::{SandboxProvider, SimulatedMachine};
use coffee_domain::services::Context;
use coffee_server::config::Config;
use coffee_server::startup::{memory_wiring, Application};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

pub const FLEET: &str = r#"
[[merchants]]
key = "shop"
name = "Кофе Тест"
contact_email = "owner@example.com"
valid_until = "2026-06-01"
capture = "immediate"
receipt = "optional"

[[merchants]]
key = "strict"
name = "Строгий Кофе"
contact_email = "owner@example.com"
valid_until = "2099-12-31"
capture = "after_dispense"
receipt = "required"

[[merchants]]
key = "expired"
name = "Просроченный"
contact_email = "owner@example.com"
valid_until = "2026-05-31"

[[devices]]
device_uuid = "dev-1"
merchant = "shop"
location = "Холл"
simulated_outcome = "dispensed"
simulated_delay_ms = 20

[[devices]]
device_uuid = "dev-broken"
merchant = "shop"
simulated_outcome = "failed"
simulated_delay_ms = 20

[[devices]]
device_uuid = "dev-strict"
merchant = "strict"
simulated_delay_ms = 20

[[devices]]
device_uuid = "dev-old"
merchant = "expired"

[[drinks]]
device = "dev-1"
drink_no = "1"
name = "Капучино"
prices = { small = 12000, medium = 15000 }

[[drinks]]
device = "dev-broken"
drink_no = "1"
name = "Латте"
prices = { medium = 16000 }

[[drinks]]
device = "dev-strict"
drink_no = "1"
name = "Флэт уайт"
prices = { medium = 17000 }

[[drinks]]
device = "dev-old"
drink_no = "1"
name = "Чай"
prices = { medium = 5000 }
"#;

/// 2026-06-01 10:00 UTC: the "shop" merchant's last paid day.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0)
        .single()
        .expect("valid time")
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<FakeClock>,
    pub store: Arc<MemoryStore>,
    pub sandbox: Arc<SandboxProvider>,
    pub machine: Arc<SimulatedMachine>,
    pub ctx: Arc<Context>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(FLEET, &[]).await
}

/// The application with another fleet and extra configuration variables.
pub async fn spawn_app_with(fleet: &str, extra: &[(&str, String)]) -> TestApp {
    coffee_server::telemetry::init_for_tests();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let address = format!("http://127.0.0.1:{port}");
    let mut vars: HashMap<String, String> = [
        ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ("BASE_URL", address.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in extra {
        vars.insert((*key).to_owned(), value.clone());
    }
    let config = Config::from_vars(&vars).expect("config");
    let clock = Arc::new(FakeClock::new(start_time()));
    let wiring = memory_wiring(&config, clock.clone(), "test-fleet.toml", fleet)
        .await
        .expect("wiring");
    let store = wiring.memory.clone().expect("memory store");
    let sandbox = wiring.sandbox.clone().expect("sandbox");
    let machine = wiring.machine.clone();
    let ctx = wiring.ctx.clone();
    let app =
        Application::start_on(listener, &config, wiring, Duration::from_millis(20)).expect("start");
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        clock,
        store,
        sandbox,
        machine,
        ctx,
    }
}

pub fn qr(device: &str, drink: &str, size: &str, uuid: &str) -> String {
    format!("/v1/pay?deviceUuid={device}&drinkNo={drink}&size={size}&uuid={uuid}&drinkName=Coffee&random=abc&ts=1742198482&salt=ff")
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// A machine's report: `POST /v1/devices/{device}/events` with the raw `body` and, when
    /// given, `X-Signature: signature`.
    pub async fn post_device_event(
        &self,
        device: &str,
        body: &str,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/v1/devices/{device}/events", self.address))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("x-signature", signature);
        }
        request.send().await.expect("request")
    }

    /// Scans a QR code and returns the order id it redirected to.
    pub async fn scan(&self, device: &str, drink: &str, size: &str, uuid: &str) -> String {
        let response = self.get(&qr(device, drink, size, uuid)).await;
        assert_eq!(
            response.status().as_u16(),
            302,
            "scan of {device}/{drink}/{size}"
        );
        let location = response.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_owned();
        location
            .strip_prefix("/v1/order-status-page?order_id=")
            .expect("order page")
            .to_owned()
    }

    pub async fn initiate(&self, order_id: &str, email: Option<&str>) -> reqwest::Response {
        let mut body = serde_json::json!({ "order_id": order_id });
        if let Some(email) = email {
            body["email"] = email.into();
        }
        self.post_json("/v1/initiate-payment", body).await
    }

    pub async fn status(&self, order_id: &str) -> serde_json::Value {
        let response = self.get(&format!("/v1/order-status/{order_id}")).await;
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("json")
    }

    /// Pays through the sandbox checkout form, like the customer's browser does.
    pub async fn pay(&self, redirect_url: &str, action: &str) -> reqwest::Response {
        let payment_id = redirect_url.rsplit('/').next().expect("payment id");
        self.client
            .post(format!(
                "{}/sandbox/checkout/{payment_id}/{action}",
                self.address
            ))
            .send()
            .await
            .expect("request")
    }

    /// Polls the order's JSON until `field` equals `value` (at most 5 s).
    pub async fn wait_for_field(
        &self,
        order_id: &str,
        field: &str,
        value: &str,
    ) -> serde_json::Value {
        for _ in 0..250 {
            let json = self.status(order_id).await;
            if json[field] == value {
                return json;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "order {order_id}: {field} never reached {value}: {}",
            self.status(order_id).await
        );
    }

    /// Polls until the order's `status` is `status`.
    pub async fn wait_for_status(&self, order_id: &str, status: &str) -> serde_json::Value {
        self.wait_for_field(order_id, "status", status).await
    }

    /// Polls until the order's `payment_status` is `status`.
    pub async fn wait_for_payment_status(&self, order_id: &str, status: &str) -> serde_json::Value {
        self.wait_for_field(order_id, "payment_status", status)
            .await
    }
}
