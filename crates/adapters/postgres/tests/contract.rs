//! The repository contract on Postgres: each check in its own database cloned from a template
//! migrated once per test run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use coffee_adapter_postgres::{run_migrations, PgStore};
use coffee_test_support::contract::Stores;
use coffee_test_support::test_db::TestDb;
use std::sync::Arc;

fn migrate(url: &str) -> Result<(), String> {
    run_migrations(url).map(|_| ()).map_err(|e| e.to_string())
}

async fn fixture() -> Option<(Stores, TestDb)> {
    let db = TestDb::migrated(migrate).await?;
    let store = PgStore::connect(db.url(), 8)
        .await
        .expect("connect to the test database");
    Some((Stores::from_one(Arc::new(store)), db))
}

coffee_test_support::contract_tests!(fixture);

/// Two processes on one database: a job one of them commits wakes the other's idle workers
/// (LISTEN/NOTIFY), so a replica does not wait for its tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_committed_by_another_process_wakes_this_ones_workers() {
    let Some((stores, db)) = fixture().await else {
        return;
    };
    let listener = PgStore::connect(db.url(), 2).await.unwrap();
    listener.listen_for_jobs();
    // The listening connection is up once a notice sent now reaches it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 0;
    loop {
        use coffee_domain::ports::JobQueue;
        let signal = listener.jobs_committed();
        n += 1;
        coffee_test_support::contract::seed_with_job(&stores, &format!("moid-{n}")).await;
        if tokio::time::timeout(std::time::Duration::from_millis(300), signal)
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other process' commit never woke this one"
        );
    }
}
