//! What we send YooKassa: the request bodies, built from the domain's requests and the
//! merchant's account, with amounts as exact decimal strings and the 54-FZ receipt.

use crate::account::YookassaAccount;
use coffee_domain::ports::CreatePaymentRequest;
use coffee_domain::{CaptureMode, Money, ReceiptContact};
use serde::Serialize;

/// Longest `description` YooKassa accepts, for the payment and for a receipt item (54-FZ tag
/// 1030).
pub const MAX_DESCRIPTION_CHARS: usize = 128;
/// Receipt item quantity: one drink, as the decimal string of the documented examples.
pub const RECEIPT_QUANTITY: &str = "1.00";
/// 54-FZ tag 1212: a physical good (unless the drink's receipt data says otherwise).
pub const PAYMENT_SUBJECT: &str = "commodity";
/// 54-FZ tag 1214: paid in full, goods handed over at once (unless the drink's receipt data
/// says otherwise).
pub const PAYMENT_MODE: &str = "full_payment";

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
    payment_subject: String,
    payment_mode: String,
    /// Tag 2108, only when the drink states one.
    #[serde(skip_serializing_if = "Option::is_none")]
    measure: Option<String>,
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
        // The drink's own receipt data wins over the shop's defaults, field by field.
        let drink = &request.drink_receipt;
        ReceiptBody {
            customer,
            items: vec![ReceiptItemBody {
                description: item_description,
                quantity: RECEIPT_QUANTITY,
                amount: request.amount.into(),
                vat_code: drink.vat_code.unwrap_or(account.vat_code),
                payment_subject: drink
                    .payment_subject
                    .clone()
                    .unwrap_or_else(|| PAYMENT_SUBJECT.to_owned()),
                payment_mode: drink
                    .payment_mode
                    .clone()
                    .unwrap_or_else(|| PAYMENT_MODE.to_owned()),
                measure: drink.measure.clone(),
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
