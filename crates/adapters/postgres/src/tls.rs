//! TLS to Postgres, as the database URL's `sslmode` and `sslrootcert` ask, over rustls — the
//! workspace's one TLS stack.
//!
//! The modes mean what they mean to libpq, except that nothing falls back to plain text
//! without being told to: libpq's default `prefer` tries TLS and quietly goes on without it.
//! Here `prefer`, `allow` and no `sslmode` at all are plain text for a database on this
//! machine (a loopback address, `localhost` or a Unix socket) and refused for any other.

use crate::SetupError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How connections to the database are secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text: `sslmode=disable`, or a database on this machine without `sslmode`.
    Disable,
    /// Encrypted; the server's certificate is not checked (`sslmode=require`).
    Require,
    /// Encrypted; the certificate chains to a trusted root, whatever host it names
    /// (`sslmode=verify-ca`, or `require` with `sslrootcert`).
    VerifyCa,
    /// Encrypted; the certificate chains to a trusted root and names the host connected to
    /// (`sslmode=verify-full`).
    VerifyFull,
}

impl std::fmt::Display for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsMode::Disable => "disable",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        })
    }
}

/// The URL's TLS parameters, taken out of it: tokio-postgres knows neither `verify-ca`,
/// `verify-full` nor `sslrootcert`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Requested {
    pub(crate) sslmode: Option<String>,
    pub(crate) sslrootcert: Option<String>,
}

/// `database_url` without `sslmode` and `sslrootcert`, and their values. Only the URL form
/// (`postgres://…?sslmode=…`) carries them here; a `key=value` string is returned as is, and
/// its `sslmode` (`disable`, `prefer` or `require`) is read by tokio-postgres.
pub(crate) fn split(database_url: &str) -> (String, Requested) {
    let is_url =
        database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
    let Some((base, query)) = database_url.split_once('?').filter(|_| is_url) else {
        return (database_url.to_owned(), Requested::default());
    };
    let mut requested = Requested::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => requested.sslmode = Some(percent_decode(value)),
            "sslrootcert" => requested.sslrootcert = Some(percent_decode(value)),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, requested)
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mode `requested` means for a connection to `config`'s hosts.
pub(crate) fn mode(
    requested: &Requested,
    config: &tokio_postgres::Config,
) -> Result<TlsMode, SetupError> {
    let sslmode = match &requested.sslmode {
        Some(mode) => mode.as_str(),
        // The key=value form: what tokio-postgres read (its default is `prefer`).
        None => match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => "disable",
            tokio_postgres::config::SslMode::Require => "require",
            _ => "",
        },
    };
    let mode = match sslmode {
        "disable" => TlsMode::Disable,
        "require" if requested.sslrootcert.is_some() => TlsMode::VerifyCa,
        "require" => TlsMode::Require,
        "verify-ca" => TlsMode::VerifyCa,
        "verify-full" => TlsMode::VerifyFull,
        "" | "prefer" | "allow" => match remote_host(config) {
            None => TlsMode::Disable,
            Some(host) => {
                return Err(SetupError::Tls(format!(
                    "the database at {host} is not on this machine and sslmode does not say how to secure the connection (libpq's default, prefer, would fall back to plain text): set sslmode=verify-full (or verify-ca, require), or sslmode=disable to use plain text knowingly"
                )))
            }
        },
        other => {
            return Err(SetupError::Tls(format!(
                "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )))
        }
    };
    Ok(mode)
}

/// The first host that is not on this machine: not a Unix socket, `localhost` or a loopback
/// address.
fn remote_host(config: &tokio_postgres::Config) -> Option<String> {
    let names = config.get_hosts().iter().filter_map(|host| match host {
        Host::Tcp(name) => Some(name.clone()),
        #[cfg(unix)]
        Host::Unix(_) => None,
    });
    let addresses = config.get_hostaddrs().iter().map(ToString::to_string);
    names.chain(addresses).find(|name| {
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        !loopback
    })
}

/// The connector for `mode`: `None` for plain text. Roots are the certificates of the
/// `sslrootcert` PEM file, or — without it, or with `sslrootcert=system` — the Mozilla root
/// set built in (webpki-roots, as for every other TLS call of the server).
pub(crate) fn connector(
    mode: TlsMode,
    sslrootcert: Option<&str>,
) -> Result<Option<MakeRustlsConnect>, SetupError> {
    if mode == TlsMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Tls(e.to_string()))?;
    let config = match mode {
        TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth(),
        TlsMode::VerifyCa => {
            let chain = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(sslrootcert)?),
                provider,
            )
            .build()
            .map_err(|e| SetupError::Tls(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
                .with_no_client_auth()
        }
        TlsMode::VerifyFull | TlsMode::Disable => builder
            .with_root_certificates(roots(sslrootcert)?)
            .with_no_client_auth(),
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

fn roots(sslrootcert: Option<&str>) -> Result<RootCertStore, SetupError> {
    let Some(path) = sslrootcert.filter(|p| *p != "system") else {
        return Ok(RootCertStore::from_iter(
            webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
        ));
    };
    let unreadable = |why: String| SetupError::Tls(format!("sslrootcert {path}: {why}"));
    let mut roots = RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(PathBuf::from(path)).map_err(|e| unreadable(e.to_string()))?
    {
        let cert = cert.map_err(|e| unreadable(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| unreadable(format!("not a CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(unreadable("no certificate in the file".into()));
    }
    Ok(roots)
}

/// `sslmode=require`: the connection is encrypted, and the server's certificate is taken as
/// it comes — as libpq does. The handshake's signatures are still checked.
#[derive(Debug)]
struct EncryptOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the certificate must chain to a trusted root; the host it names is
/// not compared with the one connected to.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name error means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(url: &str) -> Result<TlsMode, SetupError> {
        let (stripped, requested) = split(url);
        let config: tokio_postgres::Config = stripped.parse().unwrap();
        mode(&requested, &config)
    }

    #[test]
    fn the_tls_parameters_are_taken_out_of_the_url_and_the_rest_kept() {
        let (url, requested) = split(
            "postgres://u:p@db.example.ru:6432/coffee?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Froot.crt",
        );
        assert_eq!(
            url,
            "postgres://u:p@db.example.ru:6432/coffee?application_name=x"
        );
        assert_eq!(
            requested,
            Requested {
                sslmode: Some("verify-full".into()),
                sslrootcert: Some("/etc/root.crt".into()),
            }
        );
        let (url, requested) = split("postgres://u@db/coffee?sslmode=require");
        assert_eq!(url, "postgres://u@db/coffee");
        assert_eq!(requested.sslmode.as_deref(), Some("require"));
        let key_value = "host=db sslmode=require";
        assert_eq!(
            split(key_value),
            (key_value.to_owned(), Requested::default())
        );
    }

    #[test]
    fn each_sslmode_means_what_it_means_to_libpq() {
        let remote = "postgres://u@db.example.ru/coffee";
        for (query, expected) in [
            ("sslmode=disable", TlsMode::Disable),
            ("sslmode=require", TlsMode::Require),
            ("sslmode=verify-ca", TlsMode::VerifyCa),
            ("sslmode=verify-full", TlsMode::VerifyFull),
            // libpq: with a root certificate, require checks the chain as verify-ca does.
            (
                "sslmode=require&sslrootcert=/etc/root.crt",
                TlsMode::VerifyCa,
            ),
        ] {
            assert_eq!(
                mode_of(&format!("{remote}?{query}")).unwrap(),
                expected,
                "{query}"
            );
        }
        assert_eq!(
            mode_of("host=db.example.ru sslmode=require").unwrap(),
            TlsMode::Require
        );
        assert_eq!(
            mode_of("host=db.example.ru sslmode=disable").unwrap(),
            TlsMode::Disable
        );
    }

    #[test]
    fn without_sslmode_a_database_on_this_machine_is_plain_and_any_other_is_refused() {
        for local in [
            "postgres://u@localhost/coffee",
            "postgres://u@127.0.0.1:5432/coffee",
            "postgres://u@[::1]:5432/coffee",
            "postgres://u@localhost/coffee?sslmode=prefer",
            "host=/var/run/postgresql user=u",
        ] {
            assert_eq!(mode_of(local).unwrap(), TlsMode::Disable, "{local}");
        }
        for remote in [
            "postgres://u@db.example.ru/coffee",
            "postgres://u@10.0.0.5/coffee?sslmode=prefer",
            "postgres://u@db.example.ru/coffee?sslmode=allow",
            "host=db.example.ru user=u",
            "postgres://u@localhost,db.example.ru/coffee",
        ] {
            let error = mode_of(remote).unwrap_err();
            assert!(
                matches!(&error, SetupError::Tls(why) if why.contains("is not on this machine") && why.contains("sslmode=verify-full")),
                "{remote}: {error}"
            );
        }
        let error = mode_of("postgres://u@db.example.ru/coffee").unwrap_err();
        assert!(error.to_string().contains("db.example.ru"), "{error}");
    }

    #[test]
    fn an_unknown_sslmode_is_refused() {
        let error = mode_of("postgres://u@localhost/coffee?sslmode=always").unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"database TLS: sslmode "always" is not one of disable, allow, prefer, require, verify-ca, verify-full"#
        );
    }

    #[test]
    fn a_root_certificate_file_that_cannot_be_read_is_refused_naming_it() {
        let error = connector(TlsMode::VerifyFull, Some("/nonexistent/root.crt"))
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("sslrootcert /nonexistent/root.crt"),
            "{error}"
        );

        let empty = std::env::temp_dir().join(format!("coffee-empty-{}.crt", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = connector(TlsMode::VerifyCa, empty.to_str()).err().unwrap();
        assert!(
            error.to_string().contains("no certificate in the file"),
            "{error}"
        );
        let _ = std::fs::remove_file(&empty);

        assert!(connector(TlsMode::VerifyFull, None).unwrap().is_some());
        assert!(connector(TlsMode::VerifyFull, Some("system"))
            .unwrap()
            .is_some());
        assert!(connector(TlsMode::Require, None).unwrap().is_some());
        assert!(connector(TlsMode::Disable, None).unwrap().is_none());
    }
}
