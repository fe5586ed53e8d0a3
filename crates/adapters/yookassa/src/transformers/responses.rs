//! What YooKassa answers: payments, refunds, error bodies and the legacy 202 body, read
//! leniently (unknown fields are ignored), and their mapping to the port's outcomes and errors.

use super::{YookassaPaymentStatus, YookassaRefundStatus};
use chrono::{DateTime, Utc};
use coffee_domain::ports::{
    CreatedPayment, PaymentGatewayError, ProviderPayment, RefundState, RefundStatus,
};
use coffee_domain::{Currency, MachineOrderId, Money, OrderId};
use serde::Deserialize;
use serde_json::{Map, Value};

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
    /// When the money was captured (ISO 8601): a late payment is judged by it.
    #[serde(default)]
    captured_at: Option<String>,
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
    payment_id: Option<String>,
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
    // The original system put the machine's order id here; such payments are still paid
    // after a network moved over.
    let machine_order_id = match payment.metadata.as_ref().and_then(|m| m.get("order_uuid")) {
        Some(Value::String(text)) => MachineOrderId::parse(text).ok(),
        _ => None,
    };
    let paid_at = payment
        .captured_at
        .as_deref()
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|e| invalid(format!("payment {} captured_at: {e}", payment.id)))
        })
        .transpose()?;
    Ok(ProviderPayment {
        status: YookassaPaymentStatus::parse(&payment.status).into(),
        provider_payment_id: payment.id,
        amount,
        order_id,
        payment_id: None,
        machine_order_id,
        paid_at,
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

/// A refund as YooKassa shows it (the answer to creating it, or `GET /refunds/{id}`). A
/// `canceled` refund is a state the domain flags for an operator; an unknown status is an
/// invalid response (asked again later, which returns the same refund).
pub(crate) fn refund_status(
    refund: RefundWire,
    expected_payment_id: Option<&str>,
) -> Result<RefundStatus, PaymentGatewayError> {
    let provider_payment_id = refund
        .payment_id
        .filter(|id| !id.trim().is_empty())
        .or_else(|| expected_payment_id.map(str::to_owned))
        .ok_or_else(|| invalid(format!("refund {} names no payment", refund.id)))?;
    let state = match YookassaRefundStatus::parse(&refund.status) {
        YookassaRefundStatus::Succeeded => RefundState::Succeeded,
        YookassaRefundStatus::Pending => RefundState::Pending,
        YookassaRefundStatus::Canceled => {
            tracing::warn!(
                refund = %refund.id,
                details = %CancellationWire::describe(refund.cancellation_details.as_ref()),
                "YooKassa canceled a refund"
            );
            RefundState::Canceled
        }
        YookassaRefundStatus::Unknown(status) => {
            return Err(invalid(format!(
                "refund {} has unknown status {status}",
                refund.id
            )))
        }
    };
    Ok(RefundStatus {
        refund_id: refund.id,
        provider_payment_id,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_the_original_system_created_names_the_machines_order_id() {
        let wire: PaymentWire = serde_json::from_value(serde_json::json!({
            "id": "30a5e1f2-000f-5000-8000-1c2d3e4f5a6b",
            "status": "succeeded",
            "amount": {"value": "180.00", "currency": "RUB"},
            "metadata": {"order_uuid": "20251124085950123ab12c-4f7e-kqzd"},
            "recipient": {"account_id": "100001"}
        }))
        .unwrap();
        let payment =
            provider_payment(wire, "30a5e1f2-000f-5000-8000-1c2d3e4f5a6b", "100001").unwrap();
        assert_eq!(payment.order_id, None);
        assert_eq!(
            payment
                .machine_order_id
                .as_ref()
                .map(MachineOrderId::as_str),
            Some("20251124085950123ab12c-4f7e-kqzd")
        );
        assert_eq!(payment.amount.kopecks(), 18_000);
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
