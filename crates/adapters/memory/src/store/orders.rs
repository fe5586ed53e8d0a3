//! The order port: orders, their compare-and-set changes (with the payment, provider event,
//! history lines and jobs each change carries) and the expiry sweep's query.

use super::jobs::JobRow;
use super::MemoryStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{OrderChange, OrderRepository, RepositoryError};
use coffee_domain::{
    DeviceUuid, HistoryEntry, JobId, MachineOrderId, Order, OrderId, OrderStatus, Payment,
    PaymentId, PaymentState, ProviderKind,
};
use uuid::Uuid;

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn insert_or_get(
        &self,
        order: Order,
        history: Vec<HistoryEntry>,
    ) -> Result<(Order, bool), RepositoryError> {
        let mut state = self.lock()?;
        let key = (order.device.clone(), order.machine_order_id.clone());
        if let Some(existing) = state
            .order_by_machine_id
            .get(&key)
            .and_then(|id| state.orders.get(id))
        {
            return Ok((existing.clone(), false));
        }
        state.order_by_machine_id.insert(key, order.id);
        state.orders.insert(order.id, order.clone());
        state.history.extend(history);
        Ok((order, true))
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        Ok(self.lock()?.orders.get(&id).cloned())
    }

    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .order_by_machine_id
            .get(&(device.clone(), machine_order_id.clone()))
            .and_then(|id| state.orders.get(id))
            .cloned())
    }

    async fn with_payment_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError> {
        let id = {
            let state = self.lock()?;
            state
                .order_by_machine_id
                .get(&(device.clone(), machine_order_id.clone()))
                .copied()
        };
        match id {
            Some(id) => self.with_payment(id, None).await,
            None => Ok(None),
        }
    }

    async fn with_payment_by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<(Order, Payment)>, RepositoryError> {
        let state = self.lock()?;
        let Some(payment) = state
            .payment_by_provider_id
            .get(&(provider, provider_payment_id.to_owned()))
            .and_then(|id| state.payments.get(id))
        else {
            return Ok(None);
        };
        let order = state.orders.get(&payment.order_id).ok_or_else(|| {
            RepositoryError::Unavailable(
                format!("payment {} has no order {}", payment.id, payment.order_id).into(),
            )
        })?;
        Ok(Some((order.clone(), payment.clone())))
    }

    async fn with_payment(
        &self,
        id: OrderId,
        payment: Option<PaymentId>,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError> {
        let state = self.lock()?;
        let Some(order) = state.orders.get(&id).cloned() else {
            return Ok(None);
        };
        let payment_id = match payment {
            Some(wanted) => Some(wanted),
            None => state
                .payments_by_order
                .get(&id)
                .and_then(|attempts| attempts.last().copied()),
        };
        let payment = payment_id
            .and_then(|p| state.payments.get(&p))
            .filter(|p| p.order_id == id)
            .cloned();
        Ok(Some((order, payment)))
    }

    async fn ids_by_machine_order_id(
        &self,
        machine_order_id: &MachineOrderId,
        limit: usize,
    ) -> Result<Vec<OrderId>, RepositoryError> {
        let state = self.lock()?;
        let mut found: Vec<&Order> = state
            .orders
            .values()
            .filter(|order| order.machine_order_id == *machine_order_id)
            .collect();
        found.sort_by_key(|order| (order.created_at, order.id));
        Ok(found
            .into_iter()
            .take(limit)
            .map(|order| order.id)
            .collect())
    }

    async fn apply(&self, change: OrderChange) -> Result<(), RepositoryError> {
        let due_at_once = change.jobs_due_at_once();
        let mut state = self.lock()?;
        let state = &mut *state;
        // Check every precondition before writing anything: all or nothing.
        let order = state
            .orders
            .get(&change.order_id)
            .ok_or_else(|| RepositoryError::NotFound(format!("order {}", change.order_id)))?;
        if let Some(status) = &change.status {
            if order.status != status.expected {
                return Err(RepositoryError::Conflict(format!(
                    "order {} is {}, expected {}",
                    order.id, order.status, status.expected
                )));
            }
        }
        if change.make_resent && order.make_resent {
            return Err(RepositoryError::Conflict(format!(
                "order {}: make command already resent",
                order.id
            )));
        }
        if let Some(new_payment) = &change.new_payment {
            let live = state
                .payments_by_order
                .get(&new_payment.order_id)
                .into_iter()
                .flatten()
                .filter_map(|id| state.payments.get(id))
                .any(|p| p.state != PaymentState::Canceled);
            if live {
                return Err(RepositoryError::Duplicate(format!(
                    "order {} already has a live payment",
                    new_payment.order_id
                )));
            }
            let provider_key = (
                new_payment.provider,
                new_payment.provider_payment_id.clone(),
            );
            if state.payment_by_provider_id.contains_key(&provider_key) {
                return Err(RepositoryError::Duplicate(format!(
                    "provider payment {} already stored",
                    new_payment.provider_payment_id
                )));
            }
        }
        if let Some(event) = &change.provider_event {
            if state
                .provider_events
                .contains(&(event.provider, event.event_key.clone()))
            {
                return Err(RepositoryError::Duplicate(format!(
                    "provider event {} already applied",
                    event.event_key
                )));
            }
        }
        if let Some(payment_change) = &change.payment_state {
            let payment = state
                .payments
                .get(&payment_change.payment_id)
                .ok_or_else(|| {
                    RepositoryError::NotFound(format!("payment {}", payment_change.payment_id))
                })?;
            if payment.state != payment_change.expected {
                return Err(RepositoryError::Conflict(format!(
                    "payment {} is {}, expected {}",
                    payment.id, payment.state, payment_change.expected
                )));
            }
        }
        let now = change.history.last().map(|h| h.at);
        if let Some(order) = state.orders.get_mut(&change.order_id) {
            if let Some(status) = &change.status {
                order.status = status.next;
                if status.failure_reason.is_some() {
                    order.failure_reason = status.failure_reason;
                } else if status.clears_failure_reason {
                    order.failure_reason = None;
                }
                order.dispense_assumed |= status.dispense_assumed;
            }
            order.make_outcome_unknown |= change.make_outcome_unknown;
            order.make_resent |= change.make_resent;
            if change.attention.is_some() {
                order.attention = change.attention;
            }
            if let Some(contact) = change.receipt_contact {
                order.receipt_contact = Some(contact);
            }
            if let Some(now) = now {
                order.updated_at = now;
            }
        }
        if let Some(payment) = change.new_payment {
            state
                .payments_by_order
                .entry(payment.order_id)
                .or_default()
                .push(payment.id);
            state.payment_by_provider_id.insert(
                (payment.provider, payment.provider_payment_id.clone()),
                payment.id,
            );
            state.payments.insert(payment.id, payment);
        }
        if let Some(payment_change) = change.payment_state {
            if let Some(payment) = state.payments.get_mut(&payment_change.payment_id) {
                payment.state = payment_change.next;
                if let Some(now) = now {
                    payment.updated_at = now;
                }
            }
            if payment_change.expected == PaymentState::Pending
                && payment_change.next != PaymentState::Pending
            {
                // Nothing left to ask the provider: its queued polls end here.
                for row in state.jobs.values_mut() {
                    row.end_if_queued_poll_of(payment_change.payment_id);
                }
            }
        }
        if let Some(refund) = change.refund_id {
            if let Some(payment) = state.payments.get_mut(&refund.payment_id) {
                payment.refund_id = Some(refund.refund_id);
            }
        }
        if let Some(event) = change.provider_event {
            state
                .provider_events
                .insert((event.provider, event.event_key));
        }
        state.history.extend(change.history);
        for job in &change.jobs {
            state.job_sequence += 1;
            let id = JobId::from_uuid(Uuid::from_u128(u128::from(state.job_sequence)));
            state.jobs.insert(id, JobRow::queued(job));
        }
        if change
            .status
            .as_ref()
            .is_some_and(|s| s.expected == OrderStatus::MakePending && s.next != s.expected)
        {
            // The machine's word (or the operator's) came: nothing left for a deadline.
            for row in state.jobs.values_mut() {
                row.end_if_queued_deadline_of(change.order_id);
            }
        }
        if let Some(claimed) = change.completes {
            if let Some(row) = state.jobs.get_mut(&claimed.id) {
                row.end_if_held_by(claimed.claim);
            }
        }
        self.jobs_committed.ring(due_at_once);
        Ok(())
    }

    async fn record(&self, entries: Vec<HistoryEntry>) -> Result<(), RepositoryError> {
        self.lock()?.history.extend(entries);
        Ok(())
    }

    async fn history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError> {
        Ok(self
            .lock()?
            .history
            .iter()
            .filter(|h| h.order_id == id)
            .cloned()
            .collect())
    }

    async fn count_needing_attention(&self) -> Result<u64, RepositoryError> {
        let state = self.lock()?;
        let flagged = state
            .orders
            .values()
            .filter(|o| o.attention.is_some())
            .count();
        Ok(u64::try_from(flagged).unwrap_or(u64::MAX))
    }

    async fn needing_attention(&self, limit: usize) -> Result<Vec<Order>, RepositoryError> {
        let state = self.lock()?;
        let mut flagged: Vec<Order> = state
            .orders
            .values()
            .filter(|o| o.attention.is_some())
            .cloned()
            .collect();
        flagged.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
        flagged.truncate(limit);
        Ok(flagged)
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, RepositoryError> {
        let state = self.lock()?;
        let mut due: Vec<Order> = state
            .orders
            .values()
            .filter(|o| {
                matches!(o.status, OrderStatus::Created | OrderStatus::Pending)
                    && o.expires_at <= now
            })
            .cloned()
            .collect();
        due.sort_by_key(|o| o.expires_at);
        due.truncate(limit);
        Ok(due)
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.lock().map(|_| ())
    }
}
