//! A QR scan becomes an order; an order gets its one payment.

use super::{Committed, Context};
pub use crate::decisions::orders::Scan;
use crate::decisions::orders::{new_order, OrderRequest};
use crate::decisions::payments::{
    accepts_new_payment, live_payment, payment_created, payment_rejected,
};
use crate::decisions::Snapshot;
use crate::order::{shown_text, UNNAMED_DRINK};
use crate::ports::{CreatePaymentRequest, MachineError, PaymentGatewayError, RepositoryError};
use crate::{
    idempotency, CaptureMode, Device, MachineKind, MachineOrderId, Merchant, Money, Order, OrderId,
    Payment, PaymentId, PaymentMethod, PaymentState, ProviderKind, ReceiptPolicy,
};
use std::sync::Arc;

mod io;

pub use io::*;

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
        // A merchant or machine an operator switched off is refused like an expired one.
        if !merchant.is_active_on(self.ctx.business_day()) || merchant.disabled || device.disabled {
            return Err(ScanError::MerchantExpired);
        }
        // A new scan is the common case, so it costs one statement: the insert finds an order
        // scanned before. Only a refusal looks first whether this QR's order exists, which
        // the customer then sees even though the machine has gone offline since, or the
        // drink has been switched off.
        let (drink_name, price) = match self.check_and_price(&device, &scan).await {
            Ok(priced) => priced,
            Err(refusal) => {
                return match ports
                    .orders
                    .find_by_machine_order_id(&device.device_uuid, &scan.machine_order_id)
                    .await?
                {
                    Some(existing) => Ok(self.outcome(&device, &merchant, existing)),
                    None => Err(refusal),
                }
            }
        };
        let request = OrderRequest {
            id: OrderId::from_uuid(ports.ids.new_uuid()),
            scan,
            merchant: merchant.key.clone(),
            drink_name,
            price,
        };
        let (order, created) = new_order(request, now, &self.ctx.settings);
        let (order, inserted) = ports.orders.insert_or_get(order, vec![created]).await?;
        tracing::Span::current().record("order.id", tracing::field::display(order.id));
        if inserted {
            metrics::counter!("coffee_orders_created_total").increment(1);
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

    async fn check_and_price(
        &self,
        device: &Device,
        scan: &Scan,
    ) -> Result<(String, Money), ScanError> {
        self.check_online(device).await?;
        self.price(device, scan).await
    }

    async fn check_online(&self, device: &Device) -> Result<(), ScanError> {
        if device.test {
            return Ok(());
        }
        let gateway = match self.ctx.machine_gateway(device.machine) {
            Some(gateway) => gateway,
            // No broker configured: nothing can reach an MQTT machine, so it is offline to
            // the customer, as when its broker connection is down.
            None if matches!(device.machine, MachineKind::Mqtt | MachineKind::MqttLegacy) => {
                return Err(ScanError::DeviceOffline)
            }
            None => {
                return Err(ScanError::Misconfigured(format!(
                    "no machine gateway {:?}",
                    device.machine
                )))
            }
        };
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
        // A drink an operator switched off is not sold: as if the device did not have it.
        if local.as_ref().is_some_and(|d| d.disabled) {
            return Err(ScanError::UnknownDrink);
        }
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
            MachineKind::Simulated | MachineKind::Mqtt | MachineKind::MqttLegacy => {
                let drink = local.ok_or(ScanError::UnknownDrink)?;
                let price = drink.prices.get(scan.size).ok_or(ScanError::SizeNotSold)?;
                if price.is_zero() {
                    return Err(ScanError::PriceUnavailable("zero price".into()));
                }
                Ok((shown_text(&drink.name), price))
            }
        }
    }

    /// The order page a page address names: our order id, or — as the original system's
    /// pages did, so links it gave out keep working — the machine's order id, when exactly
    /// one order has it. Errors: `Unavailable`.
    pub async fn view_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<OrderView>, RepositoryError> {
        if let Ok(id) = OrderId::parse(reference) {
            if let Some(view) = self.view(id).await? {
                return Ok(Some(view));
            }
        }
        let Ok(machine_order_id) = MachineOrderId::parse(reference) else {
            return Ok(None);
        };
        let found = self
            .ctx
            .ports
            .orders
            .ids_by_machine_order_id(&machine_order_id, 2)
            .await?;
        match found.as_slice() {
            [only] => self.view(*only).await,
            // On several machines: the address does not say which.
            _ => Ok(None),
        }
    }

    /// The order with what the page needs around it.
    #[tracing::instrument(skip(self), fields(order.id = %order_id))]
    pub async fn view(&self, order_id: OrderId) -> Result<Option<OrderView>, RepositoryError> {
        let ports = &self.ctx.ports;
        // One read for the order and its latest attempt: the page asks this often.
        let Some((order, payment)) = ports.orders.with_payment(order_id, None).await? else {
            return Ok(None);
        };
        let device = ports.catalog.device(&order.device).await?;
        let merchant = ports.catalog.merchant(&order.merchant).await?;
        let receipt_policy = merchant
            .as_ref()
            .map(|m| m.receipt)
            .unwrap_or(ReceiptPolicy::Off);
        let sbp_available = match (&device, &merchant) {
            (Some(device), Some(merchant)) => {
                offers(device, merchant, order.price, PaymentMethod::Sbp)
            }
            _ => false,
        };
        Ok(Some(OrderView {
            order,
            device,
            receipt_policy,
            payment,
            sbp_available,
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
        // The order with its latest attempt, read once: what is decided below starts from it.
        let loaded = match self.ctx.snapshot(request.order_id, None).await {
            Ok(loaded) => loaded,
            Err(RepositoryError::NotFound(_)) => return Err(InitiatePaymentError::UnknownOrder),
            Err(error) => return Err(error.into()),
        };
        let order = loaded.order.clone();
        let now = self.ctx.now();
        if order.is_expired_at(now) && !order.status.is_terminal() {
            return Err(InitiatePaymentError::Expired);
        }
        if let Some(live) = live_payment(&loaded) {
            return Ok(redirect_to(live));
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
        if !offers(&device, &merchant, order.price, request.method) {
            return Err(InitiatePaymentError::MethodUnavailable(request.method));
        }
        let contact = receipt_contact(merchant.receipt, &request)?;
        // Each live payment is polled and can be paid: junk scans must not pile them up.
        let pending = ports.payments.pending_on_device(&order.device).await?;
        if pending >= self.ctx.settings.max_pending_payments_per_device {
            return Err(InitiatePaymentError::TooManyPendingPayments);
        }
        // No latest attempt means none at all: the first needs no count.
        let attempt = match loaded.payment {
            None => 1,
            Some(_) => ports.payments.attempts_of(order.id).await?.len() + 1,
        };
        let gateway = self
            .ctx
            .payment_gateway(device.provider)
            .ok_or(InitiatePaymentError::ProviderNotConfigured(device.provider))?;
        // The drink's own receipt data, when the catalogue has the drink (a Tmetr-priced one
        // may not be there): the merchant's defaults fill in the rest.
        let drink_receipt = ports
            .catalog
            .drink(&order.device, &order.drink_no)
            .await?
            .map(|drink| drink.receipt)
            .unwrap_or_default();
        let payment_id = PaymentId::from_uuid(ports.ids.new_uuid());
        // SBP has no holds: an SBP payment is taken at once, and refunded (not released) when
        // the drink fails, whatever the merchant's capture mode.
        let capture = match request.method {
            PaymentMethod::Sbp => CaptureMode::Immediate,
            PaymentMethod::Card => merchant.capture,
        };
        let create = CreatePaymentRequest {
            payment_id,
            amount: order.price,
            capture,
            method: request.method,
            description: description(&order.drink_name),
            return_url: request.return_url.clone(),
            receipt_contact: contact.clone(),
            drink_receipt,
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
            capture,
            state: PaymentState::Pending,
            confirmation_url: created.confirmation_url,
            idempotency_key: create.idempotency_key,
            refund_id: None,
            created_at: now,
            updated_at: now,
        };
        let committed = self
            .ctx
            .commit_retrying_from(loaded, None, |snapshot, now| {
                payment_created(snapshot, &payment, contact.clone(), now, &self.ctx.settings)
            })
            .await?;
        match committed {
            Committed::Applied { .. } => {
                metrics::counter!("coffee_payments_created_total", "provider" => payment.provider.as_str())
                    .increment(1);
                Ok(PaymentRedirect {
                    payment_id: payment.id,
                    method: payment.method(),
                    redirect_url: payment.confirmation_url,
                })
            }
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
        Ok(live_payment(&snapshot).map(redirect_to))
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

/// Where the customer goes to pay `payment`.
fn redirect_to(payment: &Payment) -> PaymentRedirect {
    PaymentRedirect {
        payment_id: payment.id,
        method: payment.method(),
        redirect_url: payment.confirmation_url.clone(),
    }
}

/// T-Bank takes no SBP payment under 10 ₽.
const SBP_MINIMUM_KOPECKS: i64 = 1_000;

/// Whether `device` takes `price` by `method`: cards everywhere; SBP only at T-Bank, only for a
/// merchant whose terminal has it switched on, and only from T-Bank's SBP minimum up.
fn offers(device: &Device, merchant: &Merchant, price: Money, method: PaymentMethod) -> bool {
    match method {
        PaymentMethod::Card => true,
        PaymentMethod::Sbp => {
            device.provider == ProviderKind::Tbank
                && merchant.tbank.as_ref().is_some_and(|tbank| tbank.sbp)
                && price.kopecks() >= SBP_MINIMUM_KOPECKS
        }
    }
}
