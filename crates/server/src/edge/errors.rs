//! Errors that actix-web answers by itself — a body over the limit, a query string that does
//! not parse, a method the route does not take — in the project's own format: the Russian
//! page for browser routes, `{error, message}` JSON for API routes.

use crate::error::{self, Failure};
use crate::routes::{html_failure, json_failure};
use crate::state::AppState;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

/// The largest request body any route reads (docs/api.md): the payment request, a provider
/// notification, a machine's report — each a few hundred bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Whether `request` is an API call, answered in JSON, rather than a page. The payment route
/// is both: the page's form (no JavaScript) gets pages, JSON callers get JSON.
pub fn wants_json(request: &HttpRequest) -> bool {
    let path = request.path();
    if path == "/v1/initiate-payment" {
        return !is_form(request);
    }
    path.starts_with("/v1/order-status/")
        || path.starts_with("/v1/devices/")
        || path.ends_with("-webhook")
        || path == "/health"
        || path == "/ready"
        || path.starts_with("/admin/api/")
}

/// A form the page posted (`application/x-www-form-urlencoded`).
pub fn is_form(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The failure `status` stands for when actix-web decided it.
fn failure_for(status: StatusCode) -> Failure {
    match status {
        StatusCode::NOT_FOUND => error::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => error::METHOD_NOT_ALLOWED,
        StatusCode::PAYLOAD_TOO_LARGE => error::PAYLOAD_TOO_LARGE,
        s if s.is_client_error() => Failure {
            status,
            ..error::INVALID_REQUEST
        },
        _ => Failure {
            status,
            ..error::SERVICE_UNAVAILABLE
        },
    }
}

/// The answer to `request` for `failure`, as its route speaks.
pub fn failure_response(request: &HttpRequest, failure: Failure) -> HttpResponse {
    match request.app_data::<web::Data<AppState>>() {
        Some(state) if !wants_json(request) => html_failure(state, failure),
        _ => json_failure(failure),
    }
}

/// Middleware: a response actix-web made from an error — a failed extractor: a body over
/// the limit, a query string that does not parse — is replaced by ours, with the same status.
/// Handlers' own answers pass untouched. (Wrong methods get ours from the route table.)
pub async fn own_error_format(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let response = next.call(request).await?;
    let Some(error) = response.response().error() else {
        return Ok(response.map_into_left_body());
    };
    // The console's refusals are answered in their own shape already (a redirect to the
    // login page, 401 JSON, 403).
    if error
        .as_error::<crate::console::http::Rejection>()
        .is_some()
    {
        return Ok(response.map_into_left_body());
    }
    let status = response.status();
    tracing::info!(http.status = status.as_u16(), %error, "request refused");
    let ours = failure_response(response.request(), failure_for(status));
    Ok(response.into_response(ours).map_into_right_body())
}
