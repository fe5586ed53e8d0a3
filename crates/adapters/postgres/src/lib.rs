//! # coffee-adapter-postgres
//!
//! The production storage of the Coffee Payments Server. It owns:
//!
//! * [`PgStore`] — PostgreSQL implementations of the domain's `CatalogRepository`,
//!   `OrderRepository`, `PaymentRepository` and `JobQueue` ports, with exactly the semantics of
//!   the in-memory reference store: every order change is one transaction of compare-and-set
//!   updates plus the history lines and jobs it causes; uniqueness rules (one order per device
//!   and machine order id, one payment per order, one provider payment id) are database
//!   constraints; jobs are claimed with `SELECT … FOR UPDATE SKIP LOCKED` under a lease, so
//!   several replicas share one queue safely;
//! * the connection pool (diesel-async + deadpool, plain TCP without TLS) with connect,
//!   statement and per-call timeouts: while the database is down calls fail fast with
//!   `RepositoryError::Unavailable`, and they recover by themselves when it is back;
//! * the schema migrations of the top-level `migrations/` folder, embedded in the binary
//!   ([`run_migrations`]), run without libpq.
//!
//! Database failures are mapped in one place: unique violations become `Duplicate`,
//! foreign-key violations `NotFound`, everything else `Unavailable`.
//!
//! Layout: `store/` holds [`PgStore`] with one module per port, `models/` the rows with the
//! same split, `error.rs` that one mapping, `connection.rs` how a connection is opened,
//! `migrations.rs` the embedded migrations.

mod codes;
mod connection;
mod error;
mod migrations;
mod models;
mod schema;
mod store;

pub use connection::PgOptions;
pub use migrations::{pending_migrations, revert_all_migrations, run_migrations, MIGRATIONS};
pub use store::PgStore;

/// Why the store could not be set up or migrated.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The database URL cannot be parsed.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
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
