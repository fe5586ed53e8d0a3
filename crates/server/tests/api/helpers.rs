//! The application under test: the real app on a free port, in memory, seeded with a fleet
//! file, on a clock the test moves (or the real one); and the HTTP moves tests are written in.
//!
//! `spawn_app()` runs it on [`shop_fleet`]; [`app`] builds any other:
//! `app(&fleet).var("TMETR_HOST", url).spawn().await`. The browser tests include this file too.

use chrono::{DateTime, TimeZone, Utc};
use coffee_adapter_memory::{FakeClock, MemoryStore};
use coffee_adapter_sandbox::{SandboxProvider, SimulatedMachine};
use coffee_domain::ports::{Clock, OrderRepository};
use coffee_domain::services::Context;
use coffee_domain::{CaptureMode, ReceiptPolicy, SimulatedOutcome};
use coffee_server::config::Config;
use coffee_server::startup::{memory_wiring, Application, Wiring, DEMO_FLEET};
use coffee_test_support::fixtures::{day, device, drink, merchant};
use coffee_test_support::fleet_file::{fleet, FleetBuilder};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// The fleet most tests run on: a shop paid up to [`start_time`]'s day with a machine that
/// brews and one that fails, a shop that holds the money until the drink is out and wants
/// receipts, and a shop whose subscription ended the day before.
pub fn shop_fleet() -> FleetBuilder {
    fleet()
        .merchant(
            merchant("shop")
                .name("Кофе Тест")
                .valid_until(day(2026, 6, 1)),
        )
        .merchant(
            merchant("strict")
                .name("Строгий Кофе")
                .capture(CaptureMode::AfterDispense)
                .receipt(ReceiptPolicy::Required),
        )
        .merchant(
            merchant("expired")
                .name("Просроченный")
                .valid_until(day(2026, 5, 31)),
        )
        .device(
            device("dev-1", "shop")
                .location("Холл")
                .simulated_delay_ms(20),
        )
        .device(
            device("dev-broken", "shop")
                .simulated_outcome(SimulatedOutcome::Failed)
                .simulated_delay_ms(20),
        )
        .device(device("dev-strict", "strict").simulated_delay_ms(20))
        .device(device("dev-old", "expired"))
        .drink(
            drink("dev-1", "1")
                .name("Капучино")
                .small(12000)
                .medium(15000),
        )
        .drink(drink("dev-broken", "1").name("Латте").medium(16000))
        .drink(drink("dev-strict", "1").name("Флэт уайт").medium(17000))
        .drink(drink("dev-old", "1").name("Чай").medium(5000))
}

/// 2026-06-01 10:00 UTC: the "shop" merchant's last paid day.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0)
        .single()
        .expect("valid time")
}

/// A running application and handles on its insides.
pub struct TestApp<C = FakeClock> {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<C>,
    /// The in-memory store (under any wrapper given to [`AppBuilder::orders`]).
    pub store: Arc<MemoryStore>,
    pub sandbox: Arc<SandboxProvider>,
    pub machine: Arc<SimulatedMachine>,
    pub ctx: Arc<Context>,
}

/// The application on [`shop_fleet`].
pub async fn spawn_app() -> TestApp {
    app(&shop_fleet()).spawn().await
}

/// The application on `fleet`, from [`start_time`] on a [`FakeClock`], without extra settings.
pub fn app(fleet: &FleetBuilder) -> AppBuilder {
    AppBuilder {
        fleet_name: "test-fleet.toml",
        fleet_text: fleet.to_toml(),
        vars: Vec::new(),
        clock: Arc::new(FakeClock::new(start_time())),
        orders: None,
    }
}

/// The application as `cargo run` starts it: the demo fleet (and, like [`app`], a
/// [`FakeClock`] unless [`AppBuilder::clock`] gives another).
#[allow(dead_code)] // the browser tests use it
pub fn demo_app() -> AppBuilder {
    AppBuilder {
        fleet_name: "deploy/demo-fleet.toml",
        fleet_text: DEMO_FLEET.to_owned(),
        ..app(&fleet())
    }
}

type OrdersWrapper = Box<dyn FnOnce(Arc<MemoryStore>) -> Arc<dyn OrderRepository> + Send>;

/// How to start the application; see [`app`].
pub struct AppBuilder<C = FakeClock> {
    fleet_name: &'static str,
    fleet_text: String,
    vars: Vec<(String, String)>,
    clock: Arc<C>,
    orders: Option<OrdersWrapper>,
}

impl<C: Clock + 'static> AppBuilder<C> {
    /// One more configuration variable (`BIND_ADDR` and `BASE_URL` are the free port's).
    pub fn var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.push((name.to_owned(), value.into()));
        self
    }

    pub fn vars(self, vars: &[(&str, String)]) -> Self {
        vars.iter().fold(self, |builder, (name, value)| {
            builder.var(name, value.clone())
        })
    }

    /// Another clock, such as the real one for a browser that counts down in real time.
    #[allow(dead_code)] // the browser tests use it
    pub fn clock<D: Clock + 'static>(self, clock: Arc<D>) -> AppBuilder<D> {
        AppBuilder {
            fleet_name: self.fleet_name,
            fleet_text: self.fleet_text,
            vars: self.vars,
            clock,
            orders: self.orders,
        }
    }

    /// Serves orders through `wrap`'s repository, built around the in-memory store.
    pub fn orders(
        mut self,
        wrap: impl FnOnce(Arc<MemoryStore>) -> Arc<dyn OrderRepository> + Send + 'static,
    ) -> Self {
        self.orders = Some(Box::new(wrap));
        self
    }

    pub async fn spawn(self) -> TestApp<C> {
        coffee_server::telemetry::init_for_tests();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let address = format!("http://127.0.0.1:{port}");
        let mut vars: HashMap<String, String> = HashMap::from([
            ("BIND_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            ("BASE_URL".to_owned(), address.clone()),
        ]);
        vars.extend(self.vars);
        let config = Config::from_vars(&vars).expect("config");
        let clock: Arc<dyn Clock> = self.clock.clone();
        let mut wiring = memory_wiring(&config, clock, self.fleet_name, &self.fleet_text)
            .await
            .expect("wiring");
        let store = wiring.memory.clone().expect("memory store");
        if let Some(wrap) = self.orders {
            let mut ports = wiring.ctx.ports.clone();
            ports.orders = wrap(store.clone());
            wiring = Wiring {
                ctx: Context::new(ports, wiring.ctx.settings.clone()),
                ..wiring
            };
        }
        let sandbox = wiring.sandbox.clone().expect("sandbox");
        let machine = wiring.machine.clone();
        let ctx = wiring.ctx.clone();
        let app = Application::start_on(listener, &config, wiring, Duration::from_millis(20))
            .expect("start");
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        TestApp {
            address,
            client,
            clock: self.clock,
            store,
            sandbox,
            machine,
            ctx,
        }
    }
}

pub fn qr(device: &str, drink: &str, size: &str, uuid: &str) -> String {
    format!("/v1/pay?deviceUuid={device}&drinkNo={drink}&size={size}&uuid={uuid}&drinkName=Coffee&random=abc&ts=1742198482&salt=ff")
}

impl<C> TestApp<C> {
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
