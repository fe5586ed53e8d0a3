//! The order port: orders and their compare-and-set changes, each one transaction with the
//! payment, provider event, history lines and jobs it carries; the expiry sweep's query.

use super::{limit_of, PgStore};
use crate::codes::Code;
use crate::error::StoreError;
use crate::models::{contact_columns, HistoryRow, NewJobRow, OrderPatch, OrderRow, PaymentRow};
use crate::schema::{jobs, order_history, orders, payments, provider_events};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{OrderChange, OrderRepository, RepositoryError};
use coffee_domain::{
    DeviceUuid, HistoryEntry, JobState, MachineOrderId, Order, OrderId, OrderStatus, Payment,
    PaymentId, PaymentState,
};
use diesel::dsl::sql;
use diesel::dsl::{exists, select};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Step 1 of `apply`: the order's compare-and-set (or, with nothing to set, its existence).
async fn apply_to_order(
    conn: &mut AsyncPgConnection,
    change: &OrderChange,
) -> Result<(), StoreError> {
    let order_id = change.order_id.as_uuid();
    let contact = change.receipt_contact.as_ref().map(contact_columns);
    let status = change.status.as_ref();
    let patch = OrderPatch {
        status: status.map(|s| s.next.code()),
        failure_reason: status.and_then(|s| match s.failure_reason {
            Some(reason) => Some(Some(reason.code())),
            None if s.clears_failure_reason => Some(None),
            None => None,
        }),
        dispense_assumed: status.filter(|s| s.dispense_assumed).map(|_| true),
        make_outcome_unknown: change.make_outcome_unknown.then_some(true),
        make_resent: change.make_resent.then_some(true),
        attention: change.attention.map(Code::code),
        receipt_contact_kind: contact.map(|(kind, _)| kind),
        receipt_contact_value: contact.map(|(_, value)| value),
        updated_at: change.history.last().map(|h| h.at),
    };
    let touched = if patch.is_empty() {
        orders::table
            .find(order_id)
            .select(orders::id)
            .for_update()
            .execute(conn)
            .await?
    } else if let Some(status) = status {
        // The resend mark is a compare-and-set too: it is set once.
        let not_resent_unless_resending = orders::make_resent
            .eq(false)
            .or((!change.make_resent).into_sql::<diesel::sql_types::Bool>());
        diesel::update(
            orders::table
                .find(order_id)
                .filter(orders::status.eq(status.expected.code()))
                .filter(not_resent_unless_resending),
        )
        .set(&patch)
        .execute(conn)
        .await?
    } else {
        diesel::update(orders::table.find(order_id))
            .set(&patch)
            .execute(conn)
            .await?
    };
    if touched > 0 {
        return Ok(());
    }
    let current: Option<String> = orders::table
        .find(order_id)
        .select(orders::status)
        .first(conn)
        .await
        .optional()?;
    match (current, status) {
        (None, _) => Err(RepositoryError::NotFound(format!("order {}", change.order_id)).into()),
        (Some(current), Some(status)) if current == status.expected.code() => {
            Err(RepositoryError::Conflict(format!(
                "order {}: make command already resent",
                change.order_id
            ))
            .into())
        }
        (Some(current), Some(status)) => Err(RepositoryError::Conflict(format!(
            "order {} is {}, expected {}",
            change.order_id,
            OrderStatus::decode(&current)?,
            status.expected
        ))
        .into()),
        (Some(_), None) => Err(StoreError::corrupt(format!(
            "order {} vanished while updated",
            change.order_id
        ))),
    }
}

/// Queued jobs that have nothing left to do once a change is committed.
enum NothingLeft {
    /// A payment's polls, once it has left `pending`.
    PollsOf(uuid::Uuid),
    /// An order's dispense deadlines, once it has left `make_pending`.
    DeadlinesOf(uuid::Uuid),
}

/// Ends (`done`) the queued jobs `which` names, in the caller's transaction. Kind and state
/// are written into the SQL, so the partial index `jobs_queued_polls` (and the order's jobs
/// index) serve even a prepared statement's generic plan.
async fn end_queued(conn: &mut AsyncPgConnection, which: NothingLeft) -> Result<(), StoreError> {
    let done = (
        jobs::state.eq(JobState::Done.code()),
        jobs::updated_at.eq(diesel::dsl::now),
    );
    match which {
        NothingLeft::PollsOf(payment) => {
            diesel::update(
                jobs::table
                    .filter(jobs::payment_id.eq(payment))
                    .filter(sql::<Bool>(
                        "jobs.kind = 'poll_payment' AND jobs.state = 'queued'",
                    )),
            )
            .set(done)
            .execute(conn)
            .await?
        }
        NothingLeft::DeadlinesOf(order) => {
            diesel::update(
                jobs::table
                    .filter(jobs::order_id.eq(order))
                    .filter(sql::<Bool>(
                        "jobs.kind = 'dispense_deadline' AND jobs.state = 'queued'",
                    )),
            )
            .set(done)
            .execute(conn)
            .await?
        }
    };
    Ok(())
}

/// Step 2 of `apply`: a new payment must be the order's only live one (earlier attempts were
/// canceled) and reuse no provider id.
async fn check_new_payment(
    conn: &mut AsyncPgConnection,
    payment: &Payment,
) -> Result<(), StoreError> {
    let order_has_live_payment = select(exists(
        payments::table
            .filter(payments::order_id.eq(payment.order_id.as_uuid()))
            .filter(payments::state.ne(PaymentState::Canceled.code())),
    ))
    .get_result::<bool>(conn)
    .await?;
    if order_has_live_payment {
        return Err(RepositoryError::Duplicate(format!(
            "order {} already has a live payment",
            payment.order_id
        ))
        .into());
    }
    let provider_id_taken = select(exists(
        payments::table
            .filter(payments::provider.eq(payment.provider.code()))
            .filter(payments::provider_payment_id.eq(&payment.provider_payment_id)),
    ))
    .get_result::<bool>(conn)
    .await?;
    if provider_id_taken {
        return Err(RepositoryError::Duplicate(format!(
            "provider payment {} already stored",
            payment.provider_payment_id
        ))
        .into());
    }
    Ok(())
}

/// Step 3 of `apply`: the payment's money-state compare-and-set.
async fn apply_to_payment(
    conn: &mut AsyncPgConnection,
    change: &OrderChange,
) -> Result<(), StoreError> {
    let Some(payment_change) = &change.payment_state else {
        return Ok(());
    };
    let payment_id = payment_change.payment_id.as_uuid();
    let target = payments::table
        .find(payment_id)
        .filter(payments::state.eq(payment_change.expected.code()));
    let touched = match change.history.last() {
        Some(entry) => {
            diesel::update(target)
                .set((
                    payments::state.eq(payment_change.next.code()),
                    payments::updated_at.eq(entry.at),
                ))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(target)
                .set(payments::state.eq(payment_change.next.code()))
                .execute(conn)
                .await?
        }
    };
    if touched > 0 {
        if payment_change.expected == PaymentState::Pending
            && payment_change.next != PaymentState::Pending
        {
            // Nothing left to ask the provider: its queued polls end here, not in a claim.
            end_queued(conn, NothingLeft::PollsOf(payment_id)).await?;
        }
        return Ok(());
    }
    let current: Option<String> = payments::table
        .find(payment_id)
        .select(payments::state)
        .first(conn)
        .await
        .optional()?;
    match current {
        None => {
            Err(RepositoryError::NotFound(format!("payment {}", payment_change.payment_id)).into())
        }
        Some(current) => Err(RepositoryError::Conflict(format!(
            "payment {} is {}, expected {}",
            payment_change.payment_id,
            PaymentState::decode(&current)?,
            payment_change.expected
        ))
        .into()),
    }
}

async fn insert_history(
    conn: &mut AsyncPgConnection,
    entries: &[HistoryEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<HistoryRow> = entries.iter().map(HistoryRow::from_domain).collect();
    diesel::insert_into(order_history::table)
        .values(&rows)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl OrderRepository for PgStore {
    async fn insert_or_get(
        &self,
        order: Order,
        history: Vec<HistoryEntry>,
    ) -> Result<(Order, bool), RepositoryError> {
        let history = &history;
        self.run(async |conn| {
            let row = OrderRow::from_domain(&order);
            // One commit for the order and its first lines (one WAL flush, not two).
            let inserted = conn
                .transaction::<_, StoreError, _>(async |conn| {
                    let inserted = diesel::insert_into(orders::table)
                        .values(&row)
                        .on_conflict((orders::device_uuid, orders::machine_order_id))
                        .do_nothing()
                        .returning(OrderRow::as_returning())
                        .get_result(conn)
                        .await
                        .optional()?;
                    if inserted.is_some() {
                        insert_history(conn, history).await?;
                    }
                    Ok(inserted)
                })
                .await?;
            if let Some(inserted) = inserted {
                return Ok((inserted.into_domain()?, true));
            }
            let existing = orders::table
                .filter(orders::device_uuid.eq(order.device.as_str()))
                .filter(orders::machine_order_id.eq(order.machine_order_id.as_str()))
                .select(OrderRow::as_select())
                .first(conn)
                .await?;
            Ok((existing.into_domain()?, false))
        })
        .await
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        find_one!(self, orders::table.find(id.as_uuid()), OrderRow)
    }

    async fn find_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        find_one!(
            self,
            orders::table
                .filter(orders::device_uuid.eq(device.as_str()))
                .filter(orders::machine_order_id.eq(machine_order_id.as_str())),
            OrderRow
        )
    }

    async fn with_payment(
        &self,
        id: OrderId,
        payment: Option<PaymentId>,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError> {
        self.run(async |conn| {
            let joined = orders::table.filter(orders::id.eq(id.as_uuid()));
            let rows: Option<(OrderRow, Option<PaymentRow>)> = match payment {
                Some(wanted) => joined
                    .left_join(
                        payments::table.on(payments::order_id
                            .eq(orders::id)
                            .and(payments::id.eq(wanted.as_uuid()))),
                    )
                    .select((OrderRow::as_select(), Option::<PaymentRow>::as_select()))
                    .first(conn)
                    .await
                    .optional()?,
                None => joined
                    .left_join(payments::table.on(payments::order_id.eq(orders::id)))
                    .order((
                        payments::created_at.desc().nulls_last(),
                        payments::id.desc().nulls_last(),
                    ))
                    .select((OrderRow::as_select(), Option::<PaymentRow>::as_select()))
                    .first(conn)
                    .await
                    .optional()?,
            };
            rows.map(|(order, payment)| {
                Ok((
                    order.into_domain()?,
                    payment.map(PaymentRow::into_domain).transpose()?,
                ))
            })
            .transpose()
        })
        .await
    }

    async fn ids_by_machine_order_id(
        &self,
        machine_order_id: &MachineOrderId,
        limit: usize,
    ) -> Result<Vec<OrderId>, RepositoryError> {
        self.run(async |conn| {
            let ids: Vec<uuid::Uuid> = orders::table
                .filter(orders::machine_order_id.eq(machine_order_id.as_str()))
                .order((orders::created_at, orders::id))
                .limit(limit_of(limit))
                .select(orders::id)
                .load(conn)
                .await?;
            Ok(ids.into_iter().map(OrderId::from_uuid).collect())
        })
        .await
    }

    async fn apply(&self, change: OrderChange) -> Result<(), RepositoryError> {
        let change = &change;
        let applied = self
            .run(async |conn| {
                conn.transaction::<_, StoreError, _>(async |conn| {
                    // The same order of checks as the in-memory store, so both report the same
                    // error when several preconditions fail; any error rolls everything back.
                    apply_to_order(conn, change).await?;
                    if change.status.as_ref().is_some_and(|s| {
                        s.expected == OrderStatus::MakePending && s.next != s.expected
                    }) {
                        // The machine's word (or the operator's) came: nothing left for a
                        // deadline to decide.
                        end_queued(conn, NothingLeft::DeadlinesOf(change.order_id.as_uuid()))
                            .await?;
                    }
                    if let Some(payment) = &change.new_payment {
                        check_new_payment(conn, payment).await?;
                    }
                    apply_to_payment(conn, change).await?;
                    if let Some(payment) = &change.new_payment {
                        // A racing insert still ends here as a unique violation: `Duplicate`.
                        diesel::insert_into(payments::table)
                            .values(PaymentRow::from_domain(payment))
                            .execute(conn)
                            .await?;
                    }
                    if let Some(refund) = &change.refund_id {
                        diesel::update(payments::table.find(refund.payment_id.as_uuid()))
                            .set(payments::refund_id.eq(&refund.refund_id))
                            .execute(conn)
                            .await?;
                    }
                    if let Some(event) = &change.provider_event {
                        // A second delivery of an applied message is a unique violation: `Duplicate`.
                        diesel::insert_into(provider_events::table)
                            .values((
                                provider_events::provider.eq(event.provider.code()),
                                provider_events::event_key.eq(&event.event_key),
                                provider_events::order_id.eq(change.order_id.as_uuid()),
                            ))
                            .execute(conn)
                            .await?;
                    }
                    insert_history(conn, &change.history).await?;
                    if !change.jobs.is_empty() {
                        let rows = change
                            .jobs
                            .iter()
                            .map(NewJobRow::from_domain)
                            .collect::<Result<Vec<_>, _>>()?;
                        diesel::insert_into(jobs::table)
                            .values(&rows)
                            .execute(conn)
                            .await?;
                        // Other processes' idle workers hear of it when (and only if) it commits.
                        diesel::sql_query("SELECT pg_notify($1, $2)")
                            .bind::<Text, _>(super::listen::CHANNEL)
                            .bind::<Text, _>(&self.listen.instance)
                            .execute(conn)
                            .await?;
                    }
                    if let Some(claimed) = &change.completes {
                        // Only while this claim holds it; a job taken over is its new
                        // holder's to end, and the change stands either way.
                        diesel::update(
                            jobs::table.find(claimed.id.as_uuid()).filter(
                                jobs::state
                                    .eq(JobState::Running.code())
                                    .and(jobs::claim_token.eq(claimed.claim)),
                            ),
                        )
                        .set((
                            jobs::state.eq(JobState::Done.code()),
                            jobs::lease_until.eq(None::<DateTime<Utc>>),
                            jobs::claim_token.eq(None::<uuid::Uuid>),
                            jobs::updated_at.eq(diesel::dsl::now),
                        ))
                        .execute(conn)
                        .await?;
                    }
                    Ok(())
                })
                .await
            })
            .await;
        if applied.is_ok() {
            self.jobs_committed.ring(change.jobs.len());
        }
        applied
    }

    async fn record(&self, entries: Vec<HistoryEntry>) -> Result<(), RepositoryError> {
        self.run(async |conn| insert_history(conn, &entries).await)
            .await
    }

    async fn history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError> {
        find_all!(
            self,
            order_history::table
                .filter(order_history::order_id.eq(id.as_uuid()))
                .order(order_history::seq),
            HistoryRow
        )
    }

    async fn count_needing_attention(&self) -> Result<u64, RepositoryError> {
        self.run(async |conn| {
            let count: i64 = orders::table
                .filter(orders::attention.is_not_null())
                .count()
                .get_result(conn)
                .await?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn needing_attention(&self, limit: usize) -> Result<Vec<Order>, RepositoryError> {
        find_all!(
            self,
            orders::table
                .filter(orders::attention.is_not_null())
                .order((orders::updated_at.desc(), orders::id))
                .limit(limit_of(limit)),
            OrderRow
        )
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Order>, RepositoryError> {
        self.run(async |conn| {
            let open = [OrderStatus::Created.code(), OrderStatus::Pending.code()];
            let rows = orders::table
                .filter(orders::status.eq_any(open))
                .filter(orders::expires_at.le(now))
                .order((orders::expires_at, orders::created_at, orders::id))
                .limit(limit_of(limit))
                .select(OrderRow::as_select())
                .load(conn)
                .await?;
            rows.into_iter().map(OrderRow::into_domain).collect()
        })
        .await
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            select(1_i32.into_sql::<Integer>())
                .get_result::<i32>(conn)
                .await?;
            Ok(())
        })
        .await
    }
}
