//! The test harness: the domain's services wired to the in-memory adapters, a fake clock and
//! a small fleet, plus the customer, provider and machine moves tests are written in.
//!
//! Every integration test file includes this module and uses a part of it.
#![allow(dead_code)]

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use coffee_adapter_memory::{FakeClock, MemoryStore, SequentialIds};
use coffee_adapter_sandbox::{SandboxAction, SandboxPayment, SandboxProvider, SimulatedMachine};
use coffee_domain::ports::{
    Clock, InboundNotification, JobSummary, MachineError, MachineGateway, MakeCommand,
    OrderRepository,
};
use coffee_domain::services::checkout::{
    Checkout, PaymentRedirect, PaymentRequest, RawScan, ScanOutcome,
};
use coffee_domain::services::dispensing::ReportOutcome;
use coffee_domain::services::dispensing::{DispenseReport, DispenseResult, Dispensing};
use coffee_domain::services::expiry::Expiry;
use coffee_domain::services::settlement::{NotificationOutcome, Settlement};
use coffee_domain::services::worker::Worker;
use coffee_domain::services::{Context, Ports, Settings};
use coffee_domain::{
    CaptureMode, DeadlinePolicy, Device, DeviceUuid, DrinkNo, Fleet, HistoryEntry, JobState,
    MachineKind, MachineOrderId, Money, Order, OrderId, OrderStatus, Payment, PaymentMethod,
    ProviderKind, ReceiptPolicy, SimulatedOutcome, Size,
};
use coffee_test_support::fixtures::{device, drink, merchant};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const BASE_URL: &str = "http://test";
/// Price of a small drink "1", in kopecks.
pub const SMALL_PRICE: i64 = 15_000;
/// Price of a medium drink "1", in kopecks.
pub const MEDIUM_PRICE: i64 = 20_000;
pub const DEADLINE_SECONDS: u32 = 180;

/// 2026-06-01T10:00:00Z.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).single().unwrap()
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn rub(kopecks: i64) -> Money {
    Money::rub(kopecks).unwrap()
}

/// One device and the merchant that owns it (each device gets its own merchant `m-<device>`).
#[derive(Debug, Clone)]
pub struct DeviceSetup {
    pub device: String,
    pub capture: CaptureMode,
    pub receipt: ReceiptPolicy,
    pub policy: DeadlinePolicy,
    pub valid_until: NaiveDate,
}

impl DeviceSetup {
    pub fn new(device: &str) -> Self {
        Self {
            device: device.to_owned(),
            capture: CaptureMode::Immediate,
            receipt: ReceiptPolicy::Off,
            policy: DeadlinePolicy::FailAndRefund,
            valid_until: day(2027, 12, 31),
        }
    }

    pub fn capture(mut self, capture: CaptureMode) -> Self {
        self.capture = capture;
        self
    }

    pub fn receipt(mut self, receipt: ReceiptPolicy) -> Self {
        self.receipt = receipt;
        self
    }

    pub fn policy(mut self, policy: DeadlinePolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn valid_until(mut self, valid_until: NaiveDate) -> Self {
        self.valid_until = valid_until;
        self
    }
}

/// The fleet as a fleet file would declare it, from the builders every test crate shares: per
/// device a merchant `m-<device>`, the device (simulated machine that stays silent, sandbox
/// provider, not a test device) and drink "1" sold small and medium.
pub fn fleet(setups: &[DeviceSetup]) -> Fleet {
    let mut fleet = Fleet::default();
    for setup in setups {
        let key = format!("m-{}", setup.device);
        fleet.merchants.push(
            merchant(&key)
                .valid_until(setup.valid_until)
                .capture(setup.capture)
                .receipt(setup.receipt)
                .build(),
        );
        fleet.devices.push(
            device(&setup.device, &key)
                .location("Lobby")
                .dispense_deadline_seconds(DEADLINE_SECONDS)
                .on_dispense_deadline(setup.policy)
                .simulated_outcome(SimulatedOutcome::Silent)
                .simulated_delay_ms(0)
                .build(),
        );
        fleet.drinks.push(
            drink(&setup.device, "1")
                .name("Капучино")
                .small(SMALL_PRICE)
                .medium(MEDIUM_PRICE)
                .build(),
        );
    }
    fleet
}

/// Wraps the simulated machine to remember every make call and its result, per order: the
/// simulated machine deduplicates by machine order id, this shows what the domain actually sent.
pub struct RecordingMachine {
    inner: Arc<SimulatedMachine>,
    store: Arc<MemoryStore>,
    calls: Mutex<Vec<MakeCall>>,
}

/// One make call as the machine saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCall {
    pub order_id: OrderId,
    /// The order's stored status when the command was sent.
    pub status_when_sent: Option<OrderStatus>,
    pub result: Result<(), MachineError>,
}

impl RecordingMachine {
    pub fn calls(&self) -> Vec<MakeCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Make calls for this order that the machine accepted.
    pub fn accepted_calls(&self, order: OrderId) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.order_id == order && c.result.is_ok())
            .count()
    }

    pub fn calls_for(&self, order: OrderId) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.order_id == order)
            .count()
    }
}

#[async_trait]
impl MachineGateway for RecordingMachine {
    async fn price(
        &self,
        device: &Device,
        drink_no: &DrinkNo,
        size: Size,
    ) -> Result<Money, MachineError> {
        self.inner.price(device, drink_no, size).await
    }

    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError> {
        self.inner.last_heartbeat(device).await
    }

    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError> {
        let status_when_sent = self
            .store
            .get(command.order_id)
            .await
            .unwrap()
            .map(|o| o.status);
        let result = self.inner.make(command).await;
        self.calls.lock().unwrap().push(MakeCall {
            order_id: command.order_id,
            status_when_sent,
            result: result.clone(),
        });
        result
    }
}

pub struct Harness {
    pub store: Arc<MemoryStore>,
    pub sandbox: Arc<SandboxProvider>,
    pub machine: Arc<SimulatedMachine>,
    pub recorder: Arc<RecordingMachine>,
    pub clock: Arc<FakeClock>,
    pub ctx: Arc<Context>,
    pub checkout: Checkout,
    pub settlement: Settlement,
    pub dispensing: Dispensing,
    pub expiry: Expiry,
    pub worker: Worker,
}

impl Harness {
    /// Ports and services, no fleet yet.
    pub fn empty() -> Self {
        let store = Arc::new(MemoryStore::new());
        let sandbox = Arc::new(SandboxProvider::new(BASE_URL));
        let clock = Arc::new(FakeClock::new(start_time()));
        let machine = Arc::new(SimulatedMachine::new(clock.clone() as Arc<dyn Clock>));
        let recorder = Arc::new(RecordingMachine {
            inner: machine.clone(),
            store: store.clone(),
            calls: Mutex::new(Vec::new()),
        });
        let mut payment_gateways: HashMap<_, Arc<dyn coffee_domain::ports::PaymentGateway>> =
            HashMap::new();
        payment_gateways.insert(ProviderKind::Sandbox, sandbox.clone());
        let mut machine_gateways: HashMap<_, Arc<dyn MachineGateway>> = HashMap::new();
        machine_gateways.insert(MachineKind::Simulated, recorder.clone());
        let ports = Ports {
            catalog: store.clone(),
            orders: store.clone(),
            payments: store.clone(),
            jobs: store.clone(),
            payment_gateways,
            machine_gateways,
            clock: clock.clone(),
            ids: Arc::new(SequentialIds::default()),
        };
        let ctx = Context::new(ports, Settings::default());
        Self {
            store,
            sandbox,
            machine,
            recorder,
            clock,
            checkout: Checkout::new(ctx.clone()),
            settlement: Settlement::new(ctx.clone()),
            dispensing: Dispensing::new(ctx.clone()),
            expiry: Expiry::new(ctx.clone()),
            worker: Worker::new(ctx.clone()),
            ctx,
        }
    }

    /// Ports, services and the fleet.
    pub async fn with(setups: &[DeviceSetup]) -> Self {
        let harness = Self::empty();
        harness
            .ctx
            .ports
            .catalog
            .apply_fleet(&fleet(setups), start_time())
            .await
            .unwrap();
        harness
    }

    /// One device `dev-1`: immediate capture, no receipts, failed and refunded at the deadline.
    pub async fn new() -> Self {
        Self::with(&[DeviceSetup::new("dev-1")]).await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    // ---- the customer ------------------------------------------------------------------

    pub async fn start(&self, raw: RawScan) -> Order {
        match self.checkout.start_order(raw).await.unwrap() {
            ScanOutcome::Order(order) => order,
            ScanOutcome::External { order, .. } => order,
        }
    }

    /// Scans drink "1", small, on `device` with machine order id `uuid`.
    pub async fn scan_order(&self, device: &str, uuid: &str) -> Order {
        self.start(scan(device, "1", "0", uuid)).await
    }

    pub async fn initiate(&self, order: OrderId) -> PaymentRedirect {
        self.checkout
            .initiate_payment(PaymentRequest {
                order_id: order,
                email: None,
                phone: None,
                return_url: format!("{BASE_URL}/order"),
                method: PaymentMethod::Card,
            })
            .await
            .unwrap()
    }

    /// A scanned order with its payment created.
    pub async fn pending_order(&self, device: &str, uuid: &str) -> Order {
        let order = self.scan_order(device, uuid).await;
        self.initiate(order.id).await;
        self.order(order.id).await
    }

    /// The customer acts on the sandbox checkout page; returns the provider's notification
    /// (not delivered yet).
    pub async fn customer_acts(
        &self,
        order: OrderId,
        action: SandboxAction,
    ) -> InboundNotification {
        let payment = self.payment(order).await.expect("the order has a payment");
        self.sandbox
            .act(&payment.provider_payment_id, action)
            .unwrap()
    }

    /// The provider's notification reaches our webhook.
    pub async fn deliver(&self, notification: &InboundNotification) -> NotificationOutcome {
        self.settlement
            .handle_notification(ProviderKind::Sandbox, notification)
            .await
            .unwrap()
    }

    /// The customer pays and the provider's notification is delivered.
    pub async fn pay(&self, order: OrderId) -> NotificationOutcome {
        let notification = self.customer_acts(order, SandboxAction::Pay).await;
        self.deliver(&notification).await
    }

    /// The notification the sandbox sends about this order's payment (to replay it).
    pub async fn notification_for(&self, order: OrderId) -> InboundNotification {
        let payment = self.payment(order).await.expect("the order has a payment");
        SandboxProvider::notification("payment", &payment.provider_payment_id)
    }

    // ---- the machine -------------------------------------------------------------------

    pub async fn report(&self, order: &Order, result: DispenseResult) -> ReportOutcome {
        self.dispensing
            .apply_report(DispenseReport {
                device: order.device.clone(),
                machine_order_id: order.machine_order_id.clone(),
                result,
                at: self.now(),
            })
            .await
            .unwrap()
    }

    pub async fn dispensed(&self, order: &Order) -> ReportOutcome {
        self.report(order, DispenseResult::Dispensed).await
    }

    pub async fn dispense_failed(&self, order: &Order) -> ReportOutcome {
        self.report(
            order,
            DispenseResult::Failed {
                code: Some("E42".into()),
            },
        )
        .await
    }

    // ---- the worker --------------------------------------------------------------------

    /// One expiry sweep; returns how many orders expired.
    pub async fn sweep(&self) -> usize {
        self.expiry.expire_due(100).await.unwrap()
    }

    /// One worker pass over the jobs due now; returns how many ran.
    pub async fn run_due_once(&self) -> usize {
        self.worker.run_due(100).await.unwrap()
    }

    /// Runs the jobs due now, without moving the clock, until none is due.
    pub async fn run_jobs(&self) -> usize {
        let mut total = 0;
        for _ in 0..1_000 {
            let ran = self.worker.run_due(100).await.unwrap();
            if ran == 0 {
                return total;
            }
            total += ran;
        }
        panic!("jobs keep becoming due without the clock moving");
    }

    /// Settles everything: runs due jobs and the expiry sweep, moving the clock 10 minutes
    /// per round, until no job is queued or running. Returns how far the clock moved.
    pub async fn drain(&self) -> Duration {
        let started = self.now();
        for _ in 0..1_000 {
            self.expiry.expire_due(100).await.unwrap();
            self.run_jobs().await;
            self.expiry.expire_due(100).await.unwrap();
            let open = self
                .store
                .all_jobs()
                .into_iter()
                .any(|job| matches!(job.state, JobState::Queued | JobState::Running));
            if !open {
                return self.now() - started;
            }
            self.advance(Duration::minutes(10));
        }
        panic!(
            "jobs still open after 1000 drain rounds: {:?}",
            self.store.all_jobs()
        );
    }

    // ---- reading state -----------------------------------------------------------------

    pub async fn order(&self, id: OrderId) -> Order {
        self.ctx
            .ports
            .orders
            .get(id)
            .await
            .unwrap()
            .expect("order exists")
    }

    pub async fn payment(&self, order: OrderId) -> Option<Payment> {
        self.ctx.ports.payments.for_order(order).await.unwrap()
    }

    pub async fn sandbox_payment(&self, order: OrderId) -> Option<SandboxPayment> {
        let payment = self.payment(order).await?;
        self.sandbox.payment(&payment.provider_payment_id)
    }

    pub async fn history(&self, order: OrderId) -> Vec<HistoryEntry> {
        self.ctx.ports.orders.history(order).await.unwrap()
    }

    pub async fn jobs(&self, order: OrderId) -> Vec<JobSummary> {
        self.ctx.ports.jobs.jobs_of(order).await.unwrap()
    }

    /// Sandbox calls whose operation (`create`, `get`, `capture`, `cancel`, `refund`) is `op`.
    pub fn sandbox_calls(&self, op: &str) -> usize {
        let prefix = format!("{op} ");
        self.sandbox
            .calls()
            .iter()
            .filter(|c| c.starts_with(&prefix))
            .count()
    }

    /// Make commands the machine accepted for this order (distinct by machine order id).
    pub fn accepted_commands(&self, order: &Order) -> usize {
        self.machine
            .accepted()
            .iter()
            .filter(|c| {
                c.device.device_uuid == order.device && c.machine_order_id == order.machine_order_id
            })
            .count()
    }
}

/// A single-threaded runtime, for running async cases inside synchronous property tests.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A two-worker runtime, for cases where tasks really race.
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A QR scan with every parameter given.
pub fn scan(device: &str, drink_no: &str, size: &str, uuid: &str) -> RawScan {
    RawScan {
        device_uuid: Some(device.to_owned()),
        drink_no: Some(drink_no.to_owned()),
        size: Some(size.to_owned()),
        machine_order_id: Some(uuid.to_owned()),
        drink_name: Some("Cappuccino".to_owned()),
    }
}

pub fn machine_order_id(uuid: &str) -> MachineOrderId {
    MachineOrderId::parse(uuid).unwrap()
}

pub fn device_uuid(device: &str) -> DeviceUuid {
    DeviceUuid::parse(device).unwrap()
}
