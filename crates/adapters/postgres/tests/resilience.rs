//! A database that is down fails calls fast with `Unavailable`, and calls succeed again by
//! themselves once it is back. The outage is a TCP proxy in front of the test database that
//! the test switches off and on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use coffee_adapter_postgres::{run_migrations, PgOptions, PgStore, SetupError};
use coffee_domain::ports::{OrderRepository, RepositoryError};
use coffee_test_support::test_db::TestDb;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

fn migrate(url: &str) -> Result<(), String> {
    run_migrations(url).map(|_| ()).map_err(|e| e.to_string())
}

fn options() -> PgOptions {
    PgOptions {
        pool_size: 2,
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(3),
    }
}

/// A port that accepts nothing: bound, then closed.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[tokio::test]
async fn an_unreachable_database_fails_fast() {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        closed_port().await
    );
    let started = Instant::now();
    let refused = PgStore::connect_with(&url, options()).await;
    assert!(
        matches!(refused, Err(SetupError::Connect(_))),
        "{refused:?}"
    );

    let store = PgStore::connect_lazy(&url, options()).expect("lazy pool");
    let ping = store.ping().await;
    assert!(
        matches!(ping, Err(RepositoryError::Unavailable(_))),
        "{ping:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    assert!(matches!(
        PgStore::connect_lazy("postgres://u@h:notaport/db", options()),
        Err(SetupError::InvalidUrl(_))
    ));
}

/// Forwards 127.0.0.1:`port` to `upstream` until aborted; aborting drops every connection.
struct Proxy {
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(port: u16, upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind proxy");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { tasks }
    }

    async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_postgres_is_away_and_recover_when_it_is_back() {
    let Some(db) = TestDb::migrated(migrate).await else {
        return;
    };
    let config: tokio_postgres::Config = db.url().parse().expect("url");
    let upstream: SocketAddr = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => {
            let port = config.get_ports().first().copied().unwrap_or(5432);
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .expect("resolve")
                .next()
                .expect("address")
        }
        _ => {
            eprintln!("SKIPPED: the outage test needs a TCP Postgres");
            return;
        }
    };
    let port = closed_port().await;
    let database = db.name().to_owned();
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let via_proxy = format!("postgres://{user}{password}@127.0.0.1:{port}/{database}");

    let proxy = Proxy::start(port, upstream).await;
    let store = PgStore::connect_with(&via_proxy, options())
        .await
        .expect("connect through the proxy");
    store.ping().await.expect("ping");

    proxy.stop().await;
    let started = Instant::now();
    for _ in 0..3 {
        let ping = store.ping().await;
        assert!(
            matches!(ping, Err(RepositoryError::Unavailable(_))),
            "{ping:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "three calls took {:?}",
        started.elapsed()
    );

    let proxy = Proxy::start(port, upstream).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.ping().await {
            Ok(()) => break,
            Err(error) if Instant::now() < deadline => {
                eprintln!("not yet back: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the store did not recover: {error}"),
        }
    }
    // Every pooled connection works again, not just one.
    for _ in 0..5 {
        store.ping().await.expect("ping after recovery");
    }
    drop(store);
    proxy.stop().await;
}

#[tokio::test]
async fn test_databases_are_removed_when_dropped() {
    let Some(db) = TestDb::empty().await else {
        return;
    };
    let name = db.name().to_owned();
    assert!(TestDb::exists(&name).await);
    drop(db);
    assert!(!TestDb::exists(&name).await);
}
