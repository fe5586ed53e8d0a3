#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

//! The console's order list on a big Postgres: how long one filtered page takes.
//!
//! Fills a fresh migrated database (on the server of `TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped at the end) with ORDERS orders over
//! 90 days, 3 merchants and 12 machines — a payment for every paid one, some flagged for an
//! operator, some with a receipt contact — then times the page of 50 that `/admin/orders`
//! asks `ConsoleQueries::orders` for, under each filter and search the console offers, and
//! the overview's 7-day sales.
//!
//! ```text
//! cargo run --release -p coffee-server --example console_bench -- [ORDERS]
//! just bench-console [ORDERS]
//! ```
//! Default: 1 000 000 orders. The target: every filtered page under 50 ms.

use chrono::{Duration, Utc};
use coffee_adapter_postgres::{run_migrations, PgStore};
use coffee_domain::ports::{CatalogRepository, ConsoleQueries, OrderCursor, OrderFilter};
use coffee_domain::{DeviceUuid, MerchantKey, OrderStatus, ProviderKind};
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::fleet;
use coffee_test_support::test_db::TestDb;
use std::time::Instant;

const RUNS: usize = 21;
const PAGE: usize = 51;

fn migrate(url: &str) -> Result<(), String> {
    run_migrations(url).map(|_| ()).map_err(|e| e.to_string())
}

async fn sql(url: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client.batch_execute(statement).await.expect(statement);
}

/// `ORDERS` orders, newest now, one every few seconds back over 90 days.
async fn fill(url: &str, orders: u64) {
    let span_seconds = 90 * 24 * 3600;
    let statement = format!(
        "INSERT INTO orders (id, machine_order_id, device_uuid, merchant_key, drink_no, drink_name, size,
                             price_kopecks, currency, status, expires_at, failure_reason,
                             receipt_contact_kind, receipt_contact_value, created_at, updated_at, attention)
         SELECT md5('o' || g)::uuid, 'moid-' || g, 'dev-' || (g % 12), 'm' || (g % 12 % 3), '1', 'Капучино',
                'medium', 15000, 'RUB',
                (ARRAY['successful','successful','successful','successful','successful','successful',
                       'not_paid','failed','created','make_pending'])[1 + g % 10],
                now() - make_interval(secs => (g * {span_seconds}.0 / {orders})) + interval '15 minutes',
                CASE g % 10 WHEN 6 THEN 'expired' WHEN 7 THEN 'dispense_failed' END,
                CASE WHEN g % 7 = 0 THEN 'email' END,
                CASE WHEN g % 7 = 0 THEN 'buyer' || g || '@example.ru' END,
                now() - make_interval(secs => (g * {span_seconds}.0 / {orders})),
                now() - make_interval(secs => (g * {span_seconds}.0 / {orders})),
                CASE WHEN g % 1000 = 7 THEN 'refund_refused' END
         FROM generate_series(1, {orders}) g;
         INSERT INTO payments (id, order_id, provider, provider_payment_id, amount_kopecks, currency, capture,
                               state, confirmation_url, idempotency_key, created_at, updated_at)
         SELECT md5('p' || o.id)::uuid, o.id, 'sandbox', 'pay-' || o.machine_order_id, 15000, 'RUB', 'immediate',
                CASE o.status WHEN 'failed' THEN 'refunded' ELSE 'succeeded' END,
                'https://pay.example/x', 'key-' || o.id, o.created_at, o.updated_at
         FROM orders o WHERE o.status IN ('successful', 'failed', 'make_pending');
         ANALYZE orders; ANALYZE payments;"
    );
    sql(url, &statement).await;
}

fn fleet_of_twelve() -> coffee_domain::Fleet {
    let mut builder = fleet();
    for m in 0..3 {
        builder = builder.merchant(merchant(&format!("m{m}")));
    }
    for d in 0..12 {
        let id = format!("dev-{d}");
        builder = builder
            .device(device(&id, &format!("m{}", d % 3)))
            .drink(drink(&id, "1").medium(15000));
    }
    builder.build()
}

/// The median and the slowest of `RUNS` runs of `query`, in milliseconds.
async fn time<F, Fut>(query: F) -> (f64, f64, usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        rows = query().await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[RUNS / 2], times[RUNS - 1], rows)
}

#[tokio::main]
async fn main() {
    let orders: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ORDERS is a number"))
        .unwrap_or(1_000_000);
    let Some(db) = TestDb::migrated(migrate).await else {
        eprintln!("no Postgres at TEST_DATABASE_URL");
        std::process::exit(2);
    };
    let store = PgStore::connect(db.url(), 4).await.unwrap();
    store
        .apply_fleet(&fleet_of_twelve(), chrono::Utc::now())
        .await
        .unwrap();
    let started = Instant::now();
    fill(db.url(), orders).await;
    println!(
        "filled {orders} orders (and their payments) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let middle = store
        .orders(
            &OrderFilter {
                device: Some(DeviceUuid::parse("dev-5").unwrap()),
                created_before: Some(Utc::now() - Duration::days(45)),
                ..OrderFilter::default()
            },
            None,
            1,
        )
        .await
        .unwrap()
        .pop()
        .map(|item| OrderCursor {
            created_at: item.order.created_at,
            id: item.order.id,
        });
    let day = Utc::now() - Duration::days(30);
    let cases: Vec<(&str, OrderFilter, Option<OrderCursor>)> = vec![
        ("first page, no filter", OrderFilter::default(), None),
        (
            "merchant",
            OrderFilter {
                merchant: Some(MerchantKey::parse("m1").unwrap()),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "device",
            OrderFilter {
                device: Some(DeviceUuid::parse("dev-5").unwrap()),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "device, a page 45 days deep (keyset)",
            OrderFilter {
                device: Some(DeviceUuid::parse("dev-5").unwrap()),
                ..OrderFilter::default()
            },
            middle,
        ),
        (
            "status failed",
            OrderFilter {
                status: Some(OrderStatus::Failed),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "merchant + status + one day",
            OrderFilter {
                merchant: Some(MerchantKey::parse("m2").unwrap()),
                status: Some(OrderStatus::Successful),
                created_from: Some(day),
                created_before: Some(day + Duration::days(1)),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "provider",
            OrderFilter {
                provider: Some(ProviderKind::Sandbox),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "needs an operator",
            OrderFilter {
                needs_operator: true,
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "search: machine uuid",
            OrderFilter {
                search: Some(format!("moid-{}", orders / 2)),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "search: provider payment id",
            OrderFilter {
                search: Some(format!("pay-moid-{}", orders / 2 + 1)),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "search: receipt email",
            OrderFilter {
                search: Some(format!("buyer{}@example.ru", (orders / 2) / 7 * 7)),
                ..OrderFilter::default()
            },
            None,
        ),
        (
            "merchant account: search another merchant's uuid",
            OrderFilter {
                merchant: Some(MerchantKey::parse("m0").unwrap()),
                search: Some("moid-1".into()),
                ..OrderFilter::default()
            },
            None,
        ),
    ];
    println!(
        "\n{:<50} {:>10} {:>10} {:>6}",
        "page of 50", "median ms", "max ms", "rows"
    );
    let mut worst: f64 = 0.0;
    for (name, filter, after) in &cases {
        let (median, max, rows) =
            time(|| async { store.orders(filter, *after, PAGE).await.unwrap().len() }).await;
        worst = worst.max(median);
        println!("{name:<50} {median:>10.2} {max:>10.2} {rows:>6}");
    }
    let (median, max, rows) = time(|| async {
        store
            .sales(None, Utc::now() - Duration::days(7), Utc::now())
            .await
            .unwrap()
            .len()
    })
    .await;
    println!(
        "{:<50} {median:>10.2} {max:>10.2} {rows:>6}",
        "overview: 7 days of sales (buckets)"
    );
    println!(
        "\nslowest filtered page (median): {worst:.2} ms — target < 50 ms: {}",
        if worst < 50.0 { "met" } else { "NOT met" }
    );
    drop(store);
    drop(db);
}
