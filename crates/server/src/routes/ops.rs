use crate::state::AppState;
use actix_web::{web, HttpResponse};

/// Liveness: 200 while the process runs.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 when storage answers, else 503.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.orders.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(%error, "not ready: storage unreachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "storage unavailable" }))
        }
    }
}
