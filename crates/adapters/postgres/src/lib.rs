//! # coffee-adapter-postgres
//!
//! The production storage of the Coffee Payments Server. It owns:
//!
//! * [`PgStore`] — PostgreSQL implementations of the domain's `CatalogRepository`,
//!   `OrderRepository`, `PaymentRepository` and `JobQueue` ports, with exactly the semantics of
//!   the in-memory reference store: every order change is one transaction of compare-and-set
//!   updates plus the history lines and jobs it causes, sent as one pipelined flight (`BEGIN`
//!   and its statements) and ended once every result is in; uniqueness rules (one order per device
//!   and machine order id, one payment per order, one provider payment id) are database
//!   constraints; jobs are claimed with `SELECT … FOR UPDATE SKIP LOCKED` under a lease, so
//!   several replicas share one queue safely;
//! * the connection pool (diesel-async + deadpool, over rustls TLS as the URL's `sslmode`
//!   says, see [`TlsMode`]) with connect, statement and per-call timeouts: while the database
//!   is down calls fail fast with `RepositoryError::Unavailable`, and they recover by
//!   themselves when it is back;
//! * [`read_original_network`] — the original Django system's `payments_*` tables, read
//!   once, read-only, for `coffee-pay import original`;
//! * the schema migrations of the top-level `migrations/` folder, embedded in the binary
//!   ([`run_migrations`]), run without libpq.
//!
//! Database failures are mapped in one place: unique violations become `Duplicate`,
//! foreign-key violations `NotFound`, everything else `Unavailable`.
//!
//! Layout: `store/` holds [`PgStore`] with one module per port, `models/` the rows with the
//! same split, `error.rs` that one mapping, `connection.rs` how a connection is opened,
//! `tls.rs` what `sslmode` means, `migrations.rs` the embedded migrations, `prepared.rs` the
//! wrapper that keeps hot statements prepared where diesel would not.

mod codes;
mod connection;
mod error;
mod migrations;
mod models;
mod original;
mod prepared;
mod schema;
mod store;
mod tls;

pub use connection::PgOptions;
pub use migrations::{pending_migrations, revert_all_migrations, run_migrations, MIGRATIONS};
pub use original::{read_original_network, OriginalReadError};
pub use store::PgStore;
pub use tls::TlsMode;

/// How connections to `database_url` would be secured — checked without connecting, so a
/// configuration can be refused at start. Errors: `InvalidUrl`, `Tls`.
pub fn tls_mode(database_url: &str) -> Result<TlsMode, SetupError> {
    connection::tls_of(database_url).map(|(mode, _)| mode)
}

/// Why the store could not be set up or migrated.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The database URL cannot be parsed.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// `sslmode`/`sslrootcert` cannot be honoured, or would let the connection fall back to
    /// plain text.
    #[error("database TLS: {0}")]
    Tls(String),
    /// The database cannot be reached or refused the login.
    #[error("cannot connect to Postgres: {0}")]
    Connect(String),
    /// The connection pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    /// A migration failed (nothing of that migration was applied).
    #[error("migration failed: {0}")]
    Migration(String),
}
