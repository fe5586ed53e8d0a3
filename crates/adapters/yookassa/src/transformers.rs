//! Wire types of YooKassa API v3 (request bodies, answers, notifications) and their mapping
//! to and from the domain's types.
//!
//! Every provider status and event is matched exhaustively: the only catch-all is the explicit
//! `Unknown(String)` variant produced by the parsers, which becomes
//! `ProviderPaymentStatus::Other` (the domain never acts on it) or a typed error — never a
//! known status by default.

use crate::account::YookassaAccount;
use coffee_domain::ports::{
    CreatePaymentRequest, CreatedPayment, PaymentGatewayError, ProviderPayment,
    ProviderPaymentStatus, RefundOutcome,
};
use coffee_domain::{CaptureMode, Currency, Money, OrderId, ReceiptContact};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest `description` YooKassa accepts, for the payment and for a receipt item (54-FZ tag
/// 1030).
pub const MAX_DESCRIPTION_CHARS: usize = 128;
/// Receipt item quantity: one drink, as the decimal string of the documented examples.
pub const RECEIPT_QUANTITY: &str = "1.00";
/// 54-FZ tag 1212: a physical good.
pub const PAYMENT_SUBJECT: &str = "commodity";
/// 54-FZ tag 1214: paid in full, goods handed over at once.
pub const PAYMENT_MODE: &str = "full_payment";

// ---------------------------------------------------------------------------------------------
// Statuses and events

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

// ---------------------------------------------------------------------------------------------
// Requests

/// `{"value": "150.00", "currency": "RUB"}`, formatted exactly from kopecks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AmountBody {
    value: String,
    currency: &'static str,
}

impl From<Money> for AmountBody {
    fn from(money: Money) -> Self {
        Self {
            value: money.to_decimal_string(),
            currency: money.currency().code(),
        }
    }
}

/// No `Debug`: it may carry the customer's email or phone.
#[derive(Serialize)]
pub(crate) struct CreatePaymentBody {
    amount: AmountBody,
    capture: bool,
    confirmation: ConfirmationBody,
    description: String,
    metadata: MetadataBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<ReceiptBody>,
}

#[derive(Debug, Serialize)]
struct ConfirmationBody {
    #[serde(rename = "type")]
    kind: &'static str,
    return_url: String,
}

#[derive(Debug, Serialize)]
struct MetadataBody {
    order_id: String,
    machine_order_id: String,
    drink_no: String,
    size: &'static str,
}

/// No `Debug`: it may carry the customer's email or phone.
#[derive(Serialize)]
struct ReceiptBody {
    customer: CustomerBody,
    items: Vec<ReceiptItemBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tax_system_code: Option<u8>,
}

/// No `Debug`: it may carry the customer's email or phone.
#[derive(Serialize)]
struct CustomerBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// ITU-T E.164 digits without the `+`, as YooKassa receipts want them.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
}

#[derive(Debug, Serialize)]
struct ReceiptItemBody {
    description: String,
    quantity: &'static str,
    /// The price of one unit (tag 1079).
    amount: AmountBody,
    vat_code: u8,
    payment_subject: &'static str,
    payment_mode: &'static str,
}

/// `POST /payments/{id}/capture`: the whole amount, stated explicitly.
#[derive(Debug, Serialize)]
pub(crate) struct CaptureBody {
    pub(crate) amount: AmountBody,
}

/// `POST /payments/{id}/cancel`: `{}`.
#[derive(Debug, Serialize)]
pub(crate) struct CancelBody {}

/// `POST /refunds`: a full refund; YooKassa reuses the payment's receipt, so none is sent.
#[derive(Debug, Serialize)]
pub(crate) struct RefundBody {
    pub(crate) payment_id: String,
    pub(crate) amount: AmountBody,
}

fn cut(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The body of `POST /payments` for a domain request and the merchant's account.
pub(crate) fn create_payment_body(
    request: &CreatePaymentRequest,
    account: &YookassaAccount,
) -> CreatePaymentBody {
    let description = cut(&request.description, MAX_DESCRIPTION_CHARS);
    let receipt = request.receipt_contact.as_ref().map(|contact| {
        let customer = match contact {
            ReceiptContact::Email(email) => CustomerBody {
                email: Some(email.clone()),
                phone: None,
            },
            ReceiptContact::Phone(phone) => CustomerBody {
                email: None,
                phone: Some(phone.trim_start_matches('+').to_owned()),
            },
        };
        let item_description = if request.order.drink_name.trim().is_empty() {
            description.clone()
        } else {
            cut(request.order.drink_name.trim(), MAX_DESCRIPTION_CHARS)
        };
        ReceiptBody {
            customer,
            items: vec![ReceiptItemBody {
                description: item_description,
                quantity: RECEIPT_QUANTITY,
                amount: request.amount.into(),
                vat_code: account.vat_code,
                payment_subject: PAYMENT_SUBJECT,
                payment_mode: PAYMENT_MODE,
            }],
            tax_system_code: account.tax_system_code,
        }
    });
    CreatePaymentBody {
        amount: request.amount.into(),
        capture: match request.capture {
            CaptureMode::Immediate => true,
            CaptureMode::AfterDispense => false,
        },
        confirmation: ConfirmationBody {
            kind: "redirect",
            return_url: request.return_url.clone(),
        },
        description,
        metadata: MetadataBody {
            order_id: request.order.id.to_string(),
            machine_order_id: request.order.machine_order_id.to_string(),
            drink_no: request.order.drink_no.to_string(),
            size: request.order.size.as_str(),
        },
        receipt,
    }
}

// ---------------------------------------------------------------------------------------------
// Responses (deserialized leniently: unknown fields are ignored)

#[derive(Debug, Deserialize)]
pub(crate) struct AmountWire {
    value: String,
    currency: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PaymentWire {
    id: String,
    status: String,
    #[serde(default)]
    amount: Option<AmountWire>,
    #[serde(default)]
    confirmation: Option<ConfirmationWire>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    recipient: Option<RecipientWire>,
    #[serde(default)]
    cancellation_details: Option<CancellationWire>,
}

#[derive(Debug, Deserialize)]
struct ConfirmationWire {
    #[serde(default)]
    confirmation_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RecipientWire {
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CancellationWire {
    #[serde(default)]
    party: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

impl CancellationWire {
    fn describe(details: Option<&CancellationWire>) -> String {
        match details {
            Some(d) => format!(
                "{} (party: {})",
                d.reason.as_deref().unwrap_or("no reason given"),
                d.party.as_deref().unwrap_or("unknown")
            ),
            None => "no cancellation details".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundWire {
    id: String,
    status: String,
    #[serde(default)]
    cancellation_details: Option<CancellationWire>,
}

/// The error body of every non-2xx answer (`{type: "error", id, code, description,
/// parameter}`); all fields optional.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorWire {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) parameter: Option<String>,
}

impl ErrorWire {
    /// Reads an error body; anything unreadable is an empty error.
    pub(crate) fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// YooKassa's `code`, or `http_<status>` when the body has none.
    pub(crate) fn code_or(&self, status: u16) -> String {
        match &self.code {
            Some(code) if !code.is_empty() => code.clone(),
            Some(_) | None => format!("http_{status}"),
        }
    }

    /// YooKassa's `description`, with the offending `parameter` when named.
    pub(crate) fn message_or(&self, fallback: &str) -> String {
        let description = match &self.description {
            Some(d) if !d.is_empty() => d.clone(),
            Some(_) | None => fallback.to_owned(),
        };
        match &self.parameter {
            Some(parameter) if !parameter.is_empty() => {
                format!("{description} (parameter: {parameter})")
            }
            Some(_) | None => description,
        }
    }
}

/// The legacy `processing` answer that comes with HTTP 202: `retry_after` in milliseconds.
#[derive(Debug, Deserialize)]
pub(crate) struct ProcessingWire {
    #[serde(default)]
    pub(crate) retry_after: Option<u64>,
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

fn invalid(what: impl Into<String>) -> PaymentGatewayError {
    PaymentGatewayError::InvalidResponse(what.into())
}

fn canceled_error(payment: &PaymentWire) -> PaymentGatewayError {
    PaymentGatewayError::Rejected {
        code: "payment_canceled".to_owned(),
        message: format!(
            "payment {} is canceled: {}",
            payment.id,
            CancellationWire::describe(payment.cancellation_details.as_ref())
        ),
    }
}

/// The created payment's id and where to send the customer.
pub(crate) fn created_payment(payment: PaymentWire) -> Result<CreatedPayment, PaymentGatewayError> {
    if payment.id.trim().is_empty() {
        return Err(invalid("created payment has an empty id"));
    }
    match YookassaPaymentStatus::parse(&payment.status) {
        YookassaPaymentStatus::Canceled => return Err(canceled_error(&payment)),
        YookassaPaymentStatus::Pending
        | YookassaPaymentStatus::WaitingForCapture
        | YookassaPaymentStatus::Succeeded
        | YookassaPaymentStatus::Unknown(_) => {}
    }
    let confirmation_url = payment
        .confirmation
        .and_then(|c| c.confirmation_url)
        .filter(|url| !url.trim().is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "created payment {} has no confirmation_url",
                payment.id
            ))
        })?;
    Ok(CreatedPayment {
        provider_payment_id: payment.id,
        confirmation_url,
    })
}

/// Parses an amount exactly; a foreign currency or a malformed value is an invalid response.
fn money(amount: &AmountWire) -> Result<Money, PaymentGatewayError> {
    let currency =
        Currency::parse(&amount.currency).map_err(|e| invalid(format!("amount currency: {e}")))?;
    Money::parse_decimal(&amount.value, currency).map_err(|e| invalid(format!("amount value: {e}")))
}

/// The trusted view of a payment (from `GET /payments/{id}`). Another payment than the one
/// asked about, a payment of another shop, an unreadable amount or a `metadata.order_id` that
/// is not one of our order ids is refused.
pub(crate) fn provider_payment(
    payment: PaymentWire,
    expected_id: &str,
    shop_id: &str,
) -> Result<ProviderPayment, PaymentGatewayError> {
    check_id(&payment, expected_id)?;
    if let Some(account_id) = payment
        .recipient
        .as_ref()
        .and_then(|r| r.account_id.as_deref())
    {
        if account_id != shop_id {
            return Err(invalid(format!(
                "payment {} belongs to shop {account_id}, not to the merchant's shop",
                payment.id
            )));
        }
    }
    let amount = payment
        .amount
        .as_ref()
        .ok_or_else(|| invalid(format!("payment {} has no amount", payment.id)))
        .and_then(money)?;
    let order_id = match payment.metadata.as_ref().and_then(|m| m.get("order_id")) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(OrderId::parse(text).map_err(|_| {
            invalid(format!(
                "payment {} has a foreign metadata.order_id",
                payment.id
            ))
        })?),
        Some(_) => {
            return Err(invalid(format!(
                "payment {} has a non-string metadata.order_id",
                payment.id
            )))
        }
    };
    Ok(ProviderPayment {
        status: YookassaPaymentStatus::parse(&payment.status).into(),
        provider_payment_id: payment.id,
        amount,
        order_id,
    })
}

fn check_id(payment: &PaymentWire, expected_id: &str) -> Result<(), PaymentGatewayError> {
    if payment.id == expected_id {
        Ok(())
    } else {
        Err(invalid(format!(
            "asked about payment {expected_id}, YooKassa answered about {}",
            payment.id
        )))
    }
}

/// The answer to a capture: done only when the payment is `succeeded`.
pub(crate) fn capture_result(
    payment: PaymentWire,
    expected_id: &str,
) -> Result<(), PaymentGatewayError> {
    check_id(&payment, expected_id)?;
    match YookassaPaymentStatus::parse(&payment.status) {
        YookassaPaymentStatus::Succeeded => Ok(()),
        YookassaPaymentStatus::Canceled => Err(canceled_error(&payment)),
        YookassaPaymentStatus::Pending | YookassaPaymentStatus::WaitingForCapture => {
            Err(PaymentGatewayError::Unavailable(format!(
                "capture of {} not finished yet (status {})",
                payment.id, payment.status
            )))
        }
        YookassaPaymentStatus::Unknown(status) => Err(invalid(format!(
            "capture of {} answered unknown status {status}",
            payment.id
        ))),
    }
}

/// The answer to a cancel: done only when the payment is `canceled`.
pub(crate) fn cancel_result(
    payment: PaymentWire,
    expected_id: &str,
) -> Result<(), PaymentGatewayError> {
    check_id(&payment, expected_id)?;
    match YookassaPaymentStatus::parse(&payment.status) {
        YookassaPaymentStatus::Canceled => Ok(()),
        YookassaPaymentStatus::Succeeded => Err(PaymentGatewayError::Rejected {
            code: "payment_succeeded".to_owned(),
            message: format!("payment {} was captured; refund it instead", payment.id),
        }),
        YookassaPaymentStatus::Pending | YookassaPaymentStatus::WaitingForCapture => {
            Err(PaymentGatewayError::Unavailable(format!(
                "cancel of {} not finished yet (status {})",
                payment.id, payment.status
            )))
        }
        YookassaPaymentStatus::Unknown(status) => Err(invalid(format!(
            "cancel of {} answered unknown status {status}",
            payment.id
        ))),
    }
}

/// The answer to a refund. A `canceled` refund is a permanent rejection (the port has no
/// "refund rejected" outcome); an unknown status is an invalid response (asked again later
/// with the same key, which returns the same refund).
pub(crate) fn refund_outcome(refund: RefundWire) -> Result<RefundOutcome, PaymentGatewayError> {
    match YookassaRefundStatus::parse(&refund.status) {
        YookassaRefundStatus::Succeeded => Ok(RefundOutcome::Completed),
        YookassaRefundStatus::Pending => Ok(RefundOutcome::InProgress),
        YookassaRefundStatus::Canceled => Err(PaymentGatewayError::Rejected {
            code: "refund_canceled".to_owned(),
            message: format!(
                "refund {} was canceled: {}",
                refund.id,
                CancellationWire::describe(refund.cancellation_details.as_ref())
            ),
        }),
        YookassaRefundStatus::Unknown(status) => Err(invalid(format!(
            "refund {} has unknown status {status}",
            refund.id
        ))),
    }
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

    #[test]
    fn error_bodies_give_code_and_description_or_fallbacks() {
        let error = ErrorWire::parse(
            br#"{"type":"error","code":"invalid_request","description":"Bad","parameter":"amount"}"#,
        );
        assert_eq!(error.code_or(400), "invalid_request");
        assert_eq!(error.message_or("x"), "Bad (parameter: amount)");
        let empty = ErrorWire::parse(b"<html>");
        assert_eq!(empty.code_or(502), "http_502");
        assert_eq!(empty.message_or("Bad Gateway"), "Bad Gateway");
    }
}
