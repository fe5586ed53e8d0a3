//! Rows as stored, and their exact conversion to and from the domain's types.

use crate::codes::Code;
use crate::error::StoreError;
use crate::schema::{devices, drinks, jobs, merchants, order_history, orders, payments};
use chrono::{DateTime, NaiveDate, Utc};
use coffee_domain::ports::JobSummary;
use coffee_domain::{
    CaptureMode, Currency, DeadlinePolicy, Device, DeviceUuid, Drink, DrinkNo, FailureReason,
    HistoryEntry, HistorySource, IdError, JobId, JobKind, JobState, MachineKind, MachineOrderId,
    Merchant, MerchantKey, Money, Order, OrderId, OrderStatus, Payment, PaymentId, PaymentState,
    ProviderKind, ReceiptContact, ReceiptPolicy, SealedSecret, SimulatedOutcome, Simulation, Size,
    SizePrices, YookassaSettings,
};
use diesel::prelude::*;
use uuid::Uuid;

fn id<T>(parsed: Result<T, IdError>) -> Result<T, StoreError> {
    parsed.map_err(|e| StoreError::corrupt(format!("stored identifier refused: {e}")))
}

fn money(kopecks: i64, currency: &str) -> Result<Money, StoreError> {
    Currency::parse(currency)
        .and_then(|currency| Money::new(kopecks, currency))
        .map_err(|e| StoreError::corrupt(format!("stored amount refused: {e}")))
}

fn to_i64<T: TryInto<i64> + Copy + std::fmt::Display>(
    value: T,
    what: &str,
) -> Result<i64, StoreError> {
    value
        .try_into()
        .map_err(|_| StoreError::corrupt(format!("{what} {value} does not fit the schema")))
}

fn from_i64<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value)
        .map_err(|_| StoreError::corrupt(format!("stored {what} {value} is out of range")))
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = merchants, primary_key(key), check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct MerchantRow {
    pub key: String,
    pub name: String,
    pub contact_email: String,
    pub valid_until: NaiveDate,
    pub capture: String,
    pub receipt: String,
    pub yookassa_shop_id: Option<String>,
    pub yookassa_secret_key: Option<String>,
    pub yookassa_vat_code: Option<i16>,
    pub yookassa_tax_system_code: Option<i16>,
}

impl MerchantRow {
    pub fn from_domain(merchant: &Merchant) -> Self {
        Self {
            key: merchant.key.as_str().to_owned(),
            name: merchant.name.clone(),
            contact_email: merchant.contact_email.clone(),
            valid_until: merchant.valid_until,
            capture: merchant.capture.code().to_owned(),
            receipt: merchant.receipt.code().to_owned(),
            yookassa_shop_id: merchant.yookassa.as_ref().map(|y| y.shop_id.clone()),
            yookassa_secret_key: merchant
                .yookassa
                .as_ref()
                .map(|y| y.secret_key.as_str().to_owned()),
            yookassa_vat_code: merchant.yookassa.as_ref().map(|y| i16::from(y.vat_code)),
            yookassa_tax_system_code: merchant
                .yookassa
                .as_ref()
                .and_then(|y| y.tax_system_code)
                .map(i16::from),
        }
    }

    pub fn into_domain(self) -> Result<Merchant, StoreError> {
        Ok(Merchant {
            key: id(MerchantKey::parse(&self.key))?,
            name: self.name,
            contact_email: self.contact_email,
            valid_until: self.valid_until,
            capture: CaptureMode::decode(&self.capture)?,
            receipt: ReceiptPolicy::decode(&self.receipt)?,
            yookassa: match (
                self.yookassa_shop_id,
                self.yookassa_secret_key,
                self.yookassa_vat_code,
            ) {
                (Some(shop_id), Some(secret_key), Some(vat_code)) => Some(YookassaSettings {
                    shop_id,
                    secret_key: SealedSecret::new(secret_key),
                    vat_code: from_i64(i64::from(vat_code), "vat code")?,
                    tax_system_code: self
                        .yookassa_tax_system_code
                        .map(|code| from_i64(i64::from(code), "tax system code"))
                        .transpose()?,
                }),
                _ => None,
            },
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = devices, primary_key(device_uuid), check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct DeviceRow {
    pub device_uuid: String,
    pub merchant_key: String,
    pub location: String,
    pub provider: String,
    pub redirect_url: Option<String>,
    pub machine: String,
    pub test: bool,
    pub dispense_deadline_seconds: i64,
    pub on_dispense_deadline: String,
    pub simulation_outcome: String,
    pub simulation_delay_ms: i64,
    pub events_secret: Option<String>,
}

impl DeviceRow {
    pub fn from_domain(device: &Device) -> Result<Self, StoreError> {
        Ok(Self {
            device_uuid: device.device_uuid.as_str().to_owned(),
            merchant_key: device.merchant.as_str().to_owned(),
            location: device.location.clone(),
            provider: device.provider.code().to_owned(),
            redirect_url: device.redirect_url.clone(),
            machine: device.machine.code().to_owned(),
            test: device.test,
            dispense_deadline_seconds: i64::from(device.dispense_deadline_seconds),
            on_dispense_deadline: device.on_dispense_deadline.code().to_owned(),
            simulation_outcome: device.simulation.outcome.code().to_owned(),
            simulation_delay_ms: to_i64(device.simulation.delay_ms, "simulation delay_ms")?,
            events_secret: device.events_secret.as_ref().map(|s| s.as_str().to_owned()),
        })
    }

    pub fn into_domain(self) -> Result<Device, StoreError> {
        Ok(Device {
            device_uuid: id(DeviceUuid::parse(&self.device_uuid))?,
            merchant: id(MerchantKey::parse(&self.merchant_key))?,
            location: self.location,
            provider: ProviderKind::decode(&self.provider)?,
            redirect_url: self.redirect_url,
            machine: MachineKind::decode(&self.machine)?,
            test: self.test,
            dispense_deadline_seconds: from_i64(
                self.dispense_deadline_seconds,
                "dispense deadline",
            )?,
            on_dispense_deadline: DeadlinePolicy::decode(&self.on_dispense_deadline)?,
            simulation: Simulation {
                outcome: SimulatedOutcome::decode(&self.simulation_outcome)?,
                delay_ms: from_i64(self.simulation_delay_ms, "simulation delay")?,
            },
            events_secret: self.events_secret.map(SealedSecret::new),
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = drinks, primary_key(device_uuid, drink_no), check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct DrinkRow {
    pub device_uuid: String,
    pub drink_no: String,
    pub name: String,
    pub price_small: Option<i64>,
    pub price_medium: Option<i64>,
    pub price_big: Option<i64>,
    pub currency: String,
}

impl DrinkRow {
    pub fn from_domain(drink: &Drink) -> Self {
        let prices = drink.prices;
        // Only roubles exist; the column keeps the currency of every price of the drink.
        let currency = [prices.small, prices.medium, prices.big]
            .into_iter()
            .flatten()
            .map(|m| m.currency())
            .next()
            .unwrap_or(Currency::Rub);
        Self {
            device_uuid: drink.device.as_str().to_owned(),
            drink_no: drink.drink_no.as_str().to_owned(),
            name: drink.name.clone(),
            price_small: prices.small.map(Money::kopecks),
            price_medium: prices.medium.map(Money::kopecks),
            price_big: prices.big.map(Money::kopecks),
            currency: currency.code().to_owned(),
        }
    }

    pub fn into_domain(self) -> Result<Drink, StoreError> {
        let price = |kopecks: Option<i64>| kopecks.map(|k| money(k, &self.currency)).transpose();
        Ok(Drink {
            device: id(DeviceUuid::parse(&self.device_uuid))?,
            drink_no: id(DrinkNo::parse(&self.drink_no))?,
            prices: SizePrices {
                small: price(self.price_small)?,
                medium: price(self.price_medium)?,
                big: price(self.price_big)?,
            },
            name: self.name,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg))]
pub(crate) struct OrderRow {
    pub id: Uuid,
    pub machine_order_id: String,
    pub device_uuid: String,
    pub merchant_key: String,
    pub drink_no: String,
    pub drink_name: String,
    pub size: String,
    pub price_kopecks: i64,
    pub currency: String,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub failure_reason: Option<String>,
    pub receipt_contact_kind: Option<String>,
    pub receipt_contact_value: Option<String>,
    pub dispense_assumed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn contact_columns(contact: &ReceiptContact) -> (&'static str, &str) {
    match contact {
        ReceiptContact::Email(email) => ("email", email),
        ReceiptContact::Phone(phone) => ("phone", phone),
    }
}

impl OrderRow {
    pub fn from_domain(order: &Order) -> Self {
        let contact = order.receipt_contact.as_ref().map(contact_columns);
        Self {
            id: order.id.as_uuid(),
            machine_order_id: order.machine_order_id.as_str().to_owned(),
            device_uuid: order.device.as_str().to_owned(),
            merchant_key: order.merchant.as_str().to_owned(),
            drink_no: order.drink_no.as_str().to_owned(),
            drink_name: order.drink_name.clone(),
            size: order.size.code().to_owned(),
            price_kopecks: order.price.kopecks(),
            currency: order.price.currency().code().to_owned(),
            status: order.status.code().to_owned(),
            expires_at: order.expires_at,
            failure_reason: order.failure_reason.map(|r| r.code().to_owned()),
            receipt_contact_kind: contact.map(|(kind, _)| kind.to_owned()),
            receipt_contact_value: contact.map(|(_, value)| value.to_owned()),
            dispense_assumed: order.dispense_assumed,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }

    pub fn into_domain(self) -> Result<Order, StoreError> {
        let receipt_contact = match (
            self.receipt_contact_kind.as_deref(),
            self.receipt_contact_value,
        ) {
            (None, None) => None,
            (Some("email"), Some(email)) => Some(ReceiptContact::Email(email)),
            (Some("phone"), Some(phone)) => Some(ReceiptContact::Phone(phone)),
            (kind, _) => {
                return Err(StoreError::corrupt(format!(
                    "receipt contact of kind {kind:?}"
                )))
            }
        };
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            machine_order_id: id(MachineOrderId::parse(&self.machine_order_id))?,
            device: id(DeviceUuid::parse(&self.device_uuid))?,
            merchant: id(MerchantKey::parse(&self.merchant_key))?,
            drink_no: id(DrinkNo::parse(&self.drink_no))?,
            drink_name: self.drink_name,
            size: Size::decode(&self.size)?,
            price: money(self.price_kopecks, &self.currency)?,
            status: OrderStatus::decode(&self.status)?,
            expires_at: self.expires_at,
            failure_reason: self
                .failure_reason
                .as_deref()
                .map(FailureReason::decode)
                .transpose()?,
            receipt_contact,
            dispense_assumed: self.dispense_assumed,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// What [`OrderRepository::apply`](coffee_domain::ports::OrderRepository::apply) changes on
/// the order row; `None` fields are left as they are.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = orders)]
pub(crate) struct OrderPatch<'a> {
    pub status: Option<&'a str>,
    pub failure_reason: Option<&'a str>,
    pub dispense_assumed: Option<bool>,
    pub receipt_contact_kind: Option<&'a str>,
    pub receipt_contact_value: Option<&'a str>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl OrderPatch<'_> {
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.failure_reason.is_none()
            && self.dispense_assumed.is_none()
            && self.receipt_contact_kind.is_none()
            && self.receipt_contact_value.is_none()
            && self.updated_at.is_none()
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
pub(crate) struct PaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub provider: String,
    pub provider_payment_id: String,
    pub amount_kopecks: i64,
    pub currency: String,
    pub capture: String,
    pub state: String,
    pub confirmation_url: String,
    pub idempotency_key: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PaymentRow {
    pub fn from_domain(payment: &Payment) -> Self {
        Self {
            id: payment.id.as_uuid(),
            order_id: payment.order_id.as_uuid(),
            provider: payment.provider.code().to_owned(),
            provider_payment_id: payment.provider_payment_id.clone(),
            amount_kopecks: payment.amount.kopecks(),
            currency: payment.amount.currency().code().to_owned(),
            capture: payment.capture.code().to_owned(),
            state: payment.state.code().to_owned(),
            confirmation_url: payment.confirmation_url.clone(),
            idempotency_key: payment.idempotency_key.clone(),
            created_at: payment.created_at,
            updated_at: payment.updated_at,
        }
    }

    pub fn into_domain(self) -> Result<Payment, StoreError> {
        Ok(Payment {
            id: PaymentId::from_uuid(self.id),
            order_id: OrderId::from_uuid(self.order_id),
            provider: ProviderKind::decode(&self.provider)?,
            provider_payment_id: self.provider_payment_id,
            amount: money(self.amount_kopecks, &self.currency)?,
            capture: CaptureMode::decode(&self.capture)?,
            state: PaymentState::decode(&self.state)?,
            confirmation_url: self.confirmation_url,
            idempotency_key: self.idempotency_key,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_history, check_for_backend(diesel::pg::Pg))]
pub(crate) struct HistoryRow {
    pub order_id: Uuid,
    pub at: DateTime<Utc>,
    pub source: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub message: String,
}

impl HistoryRow {
    pub fn from_domain(entry: &HistoryEntry) -> Self {
        Self {
            order_id: entry.order_id.as_uuid(),
            at: entry.at,
            source: entry.source.code().to_owned(),
            from_status: entry.from.map(|s| s.code().to_owned()),
            to_status: entry.to.map(|s| s.code().to_owned()),
            message: entry.message.clone(),
        }
    }

    pub fn into_domain(self) -> Result<HistoryEntry, StoreError> {
        Ok(HistoryEntry {
            order_id: OrderId::from_uuid(self.order_id),
            at: self.at,
            source: HistorySource::decode(&self.source)?,
            from: self
                .from_status
                .as_deref()
                .map(OrderStatus::decode)
                .transpose()?,
            to: self
                .to_status
                .as_deref()
                .map(OrderStatus::decode)
                .transpose()?,
            message: self.message,
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct NewJobRow {
    pub id: Uuid,
    pub kind: String,
    pub order_id: Uuid,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
}

impl NewJobRow {
    pub fn from_domain(job: &coffee_domain::NewJob) -> Result<Self, StoreError> {
        Ok(Self {
            id: Uuid::new_v4(),
            kind: job.kind.code().to_owned(),
            order_id: job.order_id.as_uuid(),
            state: JobState::Queued.code().to_owned(),
            attempts: 0,
            max_attempts: i32::try_from(job.kind.max_attempts())
                .map_err(|_| StoreError::corrupt("max attempts does not fit the schema"))?,
            run_at: job.run_at,
        })
    }
}

/// A job as a claim hands it out.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ClaimedJobRow {
    pub id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub order_id: Uuid,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub claim_token: Option<Uuid>,
}

impl ClaimedJobRow {
    pub fn into_domain(self) -> Result<coffee_domain::Job, StoreError> {
        Ok(coffee_domain::Job {
            id: JobId::from_uuid(self.id),
            kind: JobKind::decode(&self.kind)?,
            order_id: OrderId::from_uuid(self.order_id),
            attempts: from_i64(i64::from(self.attempts), "job attempts")?,
            max_attempts: from_i64(i64::from(self.max_attempts), "job max attempts")?,
            claim: self
                .claim_token
                .ok_or_else(|| StoreError::corrupt("claimed job without a claim token"))?,
        })
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct JobSummaryRow {
    pub id: Uuid,
    pub kind: String,
    pub order_id: Uuid,
    pub state: String,
    pub attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

impl JobSummaryRow {
    pub fn into_domain(self) -> Result<JobSummary, StoreError> {
        Ok(JobSummary {
            id: JobId::from_uuid(self.id),
            kind: JobKind::decode(&self.kind)?,
            order_id: OrderId::from_uuid(self.order_id),
            state: JobState::decode(&self.state)?,
            attempts: from_i64(i64::from(self.attempts), "job attempts")?,
            run_at: self.run_at,
            last_error: self.last_error,
        })
    }
}
