//! New orders written together: scans that queue behind busy writers share one statement and
//! one commit, and an order that breaks a rule of the table fails alone.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use coffee_adapter_postgres::{run_migrations, PgStore};
use coffee_domain::ports::{CatalogRepository, OrderRepository, RepositoryError};
use coffee_domain::{DeviceUuid, HistoryEntry, Order, OrderId};
use coffee_test_support::contract::{at, base_fleet, entry, order, t0};
use coffee_test_support::test_db::TestDb;
use std::sync::Arc;
use std::time::Duration;

fn migrate(url: &str) -> Result<(), String> {
    run_migrations(url).map(|_| ()).map_err(|e| e.to_string())
}

async fn store() -> Option<(Arc<PgStore>, TestDb)> {
    let db = TestDb::migrated(migrate).await?;
    let store = PgStore::connect(db.url(), POOL).await.unwrap();
    store.apply_fleet(&base_fleet(), t0()).await.unwrap();
    Some((Arc::new(store), db))
}

async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A scan's order with two first lines of its own.
fn scan(device: &str, qr: &str) -> (Order, Vec<HistoryEntry>) {
    let order = order(device, qr, at(900));
    let lines = vec![
        entry(
            order.id,
            0,
            None,
            Some(order.status),
            &format!("{qr}: created"),
        ),
        entry(order.id, 1, None, None, &format!("{qr}: second line")),
    ];
    (order, lines)
}

type Outcome = Result<(Order, bool), RepositoryError>;

/// The test store's pool, its writers at once (three quarters of the pool) and orders per
/// batch (the store's limits): the first scans take the writers.
const POOL: usize = 16;
const WRITERS: usize = 12;
const BATCH: usize = 8;

/// Starts the scans while `order_history` is locked by another transaction: the first
/// [`WRITERS`] take the writers, which wait on the lock, and the rest queue behind them;
/// then lets go.
async fn scans_behind_a_lock(
    store: &Arc<PgStore>,
    url: &str,
    scans: Vec<(Order, Vec<HistoryEntry>)>,
) -> Vec<Outcome> {
    let mut locker = sql(url).await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE order_history IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (n, (order, lines)) in scans.into_iter().enumerate() {
        if n == WRITERS {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.insert_or_get(order, lines).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.commit().await.unwrap();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

/// Transactions that inserted orders: rows one statement inserted share its `xmin`.
async fn order_commits(url: &str) -> i64 {
    sql(url)
        .await
        .query_one("SELECT count(DISTINCT xmin::text) FROM orders", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_queued_behind_busy_writers_are_committed_together_each_with_its_own_lines() {
    let Some((store, db)) = store().await else {
        return;
    };
    let mut scans: Vec<_> = (0..40).map(|n| scan("dev-a", &format!("qr-{n}"))).collect();
    // Each QR scanned twice at once: the scan that loses gets the winner's order.
    scans.extend((0..40).map(|n| scan("dev-a", &format!("qr-{n}"))));
    let sent: Vec<Order> = scans.iter().map(|(order, _)| order.clone()).collect();

    let outcomes = scans_behind_a_lock(&store, db.url(), scans).await;

    let mut inserted = 0;
    for n in 0..40 {
        let (first, first_new) = outcomes[n].as_ref().unwrap();
        let (second, second_new) = outcomes[n + 40].as_ref().unwrap();
        assert_eq!(first.id, second.id, "qr-{n}: one order for both scans");
        assert_ne!(
            first_new, second_new,
            "qr-{n}: exactly one scan inserted it"
        );
        inserted += usize::from(*first_new) + usize::from(*second_new);
        let stored = first.id;
        let lines = store.history(stored).await.unwrap();
        let messages: Vec<_> = lines.iter().map(|line| line.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                format!("qr-{n}: created").as_str(),
                format!("qr-{n}: second line").as_str()
            ],
            "qr-{n}: its own lines, in order"
        );
        let loser: OrderId = if sent[n].id == stored {
            sent[n + 40].id
        } else {
            sent[n].id
        };
        assert_eq!(store.get(loser).await.unwrap(), None);
        assert!(store.history(loser).await.unwrap().is_empty());
    }
    assert_eq!(inserted, 40);
    let commits = order_commits(db.url()).await;
    // The writers' first scans alone, then the rest in batches.
    let batches = (80 - WRITERS).div_ceil(BATCH);
    assert!(
        commits <= (WRITERS + batches) as i64,
        "80 scans queued behind busy writers took {commits} commits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_that_breaks_a_rule_fails_alone_when_written_with_others() {
    let Some((store, db)) = store().await else {
        return;
    };
    let mut scans: Vec<_> = (0..30).map(|n| scan("dev-a", &format!("qr-{n}"))).collect();
    // No such device: its foreign key refuses it.
    scans.insert(20, scan("no-such-device", "qr-bad"));
    assert!(DeviceUuid::parse("no-such-device").is_ok());

    let outcomes = scans_behind_a_lock(&store, db.url(), scans).await;

    for (n, outcome) in outcomes.iter().enumerate() {
        if n == 20 {
            assert!(
                matches!(outcome, Err(RepositoryError::NotFound(_))),
                "{outcome:?}"
            );
        } else {
            let (order, inserted) = outcome.as_ref().unwrap();
            assert!(inserted);
            assert_eq!(store.history(order.id).await.unwrap().len(), 2);
        }
    }
}
