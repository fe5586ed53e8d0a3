//! Connecting: over TLS or plain TCP as the URL's `sslmode` says (`tls`), with a connect
//! timeout, a server-side statement timeout and TCP keepalives, so a database that is down or
//! unreachable fails calls fast instead of hanging them.

use crate::tls::{self, TlsMode};
use crate::SetupError;
use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

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
/// statement and idle-in-transaction timeouts. TLS is required or off as [`tls_of`] decides.
pub(crate) fn config(
    database_url: &str,
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<tokio_postgres::Config, SetupError> {
    let (mut config, requested) = parse(database_url)?;
    let ssl_mode = match tls::mode(&requested, &config)? {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    };
    config.ssl_mode(ssl_mode);
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

fn parse(database_url: &str) -> Result<(tokio_postgres::Config, tls::Requested), SetupError> {
    let (url, requested) = tls::split(database_url);
    let config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| SetupError::InvalidUrl(e.to_string()))?;
    Ok((config, requested))
}

/// How connections to `database_url` are secured, and the TLS connector when they are.
/// Errors: `InvalidUrl`, `Tls` (an unknown `sslmode`, a remote database without one, an
/// unreadable `sslrootcert`).
pub(crate) fn tls_of(
    database_url: &str,
) -> Result<(TlsMode, Option<MakeRustlsConnect>), SetupError> {
    let (config, requested) = parse(database_url)?;
    let mode = tls::mode(&requested, &config)?;
    Ok((
        mode,
        tls::connector(mode, requested.sslrootcert.as_deref())?,
    ))
}

/// Opens one connection, over `tls` when given; its driver task runs on the current Tokio
/// runtime.
pub(crate) async fn establish(
    config: &tokio_postgres::Config,
    tls: Option<&MakeRustlsConnect>,
) -> Result<AsyncPgConnection, ConnectionError> {
    let failed = |e: tokio_postgres::Error| {
        let why = error_chain(&e);
        ConnectionError::BadConnection(match tls {
            Some(_) => format!("{why} (TLS was required by sslmode)"),
            None => why,
        })
    };
    match tls {
        None => {
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(failed)?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        }
        Some(tls) => {
            let (client, connection) = config.connect(tls.clone()).await.map_err(failed)?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        }
    }
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
