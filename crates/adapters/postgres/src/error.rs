//! One place that decides which database failure becomes which [`RepositoryError`].

use coffee_domain::ports::RepositoryError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use std::time::Duration;

/// Errors while a repository call runs; turned into a [`RepositoryError`] at the port.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// A domain-level outcome decided by the adapter (conflict, not found, duplicate).
    Repo(RepositoryError),
    /// Anything diesel reports: mapped centrally by [`StoreError::into_repository`].
    Db(DieselError),
    /// No connection could be had from the pool.
    Pool(diesel_async::pooled_connection::deadpool::PoolError),
    /// A stored row or a value to store does not fit the domain's types.
    Data(String),
    /// A dry run's transaction, rolled back on purpose after counting what it would write.
    DryRun(coffee_domain::moving_over::ImportChanges),
}

/// A row that does not fit the domain's types, or a value the schema cannot hold.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DataError(String);

/// The database did not answer within the operation timeout.
#[derive(Debug, thiserror::Error)]
#[error("Postgres did not answer within {0:?}")]
pub(crate) struct TimedOut(pub(crate) Duration);

impl StoreError {
    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        StoreError::Data(message.into())
    }

    pub(crate) fn into_repository(self) -> RepositoryError {
        match self {
            StoreError::Repo(error) => error,
            StoreError::Db(error) => map_diesel(error),
            StoreError::Pool(error) => RepositoryError::Unavailable(Box::new(error)),
            StoreError::Data(message) => RepositoryError::Unavailable(Box::new(DataError(message))),
            // Turned into its counts where the dry run began; reaching here is a bug, reported
            // rather than hidden.
            StoreError::DryRun(_) => RepositoryError::Unavailable(Box::new(DataError(
                "a dry run's rollback escaped its transaction".into(),
            ))),
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        StoreError::Db(error)
    }
}

impl From<RepositoryError> for StoreError {
    fn from(error: RepositoryError) -> Self {
        StoreError::Repo(error)
    }
}

fn describe(info: &dyn diesel::result::DatabaseErrorInformation) -> String {
    match info.constraint_name() {
        Some(constraint) => format!("{} ({constraint})", info.message()),
        None => info.message().to_owned(),
    }
}

/// Unique violations are duplicates, foreign-key violations name a row that does not exist,
/// everything else (connection lost, statement timeout, serialization failure…) means the
/// store cannot serve the call right now.
fn map_diesel(error: DieselError) -> RepositoryError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            RepositoryError::Duplicate(describe(info.as_ref()))
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
            RepositoryError::NotFound(describe(info.as_ref()))
        }
        DieselError::NotFound => RepositoryError::NotFound("row".into()),
        other => RepositoryError::Unavailable(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diesel_errors_map_to_the_port_errors() {
        assert!(matches!(
            StoreError::from(DieselError::NotFound).into_repository(),
            RepositoryError::NotFound(_)
        ));
        assert!(matches!(
            StoreError::from(DieselError::BrokenTransactionManager).into_repository(),
            RepositoryError::Unavailable(_)
        ));
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key value violates unique constraint".to_owned()),
        );
        assert!(matches!(
            StoreError::from(unique).into_repository(),
            RepositoryError::Duplicate(_)
        ));
        let foreign = DieselError::DatabaseError(
            DatabaseErrorKind::ForeignKeyViolation,
            Box::new("insert or update violates foreign key constraint".to_owned()),
        );
        assert!(matches!(
            StoreError::from(foreign).into_repository(),
            RepositoryError::NotFound(_)
        ));
        let closed = DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("closed".to_owned()),
        );
        assert!(matches!(
            StoreError::from(closed).into_repository(),
            RepositoryError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::corrupt("bad").into_repository(),
            RepositoryError::Unavailable(_)
        ));
    }
}
