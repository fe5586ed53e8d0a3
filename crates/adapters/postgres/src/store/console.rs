//! The console's ports: users, sessions, API tokens, login attempts, the audit log, and the
//! order list with its filters (every one backed by an index of the console's migration).

use super::{limit_of, PgStore};
use crate::codes::Code;
use crate::error::StoreError;
use crate::models::{
    ApiTokenRow, AuditRow, JobSummaryRow, NewAuditRow, NewLoginAttemptRow, OrderRow, PaymentRow,
    SessionRow, UserRow,
};
use crate::schema::{
    console_api_tokens, console_audit, console_login_attempts, console_sessions, console_users,
    devices, jobs, orders, payments,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{
    AccountRepository, AuditLog, AuditQuery, ConsoleQueries, JobSummary, OrderCursor, OrderFilter,
    OrderListItem, RepositoryError, SalesBucket,
};
use coffee_domain::{
    ApiToken, AuditEntry, DeviceUuid, JobState, LoginAttempt, LoginFailures, MerchantKey, Session,
    User, UserName,
};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use std::collections::HashMap;
use uuid::Uuid;

fn count(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::corrupt("negative count"))
}

#[async_trait]
impl AccountRepository for PgStore {
    async fn add_user(&self, user: User) -> Result<(), RepositoryError> {
        let row = UserRow::from_domain(&user);
        self.run(async |conn| {
            diesel::insert_into(console_users::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn user(&self, name: &UserName) -> Result<Option<User>, RepositoryError> {
        find_one!(self, console_users::table.find(name.as_str()), UserRow)
    }

    async fn users(&self) -> Result<Vec<User>, RepositoryError> {
        find_all!(
            self,
            console_users::table.order(console_users::name),
            UserRow
        )
    }

    async fn set_password(&self, name: &UserName, hash: &str) -> Result<(), RepositoryError> {
        self.update_user_ending_sessions(name, console_users::password_hash.eq(hash))
            .await
    }

    async fn disable_user(&self, name: &UserName) -> Result<(), RepositoryError> {
        self.update_user_ending_sessions(name, console_users::disabled.eq(true))
            .await
    }

    async fn create_session(&self, session: Session) -> Result<(), RepositoryError> {
        let row = SessionRow::from_domain(&session);
        self.run(async |conn| {
            diesel::insert_into(console_sessions::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>, RepositoryError> {
        find_one!(self, console_sessions::table.find(token_hash), SessionRow)
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            diesel::update(console_sessions::table.find(token_hash))
                .set(console_sessions::last_seen_at.eq(at))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn end_session(&self, token_hash: &str) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            diesel::delete(console_sessions::table.find(token_hash))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn add_api_token(&self, token: ApiToken) -> Result<(), RepositoryError> {
        let row = ApiTokenRow::from_domain(&token);
        self.run(async |conn| {
            diesel::insert_into(console_api_tokens::table)
                .values(&row)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, RepositoryError> {
        find_one!(
            self,
            console_api_tokens::table.find(token_hash),
            ApiTokenRow
        )
    }

    async fn record_login_attempt(&self, attempt: LoginAttempt) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            diesel::insert_into(console_login_attempts::table)
                .values(NewLoginAttemptRow::from_domain(&attempt))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn login_failures(
        &self,
        name: &str,
        ip: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<LoginFailures, RepositoryError> {
        self.run(async |conn| {
            let failed = || {
                console_login_attempts::table
                    .filter(console_login_attempts::succeeded.eq(false))
                    .filter(console_login_attempts::at.ge(since))
            };
            let by_account: i64 = failed()
                .filter(console_login_attempts::name.eq(name))
                .count()
                .get_result(conn)
                .await?;
            let by_ip: i64 = match ip {
                Some(ip) => {
                    failed()
                        .filter(console_login_attempts::ip.eq(ip))
                        .count()
                        .get_result(conn)
                        .await?
                }
                None => 0,
            };
            Ok(LoginFailures {
                by_account: count(by_account)?,
                by_ip: count(by_ip)?,
            })
        })
        .await
    }
}

#[async_trait]
impl AuditLog for PgStore {
    async fn append(&self, entry: AuditEntry) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            diesel::insert_into(console_audit::table)
                .values(NewAuditRow::from_domain(&entry))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, RepositoryError> {
        self.run(async |conn| {
            let mut select = console_audit::table
                .order(console_audit::id.desc())
                .limit(limit_of(query.limit))
                .into_boxed();
            if let Some(order_id) = query.order_id {
                select = select.filter(console_audit::order_id.eq(order_id.as_uuid()));
            }
            if let Some(device) = &query.device {
                select = select.filter(console_audit::device_uuid.eq(device.as_str()));
            }
            if let Some(actor) = &query.actor {
                select = select.filter(console_audit::actor.eq(actor));
            }
            let rows = select.select(AuditRow::as_select()).load(conn).await?;
            rows.into_iter().map(AuditRow::into_domain).collect()
        })
        .await
    }
}

type OrderCondition = Box<
    dyn BoxableExpression<
        orders::table,
        Pg,
        SqlType = diesel::sql_types::Nullable<diesel::sql_types::Bool>,
    >,
>;

#[async_trait]
impl ConsoleQueries for PgStore {
    async fn orders(
        &self,
        filter: &OrderFilter,
        after: Option<OrderCursor>,
        limit: usize,
    ) -> Result<Vec<OrderListItem>, RepositoryError> {
        self.run(async |conn| {
            let mut query = orders::table.into_boxed::<Pg>();
            if let Some(merchant) = &filter.merchant {
                query = query.filter(orders::merchant_key.eq(merchant.as_str()));
            }
            if let Some(status) = filter.status {
                query = query.filter(orders::status.eq(status.code()));
            }
            if let Some(device) = &filter.device {
                query = query.filter(orders::device_uuid.eq(device.as_str()));
            }
            if let Some(provider) = filter.provider {
                query = query.filter(
                    orders::device_uuid.eq_any(
                        devices::table
                            .filter(devices::provider.eq(provider.code()))
                            .select(devices::device_uuid),
                    ),
                );
            }
            if let Some(from) = filter.created_from {
                query = query.filter(orders::created_at.ge(from));
            }
            if let Some(before) = filter.created_before {
                query = query.filter(orders::created_at.lt(before));
            }
            if filter.needs_operator {
                query = query.filter(orders::attention.is_not_null());
            }
            if let Some(text) = filter.search.as_deref().map(str::trim) {
                // The payments first (an index lookup), so the orders' condition is a plain
                // OR of indexed equalities.
                let paid_with: Vec<Uuid> = payments::table
                    .filter(payments::provider_payment_id.eq(text))
                    .select(payments::order_id)
                    .load(conn)
                    .await?;
                let mut matches: OrderCondition = Box::new(
                    orders::machine_order_id
                        .eq(text.to_owned())
                        .nullable()
                        .or(orders::receipt_contact_value.eq(text.to_owned()))
                        .or(orders::id.eq_any(paid_with).nullable()),
                );
                if let Ok(id) = Uuid::parse_str(text) {
                    matches = Box::new(matches.or(orders::id.eq(id).nullable()));
                }
                query = query.filter(matches);
            }
            if let Some(cursor) = after {
                let id = cursor.id.as_uuid();
                query = query.filter(
                    orders::created_at.le(cursor.created_at).and(
                        orders::created_at
                            .lt(cursor.created_at)
                            .or(orders::id.lt(id)),
                    ),
                );
            }
            let rows = query
                .order((orders::created_at.desc(), orders::id.desc()))
                .limit(limit_of(limit))
                .select(OrderRow::as_select())
                .load(conn)
                .await?;
            let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
            let mut latest: HashMap<Uuid, PaymentRow> = HashMap::new();
            let payment_rows = payments::table
                .filter(payments::order_id.eq_any(&ids))
                .order((payments::created_at, payments::id))
                .select(PaymentRow::as_select())
                .load(conn)
                .await?;
            for payment in payment_rows {
                latest.insert(payment.order_id, payment);
            }
            rows.into_iter()
                .map(|row| {
                    let payment = latest
                        .remove(&row.id)
                        .map(PaymentRow::into_domain)
                        .transpose()?;
                    Ok(OrderListItem {
                        order: row.into_domain()?,
                        payment,
                    })
                })
                .collect()
        })
        .await
    }

    async fn sales(
        &self,
        merchant: Option<&MerchantKey>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SalesBucket>, RepositoryError> {
        self.run(async |conn| {
            // One live (not canceled) payment per order at most: the unique index
            // `payments_one_live_per_order` says so. A payment is never older than its order,
            // so `p.created_at >= $1` loses none and lets `payments_console_recent` bound the
            // payments read to the window.
            let rows: Vec<SalesRow> = diesel::sql_query(
                "SELECT o.merchant_key, o.device_uuid, date_trunc('hour', o.created_at) AS hour, \
                        count(*) AS orders, \
                        count(*) FILTER (WHERE p.state IN ('authorized', 'succeeded', 'refund_pending', 'refunded')) AS paid, \
                        coalesce(sum(o.price_kopecks) FILTER (WHERE o.status = 'successful' AND p.state = 'succeeded'), 0)::int8 AS revenue, \
                        count(*) FILTER (WHERE p.state IN ('refund_pending', 'refunded')) AS refunds, \
                        count(*) FILTER (WHERE o.status = 'failed') AS failures \
                 FROM orders o LEFT JOIN payments p ON p.order_id = o.id AND p.state <> 'canceled' AND p.created_at >= $1 \
                 WHERE o.created_at >= $1 AND o.created_at < $2 AND ($3::text IS NULL OR o.merchant_key = $3) \
                 GROUP BY 1, 2, 3 ORDER BY 3, 1, 2",
            )
            .bind::<diesel::sql_types::Timestamptz, _>(from)
            .bind::<diesel::sql_types::Timestamptz, _>(to)
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(
                merchant.map(MerchantKey::as_str),
            )
            .load(conn)
            .await?;
            rows.into_iter().map(SalesRow::into_domain).collect()
        })
        .await
    }

    async fn dead_jobs(
        &self,
        merchant: Option<&MerchantKey>,
        limit: usize,
    ) -> Result<Vec<JobSummary>, RepositoryError> {
        self.run(async |conn| {
            let mut query = jobs::table
                .filter(jobs::state.eq(JobState::Dead.code()))
                .order((jobs::run_at.desc(), jobs::id.desc()))
                .limit(limit_of(limit))
                .into_boxed::<Pg>();
            if let Some(merchant) = merchant {
                query = query.filter(
                    jobs::order_id.eq_any(
                        orders::table
                            .filter(orders::merchant_key.eq(merchant.as_str()))
                            .select(orders::id),
                    ),
                );
            }
            let rows = query.select(JobSummaryRow::as_select()).load(conn).await?;
            rows.into_iter().map(JobSummaryRow::into_domain).collect()
        })
        .await
    }
}

#[derive(diesel::QueryableByName)]
struct SalesRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    merchant_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    device_uuid: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    hour: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    orders: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    paid: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    revenue: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    refunds: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    failures: i64,
}

impl SalesRow {
    fn into_domain(self) -> Result<SalesBucket, StoreError> {
        let stored = |e: coffee_domain::IdError| StoreError::corrupt(e.to_string());
        Ok(SalesBucket {
            merchant: MerchantKey::parse(&self.merchant_key).map_err(stored)?,
            device: DeviceUuid::parse(&self.device_uuid).map_err(stored)?,
            hour: self.hour,
            orders: count(self.orders)?,
            paid: count(self.paid)?,
            revenue_kopecks: self.revenue,
            refunds: count(self.refunds)?,
            failures: count(self.failures)?,
        })
    }
}

impl PgStore {
    /// Changes a user with `change` and ends all its sessions, in one transaction: a new
    /// password or a disabled account signs everyone out. `NotFound` for an unknown user.
    async fn update_user_ending_sessions<C>(
        &self,
        name: &UserName,
        change: C,
    ) -> Result<(), RepositoryError>
    where
        C: diesel::query_builder::AsChangeset<Target = console_users::table> + Send,
        C::Changeset: diesel::query_builder::QueryFragment<diesel::pg::Pg> + Send,
    {
        self.run(async |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let updated = diesel::update(console_users::table.find(name.as_str()))
                    .set((change, console_users::updated_at.eq(diesel::dsl::now)))
                    .execute(conn)
                    .await?;
                if updated == 0 {
                    return Err(RepositoryError::NotFound(format!("user {name}")).into());
                }
                diesel::delete(
                    console_sessions::table.filter(console_sessions::user_name.eq(name.as_str())),
                )
                .execute(conn)
                .await?;
                Ok(())
            })
            .await
        })
        .await
    }
}
