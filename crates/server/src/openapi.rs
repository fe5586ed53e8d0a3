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

/// `Authorization: Bearer <API token>` for the console's API.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coffee Payments Server — operator console API",
        description = "The operator console's reads, actions and fleet changes for programs: `Authorization: Bearer <token>` from `coffee-pay tokens add`. A merchant token sees only its merchant (another merchant's order is 404). docs/console.md explains each route."
    ),
    modifiers(&BearerToken),
    paths(
        crate::routes::admin::api::orders,
        crate::routes::admin::api::order,
        crate::routes::admin::api::act,
        crate::routes::admin::api::retry_job,
        crate::routes::admin::api::overview,
        crate::routes::admin::api_fleet::put_merchant,
        crate::routes::admin::api_fleet::put_device,
        crate::routes::admin::api_fleet::put_drink,
    ),
    components(schemas(
        ApiError,
        crate::routes::admin::api::OrderListJson,
        crate::routes::admin::api::OrderJson,
        crate::routes::admin::api::PaymentJson,
        crate::routes::admin::api::TimelineJson,
        crate::routes::admin::api::ActionBody,
        crate::routes::admin::api::ActionJson,
        crate::routes::admin::api::OverviewJson,
        crate::routes::admin::api_fleet::MerchantBody,
        crate::routes::admin::api_fleet::YookassaBody,
        crate::routes::admin::api_fleet::TbankBody,
        crate::routes::admin::api_fleet::DeviceBody,
        crate::routes::admin::api_fleet::DrinkBody,
        crate::routes::admin::api_fleet::PricesBody,
        crate::routes::admin::api_fleet::FleetWriteJson,
        crate::routes::admin::api_fleet::FleetProblemsJson,
    ))
)]
struct ConsoleApi;

/// The console API's document (`/admin/api/openapi.json`).
pub fn console_document() -> utoipa::openapi::OpenApi {
    ConsoleApi::openapi()
}
