//! Orders, receipt contacts and the order history.

use crate::{DeviceUuid, DrinkNo, MachineOrderId, MerchantKey, Money, OrderId, OrderStatus, Size};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an order ended without a drink, or how it was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    PaymentRejected,
    PaymentCanceled,
    Expired,
    PaidAfterExpiry,
    MachineUnreachable,
    DispenseFailed,
    DispenseTimedOut,
}

impl FailureReason {
    pub const ALL: [FailureReason; 7] = [
        FailureReason::PaymentRejected,
        FailureReason::PaymentCanceled,
        FailureReason::Expired,
        FailureReason::PaidAfterExpiry,
        FailureReason::MachineUnreachable,
        FailureReason::DispenseFailed,
        FailureReason::DispenseTimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::PaymentRejected => "payment_rejected",
            FailureReason::PaymentCanceled => "payment_canceled",
            FailureReason::Expired => "expired",
            FailureReason::PaidAfterExpiry => "paid_after_expiry",
            FailureReason::MachineUnreachable => "machine_unreachable",
            FailureReason::DispenseFailed => "dispense_failed",
            FailureReason::DispenseTimedOut => "dispense_timed_out",
        }
    }

    pub fn parse(text: &str) -> Option<FailureReason> {
        FailureReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// Why an order needs an operator to look at it. The money-safety rules set it; the console
/// lists such orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attention {
    /// A make command was sent without a clear answer and no machine report came: the money
    /// went back, and the drink may have been made.
    MakeOutcomeUnknown,
    /// The provider's payment does not match ours (amount, currency, order, missing order id).
    ProviderMismatch,
    /// Money came in for an order that could no longer be served; it is being returned.
    MoneyAfterOrderEnded,
    /// The provider released a hold after the drink was made: the drink was not paid for.
    HoldCanceledAfterDrink,
    /// The provider refused or canceled a refund we asked for.
    RefundRefused,
    /// Imported from the original system, which took the money and neither made the drink
    /// nor returned it (`make_failed`, `manual_make`).
    UnsettledInOriginal,
}

impl Attention {
    pub const ALL: [Attention; 6] = [
        Attention::MakeOutcomeUnknown,
        Attention::ProviderMismatch,
        Attention::MoneyAfterOrderEnded,
        Attention::HoldCanceledAfterDrink,
        Attention::RefundRefused,
        Attention::UnsettledInOriginal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Attention::MakeOutcomeUnknown => "make_outcome_unknown",
            Attention::ProviderMismatch => "provider_mismatch",
            Attention::MoneyAfterOrderEnded => "money_after_order_ended",
            Attention::HoldCanceledAfterDrink => "hold_canceled_after_drink",
            Attention::RefundRefused => "refund_refused",
            Attention::UnsettledInOriginal => "unsettled_in_original",
        }
    }

    pub fn parse(text: &str) -> Option<Attention> {
        Attention::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// Where a 54-FZ receipt goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ReceiptContact {
    Email(String),
    /// E.164, e.g. `+79001234567`.
    Phone(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("email address is not valid")]
    InvalidEmail,
    #[error("phone number is not valid")]
    InvalidPhone,
}

impl ReceiptContact {
    /// Accepts `local@domain.tld` without spaces, up to 254 characters.
    pub fn email(raw: &str) -> Result<Self, ContactError> {
        let email = raw.trim();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain
                            .rsplit_once('.')
                            .is_some_and(|(host, tld)| !host.is_empty() && !tld.is_empty())
                }
                None => false,
            };
        if valid {
            Ok(ReceiptContact::Email(email.to_owned()))
        } else {
            Err(ContactError::InvalidEmail)
        }
    }

    /// Normalises to E.164: spaces, dashes and brackets are dropped; a Russian `8XXXXXXXXXX`
    /// becomes `+7XXXXXXXXXX`; the result must be `+` and 8–15 digits, not starting with 0.
    pub fn phone(raw: &str) -> Result<Self, ContactError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = match compact.strip_prefix('+') {
            Some(rest) => rest.to_owned(),
            None if compact.len() == 11 && compact.starts_with('8') => {
                format!("7{}", &compact[1..])
            }
            None => return Err(ContactError::InvalidPhone),
        };
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(ReceiptContact::Phone(format!("+{digits}")))
        } else {
            Err(ContactError::InvalidPhone)
        }
    }

    /// For logs: never the whole address or number.
    pub fn masked(&self) -> String {
        match self {
            ReceiptContact::Email(email) => match email.split_once('@') {
                Some((local, domain)) => {
                    format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
                }
                None => "***".into(),
            },
            ReceiptContact::Phone(phone) => {
                let tail: String = phone
                    .chars()
                    .rev()
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("+***{tail}")
            }
        }
    }
}

/// A customer's order for one drink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub machine_order_id: MachineOrderId,
    pub device: DeviceUuid,
    pub merchant: MerchantKey,
    pub drink_no: DrinkNo,
    pub drink_name: String,
    pub size: Size,
    /// Server-side price at order time; never from the QR.
    pub price: Money,
    pub status: OrderStatus,
    pub expires_at: DateTime<Utc>,
    pub failure_reason: Option<FailureReason>,
    pub receipt_contact: Option<ReceiptContact>,
    /// Success was assumed by the deadline policy, not reported by the machine.
    pub dispense_assumed: bool,
    /// The make command was sent and its fate is unknown: only a machine report may say the
    /// drink was made; at the deadline the money goes back.
    pub make_outcome_unknown: bool,
    /// An operator had the make command sent once more (allowed only while its fate is
    /// unknown); it is never sent a third time.
    pub make_resent: bool,
    /// Set when an operator must look at the order.
    pub attention: Option<Attention>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// What a drink is called when the catalogue does not name it.
pub const UNNAMED_DRINK: &str = "Напиток";

/// Text fit to show a customer or a provider: trimmed, without control characters nor the
/// invisible marks that reorder text (bidi overrides and isolates), which could make a page or
/// a receipt line read differently from what it says.
pub fn shown_text(raw: &str) -> String {
    raw.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
                )
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Who caused a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    Customer,
    Provider,
    Machine,
    Worker,
    Operator,
}

impl HistorySource {
    pub fn as_str(self) -> &'static str {
        match self {
            HistorySource::Customer => "customer",
            HistorySource::Provider => "provider",
            HistorySource::Machine => "machine",
            HistorySource::Worker => "worker",
            HistorySource::Operator => "operator",
        }
    }
}

/// One line of an order's timeline: a transition or a message that changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub order_id: OrderId,
    pub at: DateTime<Utc>,
    pub source: HistorySource,
    pub from: Option<OrderStatus>,
    pub to: Option<OrderStatus>,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_masked() {
        let email = ReceiptContact::email(" anna@example.com ").unwrap();
        assert_eq!(email, ReceiptContact::Email("anna@example.com".into()));
        assert_eq!(email.masked(), "a***@example.com");
        for bad in [
            "",
            "anna",
            "anna@",
            "@example.com",
            "anna@example",
            "an na@example.com",
            "a@b@c.d",
        ] {
            assert_eq!(
                ReceiptContact::email(bad),
                Err(ContactError::InvalidEmail),
                "{bad}"
            );
        }
    }

    #[test]
    fn shown_text_drops_control_and_reordering_characters() {
        assert_eq!(shown_text(" Латте\u{202E}ettal\u{202C} "), "Латтеettal");
        assert_eq!(shown_text("Raf\u{2066}\u{0007}"), "Raf");
        assert_eq!(shown_text("\u{200F}"), "");
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(
            ReceiptContact::phone("+7 (900) 123-45-67").unwrap(),
            ReceiptContact::Phone("+79001234567".into())
        );
        assert_eq!(
            ReceiptContact::phone("89001234567").unwrap(),
            ReceiptContact::Phone("+79001234567".into())
        );
        for bad in [
            "",
            "12345",
            "+0123456789",
            "+7900abc4567",
            "+1234567890123456",
        ] {
            assert_eq!(
                ReceiptContact::phone(bad),
                Err(ContactError::InvalidPhone),
                "{bad}"
            );
        }
        assert_eq!(
            ReceiptContact::phone("+79001234567").unwrap().masked(),
            "+***67"
        );
    }
}
