//! Connecting: plain TCP (no TLS), with a connect timeout, a server-side statement timeout and
//! TCP keepalives, so a database that is down or unreachable fails calls fast instead of
//! hanging them.

use crate::SetupError;
use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use std::time::Duration;

/// Timeouts and pool size of a [`PgStore`](crate::PgStore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections kept open at most.
    pub pool_size: usize,
    /// How long establishing a TCP connection and logging in may take.
    pub connect_timeout: Duration,
    /// Server-side `statement_timeout` of every statement.
    pub statement_timeout: Duration,
    /// The whole repository call — waiting for a connection included — after which it fails
    /// with `Unavailable`.
    pub operation_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(8),
        }
    }
}

/// Parses `database_url` (URL or `key=value` form) and applies our defaults where the URL
/// does not choose: connect timeout, keepalives, application name, and — when given — the
/// statement and idle-in-transaction timeouts.
pub(crate) fn config(
    database_url: &str,
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<tokio_postgres::Config, SetupError> {
    let mut config: tokio_postgres::Config = database_url
        .parse()
        .map_err(|e: tokio_postgres::Error| SetupError::InvalidUrl(e.to_string()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("coffee-pay");
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30));
    if let Some(timeout) = statement_timeout {
        let mut options = config.get_options().unwrap_or_default().to_owned();
        if !options.contains("statement_timeout") {
            options.push_str(&format!(" -c statement_timeout={}", timeout.as_millis()));
        }
        if !options.contains("idle_in_transaction_session_timeout") {
            let idle = timeout.saturating_mul(6).as_millis();
            options.push_str(&format!(" -c idle_in_transaction_session_timeout={idle}"));
        }
        config.options(options.trim());
    }
    Ok(config)
}

/// Opens one connection (no TLS); its driver task runs on the current Tokio runtime.
pub(crate) async fn establish(
    config: &tokio_postgres::Config,
) -> Result<AsyncPgConnection, ConnectionError> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| ConnectionError::BadConnection(error_chain(&e)))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// The error with its causes: `error connecting to server: Connection refused (os error 111)`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_applied_unless_the_url_chooses() {
        let config = config_from("postgres://u@localhost:5432/db");
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(config.get_application_name(), Some("coffee-pay"));
        let options = config.get_options().unwrap();
        assert!(options.contains("statement_timeout=5000"), "{options}");
        assert!(
            options.contains("idle_in_transaction_session_timeout=30000"),
            "{options}"
        );

        let chosen = config_from("postgres://u@localhost/db?connect_timeout=9&application_name=x");
        assert_eq!(chosen.get_connect_timeout(), Some(&Duration::from_secs(9)));
        assert_eq!(chosen.get_application_name(), Some("x"));

        let migrations = super::config(
            "host=localhost user=u dbname=db",
            Duration::from_secs(2),
            None,
        )
        .unwrap();
        assert_eq!(migrations.get_options(), None);
    }

    fn config_from(url: &str) -> tokio_postgres::Config {
        config(url, Duration::from_secs(2), Some(Duration::from_secs(5))).unwrap()
    }

    #[test]
    fn a_malformed_url_is_refused() {
        assert!(matches!(
            config(
                "postgres://u@localhost:notaport/db",
                Duration::from_secs(1),
                None
            ),
            Err(SetupError::InvalidUrl(_))
        ));
    }
}
