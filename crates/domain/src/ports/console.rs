//! The operator console's ports: accounts (users, sessions, API tokens, login attempts), the
//! audit log, and the reads across orders an operator needs. Hashing happens outside the domain: these ports store and compare digests.

use super::*;
use crate::{
    ApiToken, AuditEntry, DeviceUuid, LoginAttempt, LoginFailures, MerchantKey, Order, OrderId,
    OrderStatus, Payment, ProviderKind, Session, User, UserName,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Console users, their sessions, API tokens and login attempts.
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Adds a user. Errors: `Duplicate` when the name is taken; `NotFound` when a merchant
    /// role names an unknown merchant; `Unavailable`.
    async fn add_user(&self, user: User) -> Result<(), RepositoryError>;
    /// `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn user(&self, name: &UserName) -> Result<Option<User>, RepositoryError>;
    /// Every user, by name. Errors: `Unavailable`.
    async fn users(&self) -> Result<Vec<User>, RepositoryError>;
    /// Replaces the user's password hash and ends all their sessions. Errors: `NotFound`;
    /// `Unavailable`.
    async fn set_password(&self, name: &UserName, hash: &str) -> Result<(), RepositoryError>;
    /// Disables the user and ends all their sessions. Errors: `NotFound`; `Unavailable`.
    async fn disable_user(&self, name: &UserName) -> Result<(), RepositoryError>;

    /// Stores a new session. Errors: `Duplicate` for a token digest already used; `NotFound`
    /// for an unknown user; `Unavailable`.
    async fn create_session(&self, session: Session) -> Result<(), RepositoryError>;
    /// The session with this token digest, `Ok(None)` when unknown or ended. Errors:
    /// `Unavailable`.
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, RepositoryError>;
    /// Moves the session's last activity to `at`. An unknown session is no error. Errors:
    /// `Unavailable`.
    async fn touch_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;
    /// Ends the session (logout, idle timeout). An unknown session is no error. Errors:
    /// `Unavailable`.
    async fn end_session(&self, token_hash: &str) -> Result<(), RepositoryError>;

    /// Stores an API token. Errors: `Duplicate` for a token digest or name already used;
    /// `NotFound` when its merchant role names an unknown merchant; `Unavailable`.
    async fn add_api_token(&self, token: ApiToken) -> Result<(), RepositoryError>;
    /// The token with this digest, `Ok(None)` when unknown. Errors: `Unavailable`.
    async fn api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, RepositoryError>;

    /// Records a login attempt. Errors: `Unavailable`.
    async fn record_login_attempt(&self, attempt: LoginAttempt) -> Result<(), RepositoryError>;
    /// Failed attempts at or after `since` for the account `name` and from `ip` (none
    /// counted by address when `ip` is `None`). Errors: `Unavailable`.
    async fn login_failures(
        &self,
        name: &str,
        ip: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, RepositoryError>;
}

/// Which audit lines to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub order_id: Option<OrderId>,
    pub device: Option<DeviceUuid>,
    pub actor: Option<String>,
    pub limit: usize,
}

/// The audit log: append-only.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends a line. Errors: `Unavailable`.
    async fn append(&self, entry: AuditEntry) -> Result<(), RepositoryError>;
    /// Lines matching the query, newest first, at most `limit`. Errors: `Unavailable`.
    async fn entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, RepositoryError>;
}

/// Which orders an operator lists. Every field narrows the list; `merchant` is how a merchant
/// account is kept to its own orders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub merchant: Option<MerchantKey>,
    pub status: Option<OrderStatus>,
    pub device: Option<DeviceUuid>,
    /// The payment provider of the order's machine.
    pub provider: Option<ProviderKind>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// Only orders flagged for an operator.
    pub needs_operator: bool,
    /// One text matched exactly against our order id, the machine's order id (`uuid`), a
    /// provider payment id of any of the order's payments, or the receipt contact.
    pub search: Option<String>,
}

/// Where a page of orders continues: after this order in `(created_at, id)` descending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCursor {
    pub created_at: DateTime<Utc>,
    pub id: OrderId,
}

/// An order in a list, with its latest payment attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderListItem {
    pub order: Order,
    pub payment: Option<Payment>,
}

/// The console's reads: lists across orders, made for operators (indexes back every filter,
/// pages are keyset-paginated so the millionth order is as fast as the first).
#[async_trait]
pub trait ConsoleQueries: Send + Sync {
    /// Orders matching `filter`, newest first (`created_at`, then id, descending), strictly
    /// after `after` when given, at most `limit`. Errors: `Unavailable`.
    async fn orders(
        &self,
        filter: &OrderFilter,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> Result<Vec<OrderListItem>, RepositoryError>;

    /// Sales of the orders created in `[from, to)`, per merchant, device and hour (UTC, the
    /// hour's start), only `merchant`'s when given; ordered by hour, merchant, device.
    /// Errors: `Unavailable`.
    async fn sales(
        &self,
        merchant: Option<&MerchantKey>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SalesBucket>, RepositoryError>;

    /// Dead jobs, newest run time first, at most `limit`, only of `merchant`'s orders when
    /// given. Errors: `Unavailable`.
    async fn dead_jobs(
        &self,
        merchant: Option<&MerchantKey>,
        limit: usize,
    ) -> Result<Vec<JobSummary>, RepositoryError>;
}

/// Sales of one device in one hour. An order counts where it was created. `paid`: its money
/// was taken (held or captured, refunded since or not); `revenue_kopecks`: prices of
/// successful orders whose money is kept; `refunds`: orders whose money went or goes back by
/// refund; `failures`: orders that ended `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesBucket {
    pub merchant: MerchantKey,
    pub device: DeviceUuid,
    pub hour: DateTime<Utc>,
    pub orders: u64,
    pub paid: u64,
    pub revenue_kopecks: i64,
    pub refunds: u64,
    pub failures: u64,
}
