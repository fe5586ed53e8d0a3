//! Payment rows.

use super::money;
use crate::codes::Code;
use crate::error::StoreError;
use crate::schema::payments;
use chrono::{DateTime, Utc};
use coffee_domain::{CaptureMode, OrderId, Payment, PaymentId, PaymentState, ProviderKind};
use diesel::prelude::*;
use uuid::Uuid;

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
    pub refund_id: Option<String>,
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
            refund_id: payment.refund_id.clone(),
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
            refund_id: self.refund_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}
