//! The composition root: builds adapters from configuration, hands them to the services as
//! ports, and runs the HTTP server with the background worker.
//!
//! (About 400 lines on purpose: every adapter's wiring reads in this one place.)

use crate::accounts::{SealedTbankAccounts, SealedYookassaAccounts};
use crate::app;
use crate::background::Background;
use crate::config::Config;
use crate::edge::{self, RateLimits, TrustedProxies};
use crate::fleet;
use crate::pages::{PageError, Pages};
use crate::secrets::SecretBox;
use crate::state::AppState;
use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use chrono::Duration;
use coffee_adapter_memory::{MemoryStore, RandomIds};
use coffee_adapter_mqtt::MqttGateway;
use coffee_adapter_postgres::PgStore;
use coffee_adapter_sandbox::{SandboxProvider, SimulatedMachine};
use coffee_adapter_tbank::{TbankConfig, TbankGateway};
use coffee_adapter_tmetr::token::{jwt_expiry, static_token_health, TokenHealth};
use coffee_adapter_tmetr::{TmetrConfig, TmetrGateway, TokenRefresh};
use coffee_adapter_yookassa::{YookassaConfig, YookassaGateway};
use coffee_domain::ports::{
    AccountRepository, AuditLog, CatalogRepository, Clock, ConsoleQueries, JobQueue,
    MachineGateway, OrderRepository, PaymentGateway, PaymentRepository,
};
use coffee_domain::services::dispensing::DispenseReport;
use coffee_domain::services::{Context, Ports, Settings};
use coffee_domain::{MachineKind, ProviderKind};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// The fleet demo mode starts with.
pub const DEMO_FLEET: &str = include_str!("../../../deploy/demo-fleet.toml");

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pages(#[from] PageError),
    #[error("demo fleet: {0}")]
    Fleet(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("database: {0}")]
    Database(String),
}

/// Adapters wired into ports, plus what the HTTP layer needs beside them.
pub struct Wiring {
    pub ctx: Arc<Context>,
    pub sandbox: Option<Arc<SandboxProvider>>,
    pub dispense_reports: Option<mpsc::UnboundedReceiver<DispenseReport>>,
    /// Direct handles for demo and tests.
    pub memory: Option<Arc<MemoryStore>>,
    pub machine: Arc<SimulatedMachine>,
    /// The MQTT connection when `MQTT_URL` is set (its state is part of `/ready`).
    pub mqtt: Option<Arc<MqttGateway>>,
    /// Opens sealed credentials and device keys.
    pub secrets: SecretBox,
    /// The operator console's accounts and audit log (same store as the orders).
    pub accounts: Arc<dyn AccountRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub queries: Arc<dyn ConsoleQueries>,
    /// Rung by every order change this process commits: the order page waits on them.
    pub order_bells: Arc<crate::order_bells::OrderBells>,
}

/// `SECRET_KEY`'s box; demo mode without one gets a random key (nothing outlives it).
pub fn secret_box(config: &Config) -> Result<SecretBox, StartupError> {
    match &config.secret_key {
        Some(key) => SecretBox::from_secret_key(key),
        None => SecretBox::random(),
    }
    .map_err(|e| StartupError::Unsupported(format!("SECRET_KEY: {e}")))
}

/// The YooKassa gateway: API URL and trusted sender ranges from the configuration,
/// credentials per merchant from the store (sealed).
pub fn yookassa_gateway(
    config: &Config,
    secrets: &SecretBox,
) -> Result<Arc<dyn PaymentGateway>, StartupError> {
    let yookassa = YookassaConfig {
        api_url: config.yookassa_api_url.clone(),
        trusted_ips: config.yookassa_trusted_ips.clone(),
        ..YookassaConfig::default()
    };
    let accounts = Arc::new(SealedYookassaAccounts {
        secrets: secrets.clone(),
    });
    let gateway = YookassaGateway::new(yookassa, accounts)
        .map_err(|e| StartupError::Unsupported(format!("YOOKASSA_*: {e}")))?;
    Ok(Arc::new(gateway))
}

/// The T-Bank gateway: API URL from the configuration, the notification URL from `BASE_URL`
/// (sent in every `Init`, so nothing is set in T-Bank's cabinet), terminals per merchant from
/// the store (passwords sealed).
pub fn tbank_gateway(
    config: &Config,
    secrets: &SecretBox,
    catalog: Arc<dyn CatalogRepository>,
) -> Result<Arc<dyn PaymentGateway>, StartupError> {
    let tbank = TbankConfig {
        api_url: config.tbank_api_url.clone(),
        notification_url: Some(format!(
            "{}{}",
            config.base_url.trim_end_matches('/'),
            coffee_adapter_tbank::WEBHOOK_PATH
        )),
        trusted_ips: config.tbank_trusted_ips.clone(),
        ..TbankConfig::default()
    };
    let accounts = Arc::new(SealedTbankAccounts {
        secrets: secrets.clone(),
        catalog,
    });
    let gateway = TbankGateway::new(tbank, accounts)
        .map_err(|e| StartupError::Unsupported(format!("TBANK_*: {e}")))?;
    Ok(Arc::new(gateway))
}

pub fn settings(config: &Config) -> Settings {
    Settings {
        order_ttl: Duration::minutes(config.order_expiration_minutes),
        device_online_threshold: Duration::minutes(config.device_online_threshold_minutes),
        job_lease: Duration::seconds(config.job_lease_seconds),
        max_pending_payments_per_device: config.max_pending_payments_per_device,
        ..Settings::default()
    }
}

/// Demo mode: everything in memory, the sandbox provider and simulated machines, seeded with
/// the demo fleet.
pub async fn demo_wiring(config: &Config, clock: Arc<dyn Clock>) -> Result<Wiring, StartupError> {
    memory_wiring(config, clock, "deploy/demo-fleet.toml", DEMO_FLEET).await
}

/// In-memory wiring seeded with the given fleet file text (tests bring their own fleet).
pub async fn memory_wiring(
    config: &Config,
    clock: Arc<dyn Clock>,
    fleet_name: &str,
    fleet_text: &str,
) -> Result<Wiring, StartupError> {
    let store = Arc::new(MemoryStore::new());
    let secrets = secret_box(config)?;
    let env = |name: &str| std::env::var(name).ok();
    let fleet = fleet::parse(
        fleet_name,
        fleet_text,
        &fleet::Secrets {
            sealer: &secrets,
            env: &env,
        },
        fleet::Destination::Demo,
    )
    .map_err(|e| StartupError::Fleet(e.to_string()))?;
    store
        .apply_fleet(&fleet, clock.now())
        .await
        .map_err(|e| StartupError::Fleet(e.to_string()))?;
    wire(config, clock, store.clone(), Some(store), true, secrets)
}

/// Builds the ports around one store. The sandbox provider and simulated machines are
/// registered only when `sandbox` is on (demo mode, or `SANDBOX_ENABLED=true`).
fn wire<S>(
    config: &Config,
    clock: Arc<dyn Clock>,
    store: Arc<S>,
    memory: Option<Arc<MemoryStore>>,
    sandbox: bool,
    secrets: SecretBox,
) -> Result<Wiring, StartupError>
where
    S: CatalogRepository
        + OrderRepository
        + PaymentRepository
        + JobQueue
        + AccountRepository
        + AuditLog
        + ConsoleQueries
        + 'static,
{
    // Production reads the catalogue through a short-lived cache; in memory there is
    // nothing to save.
    let catalog: Arc<dyn CatalogRepository> = match (&memory, config.catalog_cache_seconds) {
        (None, seconds) if seconds > 0 => Arc::new(crate::catalog_cache::CatalogCache::new(
            store.clone(),
            std::time::Duration::from_secs(seconds),
        )),
        _ => store.clone(),
    };
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let mqtt = mqtt_gateway(config, &reports_tx, &clock)?;
    let machine = Arc::new(SimulatedMachine::reporting(clock.clone(), reports_tx));
    let mut payment_gateways: HashMap<ProviderKind, Arc<dyn PaymentGateway>> = HashMap::new();
    payment_gateways.insert(ProviderKind::Yookassa, yookassa_gateway(config, &secrets)?);
    payment_gateways.insert(
        ProviderKind::Tbank,
        tbank_gateway(config, &secrets, catalog.clone())?,
    );
    let mut machine_gateways: HashMap<MachineKind, Arc<dyn MachineGateway>> = HashMap::new();
    if let Some(tmetr) = tmetr_gateway(config)? {
        machine_gateways.insert(MachineKind::Tmetr, tmetr);
    }
    if let Some(mqtt) = &mqtt {
        machine_gateways.insert(MachineKind::Mqtt, mqtt.clone());
        // One connection serves both: the gateway picks JSON or the legacy frame by the
        // device's machine.
        machine_gateways.insert(MachineKind::MqttLegacy, mqtt.clone());
    }
    let sandbox = if sandbox {
        let sandbox = Arc::new(SandboxProvider::new(config.base_url.clone()));
        payment_gateways.insert(ProviderKind::Sandbox, sandbox.clone());
        machine_gateways.insert(MachineKind::Simulated, machine.clone());
        Some(sandbox)
    } else {
        None
    };
    // Every call out is counted (metrics); the adapters know nothing of it.
    let payment_gateways = payment_gateways
        .into_iter()
        .map(|(kind, gateway)| (kind, crate::metrics::metered_payments(kind, gateway)))
        .collect();
    let machine_gateways = machine_gateways
        .into_iter()
        .map(|(kind, gateway)| (kind, crate::metrics::metered_machines(kind, gateway)))
        .collect();
    let accounts: Arc<dyn AccountRepository> = store.clone();
    let audit: Arc<dyn AuditLog> = store.clone();
    let queries: Arc<dyn ConsoleQueries> = store.clone();
    let order_bells = Arc::new(crate::order_bells::OrderBells::default());
    let ports = Ports {
        catalog,
        orders: Arc::new(crate::order_bells::RingingOrders::new(
            store.clone(),
            order_bells.clone(),
        )),
        payments: store.clone(),
        jobs: store,
        payment_gateways,
        machine_gateways,
        clock,
        ids: Arc::new(RandomIds),
    };
    Ok(Wiring {
        ctx: Context::new(ports, settings(config)),
        sandbox,
        dispense_reports: Some(reports_rx),
        memory,
        machine,
        mqtt,
        secrets,
        accounts,
        audit,
        queries,
        order_bells,
    })
}

/// The MQTT gateway when `MQTT_URL` is set: it connects in the background (a broker that is
/// down at start only delays make commands, which wait as `Unavailable`), and the machines'
/// dispense results go into the same channel as the simulated machines', to
/// `Dispensing::apply_report`.
pub fn mqtt_gateway(
    config: &Config,
    reports: &mpsc::UnboundedSender<DispenseReport>,
    clock: &Arc<dyn Clock>,
) -> Result<Option<Arc<MqttGateway>>, StartupError> {
    let Some(settings) = &config.mqtt else {
        return Ok(None);
    };
    let gateway = MqttGateway::start(settings.clone(), reports.clone(), clock.clone())
        .map_err(|e| StartupError::Unsupported(format!("MQTT_*: {e}")))?;
    tracing::info!(url = %settings.url, client_id = %settings.client_id, "MQTT machine gateway on");
    Ok(Some(Arc::new(gateway)))
}

/// Production: Postgres (migrated at start unless `MIGRATE_ON_START=false`). The sandbox
/// provider and simulated machines are available only with `SANDBOX_ENABLED=true`.
/// A request answered slower than this is logged at warn level whatever its status.
const SLOW_REQUEST: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn production_wiring(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<Wiring, StartupError> {
    let Some(database_url) = config.database_url.clone() else {
        return Err(StartupError::Unsupported("DATABASE_URL is not set".into()));
    };
    if config.migrate_on_start {
        migrate(&database_url).await?;
    }
    let store = Arc::new(
        PgStore::connect(&database_url, config.database_pool_size)
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?,
    );
    // Replicas on one database wake each other's workers when they queue jobs.
    store.listen_for_jobs();
    if config.sandbox_enabled {
        tracing::warn!("SANDBOX_ENABLED=true: the sandbox provider and simulated machines are on — never in production");
    }
    wire(
        config,
        clock,
        store,
        None,
        config.sandbox_enabled,
        secret_box(config)?,
    )
}

/// Applies pending migrations; returns the names applied.
pub async fn migrate(database_url: &str) -> Result<Vec<String>, StartupError> {
    let url = database_url.to_owned();
    let applied =
        tokio::task::spawn_blocking(move || coffee_adapter_postgres::run_migrations(&url))
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?
            .map_err(|e| StartupError::Database(e.to_string()))?;
    for name in &applied {
        tracing::info!(migration = %name, "migration applied");
    }
    Ok(applied)
}

/// The Tmetr gateway when `TMETR_HOST` is configured.
pub fn tmetr_gateway(config: &Config) -> Result<Option<Arc<dyn MachineGateway>>, StartupError> {
    let Some(settings) = &config.tmetr else {
        return Ok(None);
    };
    let refresh = settings.token_url.clone().map(|token_url| TokenRefresh {
        token_url,
        client_id: settings.client_id.clone().unwrap_or_default(),
        client_secret: settings.client_secret.clone(),
        refresh_token: settings.refresh_token.clone(),
    });
    let tmetr = TmetrConfig {
        token: settings.token.clone(),
        refresh,
        timeout: std::time::Duration::from_secs(settings.timeout_seconds),
        ..TmetrConfig::new(&settings.host)
    };
    if let (Some(token), None) = (&settings.token, &settings.token_url) {
        report_static_token_expiry(token);
    }
    let gateway =
        TmetrGateway::new(tmetr).map_err(|e| StartupError::Unsupported(format!("TMETR_*: {e}")))?;
    Ok(Some(Arc::new(gateway)))
}

/// A static Tmetr token is a ~10-hour Keycloak token: say at start when it ends, and warn
/// loudly when that is soon, so a quiet night does not hide it until the first customer.
fn report_static_token_expiry(token: &str) {
    match static_token_health(token, chrono::Utc::now()) {
        TokenHealth::Valid => {
            if let Some(expires_at) = jwt_expiry(token) {
                tracing::info!(%expires_at, "static TMETR_TOKEN expires at this time; configure TMETR_TOKEN_URL to refresh tokens");
            }
        }
        TokenHealth::ExpiresSoon { expires_at } => {
            tracing::warn!(%expires_at, "static TMETR_TOKEN expires within two hours: rotate it or configure TMETR_TOKEN_URL")
        }
        TokenHealth::Expired { expires_at } => {
            tracing::error!(%expires_at, "static TMETR_TOKEN has expired: Tmetr will refuse every call")
        }
        TokenHealth::Unknown => {}
    }
}

/// A running server: HTTP plus the background worker.
pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener (`METRICS_ADDR`), when there is one.
    metrics_server: Option<ServerHandle>,
    background: Background,
}

impl Application {
    /// Binds `config.bind_addr` (port 0 picks a free port) and starts serving.
    pub fn start(
        config: &Config,
        wiring: Wiring,
        worker_tick: std::time::Duration,
    ) -> Result<Self, StartupError> {
        let listener =
            TcpListener::bind(config.bind_addr).map_err(|source| StartupError::Bind {
                addr: config.bind_addr.to_string(),
                source,
            })?;
        Self::start_on(listener, config, wiring, worker_tick)
    }

    /// Serves on an already bound listener (tests bind port 0 first to learn the URL).
    pub fn start_on(
        listener: TcpListener,
        config: &Config,
        wiring: Wiring,
        worker_tick: std::time::Duration,
    ) -> Result<Self, StartupError> {
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: config.bind_addr.to_string(),
                source,
            })?
            .port();
        let sandbox_enabled = wiring.sandbox.is_some();
        // The demo index lists every device: only for in-memory demo data.
        let demo = config.is_demo() && wiring.memory.is_some();
        let console = web::Data::new(crate::console::Console {
            accounts: wiring.accounts.clone(),
            audit: wiring.audit.clone(),
            queries: wiring.queries.clone(),
            clock: wiring.ctx.ports.clock.clone(),
            settings: config.console,
            secure_cookies: config.base_url.starts_with("https://"),
        });
        let mut state = AppState::new(
            wiring.ctx.clone(),
            Pages::load()?,
            wiring.sandbox,
            wiring.secrets,
            config.base_url.clone(),
        );
        state.mqtt = wiring.mqtt.clone();
        state.order_bells = wiring.order_bells.clone();
        let state = web::Data::new(state);
        let trusted_proxies = web::Data::new(TrustedProxies::new(config.trusted_proxies.clone()));
        // One set of buckets for every worker thread of this process.
        let rate_limits = web::Data::new(RateLimits::new(
            config.rate_limit_per_ip_per_minute,
            config.rate_limit_per_device_per_minute,
        ));
        let scrape = web::Data::new(crate::metrics::Scrape {
            token: config.metrics.token.clone(),
            orders: wiring.ctx.ports.orders.clone(),
            jobs: wiring.ctx.ports.jobs.clone(),
            clock: wiring.ctx.ports.clock.clone(),
            mqtt: wiring.mqtt,
        });
        if config.metrics.addr.is_some() || config.metrics.token.is_some() {
            // Installed before the first request, so every count is kept.
            let _ = crate::metrics::handle();
        }
        let metrics_on_main = config.metrics.token.is_some();
        let main_scrape = scrape.clone();
        let server = HttpServer::new(move || {
            let app = App::new();
            let app = if metrics_on_main {
                app.app_data(main_scrape.clone())
                    .route("/metrics", web::get().to(crate::metrics::scrape))
            } else {
                app
            };
            app.app_data(state.clone())
                .app_data(console.clone())
                .app_data(trusted_proxies.clone())
                .app_data(rate_limits.clone())
                // One documented limit for every body (docs/api.md), whatever reads it.
                .app_data(web::PayloadConfig::new(edge::BODY_LIMIT))
                .app_data(web::JsonConfig::default().limit(edge::BODY_LIMIT))
                .app_data(web::FormConfig::default().limit(edge::BODY_LIMIT))
                .configure(|cfg| app::configure(cfg, sandbox_enabled, demo))
                .default_service(web::to(crate::routes::not_found))
                .wrap(from_fn(edge::own_error_format))
                .wrap(edge::security_headers())
                .wrap_fn(|request, service| {
                    let started = Instant::now();
                    let method = request.method().to_string();
                    let path = request.path().to_owned();
                    let order_id = order_id_of(&request);
                    // One span per request: every line the use cases log inside it carries
                    // the request and, where known, the order.
                    let span = tracing::info_span!(
                        "request",
                        http.method = %method,
                        http.path = %path,
                        order.id = order_id.as_deref().unwrap_or(""),
                    );
                    let response = tracing::Instrument::instrument(service.call(request), span);
                    async move {
                        let response = response.await?;
                        let route = response
                            .request()
                            .match_pattern()
                            .unwrap_or_else(|| "unmatched".to_owned());
                        crate::metrics::count_request(
                            &route,
                            &method,
                            response.status().as_u16(),
                            started.elapsed().as_secs_f64(),
                        );
                        // Every request is counted in the metrics; the log keeps what an
                        // operator reads: refusals, failures and slow answers. A line per
                        // served request costs a measurable share of a scan (debug level).
                        let status = response.status().as_u16();
                        let took = started.elapsed();
                        macro_rules! request_line {
                            ($level:ident) => {
                                tracing::$level!(
                                    http.method = %method,
                                    http.path = %path,
                                    http.status = status,
                                    duration_ms = took.as_millis() as u64,
                                    order.id = order_id.as_deref().unwrap_or(""),
                                    "request"
                                )
                            };
                        }
                        if status >= 500 || took >= SLOW_REQUEST {
                            request_line!(warn);
                        } else if status >= 400 {
                            request_line!(info);
                        } else {
                            request_line!(debug);
                        }
                        Ok(response)
                    }
                })
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: config.bind_addr.to_string(),
            source,
        })?
        .shutdown_timeout(10)
        .run();
        let metrics_server = match config.metrics.addr {
            Some(addr) => Some(metrics_server(addr, scrape)?),
            None => None,
        };
        let background = Background::start(
            wiring.ctx,
            wiring.dispense_reports,
            worker_tick,
            config.job_workers,
        );
        Ok(Self {
            port,
            server,
            metrics_server,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or `handle().stop()`), then stops the worker.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(metrics_server) = self.metrics_server {
            metrics_server.stop(true).await;
        }
        self.background.stop().await;
        tracing::info!("stopped");
        result
    }
}

/// `/metrics` alone on a listener of its own (`METRICS_ADDR`), started in the background.
fn metrics_server(
    addr: std::net::SocketAddr,
    scrape: web::Data<crate::metrics::Scrape>,
) -> Result<ServerHandle, StartupError> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(scrape.clone())
            .route("/metrics", web::get().to(crate::metrics::scrape))
    })
    .workers(1)
    .bind(addr)
    .map_err(|source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    })?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(handle)
}

fn order_id_of(request: &actix_web::dev::ServiceRequest) -> Option<String> {
    let path = request.path();
    if let Some(id) = path.strip_prefix("/v1/order-status/") {
        return Some(id.to_owned());
    }
    request
        .query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("order_id="))
        .map(str::to_owned)
}
