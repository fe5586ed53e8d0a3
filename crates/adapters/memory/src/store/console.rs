//! The console's ports: users, sessions, API tokens, login attempts and the audit log.

use super::MemoryStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{
    AccountRepository, AuditLog, AuditQuery, ConsoleQueries, JobSummary, OrderCursor, OrderFilter,
    OrderListItem, RepositoryError, SalesBucket,
};
use coffee_domain::{
    ApiToken, AuditEntry, LoginAttempt, LoginFailures, Order, ReceiptContact, Role, Session, User,
    UserName,
};
use coffee_domain::{DeviceUuid, JobState, MerchantKey, OrderStatus, PaymentState};
use std::collections::BTreeMap;

impl super::State {
    fn check_merchant(&self, role: &Role) -> Result<(), RepositoryError> {
        match role.merchant() {
            Some(key) if !self.merchants.contains_key(key) => {
                Err(RepositoryError::NotFound(format!("merchant {key}")))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl AccountRepository for MemoryStore {
    async fn add_user(&self, user: User) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        if state.users.contains_key(&user.name) {
            return Err(RepositoryError::Duplicate(format!("user {}", user.name)));
        }
        state.check_merchant(&user.role)?;
        state.users.insert(user.name.clone(), user);
        Ok(())
    }

    async fn user(&self, name: &UserName) -> Result<Option<User>, RepositoryError> {
        Ok(self.lock()?.users.get(name).cloned())
    }

    async fn users(&self) -> Result<Vec<User>, RepositoryError> {
        Ok(self.lock()?.users.values().cloned().collect())
    }

    async fn set_password(&self, name: &UserName, hash: &str) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let user = state
            .users
            .get_mut(name)
            .ok_or_else(|| RepositoryError::NotFound(format!("user {name}")))?;
        hash.clone_into(&mut user.password_hash);
        state.sessions.retain(|_, session| &session.user != name);
        Ok(())
    }

    async fn disable_user(&self, name: &UserName) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let user = state
            .users
            .get_mut(name)
            .ok_or_else(|| RepositoryError::NotFound(format!("user {name}")))?;
        user.disabled = true;
        state.sessions.retain(|_, session| &session.user != name);
        Ok(())
    }

    async fn create_session(&self, session: Session) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        if !state.users.contains_key(&session.user) {
            return Err(RepositoryError::NotFound(format!("user {}", session.user)));
        }
        if state.sessions.contains_key(&session.token_hash) {
            return Err(RepositoryError::Duplicate("session token".into()));
        }
        state.sessions.insert(session.token_hash.clone(), session);
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>, RepositoryError> {
        Ok(self.lock()?.sessions.get(token_hash).cloned())
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        if let Some(session) = self.lock()?.sessions.get_mut(token_hash) {
            session.last_seen_at = at;
        }
        Ok(())
    }

    async fn end_session(&self, token_hash: &str) -> Result<(), RepositoryError> {
        self.lock()?.sessions.remove(token_hash);
        Ok(())
    }

    async fn add_api_token(&self, token: ApiToken) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        if state.api_tokens.contains_key(&token.token_hash)
            || state.api_tokens.values().any(|t| t.name == token.name)
        {
            return Err(RepositoryError::Duplicate(format!(
                "API token {}",
                token.name
            )));
        }
        state.check_merchant(&token.role)?;
        state.api_tokens.insert(token.token_hash.clone(), token);
        Ok(())
    }

    async fn api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, RepositoryError> {
        Ok(self.lock()?.api_tokens.get(token_hash).cloned())
    }

    async fn record_login_attempt(&self, attempt: LoginAttempt) -> Result<(), RepositoryError> {
        self.lock()?.login_attempts.push(attempt);
        Ok(())
    }

    async fn login_failures(
        &self,
        name: &str,
        ip: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, RepositoryError> {
        let state = self.lock()?;
        let failed = || {
            state
                .login_attempts
                .iter()
                .filter(move |a| !a.succeeded && a.at >= since)
        };
        Ok(LoginFailures {
            by_account: count(failed().filter(|a| a.name == name)),
            by_ip: match ip {
                Some(ip) => count(failed().filter(|a| a.ip.as_deref() == Some(ip))),
                None => 0,
            },
        })
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u64 {
    u64::try_from(items.count()).unwrap_or(u64::MAX)
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append(&self, entry: AuditEntry) -> Result<(), RepositoryError> {
        self.lock()?.audit.push(entry);
        Ok(())
    }

    async fn entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|e| query.order_id.is_none_or(|id| e.order_id == Some(id)))
            .filter(|e| {
                query
                    .device
                    .as_ref()
                    .is_none_or(|d| e.device.as_ref() == Some(d))
            })
            .filter(|e| query.actor.as_ref().is_none_or(|a| &e.actor == a))
            .take(query.limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ConsoleQueries for MemoryStore {
    async fn orders(
        &self,
        filter: &OrderFilter,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> Result<Vec<OrderListItem>, RepositoryError> {
        let state = self.lock()?;
        let search = filter.search.as_deref().map(str::trim);
        let matches_search = |order: &Order| {
            let Some(text) = search else {
                return true;
            };
            order.id.to_string() == text.to_ascii_lowercase()
                || order.machine_order_id.as_str() == text
                || order
                    .receipt_contact
                    .as_ref()
                    .is_some_and(|contact| match contact {
                        ReceiptContact::Email(value) | ReceiptContact::Phone(value) => {
                            value == text
                        }
                    })
                || state
                    .payments_by_order
                    .get(&order.id)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| state.payments.get(id))
                    .any(|payment| payment.provider_payment_id == text)
        };
        let mut found: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| filter.merchant.as_ref().is_none_or(|m| &o.merchant == m))
            .filter(|o| filter.status.is_none_or(|s| o.status == s))
            .filter(|o| filter.device.as_ref().is_none_or(|d| &o.device == d))
            .filter(|o| {
                filter.provider.is_none_or(|p| {
                    state
                        .devices
                        .get(&o.device)
                        .is_some_and(|device| device.provider == p)
                })
            })
            .filter(|o| filter.created_from.is_none_or(|t| o.created_at >= t))
            .filter(|o| filter.created_before.is_none_or(|t| o.created_at < t))
            .filter(|o| !filter.needs_operator || o.attention.is_some())
            .filter(|o| after.is_none_or(|c| (o.created_at, o.id) < (c.created_at, c.id)))
            .filter(|o| matches_search(o))
            .collect();
        found.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
        Ok(found
            .into_iter()
            .take(limit)
            .map(|order| OrderListItem {
                order: order.clone(),
                payment: state
                    .payments_by_order
                    .get(&order.id)
                    .and_then(|ids| ids.last())
                    .and_then(|id| state.payments.get(id))
                    .cloned(),
            })
            .collect())
    }

    async fn sales(
        &self,
        merchant: Option<&MerchantKey>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SalesBucket>, RepositoryError> {
        let state = self.lock()?;
        let mut buckets: BTreeMap<(DateTime<Utc>, MerchantKey, DeviceUuid), SalesBucket> =
            BTreeMap::new();
        for order in state.orders.values() {
            if order.created_at < from
                || order.created_at >= to
                || merchant.is_some_and(|m| &order.merchant != m)
            {
                continue;
            }
            let live = state
                .payments_by_order
                .get(&order.id)
                .into_iter()
                .flatten()
                .filter_map(|id| state.payments.get(id))
                .find(|p| p.state != PaymentState::Canceled)
                .map(|p| p.state);
            let hour = hour_of(order.created_at);
            let bucket = buckets
                .entry((hour, order.merchant.clone(), order.device.clone()))
                .or_insert_with(|| SalesBucket {
                    merchant: order.merchant.clone(),
                    device: order.device.clone(),
                    hour,
                    orders: 0,
                    paid: 0,
                    revenue_kopecks: 0,
                    refunds: 0,
                    failures: 0,
                });
            bucket.orders += 1;
            if live.is_some_and(|s| s != PaymentState::Pending) {
                bucket.paid += 1;
            }
            if order.status == OrderStatus::Successful && live == Some(PaymentState::Succeeded) {
                bucket.revenue_kopecks += order.price.kopecks();
            }
            if matches!(
                live,
                Some(PaymentState::RefundPending | PaymentState::Refunded)
            ) {
                bucket.refunds += 1;
            }
            if order.status == OrderStatus::Failed {
                bucket.failures += 1;
            }
        }
        Ok(buckets.into_values().collect())
    }

    async fn dead_jobs(
        &self,
        merchant: Option<&MerchantKey>,
        limit: usize,
    ) -> Result<Vec<JobSummary>, RepositoryError> {
        let state = self.lock()?;
        let mut dead: Vec<JobSummary> = state
            .jobs
            .iter()
            .map(|(id, row)| row.summary(*id))
            .filter(|job| job.state == JobState::Dead)
            .filter(|job| {
                merchant.is_none_or(|m| {
                    state
                        .orders
                        .get(&job.order_id)
                        .is_some_and(|o| &o.merchant == m)
                })
            })
            .collect();
        dead.sort_by_key(|job| std::cmp::Reverse((job.run_at, job.id)));
        dead.truncate(limit);
        Ok(dead)
    }
}

/// The start of the hour `at` is in.
fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    at.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}
