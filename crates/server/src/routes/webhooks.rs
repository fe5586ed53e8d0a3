//! Provider notifications. Verified before believed (by the domain's settlement service);
//! answered fast; a duplicate is a harmless 200.

use crate::edge::ClientAddr;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use coffee_domain::ports::InboundNotification;
use coffee_domain::services::settlement::{NotificationOutcome, SettlementError};
use coffee_domain::ProviderKind;

/// `POST /v1/yook-pay-webhook` — the path merchants already configured at YooKassa.
#[utoipa::path(post, path = "/v1/yook-pay-webhook", tag = "providers",
    request_body(content = Object, description = "YooKassa's notification (`type`, `event`, `object`); believed only after the payment is fetched"),
    responses(
        (status = 200, description = "applied, a duplicate, or ignored (untrusted sender, unknown or mismatching payment)"),
        (status = 400, description = "not a notification"),
        (status = 503, description = "YooKassa's API or our storage unavailable: YooKassa redelivers"),
    ))]
pub async fn yookassa(
    state: web::Data<AppState>,
    request: HttpRequest,
    sender: ClientAddr,
    body: web::Bytes,
) -> HttpResponse {
    let notification = inbound(&request, sender, &body);
    match state
        .settlement
        .handle_notification(ProviderKind::Yookassa, &notification)
        .await
    {
        Ok(NotificationOutcome::Ignored(reason)) => {
            // Unknown, mismatching or unconfirmed: no state change, and a 200 so the provider
            // does not retry forever.
            tracing::warn!(provider = "yookassa", sender = ?notification.sender_ip, %reason, "notification ignored");
            HttpResponse::Ok().finish()
        }
        Ok(outcome) => {
            tracing::info!(provider = "yookassa", ?outcome, "notification handled");
            HttpResponse::Ok().finish()
        }
        Err(SettlementError::Untrusted(reason)) => {
            // Not reached through handle_notification; kept as the ignored case it was.
            tracing::warn!(provider = "yookassa", %reason, "notification ignored");
            HttpResponse::Ok().finish()
        }
        Err(SettlementError::Malformed(reason)) => {
            tracing::warn!(provider = "yookassa", %reason, "malformed notification");
            HttpResponse::BadRequest().finish()
        }
        Err(SettlementError::Unavailable(reason)) => {
            // The provider retries; our poller also keeps asking.
            tracing::error!(provider = "yookassa", %reason, "notification not applied now");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

/// `POST /v1/tbank-pay-webhook` — sent as `NotificationURL` in every `Init`. T-Bank wants
/// exactly `OK` (HTTP 200, no tags) for anything it need not send again: applied, duplicate,
/// deliberately ignored. A bad `Token` or unknown terminal gets 403; our storage or T-Bank's
/// API being down gets 503 — both not `OK`, so T-Bank redelivers.
#[utoipa::path(post, path = "/v1/tbank-pay-webhook", tag = "providers",
    request_body(content = Object, description = "T-Bank's notification, signed with `Token`; believed only after GetState"),
    responses(
        (status = 200, description = "`OK`: applied, a duplicate, or deliberately ignored", content_type = "text/plain"),
        (status = 400, description = "not JSON"),
        (status = 403, description = "bad Token or unknown terminal"),
        (status = 503, description = "T-Bank's API or our storage unavailable: T-Bank redelivers"),
    ))]
pub async fn tbank(
    state: web::Data<AppState>,
    request: HttpRequest,
    sender: ClientAddr,
    body: web::Bytes,
) -> HttpResponse {
    let notification = inbound(&request, sender, &body);
    let ok = || HttpResponse::Ok().content_type("text/plain").body("OK");
    match state
        .settlement
        .handle_signed_notification(ProviderKind::Tbank, &notification)
        .await
    {
        Ok(NotificationOutcome::Ignored(reason)) => {
            tracing::warn!(provider = "tbank", %reason, "notification ignored");
            ok()
        }
        Ok(outcome) => {
            tracing::info!(provider = "tbank", ?outcome, "notification handled");
            ok()
        }
        Err(SettlementError::Untrusted(reason)) => {
            tracing::warn!(provider = "tbank", sender = ?notification.sender_ip, %reason, "notification refused");
            HttpResponse::Forbidden().finish()
        }
        Err(SettlementError::Malformed(reason)) => {
            tracing::warn!(provider = "tbank", %reason, "malformed notification");
            HttpResponse::BadRequest().finish()
        }
        Err(SettlementError::Unavailable(reason)) => {
            tracing::error!(provider = "tbank", %reason, "notification not applied now");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

fn inbound(request: &HttpRequest, sender: ClientAddr, body: &[u8]) -> InboundNotification {
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    InboundNotification {
        body: body.to_vec(),
        headers,
        sender_ip: sender.0,
    }
}
