//! Wire types of MAPI v2 (request bodies, answers) and their mapping to and from the domain's
//! types. T-Bank's vocabulary stops here: its statuses are matched exhaustively, and a status
//! this crate does not know becomes `ProviderPaymentStatus::Other` — never a known one.
//!
//! Bodies are built without `TerminalKey` and `Token`: the client adds both to every request.
//! `PaymentId` is a string in some answers and a number in others (`Cancel`, `GetQr`,
//! notifications), so it is read as either and kept as text.

use crate::account::TbankAccount;
use coffee_domain::ports::{CreatePaymentRequest, ProviderPaymentStatus, RefundState};
use coffee_domain::{CaptureMode, Money, PaymentMethod, ReceiptContact};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Longest `Description` of a payment.
pub const MAX_DESCRIPTION_CHARS: usize = 140;
/// Longest receipt item `Name` (tag 1030).
pub const MAX_ITEM_NAME_CHARS: usize = 128;
/// Receipt item `PaymentMethod` (tag 1214): paid in full, handed over at once — unless the
/// drink's receipt data says otherwise.
pub const PAYMENT_METHOD: &str = "full_payment";
/// Receipt item `PaymentObject` (tag 1212): a physical good — unless the drink's receipt data
/// says otherwise.
pub const PAYMENT_OBJECT: &str = "commodity";

/// T-Bank's item `Tax` for a YooKassa `vat_code` (Part C of the provider notes; 11 and 12,
/// the 22 % rates from 2026, as `vat22` and `vat122`).
pub fn tax_of_vat_code(vat_code: u8) -> Option<&'static str> {
    Some(match vat_code {
        1 => "none",
        2 => "vat0",
        3 => "vat10",
        4 => "vat20",
        5 => "vat110",
        6 => "vat120",
        7 => "vat5",
        8 => "vat7",
        9 => "vat105",
        10 => "vat107",
        11 => "vat22",
        12 => "vat122",
        _ => return None,
    })
}

/// T-Bank's item `PaymentMethod` for a YooKassa `payment_mode`: the same words, except that
/// T-Bank spells a partial prepayment `prepayment`.
pub fn payment_method_of_mode(payment_mode: &str) -> &str {
    match payment_mode {
        "partial_prepayment" => "prepayment",
        other => other,
    }
}

/// `PayType`: `O` one-stage (charged at once), `T` two-stage (held, then `Confirm`).
pub fn pay_type(capture: CaptureMode) -> &'static str {
    match capture {
        CaptureMode::Immediate => "O",
        CaptureMode::AfterDispense => "T",
    }
}

fn cut(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// `Init`. No `Debug`: it may carry the customer's email or phone.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InitBody {
    amount: i64,
    order_id: String,
    description: String,
    pay_type: &'static str,
    #[serde(rename = "NotificationURL", skip_serializing_if = "Option::is_none")]
    notification_url: Option<String>,
    #[serde(rename = "SuccessURL")]
    success_url: String,
    #[serde(rename = "FailURL")]
    fail_url: String,
    redirect_due_date: String,
    #[serde(rename = "DATA")]
    data: InitData,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<ReceiptBody>,
}

/// `DATA`: our order id, so a payment seen in T-Bank's cabinet leads back to the order.
#[derive(Debug, Serialize)]
struct InitData {
    order_id: String,
    machine_order_id: String,
}

/// No `Debug`: it may carry the customer's email or phone.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiptBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// `+{digits}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    taxation: String,
    items: Vec<ReceiptItemBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiptItemBody {
    name: String,
    price: i64,
    quantity: u32,
    amount: i64,
    tax: String,
    payment_method: String,
    payment_object: String,
}

/// The `Init` body for a domain request: `OrderId` is our payment attempt id (one per attempt,
/// as T-Bank requires), the order page is both the success and the fail address, and the
/// payment link lives no longer than the order.
pub(crate) fn init_body(
    request: &CreatePaymentRequest,
    account: &TbankAccount,
    notification_url: Option<&str>,
) -> InitBody {
    let drink = request.order.drink_name.trim();
    let description = cut(&format!("Оплата напитка: {drink}"), MAX_DESCRIPTION_CHARS);
    let receipt = request.receipt_contact.as_ref().map(|contact| {
        let (email, phone) = match contact {
            ReceiptContact::Email(email) => (Some(email.clone()), None),
            ReceiptContact::Phone(phone) => {
                (None, Some(format!("+{}", phone.trim_start_matches('+'))))
            }
        };
        let name = if drink.is_empty() {
            description.clone()
        } else {
            cut(drink, MAX_ITEM_NAME_CHARS)
        };
        // The drink's own receipt data wins over the terminal's defaults, field by field.
        // Its `measure` is not sent: these are FFD 1.05 receipts, and T-Bank refuses
        // `MeasurementUnit` (an FFD 1.2 field) in them.
        let drink = &request.drink_receipt;
        ReceiptBody {
            email,
            phone,
            taxation: account.taxation.clone(),
            items: vec![ReceiptItemBody {
                name,
                price: request.amount.kopecks(),
                quantity: 1,
                amount: request.amount.kopecks(),
                tax: drink
                    .vat_code
                    .and_then(tax_of_vat_code)
                    .map_or_else(|| account.vat.clone(), str::to_owned),
                payment_method: drink
                    .payment_mode
                    .as_deref()
                    .map_or(PAYMENT_METHOD, payment_method_of_mode)
                    .to_owned(),
                payment_object: drink
                    .payment_subject
                    .clone()
                    .unwrap_or_else(|| PAYMENT_OBJECT.to_owned()),
            }],
        }
    });
    InitBody {
        amount: request.amount.kopecks(),
        order_id: request.payment_id.to_string(),
        description,
        // SBP has no holds: one-stage whatever the merchant's capture mode (the domain sends
        // SBP payments as immediate already; this keeps the wire right on its own).
        pay_type: match request.method {
            PaymentMethod::Sbp => pay_type(CaptureMode::Immediate),
            PaymentMethod::Card => pay_type(request.capture),
        },
        notification_url: notification_url.map(str::to_owned),
        success_url: request.return_url.clone(),
        fail_url: request.return_url.clone(),
        redirect_due_date: request
            .order
            .expires_at
            .format("%Y-%m-%dT%H:%M:%S+00:00")
            .to_string(),
        data: InitData {
            order_id: request.order.id.to_string(),
            machine_order_id: request.order.machine_order_id.to_string(),
        },
        receipt,
    }
}

/// `GetState`, `Confirm`, `Cancel`: the payment, and for `Confirm`/`Cancel` the amount.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PaymentBody {
    pub(crate) payment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) amount: Option<i64>,
    /// Makes a refund idempotent: the same id returns the state instead of a second refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) external_request_id: Option<String>,
}

impl PaymentBody {
    pub(crate) fn get(payment_id: &str) -> Self {
        Self {
            payment_id: payment_id.to_owned(),
            amount: None,
            external_request_id: None,
        }
    }
}

/// `CheckOrder`: every payment T-Bank has for one `OrderId`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CheckOrderBody {
    pub(crate) order_id: String,
}

/// `GetQr` for a payment, as a payload URL to encode.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetQrBody {
    pub(crate) payment_id: String,
    pub(crate) data_type: &'static str,
}

/// The fields every answer has: whether T-Bank did it, and why not.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Envelope {
    #[serde(default, deserialize_with = "flag")]
    pub(crate) success: Option<bool>,
    #[serde(default, deserialize_with = "text")]
    pub(crate) error_code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(crate) message: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(crate) details: Option<String>,
}

/// A payment as `Init`, `GetState`, `Confirm` and `Cancel` answer it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PaymentWire {
    #[serde(default, deserialize_with = "text")]
    pub(crate) terminal_key: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(crate) payment_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(crate) order_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(crate) status: Option<String>,
    #[serde(default, deserialize_with = "integer")]
    pub(crate) amount: Option<i64>,
    #[serde(rename = "PaymentURL", default, deserialize_with = "text")]
    pub(crate) payment_url: Option<String>,
}

/// `CheckOrder`'s answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CheckOrderWire {
    #[serde(default)]
    pub(crate) payments: Vec<PaymentWire>,
}

/// `GetQr`'s answer: `Data` is the payload URL (or an SVG for `IMAGE`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QrWire {
    #[serde(default, deserialize_with = "text")]
    pub(crate) data: Option<String>,
}

/// A string, number or boolean as text; `null` and absence as `None`.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => Some(text),
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::Bool(flag)) => Some(flag.to_string()),
        _ => None,
    })
}

/// `true`/`false` as a boolean or as the strings `CheckOrder` uses.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Bool(flag)) => Some(flag),
        Some(Value::String(text)) => match text.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// Kopecks as a number or a digit string (notifications have both).
fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(number)) => number.as_i64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        _ => None,
    })
}

/// A T-Bank payment status (provider notes §B.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TbankStatus {
    New,
    FormShowed,
    Authorizing,
    ThreeDsChecking,
    ThreeDsChecked,
    Authorized,
    PayChecking,
    Confirming,
    Confirmed,
    Reversing,
    PartialReversed,
    Reversed,
    Refunding,
    AsyncRefunding,
    PartialRefunded,
    Refunded,
    Canceled,
    DeadlineExpired,
    AttemptsExpired,
    Rejected,
    AuthFail,
    /// A status this crate does not know.
    Unknown(String),
}

impl TbankStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "NEW" => Self::New,
            "FORM_SHOWED" => Self::FormShowed,
            "AUTHORIZING" => Self::Authorizing,
            "3DS_CHECKING" => Self::ThreeDsChecking,
            "3DS_CHECKED" => Self::ThreeDsChecked,
            "AUTHORIZED" => Self::Authorized,
            "PAY_CHECKING" => Self::PayChecking,
            "CONFIRMING" => Self::Confirming,
            "CONFIRMED" => Self::Confirmed,
            "REVERSING" => Self::Reversing,
            "PARTIAL_REVERSED" => Self::PartialReversed,
            "REVERSED" => Self::Reversed,
            "REFUNDING" => Self::Refunding,
            "ASYNC_REFUNDING" => Self::AsyncRefunding,
            "PARTIAL_REFUNDED" => Self::PartialRefunded,
            "REFUNDED" => Self::Refunded,
            "CANCELED" => Self::Canceled,
            "DEADLINE_EXPIRED" => Self::DeadlineExpired,
            "ATTEMPTS_EXPIRED" => Self::AttemptsExpired,
            "REJECTED" => Self::Rejected,
            "AUTH_FAIL" => Self::AuthFail,
            unknown => Self::Unknown(unknown.to_owned()),
        }
    }

    /// What a refund (`Cancel` with `Amount` of a confirmed payment) has come to.
    pub fn refund_state(&self) -> RefundState {
        match self {
            Self::Refunded => RefundState::Succeeded,
            // Still on its way (SBP refunds pass through ASYNC_REFUNDING).
            Self::Refunding | Self::AsyncRefunding => RefundState::Pending,
            // The money is still with the merchant, or only part went back: an operator looks.
            _ => RefundState::Canceled,
        }
    }
}

impl From<TbankStatus> for ProviderPaymentStatus {
    fn from(status: TbankStatus) -> Self {
        use TbankStatus as T;
        match status {
            // Nothing decided yet: the customer is still paying, or a hold is being released.
            T::New
            | T::FormShowed
            | T::Authorizing
            | T::ThreeDsChecking
            | T::ThreeDsChecked
            | T::PayChecking
            | T::Confirming
            | T::Reversing => ProviderPaymentStatus::Pending,
            T::Authorized => ProviderPaymentStatus::WaitingForCapture,
            T::Confirmed => ProviderPaymentStatus::Succeeded,
            // Nothing taken, or the hold released: the attempt failed.
            T::Reversed
            | T::Canceled
            | T::DeadlineExpired
            | T::AttemptsExpired
            | T::Rejected
            | T::AuthFail => ProviderPaymentStatus::Canceled,
            T::Refunded => ProviderPaymentStatus::Refunded,
            // We never return part of a drink's price, and a refund in progress is
            // followed through the refund, not the payment: an operator looks.
            T::PartialReversed | T::PartialRefunded | T::Refunding | T::AsyncRefunding => {
                ProviderPaymentStatus::Other(format!("{status:?}"))
            }
            T::Unknown(other) => ProviderPaymentStatus::Other(other),
        }
    }
}

/// Kopecks from T-Bank into rubles.
pub(crate) fn money(kopecks: Option<i64>) -> Option<Money> {
    kopecks.and_then(|k| Money::rub(k).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_to_its_domain_meaning_and_unknown_ones_to_other() {
        let cases = [
            ("NEW", ProviderPaymentStatus::Pending),
            ("FORM_SHOWED", ProviderPaymentStatus::Pending),
            ("3DS_CHECKING", ProviderPaymentStatus::Pending),
            ("AUTHORIZED", ProviderPaymentStatus::WaitingForCapture),
            ("CONFIRMED", ProviderPaymentStatus::Succeeded),
            ("REJECTED", ProviderPaymentStatus::Canceled),
            ("CANCELED", ProviderPaymentStatus::Canceled),
            ("DEADLINE_EXPIRED", ProviderPaymentStatus::Canceled),
            ("AUTH_FAIL", ProviderPaymentStatus::Canceled),
            ("REVERSED", ProviderPaymentStatus::Canceled),
            ("REFUNDED", ProviderPaymentStatus::Refunded),
            (
                "COMPLETED",
                ProviderPaymentStatus::Other("COMPLETED".into()),
            ),
            (
                "confirmed",
                ProviderPaymentStatus::Other("confirmed".into()),
            ),
        ];
        for (wire, domain) in cases {
            assert_eq!(
                ProviderPaymentStatus::from(TbankStatus::parse(wire)),
                domain,
                "{wire}"
            );
        }
        assert!(matches!(
            ProviderPaymentStatus::from(TbankStatus::parse("PARTIAL_REFUNDED")),
            ProviderPaymentStatus::Other(_)
        ));
    }

    #[test]
    fn refunds_are_done_only_when_refunded_and_pending_while_refunding() {
        assert_eq!(
            TbankStatus::parse("REFUNDED").refund_state(),
            RefundState::Succeeded
        );
        assert_eq!(
            TbankStatus::parse("ASYNC_REFUNDING").refund_state(),
            RefundState::Pending
        );
        assert_eq!(
            TbankStatus::parse("CONFIRMED").refund_state(),
            RefundState::Canceled
        );
    }

    #[test]
    fn payment_ids_and_amounts_read_as_strings_or_numbers() {
        let wire: Result<PaymentWire, _> =
            serde_json::from_str(r#"{"PaymentId": 13660, "Amount": "1230", "Status": "NEW"}"#);
        let wire = wire.map_err(|e| e.to_string());
        assert!(
            matches!(wire, Ok(PaymentWire { payment_id: Some(ref id), amount: Some(1230), .. }) if id == "13660")
        );
    }

    #[test]
    fn every_yookassa_vat_code_has_its_t_bank_tax_and_nothing_else_does() {
        let taxes: Vec<_> = (1..=12).filter_map(tax_of_vat_code).collect();
        assert_eq!(
            taxes,
            [
                "none", "vat0", "vat10", "vat20", "vat110", "vat120", "vat5", "vat7", "vat105",
                "vat107", "vat22", "vat122"
            ]
        );
        assert!(taxes
            .iter()
            .all(|tax| coffee_domain::TBANK_VATS.contains(tax)));
        assert_eq!(tax_of_vat_code(0), None);
        assert_eq!(tax_of_vat_code(13), None);
    }

    #[test]
    fn a_partial_prepayment_is_t_banks_prepayment_and_other_modes_keep_their_word() {
        assert_eq!(payment_method_of_mode("partial_prepayment"), "prepayment");
        for mode in coffee_domain::branding::RECEIPT_PAYMENT_MODES {
            if mode != "partial_prepayment" {
                assert_eq!(payment_method_of_mode(mode), mode);
            }
        }
    }

    #[test]
    fn capture_modes_choose_one_or_two_stage_payments() {
        assert_eq!(pay_type(CaptureMode::Immediate), "O");
        assert_eq!(pay_type(CaptureMode::AfterDispense), "T");
    }
}
