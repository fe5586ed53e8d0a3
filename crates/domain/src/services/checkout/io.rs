//! What crosses the checkout boundary: the QR's raw parameters and how they parse, the
//! customer's payment request, the outcomes and the errors, and the receipt-contact rules.

use crate::decisions::orders::Scan;
use crate::ports::RepositoryError;
use crate::{
    ContactError, Device, DeviceUuid, DrinkNo, IdError, MachineOrderId, MerchantKey, Order,
    OrderId, OrderStatus, Payment, PaymentId, PaymentMethod, ProviderKind, ReceiptContact,
    ReceiptPolicy, Size,
};

/// The raw QR parameters, as the machine put them into the URL.
#[derive(Debug, Clone, Default)]
pub struct RawScan {
    pub device_uuid: Option<String>,
    pub drink_no: Option<String>,
    pub size: Option<String>,
    pub machine_order_id: Option<String>,
    pub drink_name: Option<String>,
}

impl RawScan {
    /// Every parameter is required; `size` must be `0`, `1` or `2`.
    pub fn parse(self) -> Result<Scan, ScanError> {
        fn required(value: Option<String>, name: &'static str) -> Result<String, ScanError> {
            match value {
                Some(v) if !v.trim().is_empty() => Ok(v),
                _ => Err(ScanError::MissingParameter(name)),
            }
        }
        let invalid = |name: &'static str| move |_: IdError| ScanError::InvalidParameter(name);
        let device_uuid = required(self.device_uuid, "deviceUuid")?;
        let drink_no = required(self.drink_no, "drinkNo")?;
        let size = required(self.size, "size")?;
        let machine_order_id = required(self.machine_order_id, "uuid")?;
        let drink_name = required(self.drink_name, "drinkName")?;
        let drink_name = drink_name.trim();
        if drink_name.chars().count() > 255 || drink_name.chars().any(char::is_control) {
            return Err(ScanError::InvalidParameter("drinkName"));
        }
        Ok(Scan {
            device: DeviceUuid::parse(&device_uuid).map_err(invalid("deviceUuid"))?,
            drink_no: DrinkNo::parse(&drink_no).map_err(invalid("drinkNo"))?,
            size: Size::from_qr(&size).ok_or(ScanError::InvalidParameter("size"))?,
            machine_order_id: MachineOrderId::parse(&machine_order_id).map_err(invalid("uuid"))?,
            drink_name: drink_name.to_owned(),
        })
    }
}

/// Why a scan did not become an order.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    #[error("invalid parameter {0}")]
    InvalidParameter(&'static str),
    #[error("unknown device")]
    UnknownDevice,
    #[error("merchant subscription expired")]
    MerchantExpired,
    #[error("device is offline")]
    DeviceOffline,
    #[error("device status could not be checked: {0}")]
    HeartbeatCheckFailed(String),
    #[error("price unavailable: {0}")]
    PriceUnavailable(String),
    #[error("unknown drink")]
    UnknownDrink,
    #[error("size not sold")]
    SizeNotSold,
    #[error("fleet misconfigured: {0}")]
    Misconfigured(String),
    #[error(transparent)]
    Storage(#[from] RepositoryError),
}

/// Where the customer goes after a successful scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// Our order page.
    Order(Order),
    /// A `custom` device: its own system at `redirect_url` takes over, given the order's
    /// parameters (the web layer builds the address).
    External {
        order: Order,
        redirect_url: String,
        merchant: MerchantKey,
    },
}

/// The customer pressed «Оплатить», with what they typed for the receipt.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    pub order_id: OrderId,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Where the provider sends the customer back (the order page).
    pub return_url: String,
    /// Card (the default) or SBP, which only T-Bank merchants with `sbp = true` take.
    pub method: PaymentMethod,
}

/// Why a payment could not be started.
#[derive(Debug, thiserror::Error)]
pub enum InitiatePaymentError {
    #[error("unknown order")]
    UnknownOrder,
    #[error("order cannot be paid in status {0}")]
    NotPayable(OrderStatus),
    #[error("order expired")]
    Expired,
    #[error("a receipt email or phone is required")]
    ContactRequired,
    #[error(transparent)]
    InvalidContact(#[from] ContactError),
    #[error("payment method {} is not available for this machine", .0.as_str())]
    MethodUnavailable(PaymentMethod),
    #[error("payment provider {0:?} is not configured")]
    ProviderNotConfigured(ProviderKind),
    #[error("payment provider rejected the payment: {0}")]
    ProviderRejected(String),
    #[error("too many payments of this machine are waiting to be paid")]
    TooManyPendingPayments,
    #[error("payment provider unavailable: {0}")]
    ProviderUnavailable(String),
    #[error("fleet misconfigured: {0}")]
    Misconfigured(String),
    #[error(transparent)]
    Storage(#[from] RepositoryError),
}

/// Where to send the customer to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRedirect {
    pub payment_id: PaymentId,
    /// The provider's payment form, or for SBP the payload (the order page shows it as a QR).
    pub redirect_url: String,
    pub method: PaymentMethod,
}

/// Everything the order page and its JSON show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub order: Order,
    pub device: Option<Device>,
    pub receipt_policy: ReceiptPolicy,
    pub payment: Option<Payment>,
    /// The page offers «Оплатить через СБП» next to the card button.
    pub sbp_available: bool,
}

pub(super) fn receipt_contact(
    policy: ReceiptPolicy,
    request: &PaymentRequest,
) -> Result<Option<ReceiptContact>, InitiatePaymentError> {
    let email = request
        .email
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let phone = request
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let contact = match (email, phone) {
        (Some(email), _) => Some(ReceiptContact::email(email)?),
        (None, Some(phone)) => Some(ReceiptContact::phone(phone)?),
        (None, None) => None,
    };
    match (policy, contact) {
        (ReceiptPolicy::Off, _) => Ok(None),
        (ReceiptPolicy::Required, None) => Err(InitiatePaymentError::ContactRequired),
        (ReceiptPolicy::Optional | ReceiptPolicy::Required, contact) => Ok(contact),
    }
}

/// «Оплата напитка: <name>», cut to the 128 characters providers accept.
pub fn description(drink_name: &str) -> String {
    format!("Оплата напитка: {drink_name}")
        .chars()
        .take(128)
        .collect()
}
