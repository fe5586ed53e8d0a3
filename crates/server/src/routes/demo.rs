//! Demo mode's index: fresh QR links, so every click is a new order.

use super::html_failure;
use crate::state::AppState;
use crate::{demo, error};
use actix_web::{web, HttpResponse};
use serde::Serialize;

#[derive(Serialize)]
struct Link {
    label: String,
    url: String,
}

#[derive(Serialize)]
struct DemoPage {
    links: Vec<Link>,
}

pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    let run_tag = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let links = demo::qr_urls(state.catalog.as_ref(), "", &run_tag)
        .await
        .into_iter()
        .map(|(label, url)| Link { label, url })
        .collect();
    match state.pages.render("demo.html", &DemoPage { links }) {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("cache-control", "no-store"))
            .body(html),
        Err(render_error) => {
            tracing::error!(error = %render_error, "demo page failed to render");
            html_failure(&state, error::SERVICE_UNAVAILABLE)
        }
    }
}
