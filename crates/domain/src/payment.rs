//! A payment attempt and its money state, kept apart from the order's seven statuses.
//!
//! ```text
//! pending ──Authorized──▶ authorized ──Captured──▶ succeeded ──RefundRequested──▶ refund_pending ──Refunded──▶ refunded
//!    │  └──────────────Captured──────────────────────▲
//!    └──Canceled──▶ canceled ◀──Canceled (hold released)── authorized
//! ```

use crate::{CaptureMode, Money, OrderId, PaymentId, ProviderKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Created at the provider; the customer has not paid yet.
    Pending,
    /// Money held on the customer's card (capture after dispense).
    Authorized,
    /// Money taken.
    Succeeded,
    /// Canceled before capture: nothing taken, or the hold released.
    Canceled,
    /// A refund was requested and is on its way.
    RefundPending,
    /// The money is back with the customer.
    Refunded,
}

impl PaymentState {
    pub const ALL: [PaymentState; 6] = [
        PaymentState::Pending,
        PaymentState::Authorized,
        PaymentState::Succeeded,
        PaymentState::Canceled,
        PaymentState::RefundPending,
        PaymentState::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Pending => "pending",
            PaymentState::Authorized => "authorized",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Canceled => "canceled",
            PaymentState::RefundPending => "refund_pending",
            PaymentState::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The customer's money is with us or the merchant right now (held or captured, not returned).
    pub fn holds_customer_money(self) -> bool {
        match self {
            PaymentState::Authorized | PaymentState::Succeeded | PaymentState::RefundPending => {
                true
            }
            PaymentState::Pending | PaymentState::Canceled | PaymentState::Refunded => false,
        }
    }

    /// Applies a money event; exhaustive like the order table.
    pub fn apply(self, event: PaymentEvent) -> Result<PaymentTransition, IllegalPaymentTransition> {
        use PaymentEvent as E;
        use PaymentState as S;
        use PaymentTransition::{Duplicate, To};
        let illegal = Err(IllegalPaymentTransition { from: self, event });
        match self {
            S::Pending => match event {
                E::Authorized => Ok(To(S::Authorized)),
                E::Captured => Ok(To(S::Succeeded)),
                E::Canceled => Ok(To(S::Canceled)),
                E::RefundRequested | E::Refunded => illegal,
            },
            S::Authorized => match event {
                E::Authorized => Ok(Duplicate),
                E::Captured => Ok(To(S::Succeeded)),
                E::Canceled => Ok(To(S::Canceled)),
                E::RefundRequested | E::Refunded => illegal,
            },
            S::Succeeded => match event {
                E::Authorized | E::Captured => Ok(Duplicate),
                E::RefundRequested => Ok(To(S::RefundPending)),
                E::Refunded => Ok(To(S::Refunded)),
                E::Canceled => illegal,
            },
            S::Canceled => match event {
                E::Authorized | E::Canceled => Ok(Duplicate),
                E::Captured | E::RefundRequested | E::Refunded => illegal,
            },
            S::RefundPending => match event {
                E::Authorized | E::Captured | E::RefundRequested => Ok(Duplicate),
                E::Refunded => Ok(To(S::Refunded)),
                E::Canceled => illegal,
            },
            S::Refunded => match event {
                E::Authorized | E::Captured | E::RefundRequested | E::Refunded => Ok(Duplicate),
                E::Canceled => illegal,
            },
        }
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentEvent {
    Authorized,
    Captured,
    Canceled,
    RefundRequested,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentTransition {
    To(PaymentState),
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payment event {event:?} is not allowed in money state {from}")]
pub struct IllegalPaymentTransition {
    pub from: PaymentState,
    pub event: PaymentEvent,
}

/// One payment attempt of an order. An order has at most one live attempt; after a canceled
/// or refused one the customer may try again with a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub provider: ProviderKind,
    pub provider_payment_id: String,
    pub amount: Money,
    pub capture: CaptureMode,
    pub state: PaymentState,
    pub confirmation_url: String,
    /// The key the create call carried; retries reuse it so the provider never charges twice.
    pub idempotency_key: String,
    /// The provider's id of our refund, once asked for: a pending refund is re-checked by
    /// fetching it, never by asking again.
    pub refund_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How the customer pays: on the provider's card form, or by scanning an SBP (Faster Payments
/// System) QR code in their bank's app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    #[default]
    Card,
    Sbp,
}

/// Every SBP payment link (the payload a QR code encodes) is on the NSPK's host, whichever bank
/// issued it.
const SBP_PAYLOAD_PREFIX: &str = "https://qr.nspk.ru/";

impl PaymentMethod {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "card" => Some(PaymentMethod::Card),
            "sbp" => Some(PaymentMethod::Sbp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::Sbp => "sbp",
        }
    }
}

impl Payment {
    /// How this payment is paid. An SBP payment keeps its payload (an NSPK link) as its
    /// confirmation URL — that link is what the customer needs, drawn as a QR code or opened
    /// in a bank's app — so the method is read from it and needs no column of its own.
    pub fn method(&self) -> PaymentMethod {
        if self.confirmation_url.starts_with(SBP_PAYLOAD_PREFIX) {
            PaymentMethod::Sbp
        } else {
            PaymentMethod::Card
        }
    }
}

/// Idempotency keys derived from our ids: the same operation always carries the same key.
pub mod idempotency {
    use crate::{OrderId, PaymentId};

    /// The first attempt keeps the key it always had; a retry after a failed attempt is a new
    /// payment, so it gets its own key (the same for concurrent presses of one retry).
    pub fn create(order: OrderId, attempt: usize) -> String {
        if attempt <= 1 {
            format!("coffee-create-{order}")
        } else {
            format!("coffee-create-{order}-{attempt}")
        }
    }
    pub fn capture(payment: PaymentId) -> String {
        format!("coffee-capture-{payment}")
    }
    pub fn cancel(payment: PaymentId) -> String {
        format!("coffee-cancel-{payment}")
    }
    pub fn refund(payment: PaymentId) -> String {
        format!("coffee-refund-{payment}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrderId, PaymentId};

    fn payment_to(confirmation_url: &str) -> Payment {
        let now = chrono::Utc::now();
        Payment {
            id: PaymentId::from_uuid(uuid::Uuid::nil()),
            order_id: OrderId::from_uuid(uuid::Uuid::nil()),
            provider: ProviderKind::Tbank,
            provider_payment_id: "1".into(),
            amount: Money::rub(100).unwrap(),
            capture: CaptureMode::Immediate,
            state: PaymentState::Pending,
            confirmation_url: confirmation_url.into(),
            idempotency_key: "k".into(),
            refund_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_payment_whose_confirmation_url_is_an_nspk_link_is_paid_by_sbp() {
        let sbp = payment_to("https://qr.nspk.ru/AS1000670LSS7DN18SJQDNP4B05KLJL2?type=01");
        assert_eq!(sbp.method(), PaymentMethod::Sbp);
        for form in [
            "https://securepay.tinkoff.ru/new/fU1ppgqa",
            "https://yoomoney.ru/checkout/payments/v2/contract?orderId=1",
            "http://qr.nspk.ru.example/x",
        ] {
            assert_eq!(payment_to(form).method(), PaymentMethod::Card, "{form}");
        }
    }

    #[test]
    fn payment_methods_read_back_what_they_write() {
        for method in [PaymentMethod::Card, PaymentMethod::Sbp] {
            assert_eq!(PaymentMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(PaymentMethod::parse("cash"), None);
        assert_eq!(PaymentMethod::default(), PaymentMethod::Card);
    }
}
