//! Inbound verification of T-Bank notifications. T-Bank signs them with the terminal's
//! password, so a notification is believed as far as "terminal X says something happened to
//! payment Y" once its `Token` checks out; what happened is learned by re-querying Y with
//! `GetState` (the domain does that through `get_payment`).

use crate::account::TbankAccounts;
use crate::token;
use coffee_domain::ports::{InboundNotification, NotificationClaim, NotificationError};
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

/// The terminal first (an unknown one learns nothing more), then the `Token` with that
/// terminal's password, then which payment the notification is about.
pub(crate) async fn verify(
    notification: &InboundNotification,
    accounts: &dyn TbankAccounts,
) -> Result<NotificationClaim, NotificationError> {
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
    if status == "RECEIPT" {
        return Ok(NotificationClaim::Ignored {
            reason: format!(
                "fiscal receipt notification for payment {}",
                text(&params, "PaymentId").unwrap_or_default()
            ),
        });
    }
    if let Some(kind) = text(&params, "NotificationType") {
        return Ok(NotificationClaim::Ignored {
            reason: format!("T-Bank {kind} notification is not about a payment"),
        });
    }
    match text(&params, "PaymentId") {
        Some(provider_payment_id) => Ok(NotificationClaim::Payment {
            provider_payment_id,
        }),
        None => Ok(NotificationClaim::Ignored {
            reason: format!("T-Bank notification {status} names no payment"),
        }),
    }
}
