//! `sslmode` honoured end to end: a server that cannot do TLS refuses a connection that
//! requires it, in plain words; against the local Postgres, `disable` is plain text and
//! `require` / `verify-ca` / `verify-full` encrypt or fail as they should for its certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use coffee_adapter_postgres::{tls_mode, PgOptions, PgStore, SetupError, TlsMode};
use coffee_test_support::test_db::TestDb;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn options() -> PgOptions {
    PgOptions {
        pool_size: 1,
        connect_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(4),
    }
}

/// `url` with `query` added to its parameters.
fn with(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[tokio::test]
async fn a_server_without_tls_refuses_a_connection_that_requires_it_in_plain_words() {
    // What a Postgres with `ssl = off` does: answer the TLS request with 'N'.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 8];
            if socket.read_exact(&mut request).await.is_ok() {
                let _ = socket.write_all(b"N").await;
            }
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    let refused = PgStore::connect_with(&url, options()).await.unwrap_err();
    let message = refused.to_string();
    assert!(matches!(refused, SetupError::Connect(_)), "{message}");
    assert!(
        message.contains("server does not support TLS")
            && message.contains("TLS was required by sslmode"),
        "{message}"
    );
}

#[tokio::test]
async fn a_remote_database_without_sslmode_is_refused_before_connecting() {
    let url = "postgres://coffee:secret@db.example.ru:5432/coffee";
    let error = PgStore::connect_with(url, options()).await.unwrap_err();
    assert!(matches!(error, SetupError::Tls(_)), "{error}");
    assert!(!error.to_string().contains("secret"), "{error}");
    assert_eq!(
        tls_mode(&with(url, "sslmode=verify-full")).unwrap(),
        TlsMode::VerifyFull
    );
}

/// Whether the local server offers TLS, and the certificate file it serves.
async fn server_tls(url: &str) -> (bool, String) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let cert: String = client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    (ssl == "on", cert)
}

#[tokio::test]
async fn each_sslmode_against_the_local_server_encrypts_or_fails_as_its_certificate_allows() {
    let Some(db) = TestDb::empty().await else {
        return;
    };
    let url = db.url();
    let plain = PgStore::connect_with(&with(url, "sslmode=disable"), options())
        .await
        .unwrap();
    assert!(!plain.connection_is_encrypted().await.unwrap());
    let unset = PgStore::connect_with(url, options()).await.unwrap();
    assert!(
        !unset.connection_is_encrypted().await.unwrap(),
        "a local database without sslmode is plain text"
    );

    let (offers_tls, cert_file) = server_tls(url).await;
    let required = PgStore::connect_with(&with(url, "sslmode=require"), options()).await;
    if !offers_tls {
        let message = required.unwrap_err().to_string();
        assert!(message.contains("server does not support TLS"), "{message}");
        eprintln!("the local Postgres has ssl = off: the verify modes were not exercised");
        return;
    }
    let required = required.unwrap();
    assert!(required.connection_is_encrypted().await.unwrap());

    // The local server's certificate is its own (Debian's snakeoil): not signed by a public
    // root, so checking the chain against the built-in roots fails.
    let message = PgStore::connect_with(&with(url, "sslmode=verify-full"), options())
        .await
        .unwrap_err()
        .to_string();
    eprintln!("verify-full, built-in roots: {message}");
    assert!(message.contains("certificate"), "{message}");

    if std::fs::metadata(&cert_file).is_err() {
        eprintln!("{cert_file} is not readable here: verify-ca with it was not exercised");
        return;
    }
    // Trusting the server's own certificate, the chain is good: verify-ca connects.
    let trusted = with(url, &format!("sslmode=verify-ca&sslrootcert={cert_file}"));
    let verified = PgStore::connect_with(&trusted, options()).await.unwrap();
    assert!(verified.connection_is_encrypted().await.unwrap());
    // verify-full also wants the host in the certificate: Debian's names only `localhost`,
    // not the address 127.0.0.1 the tests connect to.
    if url.contains("@127.0.0.1") {
        let full = with(url, &format!("sslmode=verify-full&sslrootcert={cert_file}"));
        let message = PgStore::connect_with(&full, options())
            .await
            .unwrap_err()
            .to_string();
        eprintln!("verify-full: {message}");
        assert!(message.contains("not valid for name"), "{message}");
    }
}
