use crate::state::AppState;
use actix_web::{web, HttpResponse};

/// Liveness: 200 while the process runs, with the body the original's monitoring probes read
/// (`{"status": "healthy", "timestamp": …}`).
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "`{\"status\": \"healthy\", \"timestamp\": …}`")))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "healthy",
        "timestamp": state.clock.now().to_rfc3339(),
    }))
}

/// Readiness: 200 when storage answers, else 503. A lost MQTT connection is `degraded`, not
/// a failure: payments, pages and other machines work on, MQTT make commands wait and retry,
/// and taking the server out of rotation would not bring the broker back.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "storage answers (`ready`; `degraded` while the MQTT broker is away)"),
        (status = 503, description = "storage unavailable"),
    ))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.orders.ping().await {
        Ok(()) => match &state.mqtt {
            None => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
            Some(mqtt) if mqtt.is_connected() => HttpResponse::Ok()
                .json(serde_json::json!({ "status": "ready", "mqtt": "connected" })),
            Some(_) => HttpResponse::Ok()
                .json(serde_json::json!({ "status": "degraded", "mqtt": "disconnected" })),
        },
        Err(error) => {
            tracing::warn!(%error, "not ready: storage unreachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "storage unavailable" }))
        }
    }
}

/// `GET /openapi.json`: the public API as OpenAPI 3.1, generated from the routes' own
/// annotations, so it cannot drift from them.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}
