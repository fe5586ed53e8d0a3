//! Machines that report over HTTP: `POST /v1/devices/{device_uuid}/events`.

use crate::device_auth::{check_timestamp, verify_signature, DeviceAuthError};
use crate::edge::ClientAddr;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use coffee_domain::services::dispensing::ReportOutcome;
use coffee_domain::services::dispensing::{DispenseError, DispenseReport, DispenseResult};
use coffee_domain::{DeviceUuid, MachineOrderId};
use serde::Deserialize;
use serde_json::json;

/// `{order_uuid, result: "dispensed"|"failed", code?, at}`, signed with the device's key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceEvent {
    order_uuid: String,
    result: String,
    code: Option<String>,
    /// RFC 3339, when the machine says it happened.
    #[schema(value_type = String, format = DateTime)]
    at: DateTime<Utc>,
}

fn refuse(status: actix_web::http::StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": error }))
}

/// Every refusal and every applied report is logged with the sender, resolved at the edge.
#[utoipa::path(post, path = "/v1/devices/{device_uuid}/events", tag = "machines",
    params(
        ("device_uuid" = String, Path, description = "the reporting machine"),
        ("X-Signature" = String, Header, description = "hex HMAC-SHA256 of the raw body under the device's events_secret (`sha256=` prefix accepted); the body's `at` must be within 5 minutes of the server's clock"),
    ),
    request_body = DeviceEvent,
    responses(
        (status = 200, description = "applied, a duplicate, or recorded without effect; the order's status"),
        (status = 400, description = "not a report"),
        (status = 401, description = "no key for the device, bad signature, stale `at`, or a replayed report"),
        (status = 404, description = "unknown device or order"),
        (status = 503, description = "storage unavailable"),
    ))]
pub async fn report(
    state: web::Data<AppState>,
    request: HttpRequest,
    sender: ClientAddr,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    use actix_web::http::StatusCode as S;
    let Ok(device_uuid) = DeviceUuid::parse(&path) else {
        return refuse(S::NOT_FOUND, "unknown_device");
    };
    let device = match state.catalog.device(&device_uuid).await {
        Ok(Some(device)) => device,
        Ok(None) => return refuse(S::NOT_FOUND, "unknown_device"),
        Err(error) => {
            tracing::error!(device = %device_uuid, %error, "device report: storage unavailable");
            return refuse(S::SERVICE_UNAVAILABLE, "service_unavailable");
        }
    };
    let Some(sealed) = &device.events_secret else {
        tracing::warn!(device = %device_uuid, %sender, "device report refused: the device has no events key");
        return refuse(S::UNAUTHORIZED, "no_events_key");
    };
    let secret = match state.secrets.open(sealed) {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(device = %device_uuid, %error, "device events key cannot be opened");
            return refuse(S::SERVICE_UNAVAILABLE, "service_unavailable");
        }
    };
    let signature = request
        .headers()
        .get("x-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(error) = verify_signature(secret.as_bytes(), &body, signature) {
        tracing::warn!(device = %device_uuid, %sender, %error, "device report refused");
        return refuse(S::UNAUTHORIZED, "bad_signature");
    }
    let Ok(event) = serde_json::from_slice::<DeviceEvent>(&body) else {
        return refuse(S::BAD_REQUEST, "malformed_event");
    };
    let now = state.clock.now();
    let fresh = check_timestamp(event.at, now)
        .and_then(|()| state.replay_guard.check_and_remember(&body, now));
    if let Err(error) = fresh {
        tracing::warn!(device = %device_uuid, %sender, machine_order_id = %event.order_uuid, %error, "device report refused");
        let code = match error {
            DeviceAuthError::Replayed => "replayed",
            _ => "stale_timestamp",
        };
        return refuse(S::UNAUTHORIZED, code);
    }
    let Ok(machine_order_id) = MachineOrderId::parse(&event.order_uuid) else {
        return refuse(S::BAD_REQUEST, "malformed_event");
    };
    let result = match event.result.as_str() {
        "dispensed" => DispenseResult::Dispensed,
        "failed" => DispenseResult::Failed {
            code: event.code.clone(),
        },
        _ => return refuse(S::BAD_REQUEST, "malformed_event"),
    };
    let report = DispenseReport {
        device: device_uuid.clone(),
        machine_order_id,
        result,
        at: event.at,
    };
    match state.dispensing.apply_report(report).await {
        Ok(decision) => {
            let outcome = match decision {
                ReportOutcome::Moved(status) => status.as_str().to_owned(),
                ReportOutcome::Duplicate => "duplicate".into(),
                ReportOutcome::Recorded(status) => format!("recorded ({status})"),
            };
            tracing::info!(device = %device_uuid, %sender, machine_order_id = %event.order_uuid, %outcome, "device report applied");
            HttpResponse::Ok().json(json!({ "outcome": outcome }))
        }
        Err(DispenseError::UnknownOrder) => refuse(S::NOT_FOUND, "unknown_order"),
        Err(DispenseError::Storage(error)) => {
            // Not applied: the machine's retry of this same body must not count as a replay.
            state.replay_guard.forget(&body);
            tracing::error!(device = %device_uuid, machine_order_id = %event.order_uuid, %error, "device report not applied");
            refuse(S::SERVICE_UNAVAILABLE, "service_unavailable")
        }
    }
}
