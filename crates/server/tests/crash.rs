#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! The real `coffee-pay` binary on Postgres, killed and replicated.
//!
//! * Crash: one process is SIGKILLed at random moments (and once or more right after the
//!   machine cloud accepted a make command, before the process could record it) while orders
//!   are paid and brewed; it is restarted each time. Every paid order must end decided: brewed,
//!   or — when a kill left its make command's fate unknown — refunded and flagged for an
//!   operator; no make command is ever sent twice, and no job is dead.
//! * Replicas: two processes on one database receive 200 duplicate notifications for 50
//!   orders at once → exactly 50 make commands, none repeated.
//! * MQTT replicas: two processes on one database and one broker, in one shared subscription
//!   group → each paid order's make command published once, each machine event applied by one
//!   replica only.
//!
//! Each test gets its own database (`coffee_test_support::test_db`: skipped loudly without
//! Postgres, a failure under `CI=true`) and in-process fakes of YooKassa and Tmetr. The chaos
//! schedule comes from a seed that is printed; `CRASH_SEED=<n>` replays it. The servers' logs
//! go to `target/tmp/crash-logs/` and are kept when a test fails.

use coffee_domain::{DeadlinePolicy, MachineKind, ProviderKind};
use coffee_test_support::fakes::tmetr::FakeTmetr;
use coffee_test_support::fakes::yookassa::FakeYookassa;
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::fleet;
use coffee_test_support::test_db::TestDb;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET_KEY: &str = "crash-test-secret-key-0123456789abcdef";
/// How long a killed worker's job stays its own: kept short so take-overs happen in the test.
const JOB_LEASE_SECONDS: &str = "2";
const PRICE_KOPECKS: i64 = 15_000;

/// Two Tmetr machines of one YooKassa merchant; a machine that does not report within a
/// second is taken to have brewed, so orders end decided quickly.
fn fleet_file() -> String {
    let machine = |id| {
        device(id, "yk")
            .provider(ProviderKind::Yookassa)
            .machine(MachineKind::Tmetr)
            .dispense_deadline_seconds(1)
            .on_dispense_deadline(DeadlinePolicy::AssumeSuccess)
    };
    fleet()
        .merchant(
            merchant("yk")
                .name("Кофе ЮKassa")
                .yookassa("shop-1", "test_secret", 1),
        )
        .device(machine("tm-1"))
        .device(machine("tm-2"))
        .drink(drink("tm-1", "1").name("Капучино").medium(PRICE_KOPECKS))
        .drink(drink("tm-2", "1").name("Капучино").medium(PRICE_KOPECKS))
        .to_toml()
}

fn migrate(url: &str) -> Result<(), String> {
    coffee_adapter_postgres::run_migrations(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Straight to the stderr handle: libtest captures `eprintln!` of passing tests, and the seed
/// and figures are wanted also when the test passes.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// SplitMix64: tiny, deterministic, good enough for a chaos schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn seed() -> u64 {
    std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// The database and the fakes one test's processes share.
struct World {
    db: TestDb,
    yookassa: FakeYookassa,
    tmetr: FakeTmetr,
    logs: PathBuf,
    name: &'static str,
}

impl World {
    /// `None`: Postgres is not reachable outside CI (the fixture has said so loudly).
    async fn start(name: &'static str) -> Option<World> {
        let db = TestDb::migrated(migrate).await?;
        let yookassa = FakeYookassa::start().await;
        let tmetr = FakeTmetr::start().await;
        tmetr.set_default_price(PRICE_KOPECKS);
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crash-logs");
        std::fs::create_dir_all(&logs).expect("log directory");
        Some(World {
            db,
            yookassa,
            tmetr,
            logs,
            name,
        })
    }

    /// Production mode: Postgres, YooKassa and Tmetr at the fakes, a short job lease.
    fn env(&self, port: u16) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", self.db.url().to_owned()),
            ("SECRET_KEY", SECRET_KEY.to_owned()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("BASE_URL", format!("http://127.0.0.1:{port}")),
            ("YOOKASSA_API_URL", self.yookassa.api_url()),
            ("YOOKASSA_TRUSTED_IPS", "127.0.0.1/32".to_owned()),
            ("TMETR_HOST", self.tmetr.base_url()),
            ("TMETR_TOKEN", "tmetr-test-token".to_owned()),
            ("JOB_LEASE_SECONDS", JOB_LEASE_SECONDS.to_owned()),
            // One job loop: a kill interrupts at most one make command, which bounds repeats.
            ("JOB_WORKERS", "1".to_owned()),
            ("DATABASE_POOL_SIZE", "8".to_owned()),
            // Fifty orders on one machine wait to be paid at once here, on purpose.
            ("MAX_PENDING_PAYMENTS_PER_DEVICE", "1000".to_owned()),
            // Every order comes from this one address within seconds: load, not abuse.
            ("RATE_LIMIT_PER_IP_PER_MINUTE", "0".to_owned()),
            ("RATE_LIMIT_PER_DEVICE_PER_MINUTE", "0".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// `coffee-pay fleet apply` of [`fleet_file`] with the production environment.
    async fn apply_fleet(&self) {
        self.apply_fleet_text(fleet_file()).await;
    }

    /// `coffee-pay fleet apply` of `text` with the production environment.
    async fn apply_fleet_text(&self, text: String) {
        let file = self.logs.join(format!("{}-fleet.toml", self.db.name()));
        std::fs::write(&file, text).expect("write fleet");
        let env = self.env(free_port());
        let (logs, fleet_file) = (self.logs.clone(), file.clone());
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_coffee-pay"))
                .env_clear()
                .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
                .envs(env)
                .current_dir(logs)
                .args(["fleet", "apply"])
                .arg(&fleet_file)
                .output()
                .expect("run coffee-pay fleet apply")
        })
        .await
        .expect("fleet apply task");
        assert!(
            output.status.success(),
            "fleet apply failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let _ = std::fs::remove_file(&file);
    }

    fn server(&self, label: &str) -> Server {
        let port = free_port();
        Server {
            env: self.env(port),
            port,
            child: None,
            log: self
                .logs
                .join(format!("{}-{}-{label}.log", self.name, self.db.name())),
            cwd: self.logs.clone(),
            starts: 0,
        }
    }

    async fn sql(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(self.db.url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }
}

/// One `coffee-pay serve` process, restartable on the same port. Killed when dropped.
struct Server {
    env: Vec<(String, String)>,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    cwd: PathBuf,
    starts: usize,
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn webhook_url(&self) -> String {
        format!("{}/v1/yook-pay-webhook", self.url())
    }

    /// Spawns the binary and waits until `/ready` answers 200.
    async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        writeln!(log, "===== start #{} =====", self.starts).expect("write log");
        let stdout: File = log.try_clone().expect("log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_coffee-pay"))
            .env_clear()
            .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
            .envs(self.env.iter().cloned())
            .current_dir(&self.cwd)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .expect("spawn coffee-pay");
        self.child = Some(child);
        let ready = format!("{}/ready", self.url());
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = probe.get(&ready).send().await {
                if response.status().as_u16() == 200 {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "coffee-pay exited during start ({status}); log {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "coffee-pay not ready in 30 s; log {}:\n{}",
                self.log.display(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (`Child::kill` on Unix): no shutdown hook runs, in-flight work is cut off.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        // The log is kept for a failing test only.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// An order the customer created and paid at the provider.
#[derive(Debug, Clone)]
struct PaidOrder {
    order_id: String,
    machine_order_id: String,
    payment_id: String,
    /// Webhook deliveries until one was answered 200.
    deliveries: u32,
}

fn scan_url(base: &str, device: &str, machine_order_id: &str) -> String {
    format!("{base}/v1/pay?deviceUuid={device}&drinkNo=1&size=1&uuid={machine_order_id}&drinkName=Coffee")
}

/// QR scan → order id, retried while the server is down (the customer reloads the page).
async fn scan(client: &reqwest::Client, url: &str, deadline: Instant) -> String {
    loop {
        match client.get(url).send().await {
            Ok(r) if r.status().as_u16() == 302 => {
                let location = r.headers()["location"].to_str().expect("ascii").to_owned();
                return location
                    .strip_prefix("/v1/order-status-page?order_id=")
                    .expect("order page")
                    .to_owned();
            }
            Ok(r) if r.status().is_server_error() => {}
            Ok(r) => panic!("scan {url}: unexpected {}", r.status()),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "scan {url} never succeeded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Initiate payment → the provider's payment id, retried like a customer pressing again.
async fn initiate(
    client: &reqwest::Client,
    base: &str,
    order_id: &str,
    deadline: Instant,
) -> String {
    loop {
        let response = client
            .post(format!("{base}/v1/initiate-payment"))
            .json(&serde_json::json!({ "order_id": order_id, "email": "anna@example.com" }))
            .send()
            .await;
        match response {
            Ok(r) if r.status().as_u16() == 200 => {
                let json: serde_json::Value = r.json().await.expect("json");
                let url = json["redirect_url"].as_str().expect("redirect_url");
                return url.rsplit('/').next().expect("payment id").to_owned();
            }
            Ok(r) if r.status().is_server_error() => {}
            Ok(r) => {
                let status = r.status();
                panic!(
                    "initiate {order_id}: unexpected {status}: {}",
                    r.text().await.unwrap_or_default()
                )
            }
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "initiate {order_id} never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Delivers a notification until it is answered 200, as YooKassa redelivers; returns the
/// number of deliveries.
async fn deliver(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    pause: Duration,
    deadline: Instant,
) -> u32 {
    let mut deliveries = 0;
    loop {
        deliveries += 1;
        match client.post(url).body(body.clone()).send().await {
            Ok(r) if r.status().as_u16() == 200 => return deliveries,
            Ok(r) if r.status().is_server_error() => {}
            Ok(r) => panic!("webhook {url}: unexpected {}", r.status()),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "webhook {url} never accepted");
        tokio::time::sleep(pause).await;
    }
}

/// The customer: scan, initiate, pay at YooKassa, and YooKassa's webhook.
async fn customer(
    client: reqwest::Client,
    base: String,
    yookassa: FakeYookassa,
    device: String,
    machine_order_id: String,
    redelivery_pause: Duration,
    deadline: Instant,
) -> PaidOrder {
    let order_id = scan(
        &client,
        &scan_url(&base, &device, &machine_order_id),
        deadline,
    )
    .await;
    let payment_id = initiate(&client, &base, &order_id, deadline).await;
    yookassa.pay(&payment_id);
    let body = yookassa.notification("payment.succeeded", &payment_id);
    let deliveries = deliver(
        &client,
        &format!("{base}/v1/yook-pay-webhook"),
        body,
        redelivery_pause,
        deadline,
    )
    .await;
    PaidOrder {
        order_id,
        machine_order_id,
        payment_id,
        deliveries,
    }
}

/// An order as the database has it at the end.
#[derive(Debug, Clone)]
struct Final {
    status: String,
    payment: Option<String>,
    /// Shown when an assertion fails.
    #[allow(dead_code)]
    failure_reason: Option<String>,
    attention: Option<String>,
}

async fn final_states(sql: &tokio_postgres::Client) -> HashMap<String, Final> {
    sql.query(
        "SELECT o.machine_order_id, o.status, p.state, o.failure_reason, o.attention \
         FROM orders o LEFT JOIN payments p ON p.order_id = o.id",
        &[],
    )
    .await
    .expect("orders")
    .into_iter()
    .map(|row| {
        (
            row.get::<_, String>(0),
            Final {
                status: row.get(1),
                payment: row.get(2),
                failure_reason: row.get(3),
                attention: row.get(4),
            },
        )
    })
    .collect()
}

/// Orders not yet in a terminal status, with why each is still open.
async fn undecided(sql: &tokio_postgres::Client) -> Vec<String> {
    sql.query(
        "SELECT machine_order_id, status, expires_at < now() AS expired \
         FROM orders WHERE status NOT IN ('successful', 'not_paid', 'failed') ORDER BY machine_order_id",
        &[],
    )
    .await
    .expect("undecided orders")
    .into_iter()
    .map(|row| {
        let expired: bool = row.get(2);
        format!(
            "{} {}{}",
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            if expired { " (past expires_at)" } else { "" }
        )
    })
    .collect()
}

/// Waits (bounded) until every order is terminal; returns how long it took.
async fn wait_until_all_decided(sql: &tokio_postgres::Client, bound: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let open = undecided(sql).await;
        if open.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "{} order(s) still undecided {bound:?} after the last restart — stuck past their deadlines \
             (dispense deadline 1 s, job lease {JOB_LEASE_SECONDS} s): {open:?}",
            open.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn dead_jobs(sql: &tokio_postgres::Client) -> Vec<String> {
    sql.query(
        "SELECT kind, order_id::text, attempts, coalesce(last_error, '') FROM jobs WHERE state = 'dead'",
        &[],
    )
    .await
    .expect("dead jobs")
    .into_iter()
    .map(|row| {
        format!(
            "{} of {} after {} attempt(s): {}",
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, i32>(2),
            row.get::<_, String>(3)
        )
    })
    .collect()
}

/// `(orders with a make job, make jobs, claims beyond each job's first)`.
async fn make_jobs(sql: &tokio_postgres::Client) -> (i64, i64, i64) {
    let row = sql
        .query_one(
            "SELECT count(DISTINCT order_id), count(*), coalesce(sum(attempts - 1), 0)::bigint \
             FROM jobs WHERE kind = 'send_make_command'",
            &[],
        )
        .await
        .expect("make jobs");
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_at_random_moments_brews_every_paid_order_once_and_leaves_none_undecided() {
    const ORDERS: usize = 40;
    let Some(world) = World::start("crash").await else {
        return;
    };
    let seed = seed();
    note(&format!(
        "crash test seed: {seed} (replay the schedule with CRASH_SEED={seed})"
    ));
    let mut rng = Rng(seed);
    // The cloud records a make command as accepted, then answers 100 ms later: a kill in
    // between loses the answer but not the command.
    world.tmetr.set_make_delay(Duration::from_millis(100));
    world.apply_fleet().await;
    let mut server = world.server("single");
    server.start().await;
    let started = Instant::now();

    // Customers arrive over ~2.5 s, each retrying while the server is down.
    let base = server.url();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut customers = Vec::new();
    for i in 0..ORDERS {
        let arrival = Duration::from_millis(rng.range(0, 2_500));
        let pause = Duration::from_millis(rng.range(100, 300));
        let (client, base, yookassa) = (client(), base.clone(), world.yookassa.clone());
        let device = format!("tm-{}", i % 2 + 1);
        let machine_order_id = format!("crash-{seed:x}-{i:02}");
        customers.push(tokio::spawn(async move {
            tokio::time::sleep(arrival).await;
            customer(
                client,
                base,
                yookassa,
                device,
                machine_order_id,
                pause,
                deadline,
            )
            .await
        }));
    }

    // Chaos: SIGKILL at random moments; every other kill lands right after the machine cloud
    // accepted a make command (before the answer reached the server).
    let kills = rng.range(5, 8);
    let mut targeted_hits = 0;
    for k in 0..kills {
        let wait = Duration::from_millis(rng.range(50, 400));
        let downtime = Duration::from_millis(rng.range(0, 150));
        let targeted = k % 2 == 1;
        let mut hit = false;
        if targeted {
            let before = world.tmetr.make_requests();
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                if world.tmetr.make_requests() > before {
                    hit = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        } else {
            tokio::time::sleep(wait).await;
        }
        server.kill();
        targeted_hits += u32::from(hit);
        note(&format!(
            "  kill #{} at {:>5} ms{}; down for {} ms",
            k + 1,
            started.elapsed().as_millis(),
            if hit {
                " (right after a make command was accepted)"
            } else {
                ""
            },
            downtime.as_millis()
        ));
        tokio::time::sleep(downtime).await;
        server.start().await;
    }
    let chaos = started.elapsed();
    assert!(
        targeted_hits >= 1,
        "no kill landed between a make command's acceptance and its record: the test proved less than it claims"
    );

    let mut paid = Vec::new();
    for task in customers {
        paid.push(task.await.expect("customer"));
    }
    let sql = world.sql().await;
    let settle = wait_until_all_decided(&sql, Duration::from_secs(30)).await;

    // Every order: one payment at YooKassa, paid.
    assert_eq!(
        world.yookassa.payments().len(),
        ORDERS,
        "one payment per order"
    );
    let finals = final_states(&sql).await;
    assert_eq!(finals.len(), ORDERS);
    let mut successful = HashSet::new();
    let mut unknown_refunded = HashSet::new();
    for order in &paid {
        let state = &finals[&order.machine_order_id];
        let at_provider = world.yookassa.payment(&order.payment_id).expect("payment");
        if state.status == "successful" {
            assert_eq!(state.payment.as_deref(), Some("succeeded"));
            assert!(at_provider.status == "succeeded" && !at_provider.refunded);
            successful.insert(order.machine_order_id.clone());
        } else {
            // Tmetr always accepts here: the only way not to brew is a kill that left the
            // command's fate unknown. Then the money goes back and an operator looks; the
            // cost is at most a free drink, never a charge without one.
            assert_eq!(
                (
                    state.status.as_str(),
                    state.payment.as_deref(),
                    state.attention.as_deref()
                ),
                ("failed", Some("refunded"), Some("make_outcome_unknown")),
                "order {} ({}) paid but ended {state:?}",
                order.machine_order_id,
                order.order_id
            );
            assert!(at_provider.refunded);
            unknown_refunded.insert(order.machine_order_id.clone());
        }
    }

    // Make commands: never one sent twice; every brewed order had exactly one.
    let accepted = world.tmetr.accepted();
    let distinct: HashSet<String> = accepted.iter().map(|m| m.order_uuid.clone()).collect();
    assert!(
        successful.is_subset(&distinct),
        "every successful order had its make command"
    );
    assert!(
        distinct
            .difference(&successful)
            .all(|o| unknown_refunded.contains(o)),
        "a command reached the machine only for successful or flagged orders"
    );
    let mut per_order: HashMap<&str, usize> = HashMap::new();
    for m in &accepted {
        *per_order.entry(m.order_uuid.as_str()).or_default() += 1;
    }
    let repeats = accepted.len() - distinct.len();
    // A claim marks the command sent before sending: a takeover never sends it again.
    assert_eq!(
        repeats, 0,
        "{repeats} repeated make commands for {kills} kills: {per_order:?}"
    );
    let (orders_with_make_job, make_job_count, reclaimed) = make_jobs(&sql).await;
    assert_eq!(
        (orders_with_make_job, make_job_count),
        (ORDERS as i64, ORDERS as i64),
        "exactly one make job per paid order"
    );
    assert_eq!(dead_jobs(&sql).await, Vec::<String>::new(), "no job dead");

    let redelivered = paid.iter().filter(|o| o.deliveries > 1).count();
    let deliveries: u32 = paid.iter().map(|o| o.deliveries).sum();
    note(&format!(
        "crash test: {ORDERS} orders, {kills} kills ({targeted_hits} right after a make acceptance) \
         in {:.1} s; all decided {:.1} s after the last restart; {} successful, {} refunded with an unknown make outcome (flagged); \
         make commands: {} distinct, {} total, {repeats} repeat(s); \
         make jobs taken over after a kill: {reclaimed}; webhooks: {deliveries} deliveries, {redelivered} order(s) redelivered",
        chaos.as_secs_f64(),
        settle.as_secs_f64(),
        successful.len(),
        unknown_refunded.len(),
        distinct.len(),
        accepted.len(),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_turn_200_duplicate_notifications_into_exactly_50_make_commands(
) {
    const ORDERS: usize = 50;
    const COPIES: usize = 4;
    let Some(world) = World::start("replicas").await else {
        return;
    };
    // Machine-cloud latency: a replica working through many make jobs takes a while.
    world.tmetr.set_make_delay(Duration::from_millis(50));
    world.apply_fleet().await;
    let mut a = world.server("a");
    let mut b = world.server("b");
    tokio::join!(a.start(), b.start());
    let replicas = [a.url(), b.url()];
    let webhooks = [a.webhook_url(), b.webhook_url()];
    let deadline = Instant::now() + Duration::from_secs(60);

    // 50 orders created and paid, alternately through each replica.
    let mut created = Vec::new();
    for chunk in (0..ORDERS).collect::<Vec<_>>().chunks(10) {
        let mut tasks = Vec::new();
        for &i in chunk {
            let client = client();
            let base = replicas[i % 2].clone();
            let yookassa = world.yookassa.clone();
            tasks.push(tokio::spawn(async move {
                let machine_order_id = format!("replica-{i:02}");
                let url = scan_url(&base, &format!("tm-{}", i % 2 + 1), &machine_order_id);
                let order_id = scan(&client, &url, deadline).await;
                let payment_id = initiate(&client, &base, &order_id, deadline).await;
                yookassa.pay(&payment_id);
                (machine_order_id, payment_id)
            }));
        }
        for task in tasks {
            created.push(task.await.expect("order"));
        }
    }

    // 200 deliveries (4 per order), all released at once, alternating between the replicas.
    let barrier = Arc::new(tokio::sync::Barrier::new(ORDERS * COPIES));
    let mut deliveries = Vec::new();
    for (i, (_, payment_id)) in created.iter().enumerate() {
        for copy in 0..COPIES {
            let url = webhooks[(i * COPIES + copy) % 2].clone();
            let body = world.yookassa.notification("payment.succeeded", payment_id);
            let barrier = barrier.clone();
            let client = client();
            deliveries.push(tokio::spawn(async move {
                barrier.wait().await;
                deliver(&client, &url, body, Duration::from_millis(100), deadline).await
            }));
        }
    }
    let started = Instant::now();
    let mut attempts = 0;
    for task in deliveries {
        attempts += task.await.expect("delivery");
    }
    let sql = world.sql().await;
    let settle = wait_until_all_decided(&sql, Duration::from_secs(30)).await;

    let finals = final_states(&sql).await;
    for (machine_order_id, _) in &created {
        assert_eq!(
            finals[machine_order_id].status, "successful",
            "{machine_order_id}: {:?}",
            finals[machine_order_id]
        );
    }
    let accepted = world.tmetr.accepted();
    let distinct: HashSet<&str> = accepted.iter().map(|m| m.order_uuid.as_str()).collect();
    assert_eq!(distinct.len(), ORDERS, "one make command per order");
    assert_eq!(
        accepted.len(),
        ORDERS,
        "no make command repeated: {:?}",
        accepted.iter().map(|m| &m.order_uuid).collect::<Vec<_>>()
    );
    assert_eq!(world.tmetr.make_requests(), ORDERS);
    // No job ran twice at once: each make job was claimed exactly once, by one replica.
    assert_eq!(
        make_jobs(&sql).await,
        (ORDERS as i64, ORDERS as i64, 0),
        "(orders with a make job, make jobs, claims beyond each job's first)"
    );
    assert_eq!(dead_jobs(&sql).await, Vec::<String>::new(), "no job dead");
    note(&format!(
        "replica test: {} deliveries ({attempts} HTTP attempts) for {ORDERS} orders over 2 replicas; \
         all successful {:.1} s after the burst began ({:.1} s of it waiting for the last order); \
         make commands: {} accepted, {} requests",
        ORDERS * COPIES,
        (started.elapsed()).as_secs_f64(),
        settle.as_secs_f64(),
        accepted.len(),
        world.tmetr.make_requests()
    ));
}

/// Two MQTT machines of one YooKassa merchant, skipping the online check (the test plays the
/// machines and announces no presence); and a legacy-frame machine, so the database is seen
/// to store one.
fn mqtt_fleet_file() -> String {
    let machine = |id| {
        device(id, "yk")
            .provider(ProviderKind::Yookassa)
            .machine(MachineKind::Mqtt)
            .test_device()
    };
    fleet()
        .merchant(
            merchant("yk")
                .name("Кофе ЮKassa")
                .yookassa("shop-1", "test_secret", 1),
        )
        .device(machine("mq-1"))
        .device(machine("mq-2"))
        .device(
            device("mq-legacy", "yk")
                .provider(ProviderKind::Yookassa)
                .machine(MachineKind::MqttLegacy),
        )
        .drink(drink("mq-1", "1").name("Капучино").medium(PRICE_KOPECKS))
        .drink(drink("mq-2", "1").name("Капучино").medium(PRICE_KOPECKS))
        .drink(
            drink("mq-legacy", "1")
                .name("Капучино")
                .medium(PRICE_KOPECKS),
        )
        .to_toml()
}

/// Waits until the replica's `/ready` says the broker connection is up.
async fn wait_for_mqtt_connected(base: &str) {
    let client = client();
    for _ in 0..500 {
        if let Ok(response) = client.get(format!("{base}/ready")).send().await {
            let ready: serde_json::Value = response.json().await.unwrap_or_default();
            if ready["mqtt"] == "connected" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{base} never connected to the broker");
}

/// Machine history lines per order (by machine order id).
async fn machine_lines(sql: &tokio_postgres::Client) -> HashMap<String, i64> {
    sql.query(
        "SELECT o.machine_order_id, count(*) FROM order_history h JOIN orders o ON o.id = h.order_id \
         WHERE h.source = 'machine' GROUP BY o.machine_order_id",
        &[],
    )
    .await
    .expect("history")
    .into_iter()
    .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
    .collect()
}

#[tokio::test]
async fn two_replicas_in_one_shared_group_publish_each_make_command_once_and_apply_each_machine_event_once(
) {
    const ORDERS: usize = 10;
    let Some(broker) = coffee_test_support::test_broker::broker() else {
        return;
    };
    let Some(world) = World::start("mqtt-replicas").await else {
        return;
    };
    let topics = broker.topics();
    world.apply_fleet_text(mqtt_fleet_file()).await;
    let mut machines = coffee_test_support::test_broker::Probe::connect(
        &broker,
        &[format!("{}/+/commands", topics.prefix)],
    )
    .await;
    let mqtt = [
        ("MQTT_URL", broker.url.clone()),
        ("MQTT_COMMAND_TOPIC", topics.command.clone()),
        ("MQTT_EVENT_TOPIC", topics.event.clone()),
        ("MQTT_STATUS_TOPIC", topics.status.clone()),
        // This test's own group, so replicas of other tests on the broker take none of its
        // events.
        ("MQTT_SHARED_GROUP", format!("g{}", topics.prefix)),
    ];
    let mut a = world.server("a");
    let mut b = world.server("b");
    for server in [&mut a, &mut b] {
        server
            .env
            .extend(mqtt.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    }
    tokio::join!(a.start(), b.start());
    let replicas = [a.url(), b.url()];
    tokio::join!(
        wait_for_mqtt_connected(&replicas[0]),
        wait_for_mqtt_connected(&replicas[1])
    );
    let deadline = Instant::now() + Duration::from_secs(60);

    // Orders paid alternately through each replica; each replica's worker may send any of them.
    let mut tasks = Vec::new();
    for i in 0..ORDERS {
        tasks.push(tokio::spawn(customer(
            client(),
            replicas[i % 2].clone(),
            world.yookassa.clone(),
            format!("mq-{}", i % 2 + 1),
            format!("mq-replica-{i:02}"),
            Duration::from_millis(100),
            deadline,
        )));
    }
    for task in tasks {
        task.await.expect("customer");
    }

    let mut commands = Vec::new();
    while commands.len() < ORDERS {
        let Some(message) = machines.next(Duration::from_secs(10)).await else {
            break;
        };
        commands.push(message);
    }
    commands.extend(machines.collect(Duration::from_millis(500)).await);
    let mut uuids: Vec<String> = commands
        .iter()
        .map(|m| {
            m.json()["orderUuid"]
                .as_str()
                .expect("orderUuid")
                .to_owned()
        })
        .collect();
    uuids.sort();
    let expected: Vec<String> = (0..ORDERS).map(|i| format!("mq-replica-{i:02}")).collect();
    assert_eq!(
        uuids, expected,
        "each paid order's make command exactly once"
    );

    // Each machine answers once, brewing then success: one replica must apply each.
    for message in &commands {
        let uuid = message.json()["orderUuid"].as_str().unwrap().to_owned();
        let device = if message.topic == topics.command_of("mq-1") {
            "mq-1"
        } else {
            "mq-2"
        };
        for (seq, status) in [(1, "brewing"), (2, "success")] {
            machines
                .publish(
                    &topics.event_of(device),
                    format!(r#"{{"orderUuid":"{uuid}","status":"{status}","seq":{seq}}}"#),
                    false,
                )
                .await;
        }
    }
    let sql = world.sql().await;
    let legacy = sql
        .query_one(
            "SELECT machine, on_dispense_deadline FROM devices WHERE device_uuid = 'mq-legacy'",
            &[],
        )
        .await
        .expect("the legacy device is stored");
    assert_eq!(
        (legacy.get::<_, String>(0), legacy.get::<_, String>(1)),
        ("mqtt-legacy".to_owned(), "assume_success".to_owned())
    );
    wait_until_all_decided(&sql, Duration::from_secs(30)).await;
    let finals = final_states(&sql).await;
    for uuid in &expected {
        assert_eq!(
            finals[uuid].status, "successful",
            "{uuid}: {:?}",
            finals[uuid]
        );
    }
    // An event handled by both replicas leaves a second line of its own: 4 lines, not 2.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines = machine_lines(&sql).await;
    for uuid in &expected {
        assert_eq!(lines.get(uuid), Some(&2), "{uuid}: {lines:?}");
    }
    assert_eq!(dead_jobs(&sql).await, Vec::<String>::new(), "no job dead");
}
