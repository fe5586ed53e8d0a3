//! The schema migrations of the top-level `migrations/` folder, embedded in the binary and run
//! over diesel-async's [`AsyncConnectionWrapper`] — no libpq needed.

use crate::connection::{config, establish, tls_of};
use crate::SetupError;
use diesel::connection::SimpleConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

/// Every migration, in order.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../../migrations");

/// Serialises migration runs of several replicas starting at once.
const MIGRATION_LOCK: i64 = 0x00C0_FFEE_0001;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type Wrapper = AsyncConnectionWrapper<AsyncPgConnection>;

/// Applies every pending migration; returns the versions applied now (empty when the schema
/// is current). Blocking: from async code call it inside `tokio::task::spawn_blocking`.
pub fn run_migrations(database_url: &str) -> Result<Vec<String>, SetupError> {
    with_connection(database_url, |conn| {
        let applied = conn.run_pending_migrations(MIGRATIONS)?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
}

/// Reverts every applied migration, newest first; returns the versions reverted. For tests
/// and for rebuilding a scratch database — it drops all data. Blocking like
/// [`run_migrations`].
pub fn revert_all_migrations(database_url: &str) -> Result<Vec<String>, SetupError> {
    with_connection(database_url, |conn| {
        let reverted = conn.revert_all_migrations(MIGRATIONS)?;
        Ok(reverted.iter().map(ToString::to_string).collect())
    })
}

/// Versions of the migrations not yet applied. Blocking like [`run_migrations`].
pub fn pending_migrations(database_url: &str) -> Result<Vec<String>, SetupError> {
    with_connection(database_url, |conn| {
        let pending = conn.pending_migrations(MIGRATIONS)?;
        Ok(pending
            .iter()
            .map(|m| m.name().version().to_string())
            .collect())
    })
}

type HarnessResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Runs `work` on a dedicated thread with its own small runtime, holding the migration lock.
/// The wrapper blocks on the runtime's handle while the runtime's worker drives the
/// connection, so this works whether or not the caller is inside a Tokio runtime.
fn with_connection<T: Send>(
    database_url: &str,
    work: impl FnOnce(&mut Wrapper) -> HarnessResult<T> + Send,
) -> Result<T, SetupError> {
    // No statement timeout: a migration may legitimately take long.
    let config = config(database_url, CONNECT_TIMEOUT, None)?;
    let (_, tls) = tls_of(database_url)?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|e| SetupError::Migration(format!("cannot start a runtime: {e}")))?;
                let connection = runtime
                    .block_on(establish(&config, tls.as_ref()))
                    .map_err(|e| SetupError::Connect(e.to_string()))?;
                let _entered = runtime.enter();
                let mut conn = Wrapper::from(connection);
                let result = conn
                    .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .map_err(|e| SetupError::Migration(e.to_string()))
                    .and_then(|()| {
                        work(&mut conn).map_err(|e| SetupError::Migration(e.to_string()))
                    });
                drop(conn);
                result
            })
            .join()
            .unwrap_or_else(|_| {
                Err(SetupError::Migration(
                    "the migration thread panicked".into(),
                ))
            })
    })
}
