//! [`PgStore`]: every repository port and the job queue on one connection pool, one module
//! per port; this module holds the pool, the per-call timeout and the shared query helpers.

// The two read shapes every port repeats: select one `$row` or all of them, then turn the
// rows into domain values. Macros rather than generic functions: a generic function over
// diesel's query types fails rustc's `Send` check once a query borrows its key
// ("implementation of `Send` is not general enough").

/// The one `$row` that `$query` finds, as a domain value; `None` when there is none.
macro_rules! find_one {
    ($store:expr, $query:expr, $row:ty) => {
        $store
            .run(async |conn| {
                let row = $query
                    .select(<$row>::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                row.map(<$row>::into_domain).transpose()
            })
            .await
    };
}

/// Every `$row` that `$query` finds, as domain values.
macro_rules! find_all {
    ($store:expr, $query:expr, $row:ty) => {
        $store
            .run(async |conn| {
                let rows = $query.select(<$row>::as_select()).load(conn).await?;
                rows.into_iter().map(<$row>::into_domain).collect()
            })
            .await
    };
}

mod catalog;
mod console;
mod imports;
mod jobs;
mod listen;
mod orders;
mod payments;
mod scans;

use crate::connection::{config, error_chain, establish, tls_of, PgOptions};
use crate::error::{StoreError, TimedOut};
use crate::SetupError;
use coffee_domain::ports::{OrderRepository, RepositoryError};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::sync::Arc;

/// The Postgres adapter: catalogue, orders, payments, history and the job queue.
///
/// Cheap to clone; clones share the pool. Every call is bounded by
/// [`PgOptions::operation_timeout`] and fails with `RepositoryError::Unavailable` while the
/// database is down; broken connections are dropped and replaced, so calls succeed again as
/// soon as it is back.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
    operation_timeout: std::time::Duration,
    jobs_committed: Bell,
    listen: Arc<Listen>,
    /// New orders waiting to be written together (`scans`).
    new_orders: Arc<scans::NewOrders>,
}

/// What hearing of other processes' jobs needs: how to open a connection of our own, and
/// this process' name on the channel (its own notices are not news).
struct Listen {
    config: Arc<tokio_postgres::Config>,
    tls: Arc<Option<tokio_postgres_rustls::MakeRustlsConnect>>,
    instance: String,
}

/// Rung once per job committed through this store; see `JobQueue::jobs_committed`. One
/// idle worker wakes per job (no stampede of empty claims); a ring with no worker waiting is
/// kept for the next one to wait.
#[derive(Debug, Default, Clone)]
struct Bell(std::sync::Arc<tokio::sync::Notify>);

impl Bell {
    fn ring(&self, jobs: usize) {
        for _ in 0..jobs {
            self.0.notify_one();
        }
    }

    fn next_ring(&self) -> coffee_domain::ports::JobsCommitted {
        let bell = self.0.clone();
        Box::pin(async move { bell.notified().await })
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

impl PgStore {
    /// Opens a pool of at most `pool_size` connections with the default timeouts and checks
    /// that the database answers. Errors: `InvalidUrl`, `Connect` (unreachable, refused).
    pub async fn connect(database_url: &str, pool_size: usize) -> Result<Self, SetupError> {
        Self::connect_with(
            database_url,
            PgOptions {
                pool_size,
                ..PgOptions::default()
            },
        )
        .await
    }

    /// Like [`PgStore::connect`] with explicit options.
    pub async fn connect_with(database_url: &str, options: PgOptions) -> Result<Self, SetupError> {
        let store = Self::connect_lazy(database_url, options)?;
        store
            .ping()
            .await
            .map_err(|e| SetupError::Connect(error_chain(&e)))?;
        Ok(store)
    }

    /// Builds the pool without touching the database: the first call connects. For starting
    /// while the database is still down (`/ready` then reports it). Errors: `InvalidUrl`,
    /// `Tls`, `Pool`.
    pub fn connect_lazy(database_url: &str, options: PgOptions) -> Result<Self, SetupError> {
        let config = Arc::new(config(
            database_url,
            options.connect_timeout,
            Some(options.statement_timeout),
        )?);
        let (mode, tls) = tls_of(database_url)?;
        tracing::info!(tls = %mode, "database connections");
        let tls = Arc::new(tls);
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // No `SELECT 1` per checkout: a connection whose socket closed (server restarted,
        // backend killed) is already refused by the pool's broken-connection check, and one
        // that timed out is discarded by `run`.
        manager_config.recycling_method = RecyclingMethod::Fast;
        let listen = Arc::new(Listen {
            config: Arc::clone(&config),
            tls: Arc::clone(&tls),
            instance: uuid::Uuid::new_v4().to_string(),
        });
        manager_config.custom_setup = Box::new(move |_url| {
            let (config, tls) = (Arc::clone(&config), Arc::clone(&tls));
            Box::pin(async move { establish(&config, tls.as_ref().as_ref()).await })
        });
        // The URL is carried inside the setup callback's config; the manager's copy is unused.
        let manager = AsyncDieselConnectionManager::new_with_config(String::new(), manager_config);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .build()
            .map_err(|e| SetupError::Pool(e.to_string()))?;
        Ok(Self {
            pool,
            operation_timeout: options.operation_timeout,
            jobs_committed: Bell::default(),
            listen,
            new_orders: Arc::new(scans::NewOrders::for_pool(options.pool_size.max(1))),
        })
    }

    /// Runs one repository call with a pooled connection, bounded by the operation timeout.
    /// A connection whose call timed out is discarded, never handed to the next caller: it may
    /// sit on a dead network or in the middle of an abandoned statement.
    async fn run<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, StoreError>,
    {
        let deadline = tokio::time::Instant::now() + self.operation_timeout;
        let mut conn = self.checkout(deadline).await?;
        match tokio::time::timeout_at(deadline, work(&mut conn)).await {
            Ok(result) => result.map_err(StoreError::into_repository),
            Err(_) => {
                drop(Object::take(conn));
                Err(self.timed_out())
            }
        }
    }

    /// A pooled connection, waited for until `deadline`.
    async fn checkout(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<Object<AsyncPgConnection>, RepositoryError> {
        tokio::time::timeout_at(deadline, self.pool.get())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| StoreError::Pool(e).into_repository())
    }

    fn timed_out(&self) -> RepositoryError {
        RepositoryError::Unavailable(Box::new(TimedOut(self.operation_timeout)))
    }
}

/// A pooled connection lent to work that opens a transaction by hand. Unless the work marks
/// it settled (its transaction committed or rolled back), dropping it discards the
/// connection instead of returning it to the pool — also when the caller gave up mid-way —
/// so no one is ever handed a connection inside someone else's transaction. (Diesel's own
/// `transaction` needs no such guard: the pool's check sees its depth.)
struct Unsettled {
    conn: Option<Object<AsyncPgConnection>>,
    settled: bool,
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(conn) = self.conn.take() {
                drop(Object::take(conn));
            }
        }
    }
}

impl PgStore {
    /// Like `run`, for work that sends `BEGIN` itself (to send it in the same flight as the
    /// transaction's statements): the work sets the flag once its `COMMIT` or `ROLLBACK`
    /// went through; otherwise the connection is discarded, never reused.
    async fn run_by_hand<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        F: AsyncFnOnce(&mut AsyncPgConnection, &mut bool) -> Result<T, StoreError>,
    {
        let deadline = tokio::time::Instant::now() + self.operation_timeout;
        let mut lent = Unsettled {
            conn: Some(self.checkout(deadline).await?),
            settled: false,
        };
        let Unsettled { conn, settled } = &mut lent;
        let Some(conn) = conn.as_mut() else {
            return Err(StoreError::corrupt("a lent connection went missing").into_repository());
        };
        match tokio::time::timeout_at(deadline, work(conn, settled)).await {
            Ok(result) => result.map_err(StoreError::into_repository),
            // `lent` is dropped unsettled: the connection goes.
            Err(_) => Err(self.timed_out()),
        }
    }

    /// Whether this store's connections are encrypted, as Postgres sees one of them
    /// (`pg_stat_ssl`): for the start-up log and for tests of `sslmode`.
    pub async fn connection_is_encrypted(&self) -> Result<bool, RepositoryError> {
        #[derive(diesel::QueryableByName)]
        struct Ssl {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            ssl: bool,
        }
        self.run(async |conn| {
            let row: Ssl =
                diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .get_result(conn)
                    .await?;
            Ok(row.ssl)
        })
        .await
    }
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

    use super::*;
    use coffee_test_support::test_db::TestDb;
    use diesel_async::SimpleAsyncConnection;

    #[derive(diesel::QueryableByName)]
    struct Backend {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }

    async fn backend_pid(store: &PgStore) -> i32 {
        store
            .run(async |conn| {
                let row: Backend = diesel::sql_query("SELECT pg_backend_pid() AS pid")
                    .get_result(conn)
                    .await?;
                Ok(row.pid)
            })
            .await
            .unwrap()
    }

    /// Work that opened a transaction by hand and did not end it — it failed, or its caller
    /// gave up — never hands its connection to the next caller; work that ended it does.
    #[tokio::test]
    async fn a_connection_left_inside_a_hand_made_transaction_is_never_reused() {
        let Some(db) = TestDb::empty().await else {
            return;
        };
        let store = PgStore::connect(db.url(), 1).await.unwrap();
        let first = backend_pid(&store).await;

        let settled = store
            .run_by_hand(async |conn, settled| {
                conn.batch_execute("BEGIN").await?;
                conn.batch_execute("COMMIT").await?;
                *settled = true;
                Ok(())
            })
            .await;
        assert!(settled.is_ok());
        assert_eq!(
            backend_pid(&store).await,
            first,
            "a settled connection is kept"
        );

        let failed: Result<(), _> = store
            .run_by_hand(async |conn, _settled| {
                conn.batch_execute("BEGIN").await?;
                Err(StoreError::corrupt("gave up inside the transaction"))
            })
            .await;
        assert!(failed.is_err());
        let second = backend_pid(&store).await;
        assert_ne!(
            second, first,
            "a connection inside a transaction was reused"
        );

        // A caller that stops waiting mid-way (a dropped request) leaves it unsettled too.
        let begun = tokio::sync::Notify::new();
        let abandoned = store.run_by_hand(async |conn, _settled| {
            conn.batch_execute("BEGIN").await?;
            begun.notify_one();
            std::future::pending::<()>().await;
            Ok(())
        });
        tokio::select! {
            _ = abandoned => unreachable!("the work never ends"),
            () = begun.notified() => {}
        }
        assert_ne!(
            backend_pid(&store).await,
            second,
            "an abandoned connection was reused"
        );
    }
}
