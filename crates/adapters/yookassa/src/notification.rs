//! Inbound verification of YooKassa webhooks. YooKassa signs nothing, so a notification is believed only as far as
//! "a YooKassa address says something happened to object X"; what happened is learned by
//! re-fetching X (the domain does that through `get_payment`).

use crate::network::is_trusted;
use crate::transformers::{NotificationWire, YookassaEvent};
use coffee_domain::ports::{InboundNotification, NotificationClaim, NotificationError};
use coffee_domain::PaymentState;
use ipnet::IpNet;

/// Checks the sender first (an outside sender learns nothing from our parser and gets no 400),
/// then reads which object the notification is about.
pub(crate) fn verify(
    notification: &InboundNotification,
    trusted_ips: &[IpNet],
) -> Result<NotificationClaim, NotificationError> {
    match notification.sender_ip {
        None => {
            return Err(NotificationError::Untrusted(
                "sender address unknown; cannot check it against YooKassa ranges".to_owned(),
            ))
        }
        Some(ip) if !is_trusted(ip, trusted_ips) => {
            return Err(NotificationError::Untrusted(format!(
                "sender {ip} outside YooKassa ranges"
            )))
        }
        Some(_) => {}
    }
    claim(&notification.body)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn claim(body: &[u8]) -> Result<NotificationClaim, NotificationError> {
    let malformed = |why: &str| NotificationError::Malformed(why.to_owned());
    let wire: NotificationWire = serde_json::from_slice(body)
        .map_err(|e| NotificationError::Malformed(format!("body is not a JSON object: {e}")))?;
    if let Some(kind) = &wire.kind {
        if kind != "notification" {
            return Err(malformed("type is not \"notification\""));
        }
    }
    let event = non_empty(wire.event).ok_or_else(|| malformed("event is missing"))?;
    let object = wire.object.ok_or_else(|| malformed("object is missing"))?;
    let object_id = non_empty(object.id).ok_or_else(|| malformed("object.id is missing"))?;
    let payment = |claimed_state| {
        Ok(NotificationClaim::Payment {
            provider_payment_id: object_id.clone(),
            // YooKassa does not sign its notifications: nothing in one is believed.
            claimed_amount: None,
            claimed_state: Some(claimed_state),
        })
    };
    match YookassaEvent::parse(&event) {
        YookassaEvent::PaymentSucceeded => payment(PaymentState::Succeeded),
        YookassaEvent::PaymentWaitingForCapture => payment(PaymentState::Authorized),
        YookassaEvent::PaymentCanceled => payment(PaymentState::Canceled),
        YookassaEvent::RefundSucceeded => {
            let payment_id = non_empty(object.payment_id)
                .ok_or_else(|| malformed("refund notification without object.payment_id"))?;
            Ok(NotificationClaim::RefundSucceeded {
                provider_payment_id: payment_id,
                refund_id: object_id,
            })
        }
        YookassaEvent::Unknown(other) => Ok(NotificationClaim::Ignored {
            reason: format!("YooKassa event {other} is not handled (object {object_id})"),
        }),
    }
}
