//! A QR scan becomes an order; an order gets its one payment.

use super::{Committed, Context};
use crate::decisions::orders::{new_order, OrderRequest};
use crate::decisions::payments::{
    accepts_new_payment, live_payment, payment_created, payment_rejected,
};
use crate::decisions::Snapshot;
use crate::order::{shown_text, UNNAMED_DRINK};
use crate::ports::{CreatePaymentRequest, MachineError, PaymentGatewayError, RepositoryError};
use crate::{
    idempotency, ContactError, Device, DeviceUuid, DrinkNo, IdError, MachineKind, MachineOrderId,
    Merchant, MerchantKey, Money, Order, OrderId, OrderStatus, Payment, PaymentId, PaymentState,
    ProviderKind, ReceiptContact, ReceiptPolicy, Size,
};
use std::sync::Arc;

/// The raw QR parameters, as the machine put them into the URL.
#[derive(Debug, Clone, Default)]
pub struct RawScan {
    pub device_uuid: Option<String>,
    pub drink_no: Option<String>,
    pub size: Option<String>,
    pub machine_order_id: Option<String>,
    pub drink_name: Option<String>,
}

/// A scan whose parameters all parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub device: DeviceUuid,
    pub drink_no: DrinkNo,
    pub size: Size,
    pub machine_order_id: MachineOrderId,
    pub drink_name: String,
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
    pub redirect_url: String,
}

/// Everything the order page and its JSON show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub order: Order,
    pub device: Option<Device>,
    pub receipt_policy: ReceiptPolicy,
    pub payment: Option<Payment>,
}

pub struct Checkout {
    ctx: Arc<Context>,
}

impl Checkout {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    /// Validates a scan, prices the drink server-side and creates the order — or returns the
    /// order already created for this device and machine order id.
    #[tracing::instrument(skip_all, fields(device = raw.device_uuid.as_deref().unwrap_or_default(), order.id))]
    pub async fn start_order(&self, raw: RawScan) -> Result<ScanOutcome, ScanError> {
        let scan = raw.parse()?;
        let ports = &self.ctx.ports;
        let device = ports
            .catalog
            .device(&scan.device)
            .await?
            .ok_or(ScanError::UnknownDevice)?;
        let merchant = ports
            .catalog
            .merchant(&device.merchant)
            .await?
            .ok_or_else(|| {
                ScanError::Misconfigured(format!("merchant {} missing", device.merchant))
            })?;
        let now = self.ctx.now();
        if !merchant.is_active_on(self.ctx.business_day()) {
            return Err(ScanError::MerchantExpired);
        }
        if let Some(existing) = ports
            .orders
            .find_by_machine_order_id(&device.device_uuid, &scan.machine_order_id)
            .await?
        {
            return Ok(self.outcome(&device, &merchant, existing));
        }
        self.check_online(&device).await?;
        let (drink_name, price) = self.price(&device, &scan).await?;
        let request = OrderRequest {
            id: OrderId::from_uuid(ports.ids.new_uuid()),
            machine_order_id: scan.machine_order_id,
            device: device.device_uuid.clone(),
            merchant: merchant.key.clone(),
            drink_no: scan.drink_no,
            drink_name,
            size: scan.size,
            price,
        };
        let (order, created) = new_order(request, now, &self.ctx.settings);
        let (order, inserted) = ports.orders.insert_or_get(order).await?;
        tracing::Span::current().record("order.id", tracing::field::display(order.id));
        if inserted {
            ports.orders.record(vec![created]).await?;
            tracing::info!(order.id = %order.id, device = %order.device, price = order.price.kopecks(), "order created");
        }
        Ok(self.outcome(&device, &merchant, order))
    }

    fn outcome(&self, device: &Device, merchant: &Merchant, order: Order) -> ScanOutcome {
        match (device.provider, &device.redirect_url) {
            (ProviderKind::Custom, Some(url)) => ScanOutcome::External {
                order,
                redirect_url: url.clone(),
                merchant: merchant.key.clone(),
            },
            _ => ScanOutcome::Order(order),
        }
    }

    async fn check_online(&self, device: &Device) -> Result<(), ScanError> {
        if device.test {
            return Ok(());
        }
        let gateway = self.ctx.machine_gateway(device.machine).ok_or_else(|| {
            ScanError::Misconfigured(format!("no machine gateway {:?}", device.machine))
        })?;
        match gateway.last_heartbeat(device).await {
            Ok(Some(at)) if self.ctx.now() - at <= self.ctx.settings.device_online_threshold => {
                Ok(())
            }
            Ok(_) => Err(ScanError::DeviceOffline),
            Err(error) => Err(ScanError::HeartbeatCheckFailed(error.to_string())),
        }
    }

    /// Tmetr devices are priced by Tmetr; every other device by the local catalogue.
    async fn price(&self, device: &Device, scan: &Scan) -> Result<(String, Money), ScanError> {
        let local = self
            .ctx
            .ports
            .catalog
            .drink(&device.device_uuid, &scan.drink_no)
            .await?;
        match device.machine {
            MachineKind::Tmetr => {
                let gateway = self
                    .ctx
                    .machine_gateway(MachineKind::Tmetr)
                    .ok_or_else(|| {
                        ScanError::Misconfigured("no Tmetr gateway configured".into())
                    })?;
                let price = gateway
                    .price(device, &scan.drink_no, scan.size)
                    .await
                    .map_err(|e| match e {
                        MachineError::PriceUnknown => {
                            ScanError::PriceUnavailable("no price".into())
                        }
                        other => ScanError::PriceUnavailable(other.to_string()),
                    })?;
                if price.is_zero() {
                    return Err(ScanError::PriceUnavailable("zero price".into()));
                }
                // The QR's own text is never shown nor sent to a provider: anyone can print one.
                let name = local
                    .map(|d| shown_text(&d.name))
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| UNNAMED_DRINK.to_owned());
                Ok((name, price))
            }
            MachineKind::Simulated | MachineKind::Mqtt => {
                let drink = local.ok_or(ScanError::UnknownDrink)?;
                let price = drink.prices.get(scan.size).ok_or(ScanError::SizeNotSold)?;
                if price.is_zero() {
                    return Err(ScanError::PriceUnavailable("zero price".into()));
                }
                Ok((shown_text(&drink.name), price))
            }
        }
    }

    /// The order with what the page needs around it.
    pub async fn view(&self, order_id: OrderId) -> Result<Option<OrderView>, RepositoryError> {
        let ports = &self.ctx.ports;
        let Some(order) = ports.orders.get(order_id).await? else {
            return Ok(None);
        };
        let device = ports.catalog.device(&order.device).await?;
        let receipt_policy = ports
            .catalog
            .merchant(&order.merchant)
            .await?
            .map(|m| m.receipt)
            .unwrap_or(ReceiptPolicy::Off);
        let payment = ports.payments.for_order(order.id).await?;
        Ok(Some(OrderView {
            order,
            device,
            receipt_policy,
            payment,
        }))
    }

    /// Creates the order's payment at its provider, or returns the live one: a second call
    /// never creates a second payment.
    #[tracing::instrument(skip_all, fields(order.id = %request.order_id))]
    pub async fn initiate_payment(
        &self,
        request: PaymentRequest,
    ) -> Result<PaymentRedirect, InitiatePaymentError> {
        let ports = &self.ctx.ports;
        let order = ports
            .orders
            .get(request.order_id)
            .await?
            .ok_or(InitiatePaymentError::UnknownOrder)?;
        let now = self.ctx.now();
        if order.is_expired_at(now) && !order.status.is_terminal() {
            return Err(InitiatePaymentError::Expired);
        }
        if let Some(redirect) = self.live_payment(&order).await? {
            return Ok(redirect);
        }
        if !accepts_new_payment(&order) {
            return Err(InitiatePaymentError::NotPayable(order.status));
        }
        let device = ports.catalog.device(&order.device).await?.ok_or_else(|| {
            InitiatePaymentError::Misconfigured(format!("device {} missing", order.device))
        })?;
        let merchant = ports
            .catalog
            .merchant(&order.merchant)
            .await?
            .ok_or_else(|| {
                InitiatePaymentError::Misconfigured(format!("merchant {} missing", order.merchant))
            })?;
        let contact = receipt_contact(merchant.receipt, &request)?;
        // Each live payment is polled and can be paid: junk scans must not pile them up.
        let pending = ports.payments.pending_on_device(&order.device).await?;
        if pending >= self.ctx.settings.max_pending_payments_per_device {
            return Err(InitiatePaymentError::TooManyPendingPayments);
        }
        let attempt = ports.payments.attempts_of(order.id).await?.len() + 1;
        let gateway = self
            .ctx
            .payment_gateway(device.provider)
            .ok_or(InitiatePaymentError::ProviderNotConfigured(device.provider))?;
        let payment_id = PaymentId::from_uuid(ports.ids.new_uuid());
        let create = CreatePaymentRequest {
            payment_id,
            amount: order.price,
            capture: merchant.capture,
            description: description(&order.drink_name),
            return_url: request.return_url.clone(),
            receipt_contact: contact.clone(),
            idempotency_key: idempotency::create(order.id, attempt),
            order: order.clone(),
            merchant: merchant.clone(),
        };
        let created = match gateway.create_payment(&create).await {
            Ok(created) => created,
            Err(PaymentGatewayError::Rejected { code, message }) => {
                self.fail_rejected(&order, &format!("{code}: {message}"))
                    .await?;
                return Err(InitiatePaymentError::ProviderRejected(format!(
                    "{code}: {message}"
                )));
            }
            Err(other) => return Err(InitiatePaymentError::ProviderUnavailable(other.to_string())),
        };
        let now = self.ctx.now();
        let payment = Payment {
            id: payment_id,
            order_id: order.id,
            provider: device.provider,
            provider_payment_id: created.provider_payment_id,
            amount: order.price,
            capture: merchant.capture,
            state: PaymentState::Pending,
            confirmation_url: created.confirmation_url,
            idempotency_key: create.idempotency_key,
            refund_id: None,
            created_at: now,
            updated_at: now,
        };
        let committed = self
            .ctx
            .commit_retrying(order.id, |snapshot, now| {
                payment_created(snapshot, &payment, contact.clone(), now, &self.ctx.settings)
            })
            .await?;
        match committed {
            Committed::Applied { .. } => Ok(PaymentRedirect {
                payment_id: payment.id,
                redirect_url: payment.confirmation_url,
            }),
            // A concurrent call won; it carried the same idempotency key, so the provider
            // returned the same payment. Answer with the stored one.
            Committed::Duplicate { .. } | Committed::Ignored { .. } => {
                let order = ports
                    .orders
                    .get(order.id)
                    .await?
                    .ok_or(InitiatePaymentError::UnknownOrder)?;
                self.live_payment(&order)
                    .await?
                    .ok_or(InitiatePaymentError::NotPayable(order.status))
            }
        }
    }

    async fn live_payment(
        &self,
        order: &Order,
    ) -> Result<Option<PaymentRedirect>, RepositoryError> {
        let snapshot = Snapshot {
            payment: self.ctx.ports.payments.for_order(order.id).await?,
            order: order.clone(),
        };
        Ok(live_payment(&snapshot).map(|p| PaymentRedirect {
            payment_id: p.id,
            redirect_url: p.confirmation_url.clone(),
        }))
    }

    async fn fail_rejected(&self, order: &Order, why: &str) -> Result<(), RepositoryError> {
        self.ctx
            .commit_retrying(order.id, |snapshot, now| {
                payment_rejected(snapshot, why, now)
            })
            .await?;
        Ok(())
    }
}

fn receipt_contact(
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
