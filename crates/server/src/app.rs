//! The route table. Handlers live in `routes`, the state they share in `state`.

use crate::routes;
use actix_web::web;

/// The HTTP surface, route by route in `docs/api.md`. Paths are fixed: machines in the field
/// print them.
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
