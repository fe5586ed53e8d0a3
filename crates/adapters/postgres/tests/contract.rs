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
