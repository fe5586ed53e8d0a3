//! Application state and the route table.

use crate::device_auth::ReplayGuard;
use crate::pages::Pages;
use crate::routes;
use crate::secrets::SecretBox;
use actix_web::web;
use coffee_adapter_sandbox::SandboxProvider;
use coffee_adapter_yookassa::IpNet;
use coffee_domain::ports::{CatalogRepository, Clock, OrderRepository};
use coffee_domain::services::checkout::Checkout;
use coffee_domain::services::dispensing::Dispensing;
use coffee_domain::services::settlement::Settlement;
use coffee_domain::services::Context;
use std::sync::Arc;

/// What every request handler may use.
pub struct AppState {
    pub checkout: Checkout,
    pub settlement: Settlement,
    pub dispensing: Dispensing,
    pub orders: Arc<dyn OrderRepository>,
    pub clock: Arc<dyn Clock>,
    pub pages: Pages,
    /// Present when the sandbox provider is enabled (demo mode or `SANDBOX_ENABLED=true`).
    pub sandbox: Option<Arc<SandboxProvider>>,
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
    /// Opens devices' report keys.
    pub secrets: SecretBox,
    /// Device reports already accepted (replay protection inside the timestamp window).
    pub replay_guard: ReplayGuard,
    pub catalog: Arc<dyn CatalogRepository>,
    /// `BASE_URL`: the public address providers send customers back to.
    pub base_url: String,
}

impl AppState {
    pub fn new(
        ctx: Arc<Context>,
        pages: Pages,
        sandbox: Option<Arc<SandboxProvider>>,
        trusted_proxies: Vec<IpNet>,
        secrets: SecretBox,
        base_url: String,
    ) -> Self {
        Self {
            checkout: Checkout::new(ctx.clone()),
            settlement: Settlement::new(ctx.clone()),
            dispensing: Dispensing::new(ctx.clone()),
            orders: ctx.ports.orders.clone(),
            clock: ctx.ports.clock.clone(),
            pages,
            sandbox,
            trusted_proxies,
            secrets,
            replay_guard: ReplayGuard::default(),
            catalog: ctx.ports.catalog.clone(),
            base_url,
        }
    }
}

/// The HTTP surface (DESIGN.md §4). Paths are fixed: machines in the field print them.
pub fn configure(cfg: &mut web::ServiceConfig, sandbox_enabled: bool, demo: bool) {
    if demo {
        cfg.route("/", web::get().to(routes::demo::index));
    }
    cfg.route("/health", web::get().to(routes::ops::health))
        .route("/ready", web::get().to(routes::ops::ready))
        .route("/v1/pay", web::get().to(routes::customer::scan))
        .route("/v1/tbank-pay", web::get().to(routes::customer::scan))
        .route("/v1/yook-pay", web::get().to(routes::customer::scan))
        .route(
            "/v1/order-status-page",
            web::get().to(routes::customer::order_page),
        )
        .route(
            "/v1/order-status/{order_id}",
            web::get().to(routes::customer::order_status),
        )
        .route(
            "/v1/initiate-payment",
            web::post().to(routes::customer::initiate_payment),
        )
        .route(
            "/v1/yook-pay-webhook",
            web::post().to(routes::webhooks::yookassa),
        )
        .route(
            "/v1/devices/{device_uuid}/events",
            web::post().to(routes::devices::report),
        );
    if sandbox_enabled {
        cfg.route(
            "/sandbox/checkout/{payment_id}",
            web::get().to(routes::sandbox::checkout_page),
        )
        .route(
            "/sandbox/checkout/{payment_id}/{action}",
            web::post().to(routes::sandbox::act),
        );
    }
}
