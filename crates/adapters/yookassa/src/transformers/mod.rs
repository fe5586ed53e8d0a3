//! Wire types of YooKassa API v3 (request bodies, answers, notifications) and their mapping
//! to and from the domain's types.
//!
//! Every provider status and event is matched exhaustively: the only catch-all is the explicit
//! `Unknown(String)` variant produced by the parsers, which becomes
//! `ProviderPaymentStatus::Other` (the domain never acts on it) or a typed error — never a
//! known status by default.
//!
//! `requests.rs` holds what we send, `responses.rs` what YooKassa answers; the statuses,
//! events and the notification body are here.

mod requests;
mod responses;

pub(crate) use requests::{create_payment_body, CancelBody, CaptureBody, RefundBody};
pub use requests::{MAX_DESCRIPTION_CHARS, PAYMENT_MODE, PAYMENT_SUBJECT, RECEIPT_QUANTITY};
pub(crate) use responses::{
    cancel_result, capture_result, created_payment, provider_payment, refund_status, ErrorWire,
    PaymentWire, ProcessingWire, RefundWire,
};

use coffee_domain::ports::ProviderPaymentStatus;
use serde::Deserialize;

/// A YooKassa payment status; `succeeded` and `canceled` are final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YookassaPaymentStatus {
    Pending,
    WaitingForCapture,
    Succeeded,
    Canceled,
    /// A status this crate does not know.
    Unknown(String),
}

impl YookassaPaymentStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => Self::Pending,
            "waiting_for_capture" => Self::WaitingForCapture,
            "succeeded" => Self::Succeeded,
            "canceled" => Self::Canceled,
            unknown => Self::Unknown(unknown.to_owned()),
        }
    }
}

impl From<YookassaPaymentStatus> for ProviderPaymentStatus {
    fn from(status: YookassaPaymentStatus) -> Self {
        match status {
            YookassaPaymentStatus::Pending => ProviderPaymentStatus::Pending,
            YookassaPaymentStatus::WaitingForCapture => ProviderPaymentStatus::WaitingForCapture,
            YookassaPaymentStatus::Succeeded => ProviderPaymentStatus::Succeeded,
            YookassaPaymentStatus::Canceled => ProviderPaymentStatus::Canceled,
            YookassaPaymentStatus::Unknown(other) => ProviderPaymentStatus::Other(other),
        }
    }
}

/// A YooKassa refund status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YookassaRefundStatus {
    Pending,
    Succeeded,
    Canceled,
    /// A status this crate does not know.
    Unknown(String),
}

impl YookassaRefundStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "canceled" => Self::Canceled,
            unknown => Self::Unknown(unknown.to_owned()),
        }
    }
}

/// A notification event, named `<object>.<status>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YookassaEvent {
    PaymentWaitingForCapture,
    PaymentSucceeded,
    PaymentCanceled,
    RefundSucceeded,
    /// Any other event (`payment_method.active`, payouts, deals, future ones): not acted on.
    Unknown(String),
}

impl YookassaEvent {
    pub fn parse(text: &str) -> Self {
        match text {
            "payment.waiting_for_capture" => Self::PaymentWaitingForCapture,
            "payment.succeeded" => Self::PaymentSucceeded,
            "payment.canceled" => Self::PaymentCanceled,
            "refund.succeeded" => Self::RefundSucceeded,
            unknown => Self::Unknown(unknown.to_owned()),
        }
    }
}

/// A notification body: `{type: "notification", event, object}`.
#[derive(Debug, Deserialize)]
pub(crate) struct NotificationWire {
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) event: Option<String>,
    #[serde(default)]
    pub(crate) object: Option<NotificationObjectWire>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NotificationObjectWire {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) payment_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_payment_status_maps_to_its_domain_status_and_others_to_other() {
        let cases = [
            ("pending", ProviderPaymentStatus::Pending),
            (
                "waiting_for_capture",
                ProviderPaymentStatus::WaitingForCapture,
            ),
            ("succeeded", ProviderPaymentStatus::Succeeded),
            ("canceled", ProviderPaymentStatus::Canceled),
            (
                "Succeeded",
                ProviderPaymentStatus::Other("Succeeded".into()),
            ),
            ("refunded", ProviderPaymentStatus::Other("refunded".into())),
        ];
        for (wire, domain) in cases {
            assert_eq!(
                ProviderPaymentStatus::from(YookassaPaymentStatus::parse(wire)),
                domain
            );
        }
    }
}
