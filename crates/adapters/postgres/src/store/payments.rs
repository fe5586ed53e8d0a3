//! The payment port: an order's payment, a payment by its provider id.

use super::PgStore;
use crate::codes::Code;
use crate::models::PaymentRow;
use crate::schema::payments;
use async_trait::async_trait;
use coffee_domain::ports::{PaymentRepository, RepositoryError};
use coffee_domain::{OrderId, Payment, ProviderKind};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

#[async_trait]
impl PaymentRepository for PgStore {
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>, RepositoryError> {
        find_one!(
            self,
            payments::table.filter(payments::order_id.eq(order.as_uuid())),
            PaymentRow
        )
    }

    async fn by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, RepositoryError> {
        find_one!(
            self,
            payments::table
                .filter(payments::provider.eq(provider.code()))
                .filter(payments::provider_payment_id.eq(provider_payment_id)),
            PaymentRow
        )
    }
}
