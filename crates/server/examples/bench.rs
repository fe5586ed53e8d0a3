#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

//! `just bench`: the server's throughput next to Postgres' own ceiling, from one run on one
//! machine.
//!
//! 1. The ceiling: `pgbench` TPC-B (8 clients) and a scan-like script (2 indexed reads and
//!    1 insert per transaction, 16 clients) against the same Postgres, after a warm-up and a
//!    checkpoint; measured again after the server's phases, and the ratios taken to the mean
//!    (the machine's own speed drifts within a run).
//! 2. QR scans over HTTP through the real `coffee-pay` process (release build, Postgres, a new
//!    order per request) at 16 and 64 connections.
//! 3. Verified YooKassa webhooks for real pending payments — sender check, re-fetch from a
//!    local fake of YooKassa's API, compare-and-set, make job — first deliveries, then the
//!    same notifications again (duplicates).
//! 4. Complete lifecycles over HTTP and the worker (scan → initiate → the customer pays →
//!    notification → make command → the machine reports → `successful`) at 8, 64 and 256
//!    concurrent customers, with the commits each lifecycle costs (`pg_stat_database` of the
//!    benchmark's database, read before it is dropped).
//! 5. The server's peak RSS and its start-to-ready time.
//!
//! The server's phases run on a database that already holds [`PAST_ORDERS`] finished orders,
//! as one in service does.
//!
//! Prints a Markdown table and writes it with the JSON figures to `target/bench/` (latest and
//! timestamped), so two runs can be compared. `TEST_DATABASE_URL` names the Postgres server
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); `BENCH_SECONDS` sets each timed
//! phase's length (default 8).

use coffee_domain::{MachineKind, ProviderKind};
use coffee_test_support::fakes::yookassa::FakeYookassa;
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::fleet;
use coffee_test_support::test_db::{server_url, with_database};
use serde_json::{json, Value};
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEVICES: usize = 8;
const SECRET_KEY: &str = "bench-secret-key-0123456789abcdef-0123";

fn seconds() -> Duration {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    Duration::from_secs(secs)
}

// ---------------------------------------------------------------------------------------
// Figures

/// A phase's latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Latencies {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |p: f64| {
            let index = ((samples.len().max(1) as f64 - 1.0) * p).round() as usize;
            samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        }
    }

    fn json(&self) -> Value {
        json!({ "p50_ms": round(self.p50), "p99_ms": round(self.p99), "max_ms": round(self.max) })
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What one timed phase did.
#[derive(Debug, Clone)]
struct Phase {
    done: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Latencies,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `work(n)` from `concurrency` tasks until `until` says stop (checked before each
/// start); each call's latency is recorded. `work` returns whether it succeeded.
async fn drive<F, Fut>(concurrency: usize, until: Until, work: F) -> Phase
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (work, next, errors, latencies) = (
            work.clone(),
            next.clone(),
            errors.clone(),
            latencies.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let stop = match until {
                    Until::Elapsed(duration) => started.elapsed() >= duration,
                    Until::Count(count) => n >= count,
                };
                if stop {
                    break;
                }
                let t0 = Instant::now();
                if work(n).await {
                    mine.push(t0.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    Phase {
        done: latencies.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies: Latencies::of(latencies),
    }
}

/// Commits per lifecycle, with and without the order page's status reads.
#[derive(Debug, Clone, Copy)]
struct Commits {
    all: f64,
    without_status_reads: f64,
    status_reads: f64,
}

#[derive(Debug, Clone, Copy)]
enum Until {
    Elapsed(Duration),
    Count(u64),
}

// ---------------------------------------------------------------------------------------
// Where the CPU goes

/// Linux's `USER_HZ`: the unit of `/proc/*/stat` times on every architecture we run on.
const TICKS_PER_SECOND: f64 = 100.0;

/// `utime + stime` of a process, in seconds (0 when it is gone); with `reaped_children`, also
/// that of the children it has waited for (the load generator `wrk`).
fn process_cpu_seconds(pid: &str, reaped_children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are stat's 14th and 15th fields; 11th and 12th after the name.
    let children = if reaped_children {
        ticks(13) + ticks(14)
    } else {
        0.0
    };
    (ticks(11) + ticks(12) + children) / TICKS_PER_SECOND
}

/// CPU seconds so far of the benchmark itself (load generator and provider fake), the
/// server process, every Postgres process, and the whole machine (busy and all).
#[derive(Debug, Clone, Copy, Default)]
struct CpuSample {
    bench: f64,
    server: f64,
    postgres: f64,
    machine_busy: f64,
    machine_all: f64,
}

fn cpu_sample(server_pid: u32) -> CpuSample {
    let mut postgres = 0.0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            if std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
            {
                postgres += process_cpu_seconds(pid, false);
            }
        }
    }
    let (machine_busy, machine_all) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let line = stat.lines().next()?.strip_prefix("cpu ")?.to_owned();
            let ticks: Vec<f64> = line
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            let all: f64 = ticks.iter().take(8).sum();
            // idle and iowait are the 4th and 5th.
            let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
            Some(((all - idle) / TICKS_PER_SECOND, all / TICKS_PER_SECOND))
        })
        .unwrap_or((0.0, 0.0));
    CpuSample {
        bench: process_cpu_seconds("self", true),
        server: process_cpu_seconds(&server_pid.to_string(), false),
        postgres,
        machine_busy,
        machine_all,
    }
}

/// CPU spent during a phase, per operation it completed, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct CpuPerOp {
    server_ms: f64,
    postgres_ms: f64,
    load_generator_ms: f64,
    /// The machine's busy share of the window, 0–1.
    machine_busy: f64,
}

impl CpuPerOp {
    fn between(before: CpuSample, after: CpuSample, ops: u64) -> Self {
        let per = |seconds: f64| seconds * 1000.0 / ops.max(1) as f64;
        let all = after.machine_all - before.machine_all;
        Self {
            server_ms: per(after.server - before.server),
            postgres_ms: per(after.postgres - before.postgres),
            load_generator_ms: per(after.bench - before.bench),
            machine_busy: if all > 0.0 {
                (after.machine_busy - before.machine_busy) / all
            } else {
                0.0
            },
        }
    }

    fn json(&self) -> Value {
        json!({
            "server_ms_per_op": round(self.server_ms),
            "postgres_ms_per_op": round(self.postgres_ms),
            "load_generator_ms_per_op": round(self.load_generator_ms),
            "machine_busy": round(self.machine_busy),
        })
    }
}

// ---------------------------------------------------------------------------------------
// Postgres

async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to Postgres (TEST_DATABASE_URL)");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

async fn recreate(admin: &tokio_postgres::Client, name: &str) {
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
}

/// How many finished orders the benchmark's database holds before its phases: a network
/// that has sold for a while (about 17 days of one drink every 30 s), as a database in
/// service does. On a table Postgres planned for empty, the plans it keeps for every
/// foreign-key check (and the payments' trigger) read the whole table, on and on as it
/// grows, until it is analysed again: an artefact of a new database that took a third of
/// the first scans' rate and most of their p99.
const PAST_ORDERS: u64 = 50_000;

/// [`PAST_ORDERS`] successful orders across the benchmark's devices, each with what a
/// lifecycle leaves: its paid payment, five history lines, the applied notification and
/// three ended jobs. Before the server starts, so its connections plan on them.
async fn seed_past_orders(database_url: &str) {
    let statement = format!(
        "INSERT INTO orders (id, machine_order_id, device_uuid, merchant_key, drink_no, drink_name,
                             size, price_kopecks, currency, status, expires_at, created_at, updated_at)
         SELECT md5('past-order-' || g)::uuid, 'past-' || g, 'bench-' || (1 + g % {DEVICES}),
                'bench', '1', 'Капучино', 'medium', 15000, 'RUB', 'successful',
                now() - make_interval(secs => g * 30.0) + interval '15 minutes',
                now() - make_interval(secs => g * 30.0),
                now() - make_interval(secs => g * 30.0) + interval '40 seconds'
         FROM generate_series(1, {PAST_ORDERS}) g;
         ANALYZE orders;
         INSERT INTO payments (id, order_id, provider, provider_payment_id, amount_kopecks, currency,
                               capture, state, confirmation_url, idempotency_key, created_at, updated_at)
         SELECT md5('past-payment-' || o.id)::uuid, o.id, 'yookassa', o.machine_order_id, 15000, 'RUB',
                'immediate', 'succeeded', 'https://yoomoney.ru/checkout', 'past-' || o.id,
                o.created_at + interval '5 seconds', o.updated_at
         FROM orders o WHERE o.machine_order_id LIKE 'past-%' ORDER BY o.created_at;
         INSERT INTO order_history (order_id, at, source, from_status, to_status, message)
         SELECT o.id, o.created_at + make_interval(secs => line.n * 10), line.source,
                line.from_status, line.to_status, line.message
         FROM orders o CROSS JOIN (VALUES
                (0, 'customer', NULL::text, 'created', 'QR отсканирован'),
                (1, 'customer', 'created', 'pending', 'оплата начата'),
                (2, 'provider', 'pending', 'paid', 'оплата подтверждена'),
                (3, 'worker', 'paid', 'make_pending', 'команда отправлена'),
                (4, 'machine', 'make_pending', 'successful', 'напиток готов'))
              AS line (n, source, from_status, to_status, message)
         WHERE o.machine_order_id LIKE 'past-%' ORDER BY o.created_at, line.n;
         INSERT INTO provider_events (provider, event_key, order_id, received_at)
         SELECT 'yookassa', o.machine_order_id || ':succeeded', o.id, o.created_at + interval '20 seconds'
         FROM orders o WHERE o.machine_order_id LIKE 'past-%' ORDER BY o.created_at;
         INSERT INTO jobs (id, kind, order_id, state, attempts, max_attempts, run_at, created_at,
                           updated_at, payment_id, priority, sent_at)
         SELECT md5('past-job-' || o.id || job.kind)::uuid, job.kind, o.id, 'done', 1, 5,
                o.created_at + make_interval(secs => job.after), o.created_at + make_interval(secs => job.after),
                o.updated_at, CASE WHEN job.kind = 'poll_payment' THEN md5('past-payment-' || o.id)::uuid END,
                job.priority, CASE WHEN job.kind = 'send_make_command' THEN o.created_at + interval '21 seconds' END
         FROM orders o CROSS JOIN (VALUES ('poll_payment', 1, 10), ('send_make_command', 0, 20),
                                          ('dispense_deadline', 0, 140))
              AS job (kind, priority, after)
         WHERE o.machine_order_id LIKE 'past-%' ORDER BY o.created_at, job.after;"
    );
    sql(database_url)
        .await
        .batch_execute(&statement)
        .await
        .unwrap_or_else(|e| panic!("seeding past orders: {e}"));
}

/// What autovacuum does for a database in service — fresh statistics and partial indexes
/// cleared of ended jobs — done by hand before each timed phase: a Postgres run with
/// autovacuum off (as on the test machines) would otherwise plan on a table it last saw
/// empty. Then a checkpoint, so the phase does not pay for writing out the pages the last
/// phase and the vacuum dirtied (a checkpoint falling inside a phase stalled it for up to a
/// second). Outside every timed window and commit count.
async fn maintain(database_url: &str) {
    let client = sql(database_url).await;
    // Two messages: VACUUM cannot run inside the transaction of a multi-statement one.
    for statement in ["VACUUM ANALYZE", "CHECKPOINT"] {
        client
            .batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement} on the benchmark database: {e}"));
    }
    drop(client);
    // Its backend exits after the client goes: let it, before a phase samples Postgres' CPU.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Stops the benchmark when anything but its own server was connected to its database: a
/// server left running by an earlier run (say, under a profiler) reconnects to the new
/// database and takes jobs from it, and every figure is then wrong. Called once the
/// benchmark's server has exited, when no connection should be left.
async fn refuse_if_shared(admin: &tokio_postgres::Client, name: &str) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let others: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        others == 0,
        "{others} connection(s) to {name} remain after the benchmark's server stopped: another \
         process (a `coffee-pay serve` left from an earlier run?) shared the database, so these \
         figures are not the server's own. Stop it and run again."
    );
}

async fn commits(admin: &tokio_postgres::Client, name: &str) -> i64 {
    admin
        .query_one(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

const SCAN_LIKE: &str = "\\set aid random(1, 100000 * :scale)
\\set bid random(1, :scale)
BEGIN;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SELECT bbalance FROM pgbench_branches WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, :bid, :aid, 0, CURRENT_TIMESTAMP);
END;
";

/// Runs a load tool (`pgbench`, `wrk`) to its end; its standard output. A tool that is
/// missing or fails stops the benchmark with what it said.
fn run_tool(program: &str, args: &[String], install_hint: &str) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} ({install_hint})"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// `pgbench ARGS URL`; its output.
fn pgbench_run(url: &str, args: &[&str]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| (*a).to_owned())
        .chain([url.to_owned()])
        .collect();
    run_tool("pgbench", &args, "Debian: postgresql-client")
}

/// A `pgbench` run's transactions per second.
fn pgbench(url: &str, args: &[&str]) -> f64 {
    let text = pgbench_run(url, args);
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|tps| tps.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in pgbench output: {text}"))
}

struct Ceiling {
    tpcb: f64,
    scan_like: f64,
}

async fn ceiling(admin: &tokio_postgres::Client, server: &str, out: &Path) -> Ceiling {
    let name = "coffee_bench_pgbench";
    recreate(admin, name).await;
    let url = with_database(server, name);
    pgbench_run(&url, &["-i", "-q", "-s", "8"]);
    let script = out.join("scan_like.sql");
    std::fs::write(&script, SCAN_LIKE).unwrap();
    let script = script.to_string_lossy().into_owned();
    let secs = seconds().as_secs().to_string();
    // Warm up, then checkpoint: a run right after `-i` measures the checkpoint, not Postgres.
    pgbench(&url, &["-n", "-c", "8", "-j", "2", "-T", "3"]);
    admin.batch_execute("CHECKPOINT").await.unwrap();
    let tpcb = pgbench(&url, &["-n", "-c", "8", "-j", "2", "-T", &secs]);
    let scan_like = pgbench(
        &url,
        &["-n", "-c", "16", "-j", "2", "-T", &secs, "-f", &script],
    );
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    Ceiling { tpcb, scan_like }
}

// ---------------------------------------------------------------------------------------
// The server

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `target/release/coffee-pay`, next to this example's `target/release/examples/`.
fn coffee_pay_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("coffee-pay"))
        .unwrap();
    assert!(
        binary.exists(),
        "{} is missing: `just bench` builds it (cargo build --release --bin coffee-pay)",
        binary.display()
    );
    binary
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Peak resident set size so far (`VmHWM`), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        self.memory_mib("VmHWM:")
    }

    /// Resident set size now (`VmRSS`), in MiB.
    fn rss_mib(&self) -> f64 {
        self.memory_mib("VmRSS:")
    }

    fn memory_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| round(kb / 1024.0))
    }
}

fn env(database_url: &str, port: u16, yookassa: &FakeYookassa) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url.to_owned()),
        ("SECRET_KEY", SECRET_KEY.to_owned()),
        ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ("BASE_URL", format!("http://127.0.0.1:{port}")),
        ("YOOKASSA_API_URL", yookassa.api_url()),
        ("YOOKASSA_TRUSTED_IPS", "127.0.0.1/32".to_owned()),
        // Simulated machines answer in-process: the figure is the server's own cost.
        ("SANDBOX_ENABLED", "true".to_owned()),
        ("SANDBOX_ALLOW_WITH_DATABASE", "true".to_owned()),
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "0".to_owned()),
        ("RATE_LIMIT_PER_DEVICE_PER_MINUTE", "0".to_owned()),
        ("MAX_PENDING_PAYMENTS_PER_DEVICE", "10000".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    // The pool's size, the log level and the allocator's settings pass through (the last
    // value of a name wins), to compare runs.
    .chain(
        [
            "DATABASE_POOL_SIZE",
            "JOB_WORKERS",
            "BENCH_RUST_LOG",
            "MALLOC_ARENA_MAX",
            "GLIBC_TUNABLES",
        ]
        .into_iter()
        .filter_map(|name| {
            let value = std::env::var(name).ok()?;
            Some((name.strip_prefix("BENCH_").unwrap_or(name), value))
        }),
    )
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn fleet_toml() -> String {
    (1..=DEVICES)
        .fold(
            fleet().merchant(merchant("bench").name("Кофе Бенчмарк").yookassa(
                "shop-1",
                "test_secret",
                1,
            )),
            |fleet, d| {
                let id = format!("bench-{d}");
                fleet
                    .device(
                        device(&id, "bench")
                            .provider(ProviderKind::Yookassa)
                            .machine(MachineKind::Simulated)
                            .simulated_delay_ms(0),
                    )
                    .drink(drink(&id, "1").name("Капучино").medium(15000))
            },
        )
        .to_toml()
}

fn run_cli(binary: &Path, env: &[(String, String)], args: &[&str], cwd: &Path) {
    let output = Command::new(binary)
        .env_clear()
        .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
        .envs(env.iter().cloned())
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "coffee-pay {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts the server and returns it with the time from spawn to `/ready` answering 200.
async fn start(
    binary: &Path,
    env: &[(String, String)],
    port: u16,
    out: &Path,
) -> (Server, Duration) {
    let log = std::fs::File::create(out.join("server.log")).unwrap();
    let probe = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/ready");
    let started = Instant::now();
    let child = Command::new(binary)
        .env_clear()
        .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
        .envs(env.iter().cloned())
        .current_dir(out)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    loop {
        if probe
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (server, started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not ready");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ---------------------------------------------------------------------------------------
// QR scans from `wrk`

/// A `wrk` script: every request a scan with a new machine order id (`TAG-thread-n`), spread
/// over the benchmark's devices; prints the figures as one JSON line at the end.
const SCAN_SCRIPT: &str = r#"
local threads = 0
function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end
function init(args)
  tag = args[1]
  devices = tonumber(args[2])
  counter = 0
end
function request()
  counter = counter + 1
  local device = counter % devices + 1
  return wrk.format("GET", "/v1/pay?deviceUuid=bench-" .. device ..
    "&drinkNo=1&size=1&uuid=" .. tag .. "-" .. thread_no .. "-" .. counter .. "&drinkName=x")
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk-json {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d,\"errors\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.status + e.timeout))
end
"#;

/// Scans from `wrk` (2 threads, `connections` keep-alive connections) for `duration`. A
/// response other than the redirect to the order page (status ≥ 400, or a broken
/// connection) counts as an error.
async fn wrk_scans(
    base: &str,
    out: &Path,
    tag: &str,
    connections: usize,
    duration: Duration,
) -> Phase {
    let script = out.join("scan.lua");
    std::fs::write(&script, SCAN_SCRIPT).unwrap();
    let args: Vec<String> = vec![
        "-t2".into(),
        format!("-c{connections}"),
        format!("-d{}s", duration.as_secs()),
        "--timeout".into(),
        "10s".into(),
        "-s".into(),
        script.to_string_lossy().into_owned(),
        format!("{base}/v1/pay"),
        "--".into(),
        tag.to_owned(),
        DEVICES.to_string(),
    ];
    let text = tokio::task::spawn_blocking(move || {
        run_tool("wrk", &args, "Debian: wrk; `just bench` installs it")
    })
    .await
    .unwrap();
    let figures: Value = text
        .lines()
        .find_map(|line| line.strip_prefix("wrk-json "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("no figures in wrk's output: {text}"));
    let micros = |key: &str| Duration::from_micros(figures[key].as_u64().unwrap_or(0));
    let requests = figures["requests"].as_u64().unwrap_or(0);
    let errors = figures["errors"].as_u64().unwrap_or(0);
    Phase {
        done: requests.saturating_sub(errors),
        errors,
        elapsed: micros("duration_us"),
        latencies: Latencies {
            p50: micros("p50_us").as_secs_f64() * 1000.0,
            p99: micros("p99_us").as_secs_f64() * 1000.0,
            max: micros("max_us").as_secs_f64() * 1000.0,
        },
    }
}

// ---------------------------------------------------------------------------------------
// What customers and YooKassa do

#[derive(Clone)]
struct Customer {
    client: reqwest::Client,
    base: String,
    yookassa: FakeYookassa,
    /// Order-status reads so far: the page's polling, counted apart from the lifecycle.
    status_reads: Arc<AtomicU64>,
}

impl Customer {
    /// Scans a new QR code; returns our order id.
    async fn scan(&self, tag: &str, n: u64) -> Option<String> {
        let device = n as usize % DEVICES + 1;
        let url = format!(
            "{}/v1/pay?deviceUuid=bench-{device}&drinkNo=1&size=1&uuid={tag}-{n}&drinkName=x",
            self.base
        );
        let response = self.client.get(url).send().await.ok()?;
        if response.status().as_u16() != 302 {
            return None;
        }
        response
            .headers()
            .get("location")?
            .to_str()
            .ok()?
            .rsplit('=')
            .next()
            .map(str::to_owned)
    }

    /// Starts the payment; returns YooKassa's payment id.
    async fn initiate(&self, order: &str) -> Option<String> {
        let response = self
            .client
            .post(format!("{}/v1/initiate-payment", self.base))
            .json(&json!({ "order_id": order }))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        body["redirect_url"]
            .as_str()?
            .rsplit('/')
            .next()
            .map(str::to_owned)
    }

    async fn notify(&self, body: Vec<u8>) -> bool {
        self.client
            .post(format!("{}/v1/yook-pay-webhook", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
    }

    async fn status(&self, order: &str) -> Option<String> {
        self.status_after(order, None).await
    }

    /// The order's status; with `known`, once it has left that status (or after 10 s), as
    /// the order page asks.
    async fn status_after(&self, order: &str, known: Option<&str>) -> Option<String> {
        self.status_reads.fetch_add(1, Ordering::Relaxed);
        let wait = known.map_or_else(String::new, |known| format!("?status={known}&wait=10"));
        let body: Value = self
            .client
            .get(format!("{}/v1/order-status/{order}{wait}", self.base))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["status"].as_str().map(str::to_owned)
    }

    /// One whole lifecycle; `true` when the order ended `successful`.
    async fn lifecycle(&self, tag: &str, n: u64) -> bool {
        let Some(order) = self.scan(tag, n).await else {
            return false;
        };
        let Some(payment) = self.initiate(&order).await else {
            return false;
        };
        self.yookassa.pay(&payment);
        if !self
            .notify(self.yookassa.notification("payment.succeeded", &payment))
            .await
        {
            return false;
        }
        // Wait for the drink as the order page does: the server answers when the order
        // leaves the status the page shows.
        let mut known = "pending".to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match self.status_after(&order, Some(&known)).await {
                Some(status) if status == "successful" => return true,
                Some(status) if status == "failed" || status == "not_paid" => return false,
                Some(status) => known = status,
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        false
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::main]
async fn main() {
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let out = out.canonicalize().unwrap();
    let server = server_url();
    let admin = sql(&server).await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    eprintln!("bench: pgbench ceiling …");
    let ceiling_before = ceiling(&admin, &server, &out).await;

    let name = "coffee_bench";
    recreate(&admin, name).await;
    let database_url = with_database(&server, name);
    let yookassa = FakeYookassa::start().await;
    let binary = coffee_pay_binary();
    let port = free_port();
    let env = env(&database_url, port, &yookassa);
    run_cli(&binary, &env, &["migrate"], &out);
    let fleet_file = out.join("fleet.toml");
    std::fs::write(&fleet_file, fleet_toml()).unwrap();
    run_cli(
        &binary,
        &env,
        &["fleet", "apply", &fleet_file.to_string_lossy()],
        &out,
    );
    eprintln!("bench: {PAST_ORDERS} past orders …");
    seed_past_orders(&database_url).await;
    maintain(&database_url).await;
    let (server_process, ready_after) = start(&binary, &env, port, &out).await;
    let rss_at_ready = server_process.rss_mib();
    // The server's peak RSS as each group of phases ends: where the memory goes.
    let mut peaks: Vec<(&str, f64)> = Vec::new();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // What the idle server commits (its worker loops' claims at their tick, the expiry
    // sweep), before any load: taken out of every commit count below. Statistics reach
    // pg_stat_database within a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let idle_from = commits(&admin, name).await;
    let idle_window = Duration::from_secs(3);
    tokio::time::sleep(idle_window).await;
    let idle_per_second =
        (commits(&admin, name).await - idle_from) as f64 / idle_window.as_secs_f64();

    let customer = Customer {
        client,
        base: server_process.base.clone(),
        yookassa: yookassa.clone(),
        status_reads: Arc::new(AtomicU64::new(0)),
    };

    // What one order-status read commits (the page's polling, which a lifecycle here does
    // more eagerly than a phone would), on the quiet server: taken out of the commits per
    // lifecycle in brackets.
    let probe_order = customer.scan("probe", 0).await.expect("a scan");
    let reads_from = commits(&admin, name).await;
    let started = Instant::now();
    for _ in 0..500 {
        customer.status(&probe_order).await;
    }
    let reads_took = started.elapsed() + Duration::from_millis(1100);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let per_status_read = ((commits(&admin, name).await - reads_from) as f64
        - idle_per_second * reads_took.as_secs_f64())
        / 500.0;

    // Scans, from `wrk`: a load generator in C costs the shared CPU far less than one in
    // this process would.
    eprintln!("bench: scans …");
    let server_pid = server_process.child.id();
    let mut cpu: Vec<(String, CpuPerOp)> = Vec::new();
    maintain(&database_url).await;
    let mut scans = Vec::new();
    for (round, connections) in [16usize, 64].into_iter().enumerate() {
        let base = server_process.base.clone();
        // Warm-up, unmeasured.
        wrk_scans(
            &base,
            &out,
            &format!("scan{round}w"),
            connections,
            Duration::from_secs(1),
        )
        .await;
        let before = cpu_sample(server_pid);
        let phase = wrk_scans(&base, &out, &format!("scan{round}"), connections, seconds()).await;
        cpu.push((
            format!("QR scans, {connections} connections"),
            CpuPerOp::between(before, cpu_sample(server_pid), phase.done),
        ));
        scans.push((connections, phase));
    }
    peaks.push(("scans", server_process.peak_rss_mib()));

    // Verified webhooks: real pending payments, first deliveries, then duplicates.
    eprintln!("bench: webhooks …");
    let count: u64 = 3000;
    let prepared = Arc::new(Mutex::new(Vec::new()));
    {
        let (c, prepared) = (customer.clone(), prepared.clone());
        drive(32, Until::Count(count), move |n| {
            let (c, prepared) = (c.clone(), prepared.clone());
            async move {
                let Some(order) = c.scan("hook", n).await else {
                    return false;
                };
                let Some(payment) = c.initiate(&order).await else {
                    return false;
                };
                prepared.lock().unwrap().push((order, payment));
                true
            }
        })
        .await;
    }
    let prepared: Arc<Vec<(String, String)>> =
        Arc::new(std::mem::take(&mut *prepared.lock().unwrap()));
    // The customers pay all at once, just before YooKassa tells us: the payments' own polls
    // (every 5 s while pending) then rarely get there first.
    for (_, payment) in prepared.iter() {
        yookassa.pay(payment);
    }
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        prepared
            .iter()
            .map(|(_, payment)| yookassa.notification("payment.succeeded", payment))
            .collect(),
    );
    let deliver = |bodies: Arc<Vec<Vec<u8>>>| {
        let c = customer.clone();
        move |n: u64| {
            let (c, body) = (c.clone(), bodies[n as usize].clone());
            async move { c.notify(body).await }
        }
    };
    maintain(&database_url).await;
    let before = cpu_sample(server_pid);
    let first = drive(
        64,
        Until::Count(bodies.len() as u64),
        deliver(bodies.clone()),
    )
    .await;
    cpu.push((
        "Webhooks, first deliveries (their make commands may run on)".to_owned(),
        CpuPerOp::between(before, cpu_sample(server_pid), first.done),
    ));
    // Let the worker brew them all before the duplicates arrive.
    for (order, _) in prepared.iter() {
        let deadline = Instant::now() + Duration::from_secs(120);
        while customer.status(order).await.as_deref() != Some("successful") {
            assert!(Instant::now() < deadline, "order {order} never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    maintain(&database_url).await;
    let before = cpu_sample(server_pid);
    let duplicates = drive(
        64,
        Until::Count(bodies.len() as u64),
        deliver(bodies.clone()),
    )
    .await;
    cpu.push((
        "Webhooks, duplicates".to_owned(),
        CpuPerOp::between(before, cpu_sample(server_pid), duplicates.done),
    ));

    peaks.push(("webhooks", server_process.peak_rss_mib()));

    // Lifecycles.
    eprintln!("bench: lifecycles …");
    let mut lifecycles = Vec::new();
    for concurrency in [8usize, 64, 256] {
        let c = customer.clone();
        let tag = format!("life{concurrency}");
        maintain(&database_url).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = commits(&admin, name).await;
        let reads_before = customer.status_reads.load(Ordering::Relaxed);
        let started = Instant::now();
        let cpu_before = cpu_sample(server_pid);
        let phase = drive(concurrency, Until::Elapsed(seconds()), move |n| {
            let (c, tag) = (c.clone(), tag.clone());
            async move { c.lifecycle(&tag, n).await }
        })
        .await;
        cpu.push((
            format!("Lifecycles, {concurrency} customers"),
            CpuPerOp::between(cpu_before, cpu_sample(server_pid), phase.done),
        ));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let after = commits(&admin, name).await;
        let window = started.elapsed().as_secs_f64();
        let reads = customer.status_reads.load(Ordering::Relaxed) - reads_before;
        let lifecycles_done = phase.done.max(1) as f64;
        let raw = (after - before) as f64 - idle_per_second * window;
        let per = Commits {
            all: raw / lifecycles_done,
            without_status_reads: (raw - reads as f64 * per_status_read) / lifecycles_done,
            status_reads: reads as f64 / lifecycles_done,
        };
        lifecycles.push((concurrency, phase, per));
        peaks.push((
            match concurrency {
                8 => "lifecycles at 8",
                64 => "lifecycles at 64",
                _ => "lifecycles at 256",
            },
            server_process.peak_rss_mib(),
        ));
    }
    let peak_rss = server_process.peak_rss_mib();
    drop(server_process);
    refuse_if_shared(&admin, name).await;
    // `BENCH_KEEP_DATABASE=1` keeps it for a look (pg_stat_statements, the tables).
    if std::env::var("BENCH_KEEP_DATABASE").is_ok_and(|v| v == "1") {
        eprintln!("bench: kept database {name}");
    } else {
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
    }

    // The machine's own speed drifts within a run; the ratios are taken to the mean of the
    // ceiling measured before and after the server's phases.
    eprintln!("bench: pgbench ceiling again …");
    let ceiling_after = ceiling(&admin, &server, &out).await;
    let ceiling = Ceiling {
        tpcb: (ceiling_before.tpcb + ceiling_after.tpcb) / 2.0,
        scan_like: (ceiling_before.scan_like + ceiling_after.scan_like) / 2.0,
    };

    // Report.
    let mut md = String::new();
    md.push_str(&format!(
        "Release build, {cores} cores; server, Postgres and load generator on one machine; {} s per phase.\n\n",
        seconds().as_secs()
    ));
    md.push_str(
        "| Figure | Rate | p50 | p99 | max | Ratio | Notes |\n|---|---|---|---|---|---|---|\n",
    );
    md.push_str(&format!(
        "| pgbench TPC-B, 8 clients | {:.0} tps | | | | | the ceiling for lifecycles: the mean of {:.0} before and {:.0} after the server's phases |\n",
        ceiling.tpcb, ceiling_before.tpcb, ceiling_after.tpcb
    ));
    md.push_str(&format!(
        "| pgbench scan-like (2 reads + 1 insert), 16 clients | {:.0} tps | | | | | the ceiling for scans: the mean of {:.0} before and {:.0} after |\n",
        ceiling.scan_like, ceiling_before.scan_like, ceiling_after.scan_like
    ));
    let mut json_scans = Vec::new();
    for (connections, phase) in &scans {
        let ratio = phase.rate() / ceiling.scan_like;
        md.push_str(&format!(
            "| QR scans over HTTP, {connections} connections | {:.0} req/s | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} of scan-like | {} errors |\n",
            phase.rate(),
            phase.latencies.p50,
            phase.latencies.p99,
            phase.latencies.max,
            ratio,
            phase.errors
        ));
        json_scans.push(json!({
            "connections": connections, "per_second": round(phase.rate()),
            "latency": phase.latencies.json(), "ratio_to_scan_like": round(ratio),
            "errors": phase.errors,
        }));
    }
    for (label, phase) in [("first deliveries", &first), ("duplicates", &duplicates)] {
        md.push_str(&format!(
            "| Verified webhooks, {label}, 64 connections | {:.0} /s | {:.1} ms | {:.1} ms | {:.1} ms | | {} notifications, {} errors |\n",
            phase.rate(),
            phase.latencies.p50,
            phase.latencies.p99,
            phase.latencies.max,
            phase.done,
            phase.errors
        ));
    }
    let mut json_lifecycles = Vec::new();
    for (concurrency, phase, per) in &lifecycles {
        let ratio = phase.rate() / ceiling.tpcb;
        md.push_str(&format!(
            "| Lifecycles over HTTP, {concurrency} customers | {:.0} /s | {:.1} ms | {:.1} ms | {:.1} ms | {:.3} of TPC-B | {:.1} commits per lifecycle ({:.1} without its {:.1} status reads), {} errors |\n",
            phase.rate(),
            phase.latencies.p50,
            phase.latencies.p99,
            phase.latencies.max,
            ratio,
            per.all,
            per.without_status_reads,
            per.status_reads,
            phase.errors
        ));
        json_lifecycles.push(json!({
            "customers": concurrency, "per_second": round(phase.rate()),
            "latency": phase.latencies.json(), "ratio_to_tpcb": round(ratio),
            "commits_per_lifecycle": round(per.all),
            "commits_per_lifecycle_without_status_reads": round(per.without_status_reads),
            "status_reads_per_lifecycle": round(per.status_reads),
            "completed": phase.done, "errors": phase.errors,
        }));
    }
    md.push_str(&format!(
        "| Idle database commits | {idle_per_second:.1} /s | | | | | workers' claims and the expiry sweep; {per_status_read:.2} commits per status read |\n"
    ));
    md.push_str(&format!(
        "| Server peak RSS | {peak_rss:.1} MiB | | | | | {rss_at_ready:.1} MiB when ready; peak after {} |\n| Start to ready | {:.1} ms | | | | | migrations already applied |\n",
        peaks
            .iter()
            .map(|(after, mib)| format!("{after} {mib:.1} MiB"))
            .collect::<Vec<_>>()
            .join(", "),
        ready_after.as_secs_f64() * 1000.0
    ));
    md.push_str(
        "\nWhere the CPU went (milliseconds of CPU per operation; the machine's busy share of the phase):\n\n| Phase | Server | Postgres | Load generator and fakes | Machine busy |\n|---|---|---|---|---|\n",
    );
    for (label, per) in &cpu {
        md.push_str(&format!(
            "| {label} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} % |\n",
            per.server_ms,
            per.postgres_ms,
            per.load_generator_ms,
            per.machine_busy * 100.0
        ));
    }
    let json_cpu: Vec<Value> = cpu
        .iter()
        .map(|(label, per)| {
            let mut figures = per.json();
            figures["phase"] = json!(label);
            figures
        })
        .collect();
    let report = json!({
        "at": chrono::Utc::now().to_rfc3339(),
        "cores": cores,
        "phase_seconds": seconds().as_secs(),
        "pgbench": {
            "tpcb_8_clients_tps": round(ceiling.tpcb),
            "scan_like_16_clients_tps": round(ceiling.scan_like),
            "before": {"tpcb_8_clients_tps": round(ceiling_before.tpcb), "scan_like_16_clients_tps": round(ceiling_before.scan_like)},
            "after": {"tpcb_8_clients_tps": round(ceiling_after.tpcb), "scan_like_16_clients_tps": round(ceiling_after.scan_like)},
        },
        "scans": json_scans,
        "webhooks": {
            "first_deliveries": {"per_second": round(first.rate()), "latency": first.latencies.json(), "count": first.done, "errors": first.errors},
            "duplicates": {"per_second": round(duplicates.rate()), "latency": duplicates.latencies.json(), "count": duplicates.done, "errors": duplicates.errors},
        },
        "lifecycles": json_lifecycles,
        "database": {"idle_commits_per_second": round(idle_per_second), "commits_per_status_read": round(per_status_read)},
        "cpu": json_cpu,
        "server": {"peak_rss_mib": peak_rss, "rss_at_ready_mib": rss_at_ready,
            "peak_rss_mib_after": peaks.iter().map(|(after, mib)| json!({"after": after, "mib": mib})).collect::<Vec<_>>(), "ready_ms": round(ready_after.as_secs_f64() * 1000.0)},
    });
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let pretty = serde_json::to_string_pretty(&report).unwrap();
    std::fs::write(out.join("latest.json"), &pretty).unwrap();
    std::fs::write(out.join(format!("{stamp}.json")), &pretty).unwrap();
    std::fs::write(out.join("latest.md"), &md).unwrap();
    println!("{md}");
    println!(
        "written: {}/latest.md, latest.json, {stamp}.json",
        out.display()
    );
}
