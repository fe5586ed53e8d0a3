//! The order port: orders and their compare-and-set changes, each one transaction with the
//! payment, provider event, history lines and jobs it carries; the expiry sweep's query.

use super::{limit_of, PgStore};
use crate::codes::Code;
use crate::error::StoreError;
use crate::models::{contact_columns, HistoryRow, NewJobRow, OrderPatch, OrderRow, PaymentRow};
use crate::prepared::Prepared;
use crate::schema::{jobs, order_history, orders, payments, provider_events};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{OrderChange, OrderRepository, RepositoryError};
use coffee_domain::{
    DeviceUuid, HistoryEntry, JobState, MachineOrderId, Order, OrderId, OrderStatus, Payment,
    PaymentId, PaymentState, ProviderKind,
};
use diesel::dsl::sql;
use diesel::dsl::{exists, select};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::{Array, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::{join_all, BoxFuture};

/// An order row and one of its payment rows (a left join's), as domain values.
fn order_with_payment(
    (order, payment): (OrderRow, Option<PaymentRow>),
) -> Result<(Order, Option<Payment>), StoreError> {
    Ok((
        order.into_domain()?,
        payment.map(PaymentRow::into_domain).transpose()?,
    ))
}

/// The order `$order` selects (one at most) with its latest payment attempt, as rows. Every
/// attempt is read, newest first, with no `LIMIT`: diesel binds a limit as a parameter, and a
/// generic plan, not knowing it, is costed so far above a custom one that Postgres would plan
/// the read afresh on every run. An order has one attempt, rarely a few. (A macro: diesel's
/// bounds for a generic filtered query do not name.)
macro_rules! with_latest_attempt {
    ($conn:expr, $order:expr) => {
        $order
            .left_join(payments::table.on(payments::order_id.eq(orders::id)))
            .order((
                payments::created_at.desc().nulls_last(),
                payments::id.desc().nulls_last(),
            ))
            .select((OrderRow::as_select(), Option::<PaymentRow>::as_select()))
            .load::<(OrderRow, Option<PaymentRow>)>($conn)
            .await?
            .into_iter()
            .next()
    };
}

/// One statement of a change. A change's statements go to Postgres in one flight (diesel-async
/// pipelines futures polled together on one connection) and run there in the order sent.
type Step<'c> = BoxFuture<'c, QueryResult<usize>>;

fn step<'c, Q>(conn: &'c AsyncPgConnection, query: Q) -> Step<'c>
where
    Q: QueryFragment<Pg> + QueryId + Send + 'c,
{
    Box::pin(async move {
        let mut conn = conn;
        Prepared(query).execute(&mut conn).await
    })
}

/// A `SELECT EXISTS (…)` as a step: 1 when a row exists. (A macro: diesel's bounds for a
/// generic subselect do not name.)
macro_rules! exists_step {
    ($conn:expr, $query:expr $(,)?) => {{
        let (conn, query) = ($conn, $query);
        let step: Step<'_> = Box::pin(async move {
            let mut conn = conn;
            let found: bool = Prepared(select(exists(query)))
                .get_result(&mut conn)
                .await?;
            Ok(usize::from(found))
        });
        step
    }};
}

/// What a step's row count must be for the change to stand.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The order's compare-and-set (or its lock, with nothing to set) touched the order.
    OrderTouched,
    /// A new payment's order has no live payment (an `EXISTS` that found none).
    NoLivePayment,
    /// A new payment's provider id is not stored yet.
    ProviderIdFree,
    /// The payment's money-state compare-and-set touched it.
    PaymentTouched,
    /// Anything: the statement only must not fail.
    Ran,
}

/// Why a change was refused before its commit; the refusal's message needs a read made after
/// the rollback.
enum Refusal {
    OrderMissed,
    PaymentMissed,
    Store(StoreError),
}

impl From<diesel::result::Error> for Refusal {
    fn from(error: diesel::result::Error) -> Self {
        Refusal::Store(error.into())
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        Refusal::Store(error)
    }
}

/// The order's compare-and-set (or, with nothing to set, its lock) and the change's history
/// lines, in one statement: the lines are written only when the order was touched, so the
/// statement's row count is the number of lines written, 0 when the compare-and-set missed.
/// One statement fewer in every change that has lines to write (all but the bare
/// compare-and-sets), where each statement is most of what a change costs Postgres.
struct TouchedWithLines<'c, Q> {
    /// The order's `UPDATE … RETURNING id` or `SELECT id … FOR UPDATE`.
    order: Q,
    order_ids: Vec<uuid::Uuid>,
    ats: Vec<DateTime<Utc>>,
    sources: Vec<&'c str>,
    from_statuses: Vec<Option<&'c str>>,
    to_statuses: Vec<Option<&'c str>>,
    messages: Vec<&'c str>,
}

impl<'c, Q> TouchedWithLines<'c, Q> {
    fn new(order: Q, history: &'c [HistoryRow]) -> Self {
        Self {
            order,
            order_ids: history.iter().map(|h| h.order_id).collect(),
            ats: history.iter().map(|h| h.at).collect(),
            sources: history.iter().map(|h| h.source.as_str()).collect(),
            from_statuses: history.iter().map(|h| h.from_status.as_deref()).collect(),
            to_statuses: history.iter().map(|h| h.to_status.as_deref()).collect(),
            messages: history.iter().map(|h| h.message.as_str()).collect(),
        }
    }
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for TouchedWithLines<'_, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH touched AS (");
        self.order.walk_ast(out.reborrow())?;
        out.push_sql(
            ") INSERT INTO order_history (order_id, at, source, from_status, to_status, message) \
             SELECT line.order_id, line.at, line.source, line.from_status, line.to_status, \
             line.message FROM touched, unnest(",
        );
        out.push_bind_param::<Array<SqlUuid>, _>(&self.order_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.ats)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.sources)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.from_statuses)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.to_statuses)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.messages)?;
        // Lines keep their order: `seq` is drawn as they are inserted.
        out.push_sql(
            ") WITH ORDINALITY AS line (order_id, at, source, from_status, to_status, message, n) \
             ORDER BY line.n",
        );
        Ok(())
    }
}

/// No static id: kept prepared by its SQL text, as [`Prepared`] keeps every step.
impl<Q> QueryId for TouchedWithLines<'_, Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// The order's step, with the change's lines when it has any (see [`TouchedWithLines`]).
fn touched_step<'c, Q>(conn: &'c AsyncPgConnection, order: Q, history: &'c [HistoryRow]) -> Step<'c>
where
    Q: QueryFragment<Pg> + QueryId + Send + 'c,
{
    if history.is_empty() {
        step(conn, order)
    } else {
        step(conn, TouchedWithLines::new(order, history))
    }
}

/// The order's compare-and-set (or, with nothing to set, its lock), with the change's
/// history lines.
fn order_step<'c>(
    conn: &'c AsyncPgConnection,
    change: &'c OrderChange,
    history: &'c [HistoryRow],
) -> Step<'c> {
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
    if patch.is_empty() {
        touched_step(
            conn,
            orders::table.find(order_id).select(orders::id).for_update(),
            history,
        )
    } else if let Some(status) = status {
        // The resend mark is a compare-and-set too: it is set once.
        let not_resent_unless_resending = orders::make_resent
            .eq(false)
            .or((!change.make_resent).into_sql::<diesel::sql_types::Bool>());
        touched_step(
            conn,
            diesel::update(
                orders::table
                    .find(order_id)
                    .filter(orders::status.eq(status.expected.code()))
                    .filter(not_resent_unless_resending),
            )
            .set(patch)
            .returning(orders::id),
            history,
        )
    } else {
        touched_step(
            conn,
            diesel::update(orders::table.find(order_id))
                .set(patch)
                .returning(orders::id),
            history,
        )
    }
}

/// The refusal of an order's compare-and-set that missed, from the order as it is now.
async fn order_refusal(
    conn: &mut AsyncPgConnection,
    change: &OrderChange,
) -> Result<RepositoryError, StoreError> {
    let current: Option<String> = orders::table
        .find(change.order_id.as_uuid())
        .select(orders::status)
        .first(conn)
        .await
        .optional()?;
    Ok(match (current, change.status.as_ref()) {
        (None, _) => RepositoryError::NotFound(format!("order {}", change.order_id)),
        (Some(current), Some(status)) if current == status.expected.code() => {
            RepositoryError::Conflict(format!(
                "order {}: make command already resent",
                change.order_id
            ))
        }
        (Some(current), Some(status)) => RepositoryError::Conflict(format!(
            "order {} is {}, expected {}",
            change.order_id,
            OrderStatus::decode(&current)?,
            status.expected
        )),
        (Some(_), None) => {
            return Err(StoreError::corrupt(format!(
                "order {} vanished while updated",
                change.order_id
            )))
        }
    })
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
fn end_queued(conn: &AsyncPgConnection, which: NothingLeft) -> Step<'_> {
    let done = (
        jobs::state.eq(JobState::Done.code()),
        jobs::updated_at.eq(diesel::dsl::now),
    );
    match which {
        NothingLeft::PollsOf(payment) => {
            step(
                conn,
                diesel::update(jobs::table.filter(jobs::payment_id.eq(payment)).filter(
                    sql::<Bool>("jobs.kind = 'poll_payment' AND jobs.state = 'queued'"),
                ))
                .set(done),
            )
        }
        NothingLeft::DeadlinesOf(order) => step(
            conn,
            diesel::update(
                jobs::table
                    .filter(jobs::order_id.eq(order))
                    .filter(sql::<Bool>(
                        "jobs.kind = 'dispense_deadline' AND jobs.state = 'queued'",
                    )),
            )
            .set(done),
        ),
    }
}

/// The refusal of a payment's compare-and-set that missed, from the payment as it is now.
async fn payment_refusal(
    conn: &mut AsyncPgConnection,
    change: &OrderChange,
) -> Result<RepositoryError, StoreError> {
    let Some(payment_change) = &change.payment_state else {
        return Err(StoreError::corrupt(
            "a payment refusal without a payment change",
        ));
    };
    let current: Option<String> = payments::table
        .find(payment_change.payment_id.as_uuid())
        .select(payments::state)
        .first(conn)
        .await
        .optional()?;
    Ok(match current {
        None => RepositoryError::NotFound(format!("payment {}", payment_change.payment_id)),
        Some(current) => RepositoryError::Conflict(format!(
            "payment {} is {}, expected {}",
            payment_change.payment_id,
            PaymentState::decode(&current)?,
            payment_change.expected
        )),
    })
}

/// Every statement of `change`, in the order they run, each with what its row count must be.
/// The same order of checks as the in-memory store, so both report the same error when
/// several preconditions fail.
fn change_steps<'c>(
    conn: &'c AsyncPgConnection,
    change: &'c OrderChange,
    history: &'c [HistoryRow],
    jobs_rows: &'c [NewJobRow],
) -> Vec<(Expect, Step<'c>)> {
    let order_id = change.order_id.as_uuid();
    let mut steps = vec![(Expect::OrderTouched, order_step(conn, change, history))];
    if change
        .status
        .as_ref()
        .is_some_and(|s| s.expected == OrderStatus::MakePending && s.next != s.expected)
    {
        // The machine's word (or the operator's) came: nothing left for a deadline to decide.
        steps.push((
            Expect::Ran,
            end_queued(conn, NothingLeft::DeadlinesOf(order_id)),
        ));
    }
    if let Some(payment) = &change.new_payment {
        // A new payment must be the order's only live one (earlier attempts were canceled)
        // and reuse no provider id.
        steps.push((
            Expect::NoLivePayment,
            exists_step!(
                conn,
                payments::table
                    .filter(payments::order_id.eq(payment.order_id.as_uuid()))
                    .filter(payments::state.ne(PaymentState::Canceled.code())),
            ),
        ));
        steps.push((
            Expect::ProviderIdFree,
            exists_step!(
                conn,
                payments::table
                    .filter(payments::provider.eq(payment.provider.code()))
                    .filter(payments::provider_payment_id.eq(&payment.provider_payment_id)),
            ),
        ));
    }
    if let Some(event) = &change.provider_event {
        // A second delivery of an applied message is a unique violation: `Duplicate`.
        steps.push((
            Expect::Ran,
            step(
                conn,
                diesel::insert_into(provider_events::table).values((
                    provider_events::provider.eq(event.provider.code()),
                    provider_events::event_key.eq(&event.event_key),
                    provider_events::order_id.eq(order_id),
                )),
            ),
        ));
    }
    if let Some(payment_change) = &change.payment_state {
        let payment_id = payment_change.payment_id.as_uuid();
        let target = payments::table
            .find(payment_id)
            .filter(payments::state.eq(payment_change.expected.code()));
        let cas = match change.history.last() {
            Some(entry) => step(
                conn,
                diesel::update(target).set((
                    payments::state.eq(payment_change.next.code()),
                    payments::updated_at.eq(entry.at),
                )),
            ),
            None => step(
                conn,
                diesel::update(target).set(payments::state.eq(payment_change.next.code())),
            ),
        };
        steps.push((Expect::PaymentTouched, cas));
        if payment_change.expected == PaymentState::Pending
            && payment_change.next != PaymentState::Pending
        {
            // Nothing left to ask the provider: its queued polls end here, not in a claim.
            steps.push((
                Expect::Ran,
                end_queued(conn, NothingLeft::PollsOf(payment_id)),
            ));
        }
    }
    if let Some(payment) = &change.new_payment {
        // A racing insert still ends here as a unique violation: `Duplicate`.
        steps.push((
            Expect::Ran,
            step(
                conn,
                diesel::insert_into(payments::table).values(PaymentRow::from_domain(payment)),
            ),
        ));
    }
    if let Some(refund) = &change.refund_id {
        steps.push((
            Expect::Ran,
            step(
                conn,
                diesel::update(payments::table.find(refund.payment_id.as_uuid()))
                    .set(payments::refund_id.eq(&refund.refund_id)),
            ),
        ));
    }
    // The change's history lines went with the order's step.
    if !jobs_rows.is_empty() {
        steps.push((
            Expect::Ran,
            step(conn, diesel::insert_into(jobs::table).values(jobs_rows)),
        ));
    }
    if let Some(claimed) = &change.completes {
        // Only while this claim holds it; a job taken over is its new holder's to end, and
        // the change stands either way.
        steps.push((
            Expect::Ran,
            step(
                conn,
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
                )),
            ),
        ));
    }
    steps
}

/// Runs a change's steps in one flight and reads their results in order: the first that
/// failed, or whose row count refuses the change, decides; the caller then rolls back.
async fn run_steps(steps: Vec<(Expect, Step<'_>)>, change: &OrderChange) -> Result<(), Refusal> {
    let (expects, statements): (Vec<Expect>, Vec<Step<'_>>) = steps.into_iter().unzip();
    // `join_all` first polls its futures in the order given, so they are sent in that order.
    let results = join_all(statements).await;
    for (expect, result) in expects.into_iter().zip(results) {
        let rows = result?;
        match expect {
            Expect::OrderTouched if rows == 0 => return Err(Refusal::OrderMissed),
            Expect::PaymentTouched if rows == 0 => return Err(Refusal::PaymentMissed),
            Expect::NoLivePayment if rows > 0 => {
                return Err(StoreError::from(RepositoryError::Duplicate(format!(
                    "order {} already has a live payment",
                    change.order_id
                )))
                .into())
            }
            Expect::ProviderIdFree if rows > 0 => {
                let id = change
                    .new_payment
                    .as_ref()
                    .map_or("", |p| p.provider_payment_id.as_str());
                return Err(StoreError::from(RepositoryError::Duplicate(format!(
                    "provider payment {id} already stored"
                )))
                .into());
            }
            _ => {}
        }
    }
    Ok(())
}

async fn insert_history(
    conn: &mut AsyncPgConnection,
    entries: &[HistoryEntry],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<HistoryRow> = entries.iter().map(HistoryRow::from_domain).collect();
    Prepared(diesel::insert_into(order_history::table).values(&rows))
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
        let row = OrderRow::from_domain(&order);
        // Written with whatever other new orders are waiting (`scans`): one statement and
        // one commit for them all; a QR scanned again inserts nothing.
        if let Some(inserted) = self.insert_new_order(row, history).await? {
            return inserted
                .into_domain()
                .map(|order| (order, true))
                .map_err(StoreError::into_repository);
        }
        self.run(async |conn| {
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
                None => with_latest_attempt!(conn, joined),
            };
            rows.map(order_with_payment).transpose()
        })
        .await
    }

    async fn with_payment_by_machine_order_id(
        &self,
        device: &DeviceUuid,
        machine_order_id: &MachineOrderId,
    ) -> Result<Option<(Order, Option<Payment>)>, RepositoryError> {
        self.run(async |conn| {
            let order = orders::table
                .filter(orders::device_uuid.eq(device.as_str()))
                .filter(orders::machine_order_id.eq(machine_order_id.as_str()));
            with_latest_attempt!(conn, order)
                .map(order_with_payment)
                .transpose()
        })
        .await
    }

    async fn with_payment_by_provider_id(
        &self,
        provider: ProviderKind,
        provider_payment_id: &str,
    ) -> Result<Option<(Order, Payment)>, RepositoryError> {
        self.run(async |conn| {
            let row: Option<(OrderRow, PaymentRow)> = payments::table
                .inner_join(orders::table)
                .filter(payments::provider.eq(provider.code()))
                .filter(payments::provider_payment_id.eq(provider_payment_id))
                .select((OrderRow::as_select(), PaymentRow::as_select()))
                .first(conn)
                .await
                .optional()?;
            row.map(|(order, payment)| Ok((order.into_domain()?, payment.into_domain()?)))
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
        let history: Vec<HistoryRow> = change.history.iter().map(HistoryRow::from_domain).collect();
        let jobs_rows = change
            .jobs
            .iter()
            .map(NewJobRow::from_domain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::into_repository)?;
        let (history, jobs_rows) = (&history, &jobs_rows);
        let notify = (change.jobs_due_at_once() > 0).then(|| self.listen.notify_jobs());
        let notify = notify.as_deref();
        let applied = self
            .run_by_hand(async |conn, settled| {
                // `BEGIN` and every statement of the change in one flight, then `COMMIT` (or
                // `ROLLBACK`) once their results say whether the change stands: two round
                // trips whatever the change holds. `BEGIN` goes by the simple protocol, which
                // nothing can fail on its own, so no statement of the flight ever runs
                // outside the transaction; and nothing is committed before every result is in.
                let outcome = {
                    let shared: &AsyncPgConnection = conn;
                    let begin: Step<'_> = Box::pin(async move {
                        let mut shared = shared;
                        shared.batch_execute("BEGIN").await.map(|()| 0)
                    });
                    let mut steps = vec![(Expect::Ran, begin)];
                    steps.extend(change_steps(shared, change, history, jobs_rows));
                    run_steps(steps, change).await
                };
                match (&outcome, notify) {
                    (Ok(()), Some(notify)) => {
                        // Other processes' idle workers hear of the jobs once they are
                        // committed: the notice goes in the same flight as `COMMIT`, as a
                        // statement of its own. Inside the transaction it would take
                        // Postgres' one notify lock at commit and hold it through the WAL
                        // flush, so every commit that queues a job would wait for the one
                        // before it; a notice without writes has nothing to flush. Lost only
                        // if the connection drops between the two (or the commit fails and
                        // the ring is spurious): listeners then find the job on their tick.
                        let shared: &AsyncPgConnection = conn;
                        let (committed, notified) = futures_util::future::join(
                            async {
                                let mut shared = shared;
                                shared.batch_execute("COMMIT").await
                            },
                            async {
                                let mut shared = shared;
                                shared.batch_execute(notify).await
                            },
                        )
                        .await;
                        committed?;
                        if let Err(error) = notified {
                            tracing::warn!(order.id = %change.order_id, %error, "other processes not told of jobs just committed; they find them on their tick");
                        }
                    }
                    (Ok(()), None) => conn.batch_execute("COMMIT").await?,
                    (Err(_), _) => conn.batch_execute("ROLLBACK").await?,
                }
                *settled = true;
                match outcome {
                    Ok(()) => Ok(()),
                    Err(Refusal::Store(error)) => Err(error),
                    Err(Refusal::OrderMissed) => Err(order_refusal(conn, change).await?.into()),
                    Err(Refusal::PaymentMissed) => Err(payment_refusal(conn, change).await?.into()),
                }
            })
            .await;
        if applied.is_ok() {
            self.jobs_committed.ring(change.jobs_due_at_once());
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
