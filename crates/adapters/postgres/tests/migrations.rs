//! The embedded migrations go up, all the way down, and up again; the schema they build is the
//! one the adapter uses.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use coffee_adapter_postgres::{pending_migrations, revert_all_migrations, run_migrations, PgStore};
use coffee_domain::ports::{CatalogRepository, OrderRepository};
use coffee_test_support::contract;
use coffee_test_support::test_db::TestDb;

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("blocking task")
}

async fn tables(url: &str) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name NOT LIKE '\\_\\_diesel%' ORDER BY table_name",
            &[],
        )
        .await
        .expect("list tables");
    rows.iter().map(|row| row.get(0)).collect()
}

/// Folders in the top-level `migrations/`.
fn migration_count() -> usize {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../migrations");
    std::fs::read_dir(dir)
        .expect("migrations folder")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count()
}

const TABLES: [&str; 13] = [
    "console_api_tokens",
    "console_audit",
    "console_login_attempts",
    "console_sessions",
    "console_users",
    "devices",
    "drinks",
    "jobs",
    "merchants",
    "order_history",
    "orders",
    "payments",
    "provider_events",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_up_down_and_up_again() {
    let Some(db) = TestDb::empty().await else {
        return;
    };
    let url = db.url().to_owned();
    let total = migration_count();

    let pending = blocking({
        let url = url.clone();
        move || pending_migrations(&url)
    })
    .await
    .expect("pending");
    assert_eq!(pending.len(), total);

    let applied = blocking({
        let url = url.clone();
        move || run_migrations(&url)
    })
    .await
    .expect("up");
    assert_eq!(applied, pending);
    assert_eq!(tables(&url).await, TABLES);
    let again = blocking({
        let url = url.clone();
        move || run_migrations(&url)
    })
    .await
    .expect("up again is a no-op");
    assert!(again.is_empty());

    // Data in it does not stop the way down.
    {
        let store = PgStore::connect(&url, 2).await.expect("connect");
        store
            .apply_fleet(&contract::base_fleet(), chrono::Utc::now())
            .await
            .expect("fleet");
        store
            .insert_or_get(contract::order("dev-a", "moid", contract::at(60)), vec![])
            .await
            .expect("order");
    }

    let reverted = blocking({
        let url = url.clone();
        move || revert_all_migrations(&url)
    })
    .await
    .expect("down");
    let mut newest_first = applied.clone();
    newest_first.reverse();
    assert_eq!(reverted, newest_first);
    assert!(tables(&url).await.is_empty());

    let reapplied = blocking({
        let url = url.clone();
        move || run_migrations(&url)
    })
    .await
    .expect("up after down");
    assert_eq!(reapplied, applied);
    assert_eq!(tables(&url).await, TABLES);
    let store = PgStore::connect(&url, 2).await.expect("connect");
    store.ping().await.expect("ping");
    assert!(store.devices().await.expect("devices").is_empty());
}

#[test]
fn migrations_run_from_plain_synchronous_code() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(db) = runtime.block_on(TestDb::empty()) else {
        return;
    };
    let applied = run_migrations(db.url()).expect("up");
    assert_eq!(applied.len(), migration_count());
    assert!(run_migrations(db.url()).expect("up again").is_empty());
    drop(db);
}

/// The generic plan of `sql` (a prepared statement planned without its parameters' values).
async fn generic_plan(client: &tokio_postgres::Client, sql: &str) -> String {
    client
        .batch_execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
        .await
        .unwrap();
    let rows = client
        .query(&format!("EXPLAIN {sql}"), &[])
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"));
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// With nothing queued when the table was last analysed (a quiet night, or a fresh
/// database), ending one payment's polls or one order's deadlines still looks them up by the
/// payment or the order — not through the claim's index of every queued job, which a
/// backlog would make a walk over all of them — and a claim still walks the claim index.
#[tokio::test]
async fn job_lookups_and_claims_each_use_their_own_index_on_an_empty_queue() {
    let Some(db) = TestDb::empty().await else {
        return;
    };
    let url = db.url().to_owned();
    blocking(move || run_migrations(&url).map(|_| ()))
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client.batch_execute("ANALYZE jobs").await.unwrap();
    client
        .batch_execute(
            "PREPARE end_polls(uuid) AS UPDATE jobs SET state = 'done' WHERE payment_id = $1 \
             AND jobs.kind = 'poll_payment' AND jobs.state = 'queued'; \
             PREPARE end_deadlines(uuid) AS UPDATE jobs SET state = 'done' WHERE order_id = $1 \
             AND jobs.kind = 'dispense_deadline' AND jobs.state = 'queued'; \
             PREPARE claim(timestamptz) AS SELECT id FROM jobs WHERE state = 'queued' \
             AND run_at <= $1 ORDER BY priority, run_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .await
        .unwrap();
    let any = "'00000000-0000-0000-0000-000000000000'";
    let polls = generic_plan(&client, &format!("EXECUTE end_polls({any})")).await;
    assert!(polls.contains("jobs_queued_polls"), "{polls}");
    let deadlines = generic_plan(&client, &format!("EXECUTE end_deadlines({any})")).await;
    assert!(deadlines.contains("jobs_order"), "{deadlines}");
    assert!(!deadlines.contains("jobs_claim_queued"), "{deadlines}");
    let claim = generic_plan(&client, "EXECUTE claim(now())").await;
    assert!(claim.contains("jobs_claim_queued"), "{claim}");
}
