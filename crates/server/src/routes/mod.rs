//! HTTP handlers: parse the request, call one use case, render the answer.

pub mod admin;
pub mod assets;
pub mod customer;
pub mod demo;
pub mod devices;
pub mod ops;
pub mod sandbox;
pub mod webhooks;

use crate::error::Failure;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::HttpResponse;

/// The friendly Russian error page with the failure's status code.
pub fn html_failure(state: &AppState, failure: Failure) -> HttpResponse {
    device_html_failure(state, failure, None)
}

/// The friendly error page about a known device, with the device's own error text.
pub fn device_html_failure(
    state: &AppState,
    failure: Failure,
    branding: Option<&coffee_domain::Branding>,
) -> HttpResponse {
    HttpResponse::build(failure.status)
        .content_type("text/html; charset=utf-8")
        .body(
            state
                .pages
                .device_error(failure.status.as_u16(), failure.message, branding),
        )
}

/// `{"error": code, "message": text}` with the failure's status code.
pub fn json_failure(failure: Failure) -> HttpResponse {
    HttpResponse::build(failure.status)
        .json(serde_json::json!({ "error": failure.code, "message": failure.message }))
}

pub fn redirect(status: actix_web::http::StatusCode, location: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Anything else: the friendly 404 page (JSON under the API's paths).
pub async fn not_found(request: actix_web::HttpRequest) -> HttpResponse {
    crate::edge::failure_response(&request, crate::error::NOT_FOUND)
}
