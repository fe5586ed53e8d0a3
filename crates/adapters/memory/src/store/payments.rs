//! The payment port: an order's payment, a payment by its provider id.

use super::MemoryStore;
use async_trait::async_trait;
use coffee_domain::ports::{PaymentRepository, RepositoryError};
use coffee_domain::{OrderId, Payment, ProviderKind};

#[async_trait]
impl PaymentRepository for MemoryStore {
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .payment_by_order
            .get(&order)
            .and_then(|id| state.payments.get(id))
            .cloned())
    }

    async fn by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .payment_by_provider_id
            .get(&(provider, provider_payment_id.to_owned()))
            .and_then(|id| state.payments.get(id))
            .cloned())
    }
}
