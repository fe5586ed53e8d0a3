//! The operator console's pages (`/admin/…`, Russian, server-rendered, no JavaScript needed)
//! and its JSON API (`/admin/api/v1/…`). Who may call them is decided by the extractors of
//! `crate::console::http`; every change goes through a domain use case and is audited.

pub mod api;
pub mod api_fleet;
pub mod fleet;
pub mod fleet_edit;
pub mod fleet_forms;
pub mod login;
pub mod order;
pub mod orders;
pub mod overview;
pub mod views;

use crate::console::Caller;
use crate::state::AppState;
use actix_web::HttpResponse;
use serde::Serialize;

/// The signed-in user as every page's header shows them.
#[derive(Debug, Serialize)]
pub struct CallerView {
    pub name: String,
    pub merchant: Option<String>,
    pub admin: bool,
    /// The session's CSRF token, put into every form.
    pub csrf: String,
}

impl CallerView {
    pub fn of(caller: &Caller) -> Self {
        Self {
            name: caller.name.to_string(),
            merchant: caller.role.merchant().map(ToString::to_string),
            admin: caller.role.is_admin(),
            csrf: caller
                .session
                .as_ref()
                .map(|keys| keys.csrf.clone())
                .unwrap_or_default(),
        }
    }
}

/// Renders a console page; a template failure is a logged 500, never a half page.
pub fn page<T: Serialize>(state: &AppState, template: &str, data: &T) -> HttpResponse {
    page_with_status(state, actix_web::http::StatusCode::OK, template, data)
}

pub fn page_with_status<T: Serialize>(
    state: &AppState,
    status: actix_web::http::StatusCode,
    template: &str,
    data: &T,
) -> HttpResponse {
    match state.pages.render(template, data) {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(error) => {
            tracing::error!(%error, template, "console page failed to render");
            super::html_failure(state, crate::error::SERVICE_UNAVAILABLE)
        }
    }
}
