//! Inbound verification of T-Bank notifications. T-Bank signs them with the terminal's
//! password, so a notification is believed as far as "terminal X says something happened to
//! payment Y" once its `Token` checks out; what happened is learned by re-querying Y with
//! `GetState` (the domain does that through `get_payment`).

use crate::account::TbankAccounts;
use crate::token;
use coffee_domain::ports::{InboundNotification, NotificationClaim, NotificationError};
use coffee_domain::{Money, PaymentId, PaymentState};
use ipnet::IpNet;
use serde_json::{Map, Value};

/// Where T-Bank posts notifications; sent as `NotificationURL` in every `Init`.
pub const WEBHOOK_PATH: &str = "/v1/tbank-pay-webhook";

fn text(params: &Map<String, Value>, key: &str) -> Option<String> {
    match params.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}

/// The sender first when `trusted_ips` is set (an outside sender learns nothing from our
/// parser), the terminal next (an unknown one learns nothing more), then the `Token` with that
/// terminal's password, then which payment the notification is about.
pub(crate) async fn verify(
    notification: &InboundNotification,
    accounts: &dyn TbankAccounts,
    trusted_ips: &[IpNet],
) -> Result<NotificationClaim, NotificationError> {
    if !trusted_ips.is_empty() {
        // A dual-stack socket reports an IPv4 peer as `::ffff:a.b.c.d`: checked as IPv4.
        match notification.sender_ip.map(|ip| ip.to_canonical()) {
            Some(ip) if trusted_ips.iter().any(|net| net.contains(&ip)) => {}
            Some(ip) => {
                return Err(NotificationError::Untrusted(format!(
                    "sender {ip} outside TBANK_TRUSTED_IPS"
                )))
            }
            None => {
                return Err(NotificationError::Untrusted(
                    "sender address unknown; cannot check it against TBANK_TRUSTED_IPS".to_owned(),
                ))
            }
        }
    }
    let params: Map<String, Value> = serde_json::from_slice(&notification.body)
        .map_err(|e| NotificationError::Malformed(format!("body is not a JSON object: {e}")))?;
    let terminal_key = text(&params, "TerminalKey")
        .ok_or_else(|| NotificationError::Untrusted("no TerminalKey".to_owned()))?;
    let account = match accounts.by_terminal_key(&terminal_key).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            return Err(NotificationError::Untrusted(format!(
                "unknown terminal {terminal_key}"
            )))
        }
        // Not believed now; T-Bank redelivers anything not answered `OK`.
        Err(error) => {
            return Err(NotificationError::Untrusted(format!(
                "terminal {terminal_key} cannot be looked up: {error}"
            )))
        }
    };
    if !token::verify(&params, &account.password) {
        return Err(NotificationError::Untrusted(format!(
            "bad or missing Token for terminal {terminal_key}"
        )));
    }
    let status = text(&params, "Status").unwrap_or_default();
    let kind = if status == "RECEIPT" {
        Some("RECEIPT".to_owned())
    } else {
        text(&params, "NotificationType")
    };
    if let Some(kind) = kind {
        return Ok(recorded(&params, &kind));
    }
    match text(&params, "PaymentId") {
        Some(provider_payment_id) => Ok(NotificationClaim::Payment {
            provider_payment_id,
            // Signed by the terminal, so the amount it states is T-Bank's word: one that
            // differs from ours is worth an operator's look, not a redelivery.
            claimed_amount: match params.get("Amount") {
                Some(Value::Number(kopecks)) => kopecks.as_i64().and_then(|k| Money::rub(k).ok()),
                Some(Value::String(kopecks)) => {
                    kopecks.parse().ok().and_then(|k| Money::rub(k).ok())
                }
                _ => None,
            },
            // Only the two statuses that settle a payment the way our states name them.
            claimed_state: match status.as_str() {
                "CONFIRMED" => Some(PaymentState::Succeeded),
                "AUTHORIZED" => Some(PaymentState::Authorized),
                _ => None,
            },
        }),
        None => Ok(NotificationClaim::Ignored {
            reason: format!("T-Bank notification {status} names no payment"),
        }),
    }
}

/// A fiscal receipt (`RECEIPT`) or another kind of notification moves no money, but the
/// operator wants it in the order's timeline: the order is found by `OrderId`, which is our
/// payment attempt id.
fn recorded(params: &Map<String, Value>, kind: &str) -> NotificationClaim {
    let provider_payment_id = text(params, "PaymentId").unwrap_or_default();
    let Some(payment_id) = text(params, "OrderId").and_then(|id| PaymentId::parse(&id).ok()) else {
        return NotificationClaim::Ignored {
            reason: format!("T-Bank {kind} notification for payment {provider_payment_id} names none of our orders"),
        };
    };
    let message = if kind == "RECEIPT" {
        let mut message = format!("T-Bank: чек по платежу {provider_payment_id} пробит");
        for (field, label) in [
            ("FiscalNumber", "номер в смене"),
            ("FiscalDocumentNumber", "ФД"),
            ("FiscalDocumentAttribute", "ФП"),
            ("Url", "чек"),
        ] {
            if let Some(value) = text(params, field) {
                message.push_str(&format!(", {label} {value}"));
            }
        }
        message
    } else {
        format!("T-Bank: уведомление {kind} по платежу {provider_payment_id}")
    };
    NotificationClaim::Recorded {
        payment_id,
        message,
    }
}
