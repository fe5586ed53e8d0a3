//! The payment port: an order's payment attempts, a payment by its id, the
//! device's payments still waiting to be paid.

use super::PgStore;
use crate::error::StoreError;
use crate::models::PaymentRow;
use crate::prepared::Prepared;
use crate::schema::payments;
use async_trait::async_trait;
use coffee_domain::ports::{PaymentRepository, RepositoryError};
use coffee_domain::{DeviceUuid, OrderId, Payment, PaymentId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

#[async_trait]
impl PaymentRepository for PgStore {
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>, RepositoryError> {
        find_one!(
            self,
            payments::table
                .filter(payments::order_id.eq(order.as_uuid()))
                .order((payments::created_at.desc(), payments::id.desc())),
            PaymentRow
        )
    }

    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError> {
        find_one!(self, payments::table.find(id.as_uuid()), PaymentRow)
    }

    async fn attempts_of(&self, order: OrderId) -> Result<Vec<Payment>, RepositoryError> {
        find_all!(
            self,
            payments::table
                .filter(payments::order_id.eq(order.as_uuid()))
                .order((payments::created_at, payments::id)),
            PaymentRow
        )
    }

    async fn pending_on_device(&self, device: &DeviceUuid) -> Result<usize, RepositoryError> {
        self.run(async |conn| {
            // `payments.device_uuid` is the order's, copied by the insert trigger. The state
            // is written into the SQL so that even a generic plan uses the partial index
            // `payments_pending_on_device`.
            let count: i64 = Prepared(
                payments::table
                    .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "payments.state = 'pending'",
                    ))
                    .filter(payments::device_uuid.eq(device.as_str()))
                    .count(),
            )
            .get_result(conn)
            .await?;
            usize::try_from(count).map_err(|_| StoreError::corrupt("negative count"))
        })
        .await
    }
}
