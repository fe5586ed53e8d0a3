//! One reader per area of the configuration. Each reads its variables in a fixed order and
//! refuses a bad value with a message naming the variable.

use super::{ConfigError, LogFormat, TmetrSettings};
use crate::edge::parse_cidr_list;
use crate::secrets::MIN_SECRET_KEY_LEN;
use coffee_adapter_mqtt::{Endpoint, MqttConfig, TopicTemplate};
use coffee_adapter_yookassa::{YookassaConfig, DEFAULT_API_URL};
use ipnet::IpNet;
use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The variables, trimmed; a blank variable counts as unset.
pub(super) struct Vars<'a>(&'a HashMap<String, String>);

impl<'a> Vars<'a> {
    pub(super) fn new(vars: &'a HashMap<String, String>) -> Self {
        Self(vars)
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `true|1|yes|on` or `false|0|no|off`, in any case; `default` when unset.
    fn flag(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.get(variable) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "false" | "0" | "no" | "off" => Ok(false),
            "true" | "1" | "yes" | "on" => Ok(true),
            other => Err(refused(variable, format!("{other:?} is not true or false"))),
        }
    }

    /// A number in `range`, `default` when unset. `unit` completes the message: "is not a
    /// number{unit} between …".
    fn number<T>(
        &self,
        variable: &'static str,
        default: T,
        range: RangeInclusive<T>,
        unit: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display,
    {
        let Some(raw) = self.get(variable) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(refused(
                variable,
                format!(
                    "{raw:?} is not a number{unit} between {} and {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// A comma- or space-separated list of networks, `default` when unset.
    fn networks(
        &self,
        variable: &'static str,
        default: Vec<IpNet>,
    ) -> Result<Vec<IpNet>, ConfigError> {
        match self.get(variable) {
            None => Ok(default),
            Some(raw) => parse_cidr_list(&raw).map_err(|e| refused(variable, e.to_string())),
        }
    }
}

fn refused(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

pub(super) struct Http {
    pub bind_addr: SocketAddr,
    pub base_url: String,
    /// `BASE_URL` was set, rather than derived from `BIND_ADDR`.
    pub base_url_given: bool,
}

/// `BIND_ADDR` (default `0.0.0.0:8080`) and `BASE_URL` (default derived from it; a bare host
/// means `https://host`).
pub(super) fn http(vars: &Vars<'_>) -> Result<Http, ConfigError> {
    let bind_addr: SocketAddr = match vars.get("BIND_ADDR") {
        Some(raw) => raw.parse().map_err(|_| {
            refused(
                "BIND_ADDR",
                format!("{raw:?} is not an address like 0.0.0.0:8080"),
            )
        })?,
        None => SocketAddr::from(([0, 0, 0, 0], 8080)),
    };
    let given = vars.get("BASE_URL");
    let base_url = match &given {
        Some(raw) if is_http_url(raw) => raw.trim_end_matches('/').to_owned(),
        Some(raw) if raw.contains("://") => {
            return Err(refused(
                "BASE_URL",
                format!("{raw:?} must start with http:// or https://"),
            ))
        }
        Some(raw) if is_bare_host(raw) => format!("https://{}", raw.trim_end_matches('/')),
        Some(raw) => {
            return Err(refused(
                "BASE_URL",
                format!("{raw:?} is neither an http(s) URL nor a host name"),
            ))
        }
        None => default_base_url(bind_addr),
    };
    Ok(Http {
        bind_addr,
        base_url,
        base_url_given: given.is_some(),
    })
}

/// `pay.example.ru`, `pay.example.ru:8443` or `pay.example.ru/coffee`, as the original
/// accepted: a host name or address, maybe with a port and a path.
fn is_bare_host(raw: &str) -> bool {
    raw.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:/[]".contains(c))
}

fn default_base_url(bind: SocketAddr) -> String {
    let host = if bind.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        bind.ip().to_string()
    };
    format!("http://{host}:{}", bind.port())
}

pub(super) struct Orders {
    pub expiration_minutes: i64,
    pub device_online_threshold_minutes: i64,
    pub max_pending_payments_per_device: usize,
}

/// `ORDER_EXPIRATION_MINUTES` and `DEVICE_ONLINE_THRESHOLD_MINUTES`, 15 each by default;
/// `MAX_PENDING_PAYMENTS_PER_DEVICE` (default 20).
pub(super) fn orders(vars: &Vars<'_>) -> Result<Orders, ConfigError> {
    let minutes = |variable| vars.number(variable, 15, 1..=24 * 60, " of minutes");
    Ok(Orders {
        expiration_minutes: minutes("ORDER_EXPIRATION_MINUTES")?,
        device_online_threshold_minutes: minutes("DEVICE_ONLINE_THRESHOLD_MINUTES")?,
        max_pending_payments_per_device: vars.number(
            "MAX_PENDING_PAYMENTS_PER_DEVICE",
            20,
            1..=10_000,
            " of payments",
        )?,
    })
}

pub(super) struct Runtime {
    pub debug: bool,
    pub sandbox_enabled: bool,
    pub sandbox_allow_with_database: bool,
    pub log_format: LogFormat,
}

/// `DEBUG`, `SANDBOX_ENABLED`, `SANDBOX_ALLOW_WITH_DATABASE` and `LOG_FORMAT` (`text` or
/// `json`).
pub(super) fn runtime(vars: &Vars<'_>) -> Result<Runtime, ConfigError> {
    let debug = vars.flag("DEBUG", false)?;
    let sandbox_enabled = vars.flag("SANDBOX_ENABLED", false)?;
    let sandbox_allow_with_database = vars.flag("SANDBOX_ALLOW_WITH_DATABASE", false)?;
    let log_format = match vars.get("LOG_FORMAT").as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(refused(
                "LOG_FORMAT",
                format!("{other:?} is neither \"text\" nor \"json\""),
            ))
        }
    };
    Ok(Runtime {
        debug,
        sandbox_enabled,
        sandbox_allow_with_database,
        log_format,
    })
}

pub(super) struct Database {
    pub url: Option<String>,
    pub secret_key: Option<String>,
    pub migrate_on_start: bool,
    pub pool_size: usize,
    pub catalog_cache_seconds: u64,
}

/// `DATABASE_URL` (unset: demo mode), `SECRET_KEY` (required with a database),
/// `MIGRATE_ON_START` and `DATABASE_POOL_SIZE`.
pub(super) fn database(vars: &Vars<'_>) -> Result<Database, ConfigError> {
    let url = match vars.get("DATABASE_URL") {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            // Refused now, not at the first connection: a remote database without sslmode,
            // an unknown sslmode, an unreadable sslrootcert.
            coffee_adapter_postgres::tls_mode(&url)
                .map_err(|e| refused("DATABASE_URL", e.to_string()))?;
            Some(url)
        }
        Some(_) => {
            return Err(refused(
                "DATABASE_URL",
                "must be a postgres:// URL (unset it for demo mode)",
            ))
        }
        None => None,
    };
    let secret_key = vars.get("SECRET_KEY");
    match (&url, &secret_key) {
        (Some(_), None) => {
            return Err(refused(
                "SECRET_KEY",
                "required outside demo mode (it encrypts stored credentials)",
            ))
        }
        (_, Some(key)) if key.chars().count() < MIN_SECRET_KEY_LEN => {
            return Err(refused(
                "SECRET_KEY",
                format!("must be at least {MIN_SECRET_KEY_LEN} characters"),
            ))
        }
        _ => {}
    }
    Ok(Database {
        url,
        secret_key,
        migrate_on_start: vars.flag("MIGRATE_ON_START", true)?,
        pool_size: vars.number("DATABASE_POOL_SIZE", 8, 1..=512, "")?,
        catalog_cache_seconds: vars.number("CATALOG_CACHE_SECONDS", 5, 0..=3600, "")?,
    })
}

/// What a database-backed server needs beside the database: a public `BASE_URL` (YooKassa
/// sends customers back to it, never to `http://localhost`), and the sandbox only when
/// staging says so.
pub(super) fn production(
    http: &Http,
    runtime: &Runtime,
    database: &Database,
) -> Result<(), ConfigError> {
    if database.url.is_none() {
        return Ok(());
    }
    if !http.base_url_given {
        return Err(refused(
            "BASE_URL",
            "required with DATABASE_URL: the public address customers come back to from the payment page, e.g. https://pay.example.ru",
        ));
    }
    if runtime.sandbox_enabled && !runtime.sandbox_allow_with_database {
        return Err(refused(
            "SANDBOX_ENABLED",
            "refused with DATABASE_URL set: the sandbox takes no real money. For staging, also set SANDBOX_ALLOW_WITH_DATABASE=true",
        ));
    }
    Ok(())
}

/// Prefixes of the variables that configure real providers and machines (`TBANK_` for the
/// one to come).
const PRODUCTION_PREFIXES: [&str; 4] = ["YOOKASSA_", "TMETR_", "TBANK_", "MQTT_"];

/// The first production setting present (`SECRET_KEY`, then the others by name), if any:
/// set without `DATABASE_URL`, it means a production server about to start in demo mode.
pub(super) fn production_setting(vars: &Vars<'_>) -> Option<String> {
    if vars.get("SECRET_KEY").is_some() {
        return Some("SECRET_KEY".to_owned());
    }
    let mut names: Vec<&String> = vars
        .0
        .keys()
        .filter(|name| PRODUCTION_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter(|name| vars.get(name).is_some())
        .collect();
    names.sort();
    names.first().map(|name| (*name).clone())
}

/// `TMETR_*`, read only when `TMETR_HOST` is set: a static token or a token URL with a client.
pub(super) fn tmetr(vars: &Vars<'_>) -> Result<Option<TmetrSettings>, ConfigError> {
    let Some(host) = vars.get("TMETR_HOST") else {
        return Ok(None);
    };
    let settings = TmetrSettings {
        host,
        token: vars.get("TMETR_TOKEN"),
        token_url: vars.get("TMETR_TOKEN_URL"),
        client_id: vars.get("TMETR_CLIENT_ID"),
        client_secret: vars.get("TMETR_CLIENT_SECRET"),
        refresh_token: vars.get("TMETR_REFRESH_TOKEN"),
        timeout_seconds: vars.number("TMETR_TIMEOUT_SECONDS", 5, 1..=120, " of seconds")?,
    };
    if settings.token.is_none() && settings.token_url.is_none() {
        return Err(refused(
            "TMETR_TOKEN",
            "TMETR_HOST is set: give TMETR_TOKEN or TMETR_TOKEN_URL with client credentials",
        ));
    }
    if settings.token_url.is_some() && settings.client_id.is_none() {
        return Err(refused("TMETR_CLIENT_ID", "required with TMETR_TOKEN_URL"));
    }
    Ok(Some(settings))
}

/// `MQTT_*`, read only when `MQTT_URL` is set; every value is checked here, so a bad topic
/// template or half a client certificate stops the start with the variable's name.
pub(super) fn mqtt(vars: &Vars<'_>) -> Result<Option<MqttConfig>, ConfigError> {
    let Some(url) = vars.get("MQTT_URL") else {
        return Ok(None);
    };
    let endpoint = Endpoint::parse(&url).map_err(|e| refused("MQTT_URL", e.to_string()))?;
    let mut config = MqttConfig::new(&url);
    config.username = vars.get("MQTT_USERNAME");
    config.password = vars.get("MQTT_PASSWORD");
    if config.password.is_some() && config.username.is_none() {
        return Err(refused("MQTT_USERNAME", "required with MQTT_PASSWORD"));
    }
    let file = |variable: &'static str| -> Result<Option<std::path::PathBuf>, ConfigError> {
        let Some(path) = vars.get(variable) else {
            return Ok(None);
        };
        if !endpoint.tls {
            return Err(refused(variable, "set, but MQTT_URL is not mqtts://"));
        }
        if !std::path::Path::new(&path).is_file() {
            return Err(refused(
                variable,
                format!("{path:?} is not a readable file"),
            ));
        }
        Ok(Some(path.into()))
    };
    config.ca_file = file("MQTT_CA_FILE")?;
    config.client_cert_file = file("MQTT_CLIENT_CERT_FILE")?;
    config.client_key_file = file("MQTT_CLIENT_KEY_FILE")?;
    if config.client_cert_file.is_some() != config.client_key_file.is_some() {
        let missing = if config.client_cert_file.is_some() {
            "MQTT_CLIENT_KEY_FILE"
        } else {
            "MQTT_CLIENT_CERT_FILE"
        };
        return Err(refused(
            missing,
            "a client certificate needs its key and a key its certificate",
        ));
    }
    if let Some(client_id) = vars.get("MQTT_CLIENT_ID") {
        config.client_id = client_id;
    }
    config.keep_alive = std::time::Duration::from_secs(vars.number(
        "MQTT_KEEP_ALIVE_SECONDS",
        30,
        5..=600,
        " of seconds",
    )?);
    config.publish_timeout = std::time::Duration::from_secs(vars.number(
        "MQTT_PUBLISH_TIMEOUT_SECONDS",
        5,
        1..=60,
        " of seconds",
    )?);
    for (variable, slot) in [
        ("MQTT_COMMAND_TOPIC", &mut config.command_topic),
        ("MQTT_EVENT_TOPIC", &mut config.event_topic),
        ("MQTT_STATUS_TOPIC", &mut config.status_topic),
    ] {
        if let Some(template) = vars.get(variable) {
            TopicTemplate::parse(variable, &template)
                .map_err(|e| refused(variable, e.to_string()))?;
            *slot = template;
        }
    }
    if let Some(topic) = vars.get("MQTT_LEGACY_TOPIC") {
        config.legacy_topic = topic;
    }
    // `off` for a single server on a broker without shared subscriptions.
    match vars.get("MQTT_SHARED_GROUP") {
        Some(group) if group.eq_ignore_ascii_case("off") => config.shared_group = None,
        Some(group) => config.shared_group = Some(group),
        None => {}
    }
    config.validate().map_err(|e| {
        let variable = match e {
            coffee_adapter_mqtt::ConfigError::BadSharedGroup(_) => "MQTT_SHARED_GROUP",
            coffee_adapter_mqtt::ConfigError::EmptyClientId => "MQTT_CLIENT_ID",
            coffee_adapter_mqtt::ConfigError::BadTopic { .. } => "MQTT_LEGACY_TOPIC",
            _ => "MQTT_URL",
        };
        refused(variable, e.to_string())
    })?;
    Ok(Some(config))
}

pub(super) struct Yookassa {
    pub api_url: String,
    pub trusted_ips: Vec<IpNet>,
}

/// `YOOKASSA_API_URL` and `YOOKASSA_TRUSTED_IPS` (default YooKassa's published networks).
pub(super) fn yookassa(vars: &Vars<'_>) -> Result<Yookassa, ConfigError> {
    let api_url = match vars.get("YOOKASSA_API_URL") {
        None => DEFAULT_API_URL.to_owned(),
        Some(url) if is_http_url(&url) => url.trim_end_matches('/').to_owned(),
        Some(url) => {
            return Err(refused(
                "YOOKASSA_API_URL",
                format!("{url:?} is not an http(s) URL"),
            ))
        }
    };
    let trusted_ips = vars.networks(
        "YOOKASSA_TRUSTED_IPS",
        YookassaConfig::default_trusted_ips(),
    )?;
    Ok(Yookassa {
        api_url,
        trusted_ips,
    })
}

/// `TBANK_API_URL` (default T-Bank's production MAPI root; the test host and
/// `securepay.tbank.ru` work by setting it).
pub(super) fn tbank_api_url(vars: &Vars<'_>) -> Result<String, ConfigError> {
    match vars.get("TBANK_API_URL") {
        None => Ok(coffee_adapter_tbank::DEFAULT_API_URL.to_owned()),
        Some(url) if is_http_url(&url) => Ok(url.trim_end_matches('/').to_owned()),
        Some(url) => Err(refused(
            "TBANK_API_URL",
            format!("{url:?} is not an http(s) URL"),
        )),
    }
}

/// `TBANK_TRUSTED_IPS`: empty by default (any sender; the `Token` authenticates).
pub(super) fn tbank_trusted_ips(vars: &Vars<'_>) -> Result<Vec<IpNet>, ConfigError> {
    vars.networks("TBANK_TRUSTED_IPS", Vec::new())
}

/// `TRUSTED_PROXIES`: none by default.
pub(super) fn trusted_proxies(vars: &Vars<'_>) -> Result<Vec<IpNet>, ConfigError> {
    vars.networks("TRUSTED_PROXIES", Vec::new())
}

pub(super) struct Workers {
    pub lease_seconds: i64,
    pub count: usize,
}

/// `JOB_LEASE_SECONDS` (default 60) and `JOB_WORKERS` (default 4).
pub(super) fn workers(vars: &Vars<'_>) -> Result<Workers, ConfigError> {
    Ok(Workers {
        lease_seconds: vars.number("JOB_LEASE_SECONDS", 60, 1..=3600, " of seconds")?,
        count: vars.number("JOB_WORKERS", 4, 1..=64, "")?,
    })
}

/// `ADMIN_SESSION_IDLE_MINUTES` (default 480: 8 hours), `ADMIN_LOGIN_MAX_FAILURES` per
/// account (default 5) and `ADMIN_LOGIN_MAX_FAILURES_PER_IP` (default 20) within
/// `ADMIN_LOGIN_LOCKOUT_MINUTES` (default 15).
pub(super) fn console(vars: &Vars<'_>) -> Result<super::ConsoleSettings, ConfigError> {
    Ok(super::ConsoleSettings {
        session_idle_minutes: vars.number(
            "ADMIN_SESSION_IDLE_MINUTES",
            480,
            1..=43_200,
            " of minutes",
        )?,
        max_failures_per_account: vars.number("ADMIN_LOGIN_MAX_FAILURES", 5, 1..=1000, "")?,
        max_failures_per_ip: vars.number("ADMIN_LOGIN_MAX_FAILURES_PER_IP", 20, 1..=100_000, "")?,
        lockout_minutes: vars.number("ADMIN_LOGIN_LOCKOUT_MINUTES", 15, 1..=1440, " of minutes")?,
    })
}

pub(super) struct RateLimits {
    pub per_ip_per_minute: u32,
    pub per_device_per_minute: u32,
}

/// `RATE_LIMIT_PER_IP_PER_MINUTE` (default 60) and `RATE_LIMIT_PER_DEVICE_PER_MINUTE`
/// (default 120); 0 turns a limit off.
pub(super) fn rate_limits(vars: &Vars<'_>) -> Result<RateLimits, ConfigError> {
    let per_minute = |variable, default| vars.number(variable, default, 0..=100_000, "");
    Ok(RateLimits {
        per_ip_per_minute: per_minute("RATE_LIMIT_PER_IP_PER_MINUTE", 60)?,
        per_device_per_minute: per_minute("RATE_LIMIT_PER_DEVICE_PER_MINUTE", 120)?,
    })
}

/// `METRICS_ADDR` (a listener of its own) and `METRICS_TOKEN` (at least 16 characters; the
/// main listener serves `/metrics` to that bearer token). Neither: no `/metrics` at all.
pub(super) fn metrics(vars: &Vars<'_>) -> Result<super::MetricsExport, ConfigError> {
    let addr = match vars.get("METRICS_ADDR") {
        Some(raw) => Some(raw.parse().map_err(|_| {
            refused(
                "METRICS_ADDR",
                format!("{raw:?} is not an address like 127.0.0.1:9464"),
            )
        })?),
        None => None,
    };
    let token = vars.get("METRICS_TOKEN");
    if token
        .as_ref()
        .is_some_and(|t| t.trim().chars().count() < 16)
    {
        return Err(refused(
            "METRICS_TOKEN",
            "must be at least 16 characters".to_owned(),
        ));
    }
    Ok(super::MetricsExport { addr, token })
}
