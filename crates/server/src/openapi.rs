//! The public HTTP API as an OpenAPI document, assembled from the annotations on the route
//! handlers (`#[utoipa::path]`) and the types they read and write. Served at `/openapi.json`.

use utoipa::OpenApi;

/// `{"error": code, "message": "<Russian text>"}`: every API failure (see `routes::json_failure`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// A stable machine-readable code, e.g. `order_not_found`.
    pub error: String,
    /// What to tell the customer, in Russian.
    pub message: String,
}

/// The QR's aliases, documented as their own paths: machines in the field print all three.
#[utoipa::path(get, path = "/v1/tbank-pay", tag = "customer",
    responses((status = 302, description = "as `/v1/pay`")))]
#[allow(dead_code)] // documents an alias of `routes::customer::scan`
fn tbank_pay_alias() {}

#[utoipa::path(get, path = "/v1/yook-pay", tag = "customer",
    responses((status = 302, description = "as `/v1/pay`")))]
#[allow(dead_code)] // documents an alias of `routes::customer::scan`
fn yook_pay_alias() {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coffee Payments Server",
        description = "The public API: QR scans, the order page and its status, starting a payment, machines' reports and the providers' notifications. docs/api.md explains each route."
    ),
    paths(
        crate::routes::customer::scan,
        tbank_pay_alias,
        yook_pay_alias,
        crate::routes::customer::order_page,
        crate::routes::customer::order_status,
        crate::routes::customer::initiate_payment,
        crate::routes::devices::report,
        crate::routes::webhooks::yookassa,
        crate::routes::webhooks::tbank,
        crate::routes::ops::health,
        crate::routes::ops::ready,
    ),
    components(schemas(
        ApiError,
        crate::pages::OrderStatusJson,
        crate::routes::customer::InitiatePaymentBody,
        crate::routes::customer::PaymentRedirectJson,
        crate::routes::devices::DeviceEvent,
    ))
)]
struct PublicApi;

/// The document, built once per request (small, and only fetched by tools).
pub fn document() -> utoipa::openapi::OpenApi {
    PublicApi::openapi()
}
