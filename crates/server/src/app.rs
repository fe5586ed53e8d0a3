//! The route table. Handlers live in `routes`, the state they share in `state`.

use crate::{edge, routes};
use actix_web::http::{header, Method};
use actix_web::middleware::from_fn;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder};

/// The HTTP surface, route by route in `docs/api.md`. Paths are fixed: machines in the field
/// print them. The routes that create orders and payments are held to the abuse limits.
pub fn configure(cfg: &mut web::ServiceConfig, sandbox_enabled: bool, demo: bool) {
    if demo {
        cfg.service(get("/", routes::demo::index));
    }
    cfg.service(get("/health", routes::ops::health))
        .service(get("/static/site.css", routes::assets::site_css))
        .service(get("/static/order.js", routes::assets::order_js))
        .service(get("/static/demo-logo.svg", routes::assets::demo_logo))
        .service(get("/static/admin.css", routes::assets::admin_css))
        .service(get("/ready", routes::ops::ready))
        .service(get("/openapi.json", routes::ops::openapi))
        .service(get("/v1/pay", routes::customer::scan).wrap(from_fn(edge::limit_scans)))
        .service(get("/v1/tbank-pay", routes::customer::scan).wrap(from_fn(edge::limit_scans)))
        .service(get("/v1/yook-pay", routes::customer::scan).wrap(from_fn(edge::limit_scans)))
        .service(get("/v1/order-status-page", routes::customer::order_page))
        .service(get(
            "/v1/order-status/{order_id}",
            routes::customer::order_status,
        ))
        .service(
            post("/v1/initiate-payment", routes::customer::initiate_payment)
                .wrap(from_fn(edge::limit_by_client)),
        )
        .service(post("/v1/yook-pay-webhook", routes::webhooks::yookassa))
        .service(post("/v1/tbank-pay-webhook", routes::webhooks::tbank))
        .service(post(
            "/v1/devices/{device_uuid}/events",
            routes::devices::report,
        ));
    admin(cfg);
    if sandbox_enabled {
        cfg.service(get(
            "/sandbox/checkout/{payment_id}",
            routes::sandbox::checkout_page,
        ))
        .service(post(
            "/sandbox/checkout/{payment_id}/{action}",
            routes::sandbox::act,
        ));
    }
}

/// The console's fleet forms (`docs/console.md#fleet`): each page shows its form or its
/// confirmation on `GET` and acts on `POST`. Admins only.
fn fleet_pages(cfg: &mut web::ServiceConfig) {
    use routes::admin::fleet_edit as f;
    cfg.service(
        web::resource("/admin/fleet/merchants/new")
            .route(web::get().to(f::new_merchant))
            .route(web::post().to(f::create_merchant)),
    )
    .service(
        web::resource("/admin/fleet/merchants/{key}/edit")
            .route(web::get().to(f::edit_merchant))
            .route(web::post().to(f::update_merchant)),
    )
    .service(
        web::resource("/admin/fleet/merchants/{key}/{switch}")
            .route(web::get().to(f::confirm_merchant_switch))
            .route(web::post().to(f::switch_merchant)),
    )
    .service(
        web::resource("/admin/fleet/devices/new")
            .route(web::get().to(f::new_device))
            .route(web::post().to(f::create_device)),
    )
    .service(
        web::resource("/admin/fleet/devices/{uuid}/edit")
            .route(web::get().to(f::edit_device))
            .route(web::post().to(f::update_device)),
    )
    .service(
        web::resource("/admin/fleet/devices/{uuid}/drinks/new")
            .route(web::get().to(f::new_drink))
            .route(web::post().to(f::create_drink)),
    )
    .service(
        web::resource("/admin/fleet/devices/{uuid}/drinks/{no}/edit")
            .route(web::get().to(f::edit_drink))
            .route(web::post().to(f::update_drink)),
    )
    .service(
        web::resource("/admin/fleet/devices/{uuid}/drinks/{no}/{switch}")
            .route(web::get().to(f::confirm_drink_switch))
            .route(web::post().to(f::switch_drink)),
    )
    .service(
        web::resource("/admin/fleet/devices/{uuid}/{switch}")
            .route(web::get().to(f::confirm_device_switch))
            .route(web::post().to(f::switch_device)),
    );
}

/// The operator console: pages under `/admin`, the JSON API under `/admin/api/v1`
/// (`docs/console.md`).
fn admin(cfg: &mut web::ServiceConfig) {
    use routes::admin::login;
    cfg.service(get("/admin", routes::admin::overview::overview))
        .service(get("/admin/jobs", routes::admin::overview::jobs))
        .service(get("/admin/fleet", routes::admin::fleet::show))
        .configure(fleet_pages)
        .service(
            web::resource("/admin/login")
                .route(web::get().to(login::login_page))
                .route(web::post().to(login::login)),
        )
        .service(post("/admin/logout", login::logout))
        .service(get("/admin/orders", routes::admin::orders::list))
        .service(get("/admin/orders.csv", routes::admin::orders::export))
        .service(get("/admin/orders/{id}", routes::admin::order::show))
        .service(get(
            "/admin/orders/{id}/confirm",
            routes::admin::order::confirm,
        ))
        .service(post(
            "/admin/orders/{id}/actions",
            routes::admin::order::act,
        ))
        .service(post(
            "/admin/orders/{id}/jobs/{job}/retry",
            routes::admin::order::retry_job,
        ))
        .service(get("/admin/api/openapi.json", routes::admin::api::openapi))
        .service(get("/admin/api/v1/orders", routes::admin::api::orders))
        .service(get("/admin/api/v1/orders/{id}", routes::admin::api::order))
        .service(post(
            "/admin/api/v1/orders/{id}/actions",
            routes::admin::api::act,
        ))
        .service(post(
            "/admin/api/v1/orders/{id}/jobs/{job}/retry",
            routes::admin::api::retry_job,
        ))
        .service(get("/admin/api/v1/overview", routes::admin::api::overview))
        .service(put(
            "/admin/api/v1/fleet/merchants/{key}",
            routes::admin::api_fleet::put_merchant,
        ))
        .service(put(
            "/admin/api/v1/fleet/devices/{uuid}",
            routes::admin::api_fleet::put_device,
        ))
        .service(put(
            "/admin/api/v1/fleet/devices/{uuid}/drinks/{no}",
            routes::admin::api_fleet::put_drink,
        ));
}

fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    only(path, Method::GET, handler)
}

fn post<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    only(path, Method::POST, handler)
}

fn put<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    only(path, Method::PUT, handler)
}

/// `path` answering `method`; any other method is a 405 in the route's own format, naming
/// the method it takes in `Allow`.
fn only<F, Args>(path: &str, method: Method, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let allow = method.to_string();
    web::resource(path)
        .route(web::route().method(method).to(handler))
        .default_service(web::to(move |request: HttpRequest| {
            let allow = allow.clone();
            async move { method_not_allowed(&request, &allow) }
        }))
}

fn method_not_allowed(request: &HttpRequest, allow: &str) -> HttpResponse {
    let mut response = crate::edge::failure_response(request, crate::error::METHOD_NOT_ALLOWED);
    if let Ok(value) = header::HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
