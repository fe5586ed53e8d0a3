//! Waiting for an order to change: the order page asks for its status and, instead of asking
//! again and again, may wait (`GET /v1/order-status/{id}?status=…&wait=…`) until the order
//! leaves the status it knows. Every change this process commits rings the order's bell;
//! a change another replica commits is seen at the next re-read, within a second.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{OrderChange, OrderRepository, RepositoryError};
use coffee_domain::{
    DeviceUuid, HistoryEntry, MachineOrderId, Order, OrderId, Payment, PaymentId, ProviderKind,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use tokio::sync::Notify;

/// One bell per order someone is waiting on; none for the others.
#[derive(Default)]
pub struct OrderBells {
    bells: Mutex<Bells>,
}

#[derive(Default)]
struct Bells {
    by_order: HashMap<OrderId, Weak<Notify>>,
    /// When the map reaches this size, bells nobody holds any more are dropped.
    prune_at: usize,
}

impl OrderBells {
    /// The order's bell, shared by everyone waiting on it while they hold it.
    pub fn bell(&self, order: OrderId) -> Arc<Notify> {
        let mut bells = self.bells.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bell) = bells.by_order.get(&order).and_then(Weak::upgrade) {
            return bell;
        }
        if bells.by_order.len() >= bells.prune_at {
            bells.by_order.retain(|_, bell| bell.strong_count() > 0);
            bells.prune_at = (bells.by_order.len() * 2).max(1024);
        }
        let bell = Arc::new(Notify::new());
        bells.by_order.insert(order, Arc::downgrade(&bell));
        bell
    }

    /// Wakes everyone waiting on the order now.
    pub fn ring(&self, order: OrderId) {
        let bell = self
            .bells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_order
            .get(&order)
            .and_then(Weak::upgrade);
        if let Some(bell) = bell {
            bell.notify_waiters();
        }
    }
}

/// The order store, ringing an order's bell after every change committed to it.
pub struct RingingOrders {
    inner: Arc<dyn OrderRepository>,
    bells: Arc<OrderBells>,
}

impl RingingOrders {
    pub fn new(inner: Arc<dyn OrderRepository>, bells: Arc<OrderBells>) -> Self {
        Self { inner, bells }
    }
}

#[async_trait]
impl OrderRepository for RingingOrders {
    async fn insert_or_get(
        &self,
        order: Order,
        history: Vec<HistoryEntry>,
    ) -> Result<(Order, bool), RepositoryError> {
        self.inner.insert_or_get(order, history).await
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        self.inner.get(id).await
    }

    async fn with_payment(
        &self,
        id: OrderId,
        payment: Option<PaymentId>,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError> {
        self.inner.with_payment(id, payment).await
    }

    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        self.inner
            .find_by_machine_order_id(device, machine_order_id)
            .await
    }

    async fn with_payment_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError> {
        self.inner
            .with_payment_by_machine_order_id(device, machine_order_id)
            .await
    }

    async fn with_payment_by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<(Order, Payment)>, RepositoryError> {
        self.inner
            .with_payment_by_provider_id(provider, provider_payment_id)
            .await
    }

    async fn ids_by_machine_order_id(
        &self,
        machine_order_id: &MachineOrderId,
        limit: usize,
    ) -> Result<Vec<OrderId>, RepositoryError> {
        self.inner
            .ids_by_machine_order_id(machine_order_id, limit)
            .await
    }

    async fn apply(&self, change: OrderChange) -> Result<(), RepositoryError> {
        let order = change.order_id;
        self.inner.apply(change).await?;
        self.bells.ring(order);
        Ok(())
    }

    async fn record(&self, entries: Vec<HistoryEntry>) -> Result<(), RepositoryError> {
        self.inner.record(entries).await
    }

    async fn history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError> {
        self.inner.history(id).await
    }

    async fn needing_attention(&self, limit: usize) -> Result<Vec<Order>, RepositoryError> {
        self.inner.needing_attention(limit).await
    }

    async fn count_needing_attention(&self) -> Result<u64, RepositoryError> {
        self.inner.count_needing_attention().await
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, RepositoryError> {
        self.inner.due_for_expiry(now, limit).await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_ring_wakes_those_waiting_on_that_order_only() {
        let bells = OrderBells::default();
        let (watched, other) = (
            OrderId::from_uuid(uuid::Uuid::from_u128(1)),
            OrderId::from_uuid(uuid::Uuid::from_u128(2)),
        );
        let bell = bells.bell(watched);
        let notified = bell.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        bells.ring(other);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), notified.as_mut())
                .await
                .is_err()
        );
        bells.ring(watched);
        assert!(tokio::time::timeout(Duration::from_millis(50), notified)
            .await
            .is_ok());
    }

    #[test]
    fn bells_nobody_holds_are_dropped() {
        let bells = OrderBells::default();
        for n in 0..5000u128 {
            drop(bells.bell(OrderId::from_uuid(uuid::Uuid::from_u128(n))));
        }
        let held = bells.bells.lock().unwrap().by_order.len();
        assert!(held <= 1024, "{held}");
    }
}
