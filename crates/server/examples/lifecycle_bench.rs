#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

//! Complete order lifecycles per second on Postgres, through the domain services (no HTTP):
//! scan → initiate payment → the customer pays (sandbox) → notification → the worker sends the
//! make command → the machine reports "dispensed" → `successful`.
//!
//! The store is the production `PgStore` on a fresh migrated database (created on the server
//! of `TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`, and dropped
//! at the end); the payment provider (`SandboxProvider`) and the machine (a non-reporting
//! `SimulatedMachine`) live in this process, so the figure is the server's own cost.
//!
//! ```text
//! cargo run --release -p coffee-server --example lifecycle_bench -- [LIFECYCLES] [CONCURRENCY]
//! just bench [LIFECYCLES] [CONCURRENCY]
//! ```
//! Defaults: 2000 lifecycles, 8 concurrent customers, after 100 unmeasured warm-up ones.

use chrono::Utc;
use coffee_adapter_memory::{RandomIds, SystemClock};
use coffee_adapter_postgres::{run_migrations, PgStore};
use coffee_adapter_sandbox::{SandboxAction, SandboxProvider, SimulatedMachine};
use coffee_domain::ports::{CatalogRepository, MachineGateway, OrderRepository, PaymentGateway};
use coffee_domain::services::checkout::{Checkout, PaymentRequest, RawScan, ScanOutcome};
use coffee_domain::services::dispensing::ReportOutcome;
use coffee_domain::services::dispensing::{DispenseReport, DispenseResult, Dispensing};
use coffee_domain::services::settlement::{NotificationOutcome, Settlement};
use coffee_domain::services::worker::Worker;
use coffee_domain::services::{Context, Ports, Settings};
use coffee_domain::{MachineKind, OrderStatus, PaymentMethod, ProviderKind};
use coffee_server::fleet;
use coffee_server::secrets::SecretBox;
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::fleet;
use coffee_test_support::test_db::TestDb;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEVICES: usize = 4;
const WARM_UP: usize = 100;
const POOL_SIZE: usize = 16;

fn migrate(url: &str) -> Result<(), String> {
    run_migrations(url).map(|_| ()).map_err(|e| e.to_string())
}

/// One merchant with `DEVICES` sandbox machines, each selling drink 1 (medium, 150,00 ₽).
fn fleet_text() -> String {
    (1..=DEVICES)
        .fold(
            fleet().merchant(merchant("bench").name("Кофе Бенчмарк")),
            |fleet, d| {
                let id = format!("bench-{d}");
                fleet
                    .device(device(&id, "bench"))
                    .drink(drink(&id, "1").name("Капучино").medium(15000))
            },
        )
        .to_toml()
}

/// The services, wired as the server wires them, on one Postgres store.
struct Services {
    checkout: Checkout,
    settlement: Settlement,
    dispensing: Dispensing,
    worker: Worker,
    sandbox: Arc<SandboxProvider>,
    machine: Arc<SimulatedMachine>,
    store: Arc<PgStore>,
}

async fn services(database_url: &str) -> Services {
    let store = Arc::new(
        PgStore::connect(database_url, POOL_SIZE)
            .await
            .expect("connect to the bench database"),
    );
    let secrets = SecretBox::random().expect("secret box");
    let env = |_: &str| None;
    let parsed = fleet::parse(
        "bench-fleet.toml",
        &fleet_text(),
        &fleet::Secrets {
            sealer: &secrets,
            env: &env,
        },
        // A scratch database of in-process sandbox payments: staging, as far as money goes.
        fleet::Destination::Database {
            sandbox_allowed: true,
        },
    )
    .expect("bench fleet");
    store
        .apply_fleet(&parsed, chrono::Utc::now())
        .await
        .expect("apply fleet");
    let clock = Arc::new(SystemClock);
    let sandbox = Arc::new(SandboxProvider::new("http://bench.invalid"));
    let machine = Arc::new(SimulatedMachine::new(clock.clone()));
    let mut payment_gateways: HashMap<ProviderKind, Arc<dyn PaymentGateway>> = HashMap::new();
    payment_gateways.insert(ProviderKind::Sandbox, sandbox.clone());
    let mut machine_gateways: HashMap<MachineKind, Arc<dyn MachineGateway>> = HashMap::new();
    machine_gateways.insert(MachineKind::Simulated, machine.clone());
    let ports = Ports {
        catalog: store.clone(),
        orders: store.clone(),
        payments: store.clone(),
        jobs: store.clone(),
        payment_gateways,
        machine_gateways,
        clock,
        ids: Arc::new(RandomIds),
    };
    let ctx = Context::new(ports, Settings::default());
    Services {
        checkout: Checkout::new(ctx.clone()),
        settlement: Settlement::new(ctx.clone()),
        dispensing: Dispensing::new(ctx.clone()),
        worker: Worker::new(ctx),
        sandbox,
        machine,
        store,
    }
}

/// One customer's order from scan to `successful`; returns how long it took.
async fn lifecycle(s: &Services, device: &str, machine_order_id: &str) -> Duration {
    let started = Instant::now();
    let scan = RawScan {
        device_uuid: Some(device.to_owned()),
        drink_no: Some("1".into()),
        size: Some("1".into()),
        machine_order_id: Some(machine_order_id.to_owned()),
        drink_name: Some("Coffee".into()),
    };
    let order = match s.checkout.start_order(scan).await.expect("scan") {
        ScanOutcome::Order(order) => order,
        ScanOutcome::External { .. } => panic!("bench devices are not custom"),
    };
    let redirect = s
        .checkout
        .initiate_payment(PaymentRequest {
            order_id: order.id,
            return_url: "http://test/order".into(),
            method: PaymentMethod::Card,
            email: None,
            phone: None,
        })
        .await
        .expect("initiate payment");
    let provider_payment_id = redirect.redirect_url.rsplit('/').next().expect("id");
    let notification = s
        .sandbox
        .act(provider_payment_id, SandboxAction::Pay)
        .expect("pay");
    let outcome = s
        .settlement
        .handle_notification(ProviderKind::Sandbox, &notification)
        .await
        .expect("notification");
    assert_eq!(outcome, NotificationOutcome::Applied);
    // The worker sends the make command: whichever customer's worker claims the job.
    loop {
        let ran = s.worker.run_due(1).await.expect("worker");
        let status = s
            .store
            .get(order.id)
            .await
            .expect("order")
            .expect("exists")
            .status;
        match status {
            OrderStatus::MakePending => break,
            OrderStatus::Paid if ran == 0 => tokio::time::sleep(Duration::from_millis(1)).await,
            OrderStatus::Paid => {}
            other => panic!("order {} became {other} before dispensing", order.id),
        }
    }
    let decision = s
        .dispensing
        .apply_report(DispenseReport {
            device: order.device.clone(),
            machine_order_id: order.machine_order_id.clone(),
            result: DispenseResult::Dispensed,
            at: Utc::now(),
        })
        .await
        .expect("report");
    assert_eq!(decision, ReportOutcome::Moved(OrderStatus::Successful));
    started.elapsed()
}

/// Runs `count` lifecycles on `concurrency` customers; returns each one's duration.
async fn run(s: &Arc<Services>, prefix: &str, count: usize, concurrency: usize) -> Vec<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (s, next, prefix) = (s.clone(), next.clone(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut durations = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return durations;
                }
                let device = format!("bench-{}", i % DEVICES + 1);
                durations.push(lifecycle(&s, &device, &format!("{prefix}-{i}")).await);
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.expect("customer task"));
    }
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(2000, |a| a.parse().expect("LIFECYCLES"));
    let concurrency: usize = args.next().map_or(8, |a| a.parse().expect("CONCURRENCY"));
    let Some(db) = TestDb::migrated(migrate).await else {
        eprintln!("lifecycle_bench needs Postgres (TEST_DATABASE_URL)");
        std::process::exit(2);
    };
    let s = Arc::new(services(db.url()).await);

    run(&s, "warm", WARM_UP, concurrency).await;
    let started = Instant::now();
    let mut durations = run(&s, "bench", count, concurrency).await;
    let elapsed = started.elapsed();
    durations.sort();

    let total = WARM_UP + count;
    assert_eq!(s.machine.accepted().len(), total, "one make command each");
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "lifecycle_bench ({profile} build, Postgres store, in-process sandbox provider and simulated machine, \
         {concurrency} concurrent customers, pool {POOL_SIZE}, {} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{count} complete lifecycles in {:.2} s: {:.0} lifecycles/s; per lifecycle p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        ms(percentile(&durations, 0.50)),
        ms(percentile(&durations, 0.99)),
        ms(durations[durations.len() - 1]),
    );
    drop(s);
    drop(db);
}
