//! The payment port: an order's payment attempts, a payment by its id, the
//! device's payments still waiting to be paid.

use super::{MemoryStore, State};
use async_trait::async_trait;
use coffee_domain::ports::{PaymentRepository, RepositoryError};
use coffee_domain::{DeviceUuid, OrderId, Payment, PaymentId, PaymentState};

fn attempts<'a>(state: &'a State, order: &OrderId) -> impl Iterator<Item = &'a Payment> {
    state
        .payments_by_order
        .get(order)
        .into_iter()
        .flatten()
        .filter_map(|id| state.payments.get(id))
}

#[async_trait]
impl PaymentRepository for MemoryStore {
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>, RepositoryError> {
        let state = self.lock()?;
        Ok(attempts(&state, &order).last().cloned())
    }

    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError> {
        Ok(self.lock()?.payments.get(&id).cloned())
    }

    async fn attempts_of(&self, order: OrderId) -> Result<Vec<Payment>, RepositoryError> {
        let state = self.lock()?;
        Ok(attempts(&state, &order).cloned().collect())
    }

    async fn pending_on_device(&self, device: &DeviceUuid) -> Result<usize, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .payments
            .values()
            .filter(|p| p.state == PaymentState::Pending)
            .filter(|p| {
                state
                    .orders
                    .get(&p.order_id)
                    .is_some_and(|o| &o.device == device)
            })
            .count())
    }
}
