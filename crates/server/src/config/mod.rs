//! Configuration from the environment (and a `.env` file when present). Every bad value is
//! refused at start-up with one message naming the variable — never at the first customer.

mod read;
#[cfg(test)]
mod tests;

use coffee_adapter_mqtt::MqttConfig;
use ipnet::IpNet;
use read::Vars;
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
    /// `MAX_PENDING_PAYMENTS_PER_DEVICE`: payments of one device waiting to be paid at once.
    pub max_pending_payments_per_device: usize,
    pub debug: bool,
    pub log_format: LogFormat,
    /// `None`: demo mode on in-memory storage.
    pub database_url: Option<String>,
    /// The sandbox provider outside demo mode (only with `sandbox_allow_with_database`).
    pub sandbox_enabled: bool,
    /// `SANDBOX_ALLOW_WITH_DATABASE`: staging may use the sandbox provider and simulated
    /// machines on a database — in the server and in the fleet it applies.
    pub sandbox_allow_with_database: bool,
    /// The first production setting present (`SECRET_KEY`, `YOOKASSA_*`, `TMETR_*`, …);
    /// without `DATABASE_URL`, `serve` refuses it rather than start a silent demo.
    pub production_setting: Option<String>,
    /// Encrypts stored credentials; required outside demo mode.
    pub secret_key: Option<String>,
    /// `serve` applies pending migrations at start (default true).
    pub migrate_on_start: bool,
    pub database_pool_size: usize,
    /// How long merchants, devices and drinks read from the database are remembered
    /// (`CATALOG_CACHE_SECONDS`, default 5; 0 reads every time).
    pub catalog_cache_seconds: u64,
    /// Tmetr telemetry/commander API; `None` when `TMETR_HOST` is unset.
    pub tmetr: Option<TmetrSettings>,
    /// The MQTT broker machines with `machine = "mqtt"` are reached through; `None` when
    /// `MQTT_URL` is unset (their scans then answer «offline»).
    pub mqtt: Option<MqttConfig>,
    /// `YOOKASSA_API_URL`.
    pub yookassa_api_url: String,
    /// `YOOKASSA_TRUSTED_IPS`: notification senders believed; default the official ranges.
    pub yookassa_trusted_ips: Vec<IpNet>,
    /// `TBANK_API_URL`.
    pub tbank_api_url: String,
    /// `TBANK_TRUSTED_IPS`: notification senders believed; empty (the default) = any sender,
    /// the `Token` authenticates.
    pub tbank_trusted_ips: Vec<IpNet>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `JOB_LEASE_SECONDS`: a job whose worker died is taken over after this (default 60).
    pub job_lease_seconds: i64,
    /// `JOB_WORKERS`: job loops per process (default 4).
    pub job_workers: usize,
    /// `RATE_LIMIT_PER_IP_PER_MINUTE`: scans and payment requests per client (default 60;
    /// 0: no limit).
    pub rate_limit_per_ip_per_minute: u32,
    /// `RATE_LIMIT_PER_DEVICE_PER_MINUTE`: scans per device (default 120; 0: no limit).
    pub rate_limit_per_device_per_minute: u32,
    /// Where `/metrics` is served; off unless `METRICS_ADDR` or `METRICS_TOKEN` says.
    pub metrics: MetricsExport,
    /// `ADMIN_*`: the operator console's sessions and login throttling.
    pub console: ConsoleSettings,
}

/// `ADMIN_*`: how long a console session lives idle and when logins are locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// `ADMIN_SESSION_IDLE_MINUTES` (default 480).
    pub session_idle_minutes: i64,
    /// `ADMIN_LOGIN_MAX_FAILURES`: failed logins of one account before it is locked out.
    pub max_failures_per_account: u64,
    /// `ADMIN_LOGIN_MAX_FAILURES_PER_IP`: failed logins from one address before it is.
    pub max_failures_per_ip: u64,
    /// `ADMIN_LOGIN_LOCKOUT_MINUTES`: the window failures are counted in.
    pub lockout_minutes: i64,
}

/// How Prometheus metrics are exported: never public by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetricsExport {
    /// `METRICS_ADDR`: a listener of its own (e.g. `127.0.0.1:9464`) serving `/metrics`.
    pub addr: Option<SocketAddr>,
    /// `METRICS_TOKEN`: `/metrics` on the main listener too, for `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsExport")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
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
            .field("mqtt", &self.mqtt)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn is_demo(&self) -> bool {
        self.database_url.is_none()
    }

    /// What `coffee-pay serve` refuses beyond a bad value: production settings without
    /// `DATABASE_URL`, which would start a demo on a machine meant for customers. Tests and
    /// `fleet check` read such settings in memory freely.
    pub fn check_serve(&self) -> Result<(), ConfigError> {
        match (&self.database_url, &self.production_setting) {
            (None, Some(setting)) => Err(ConfigError {
                variable: "DATABASE_URL",
                message: format!(
                    "not set, but {setting} is: production settings need the database (unset {setting} for demo mode)"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads every area in a fixed order, so the first bad variable is the one reported.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(vars);
        let http = read::http(&vars)?;
        let orders = read::orders(&vars)?;
        let runtime = read::runtime(&vars)?;
        let database = read::database(&vars)?;
        let tmetr = read::tmetr(&vars)?;
        let mqtt = read::mqtt(&vars)?;
        let yookassa = read::yookassa(&vars)?;
        let tbank_api_url = read::tbank_api_url(&vars)?;
        let tbank_trusted_ips = read::tbank_trusted_ips(&vars)?;
        let trusted_proxies = read::trusted_proxies(&vars)?;
        let workers = read::workers(&vars)?;
        let rate_limits = read::rate_limits(&vars)?;
        let metrics = read::metrics(&vars)?;
        let console = read::console(&vars)?;
        read::production(&http, &runtime, &database)?;
        Ok(Config {
            bind_addr: http.bind_addr,
            base_url: http.base_url,
            order_expiration_minutes: orders.expiration_minutes,
            max_pending_payments_per_device: orders.max_pending_payments_per_device,
            device_online_threshold_minutes: orders.device_online_threshold_minutes,
            debug: runtime.debug,
            log_format: runtime.log_format,
            sandbox_enabled: runtime.sandbox_enabled,
            sandbox_allow_with_database: runtime.sandbox_allow_with_database,
            production_setting: read::production_setting(&vars),
            database_url: database.url,
            secret_key: database.secret_key,
            migrate_on_start: database.migrate_on_start,
            database_pool_size: database.pool_size,
            catalog_cache_seconds: database.catalog_cache_seconds,
            tmetr,
            mqtt,
            yookassa_api_url: yookassa.api_url,
            yookassa_trusted_ips: yookassa.trusted_ips,
            tbank_api_url,
            tbank_trusted_ips,
            trusted_proxies,
            job_lease_seconds: workers.lease_seconds,
            job_workers: workers.count,
            rate_limit_per_ip_per_minute: rate_limits.per_ip_per_minute,
            rate_limit_per_device_per_minute: rate_limits.per_device_per_minute,
            metrics,
            console,
        })
    }
}
