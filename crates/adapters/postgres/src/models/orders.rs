//! Order rows, the order patch `apply` writes, and history lines.

use super::{id, money};
use crate::codes::Code;
use crate::error::StoreError;
use crate::schema::{order_history, orders};
use chrono::{DateTime, Utc};
use coffee_domain::{
    Attention, DeviceUuid, DrinkNo, FailureReason, HistoryEntry, HistorySource, MachineOrderId,
    MerchantKey, Order, OrderId, OrderStatus, ReceiptContact, Size,
};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Queryable, QueryableByName, Selectable, Insertable)]
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
    pub make_outcome_unknown: bool,
    pub make_resent: bool,
    pub attention: Option<String>,
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
            make_outcome_unknown: order.make_outcome_unknown,
            make_resent: order.make_resent,
            attention: order.attention.map(|a| a.code().to_owned()),
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
            make_outcome_unknown: self.make_outcome_unknown,
            make_resent: self.make_resent,
            attention: self
                .attention
                .as_deref()
                .map(Attention::decode)
                .transpose()?,
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
    /// `Some(None)` clears the reason, `None` leaves it.
    pub failure_reason: Option<Option<&'a str>>,
    pub dispense_assumed: Option<bool>,
    pub make_outcome_unknown: Option<bool>,
    pub make_resent: Option<bool>,
    pub attention: Option<&'a str>,
    pub receipt_contact_kind: Option<&'a str>,
    pub receipt_contact_value: Option<&'a str>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl OrderPatch<'_> {
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.failure_reason.is_none()
            && self.dispense_assumed.is_none()
            && self.make_outcome_unknown.is_none()
            && self.make_resent.is_none()
            && self.attention.is_none()
            && self.receipt_contact_kind.is_none()
            && self.receipt_contact_value.is_none()
            && self.updated_at.is_none()
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
