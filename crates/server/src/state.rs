//! What every request handler shares: the use cases and the few things beside them.

use crate::device_auth::ReplayGuard;
use crate::pages::Pages;
use crate::secrets::SecretBox;
use coffee_adapter_mqtt::MqttGateway;
use coffee_adapter_sandbox::SandboxProvider;
use coffee_domain::ports::{
    CatalogRepository, Clock, JobQueue, OrderRepository, PaymentRepository,
};
use coffee_domain::services::checkout::Checkout;
use coffee_domain::services::dispensing::Dispensing;
use coffee_domain::services::operations::Operations;
use coffee_domain::services::settlement::Settlement;
use coffee_domain::services::Context;
use std::sync::Arc;

/// What every request handler may use.
pub struct AppState {
    pub checkout: Checkout,
    pub settlement: Settlement,
    pub dispensing: Dispensing,
    /// The operator console's actions.
    pub operations: Operations,
    pub orders: Arc<dyn OrderRepository>,
    pub payments: Arc<dyn PaymentRepository>,
    pub jobs: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    pub pages: Pages,
    /// Present when the sandbox provider is enabled (demo mode or `SANDBOX_ENABLED=true`).
    pub sandbox: Option<Arc<SandboxProvider>>,
    /// Opens devices' report keys.
    pub secrets: SecretBox,
    /// Device reports already accepted (replay protection inside the timestamp window).
    pub replay_guard: ReplayGuard,
    pub catalog: Arc<dyn CatalogRepository>,
    /// `BASE_URL`: the public address providers send customers back to.
    pub base_url: String,
    /// The MQTT connection, when configured: `/ready` says whether it is up.
    pub mqtt: Option<Arc<MqttGateway>>,
    /// The orders' bells: `GET /v1/order-status/{id}?wait=…` waits on them.
    pub order_bells: Arc<crate::order_bells::OrderBells>,
}

impl AppState {
    pub fn new(
        ctx: Arc<Context>,
        pages: Pages,
        sandbox: Option<Arc<SandboxProvider>>,
        secrets: SecretBox,
        base_url: String,
    ) -> Self {
        Self {
            checkout: Checkout::new(ctx.clone()),
            settlement: Settlement::new(ctx.clone()),
            dispensing: Dispensing::new(ctx.clone()),
            operations: Operations::new(ctx.clone()),
            orders: ctx.ports.orders.clone(),
            payments: ctx.ports.payments.clone(),
            jobs: ctx.ports.jobs.clone(),
            clock: ctx.ports.clock.clone(),
            pages,
            sandbox,
            secrets,
            replay_guard: ReplayGuard::default(),
            catalog: ctx.ports.catalog.clone(),
            base_url,
            mqtt: None,
            order_bells: Arc::default(),
        }
    }
}
