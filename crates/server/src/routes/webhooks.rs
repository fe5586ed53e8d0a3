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
    // Unknown, mismatching, unconfirmed or untrusted: no state change, and a 200 so YooKassa
    // does not retry forever.
    let answers = Answers {
        ok: || HttpResponse::Ok().finish(),
        untrusted: || HttpResponse::Ok().finish(),
    };
    let notification = inbound(&request, sender, &body);
    // The notification holds its own copy; the extractor's buffer (8 KiB, whatever the body's
    // size) is not kept through the provider's re-fetch and the commit.
    drop(body);
    let result = state
        .settlement
        .handle_notification(ProviderKind::Yookassa, &notification)
        .await;
    answer(ProviderKind::Yookassa, &notification, result, answers)
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
    let answers = Answers {
        ok: || HttpResponse::Ok().content_type("text/plain").body("OK"),
        untrusted: || HttpResponse::Forbidden().finish(),
    };
    let notification = inbound(&request, sender, &body);
    drop(body); // as in `yookassa`
    let result = state
        .settlement
        .handle_signed_notification(ProviderKind::Tbank, &notification)
        .await;
    answer(ProviderKind::Tbank, &notification, result, answers)
}

/// How a provider wants to hear that we need nothing more from it, and that we refuse it.
struct Answers {
    ok: fn() -> HttpResponse,
    untrusted: fn() -> HttpResponse,
}

/// The one mapping of a notification's fate to the provider's answer: 400 for what is not a
/// notification, 503 (the provider redelivers; our poller keeps asking too) when the provider's
/// API or our storage is down, the provider's own answers otherwise.
fn answer(
    provider: ProviderKind,
    notification: &InboundNotification,
    result: Result<NotificationOutcome, SettlementError>,
    answers: Answers,
) -> HttpResponse {
    let provider = provider.as_str();
    match result {
        Ok(NotificationOutcome::Ignored(reason)) => {
            tracing::warn!(provider, sender = ?notification.sender_ip, %reason, "notification ignored");
            (answers.ok)()
        }
        Ok(outcome) => {
            tracing::info!(provider, ?outcome, "notification handled");
            (answers.ok)()
        }
        Err(SettlementError::Untrusted(reason)) => {
            tracing::warn!(provider, sender = ?notification.sender_ip, %reason, "notification refused");
            (answers.untrusted)()
        }
        Err(SettlementError::Malformed(reason)) => {
            tracing::warn!(provider, %reason, "malformed notification");
            HttpResponse::BadRequest().finish()
        }
        Err(SettlementError::Unavailable(reason)) => {
            tracing::error!(provider, %reason, "notification not applied now");
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
