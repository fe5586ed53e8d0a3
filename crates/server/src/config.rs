//! Configuration from the environment (and a `.env` file when present). Every bad value is
//! refused at start-up with one message naming the variable — never at the first customer.

use crate::edge::parse_cidr_list;
use coffee_adapter_yookassa::YookassaConfig;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub bind_addr: SocketAddr,
    /// Public URL of this server (return URLs, sandbox checkout, QR examples).
    pub base_url: String,
    pub order_expiration_minutes: i64,
    pub device_online_threshold_minutes: i64,
    pub debug: bool,
    pub log_format: LogFormat,
    /// `None`: demo mode on in-memory storage.
    pub database_url: Option<String>,
    /// The sandbox provider outside demo mode.
    pub sandbox_enabled: bool,
    /// Encrypts stored credentials; required outside demo mode.
    pub secret_key: Option<String>,
    /// `serve` applies pending migrations at start (default true).
    pub migrate_on_start: bool,
    pub database_pool_size: usize,
    /// Tmetr telemetry/commander API; `None` when `TMETR_HOST` is unset.
    pub tmetr: Option<TmetrSettings>,
    /// `YOOKASSA_API_URL`.
    pub yookassa_api_url: String,
    /// `YOOKASSA_TRUSTED_IPS`: notification senders believed; default the official ranges.
    pub yookassa_trusted_ips: Vec<IpNet>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `JOB_LEASE_SECONDS`: a job whose worker died is taken over after this (default 60).
    pub job_lease_seconds: i64,
    /// `JOB_WORKERS`: job loops per process (default 4).
    pub job_workers: usize,
}

/// `TMETR_*`: where Tmetr is and how to authenticate.
#[derive(Clone, PartialEq, Eq)]
pub struct TmetrSettings {
    /// `TMETR_HOST`: a bare host means `https://host`; a full URL is used as is.
    pub host: String,
    pub token: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub timeout_seconds: u64,
}

impl std::fmt::Debug for TmetrSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TmetrSettings")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// Never prints secrets: `SECRET_KEY` and the database password are left out.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind_addr", &self.bind_addr)
            .field("base_url", &self.base_url)
            .field("order_expiration_minutes", &self.order_expiration_minutes)
            .field("demo", &self.is_demo())
            .field("sandbox_enabled", &self.sandbox_enabled)
            .field("tmetr", &self.tmetr)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn is_demo(&self) -> bool {
        self.database_url.is_none()
    }

    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bind_addr: SocketAddr = match get("BIND_ADDR") {
            Some(raw) => raw.parse().map_err(|_| ConfigError {
                variable: "BIND_ADDR",
                message: format!("{raw:?} is not an address like 0.0.0.0:8080"),
            })?,
            None => SocketAddr::from(([0, 0, 0, 0], 8080)),
        };
        let base_url = match get("BASE_URL") {
            Some(raw) => {
                if !(raw.starts_with("http://") || raw.starts_with("https://")) {
                    return Err(ConfigError {
                        variable: "BASE_URL",
                        message: format!("{raw:?} must start with http:// or https://"),
                    });
                }
                raw.trim_end_matches('/').to_owned()
            }
            None => default_base_url(bind_addr),
        };
        let order_expiration_minutes = positive_minutes(
            get("ORDER_EXPIRATION_MINUTES"),
            "ORDER_EXPIRATION_MINUTES",
            15,
        )?;
        let device_online_threshold_minutes = positive_minutes(
            get("DEVICE_ONLINE_THRESHOLD_MINUTES"),
            "DEVICE_ONLINE_THRESHOLD_MINUTES",
            15,
        )?;
        let debug = boolean(get("DEBUG"), "DEBUG")?;
        let sandbox_enabled = boolean(get("SANDBOX_ENABLED"), "SANDBOX_ENABLED")?;
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    variable: "LOG_FORMAT",
                    message: format!("{other:?} is neither \"text\" nor \"json\""),
                })
            }
        };
        let database_url = match get("DATABASE_URL") {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(url)
            }
            Some(_) => {
                return Err(ConfigError {
                    variable: "DATABASE_URL",
                    message: "must be a postgres:// URL (unset it for demo mode)".into(),
                })
            }
            None => None,
        };
        let secret_key = get("SECRET_KEY");
        match (&database_url, &secret_key) {
            (Some(_), None) => {
                return Err(ConfigError {
                    variable: "SECRET_KEY",
                    message: "required outside demo mode (it encrypts stored credentials)".into(),
                })
            }
            (_, Some(key)) if key.chars().count() < crate::secrets::MIN_SECRET_KEY_LEN => {
                return Err(ConfigError {
                    variable: "SECRET_KEY",
                    message: format!(
                        "must be at least {} characters",
                        crate::secrets::MIN_SECRET_KEY_LEN
                    ),
                })
            }
            _ => {}
        }
        let migrate_on_start = match get("MIGRATE_ON_START") {
            None => true,
            raw => boolean(raw, "MIGRATE_ON_START")?,
        };
        let database_pool_size = match get("DATABASE_POOL_SIZE") {
            None => 16,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=512).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        variable: "DATABASE_POOL_SIZE",
                        message: format!("{raw:?} is not a number between 1 and 512"),
                    })
                }
            },
        };
        let tmetr = match get("TMETR_HOST") {
            None => None,
            Some(host) => {
                let settings = TmetrSettings {
                    host,
                    token: get("TMETR_TOKEN"),
                    token_url: get("TMETR_TOKEN_URL"),
                    client_id: get("TMETR_CLIENT_ID"),
                    client_secret: get("TMETR_CLIENT_SECRET"),
                    refresh_token: get("TMETR_REFRESH_TOKEN"),
                    timeout_seconds: match get("TMETR_TIMEOUT_SECONDS") {
                        None => 5,
                        Some(raw) => match raw.parse::<u64>() {
                            Ok(n) if (1..=120).contains(&n) => n,
                            _ => {
                                return Err(ConfigError {
                                    variable: "TMETR_TIMEOUT_SECONDS",
                                    message: format!(
                                        "{raw:?} is not a number of seconds between 1 and 120"
                                    ),
                                })
                            }
                        },
                    },
                };
                if settings.token.is_none() && settings.token_url.is_none() {
                    return Err(ConfigError {
                        variable: "TMETR_TOKEN",
                        message: "TMETR_HOST is set: give TMETR_TOKEN or TMETR_TOKEN_URL with client credentials".into(),
                    });
                }
                if settings.token_url.is_some() && settings.client_id.is_none() {
                    return Err(ConfigError {
                        variable: "TMETR_CLIENT_ID",
                        message: "required with TMETR_TOKEN_URL".into(),
                    });
                }
                Some(settings)
            }
        };
        let yookassa_api_url = match get("YOOKASSA_API_URL") {
            None => coffee_adapter_yookassa::DEFAULT_API_URL.to_owned(),
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_owned()
            }
            Some(url) => {
                return Err(ConfigError {
                    variable: "YOOKASSA_API_URL",
                    message: format!("{url:?} is not an http(s) URL"),
                })
            }
        };
        let cidrs = |variable: &'static str, default: Vec<IpNet>| match get(variable) {
            None => Ok(default),
            Some(raw) => parse_cidr_list(&raw).map_err(|e| ConfigError {
                variable,
                message: e.to_string(),
            }),
        };
        let yookassa_trusted_ips = cidrs(
            "YOOKASSA_TRUSTED_IPS",
            YookassaConfig::default_trusted_ips(),
        )?;
        let trusted_proxies = cidrs("TRUSTED_PROXIES", Vec::new())?;
        let job_lease_seconds = match get("JOB_LEASE_SECONDS") {
            None => 60,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=3600).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        variable: "JOB_LEASE_SECONDS",
                        message: format!("{raw:?} is not a number of seconds between 1 and 3600"),
                    })
                }
            },
        };
        let job_workers = match get("JOB_WORKERS") {
            None => 4,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        variable: "JOB_WORKERS",
                        message: format!("{raw:?} is not a number between 1 and 64"),
                    })
                }
            },
        };
        Ok(Config {
            job_workers,
            job_lease_seconds,
            yookassa_api_url,
            yookassa_trusted_ips,
            trusted_proxies,
            tmetr,
            secret_key,
            migrate_on_start,
            database_pool_size,
            bind_addr,
            base_url,
            order_expiration_minutes,
            device_online_threshold_minutes,
            debug,
            log_format,
            database_url,
            sandbox_enabled,
        })
    }
}

fn default_base_url(bind: SocketAddr) -> String {
    let host = if bind.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        bind.ip().to_string()
    };
    format!("http://{host}:{}", bind.port())
}

fn positive_minutes(
    raw: Option<String>,
    variable: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    match raw {
        None => Ok(default),
        Some(raw) => match raw.parse::<i64>() {
            Ok(minutes) if (1..=24 * 60).contains(&minutes) => Ok(minutes),
            _ => Err(ConfigError {
                variable,
                message: format!("{raw:?} is not a number of minutes between 1 and 1440"),
            }),
        },
    }
}

fn boolean(raw: Option<String>, variable: &'static str) -> Result<bool, ConfigError> {
    match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(ConfigError {
            variable,
            message: format!("{other:?} is not true or false"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_give_demo_mode_on_port_8080() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert!(config.is_demo());
        assert_eq!(config.bind_addr.port(), 8080);
        assert_eq!(config.base_url, "http://localhost:8080");
        assert_eq!(config.order_expiration_minutes, 15);
    }

    #[test]
    fn production_mode_needs_a_secret_key() {
        let error =
            Config::from_vars(&vars(&[("DATABASE_URL", "postgres://db/coffee")])).unwrap_err();
        assert_eq!(error.variable, "SECRET_KEY");
        let config = Config::from_vars(&vars(&[
            ("DATABASE_URL", "postgres://db/coffee"),
            ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap();
        assert!(!config.is_demo());
        assert!(config.migrate_on_start);
    }

    #[test]
    fn tmetr_needs_credentials_and_a_sane_timeout() {
        let error = Config::from_vars(&vars(&[("TMETR_HOST", "tmetr.example")])).unwrap_err();
        assert_eq!(error.variable, "TMETR_TOKEN");
        let error = Config::from_vars(&vars(&[
            ("TMETR_HOST", "t"),
            ("TMETR_TOKEN_URL", "https://login/t"),
        ]))
        .unwrap_err();
        assert_eq!(error.variable, "TMETR_CLIENT_ID");
        let error = Config::from_vars(&vars(&[
            ("TMETR_HOST", "t"),
            ("TMETR_TOKEN", "x"),
            ("TMETR_TIMEOUT_SECONDS", "0"),
        ]))
        .unwrap_err();
        assert_eq!(error.variable, "TMETR_TIMEOUT_SECONDS");
        let config = Config::from_vars(&vars(&[
            ("TMETR_HOST", "t"),
            ("TMETR_TOKEN", "secret-token"),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains("secret-token"));
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_variable() {
        let cases = [
            ("BIND_ADDR", "nonsense"),
            ("BASE_URL", "ftp://x"),
            ("ORDER_EXPIRATION_MINUTES", "-3"),
            ("ORDER_EXPIRATION_MINUTES", "soon"),
            ("DEBUG", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("SANDBOX_ENABLED", "2"),
            ("DATABASE_URL", "mysql://x"),
            ("SECRET_KEY", "short"),
            ("MIGRATE_ON_START", "later"),
            ("DATABASE_POOL_SIZE", "0"),
            ("JOB_WORKERS", "0"),
            ("JOB_LEASE_SECONDS", "forever"),
            ("YOOKASSA_API_URL", "api.yookassa.ru"),
            ("YOOKASSA_TRUSTED_IPS", "10.0.0.0/99"),
            ("TRUSTED_PROXIES", "not-an-ip"),
        ];
        for (variable, value) in cases {
            let error = Config::from_vars(&vars(&[(variable, value)])).unwrap_err();
            assert_eq!(error.variable, variable);
            assert!(error.to_string().contains(variable));
        }
    }
}
