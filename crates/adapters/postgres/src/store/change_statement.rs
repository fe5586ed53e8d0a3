//! A change's writes as SQL of their own making, where diesel's builders would take one
//! statement each: the history lines that go with the order's compare-and-set, and the whole
//! of a change (no new payment, no refund id) as one statement.
//!
//! Each statement a change sends costs Postgres about as much as what it writes (parse-free,
//! since every statement is kept prepared, but a protocol round of its own: bind, execute,
//! its snapshot and locks), so the fewer the better.

use crate::models::{HistoryRow, NewJobRow};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::{Array, Integer, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};

/// A statement, or part of one, built by diesel and kept as what it renders to.
pub(super) type Fragment<'c> = Box<dyn QueryFragment<Pg> + Send + 'c>;

/// A change's history lines as `unnest` arrays: one bind per column whatever their number,
/// so one SQL text (one prepared statement) serves every change of a shape.
pub(super) struct HistoryLines<'c> {
    order_ids: Vec<uuid::Uuid>,
    ats: Vec<DateTime<Utc>>,
    sources: Vec<&'c str>,
    from_statuses: Vec<Option<&'c str>>,
    to_statuses: Vec<Option<&'c str>>,
    messages: Vec<&'c str>,
}

impl<'c> HistoryLines<'c> {
    /// `None` when there are no lines to write.
    pub(super) fn of(history: &'c [HistoryRow]) -> Option<Self> {
        (!history.is_empty()).then(|| Self {
            order_ids: history.iter().map(|h| h.order_id).collect(),
            ats: history.iter().map(|h| h.at).collect(),
            sources: history.iter().map(|h| h.source.as_str()).collect(),
            from_statuses: history.iter().map(|h| h.from_status.as_deref()).collect(),
            to_statuses: history.iter().map(|h| h.to_status.as_deref()).collect(),
            messages: history.iter().map(|h| h.message.as_str()).collect(),
        })
    }

    /// `INSERT INTO order_history … SELECT … FROM touched, unnest(…)`: written only when the
    /// CTE `touched` (the order's compare-and-set) holds the order.
    fn walk_insert<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO order_history (order_id, at, source, from_status, to_status, message) \
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

/// The order's compare-and-set (or, with nothing to set, its lock) and the change's history
/// lines, in one statement: the lines are written only when the order was touched, so the
/// statement's row count is the number of lines written, 0 when the compare-and-set missed.
/// For the changes that still take several statements (a new payment, a refund id).
pub(super) struct TouchedWithLines<'c> {
    /// The order's `UPDATE … RETURNING id` or `SELECT id … FOR UPDATE`.
    pub(super) order: Fragment<'c>,
    pub(super) lines: HistoryLines<'c>,
}

impl QueryFragment<Pg> for TouchedWithLines<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH touched AS (");
        self.order.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.lines.walk_insert(out.reborrow())
    }
}

/// No static id: kept prepared by its SQL text, as `Prepared` keeps every step.
impl QueryId for TouchedWithLines<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// New jobs as `unnest` arrays, like [`HistoryLines`].
pub(super) struct NewJobs<'c> {
    ids: Vec<uuid::Uuid>,
    kinds: Vec<&'c str>,
    order_ids: Vec<uuid::Uuid>,
    states: Vec<&'c str>,
    attempts: Vec<i32>,
    max_attempts: Vec<i32>,
    run_ats: Vec<DateTime<Utc>>,
    payment_ids: Vec<Option<uuid::Uuid>>,
    priorities: Vec<i16>,
}

impl<'c> NewJobs<'c> {
    /// `None` when there are no jobs to queue.
    pub(super) fn of(rows: &'c [NewJobRow]) -> Option<Self> {
        (!rows.is_empty()).then(|| Self {
            ids: rows.iter().map(|j| j.id).collect(),
            kinds: rows.iter().map(|j| j.kind.as_str()).collect(),
            order_ids: rows.iter().map(|j| j.order_id).collect(),
            states: rows.iter().map(|j| j.state.as_str()).collect(),
            attempts: rows.iter().map(|j| j.attempts).collect(),
            max_attempts: rows.iter().map(|j| j.max_attempts).collect(),
            run_ats: rows.iter().map(|j| j.run_at).collect(),
            payment_ids: rows.iter().map(|j| j.payment_id).collect(),
            priorities: rows.iter().map(|j| j.priority).collect(),
        })
    }
}

/// What [`OneStatementChange`] answers: how far the change got.
pub(super) mod outcome {
    /// The order's compare-and-set missed (or the order is gone): nothing was written.
    pub(crate) const ORDER_MISSED: usize = 0;
    /// The order was touched, the payment's compare-and-set missed: roll back.
    pub(crate) const PAYMENT_MISSED: usize = 1;
    /// Every compare-and-set held: the change stands once committed.
    pub(crate) const STANDS: usize = 2;
}

/// A change with no new payment and no refund id — a webhook's, a make command's, a machine
/// report's, a poll's — as one statement of data-modifying CTEs instead of up to seven:
///
/// ```sql
/// WITH touched AS (UPDATE orders … RETURNING id),       -- or SELECT id … FOR UPDATE
///      lines AS (INSERT INTO order_history … FROM touched, unnest(…)),
///      deadlines_ended AS (UPDATE jobs … dispense deadlines … AND EXISTS (touched)),
///      paid AS (UPDATE payments … AND EXISTS (touched) RETURNING id),
///      polls_ended AS (UPDATE jobs … polls … AND EXISTS (paid)),
///      event AS (INSERT INTO provider_events … FROM touched),
///      queued AS (INSERT INTO jobs … FROM touched, unnest(…)),
///      completed AS (UPDATE jobs … the claimed job … AND EXISTS (touched))
/// SELECT CASE WHEN NOT EXISTS (touched) THEN 0 WHEN NOT EXISTS (paid) THEN 1 ELSE 2 END
/// ```
///
/// Every part after the order's runs only once the order was touched, so an order's
/// compare-and-set that misses writes nothing and fails nothing else: a second delivery of
/// an applied message whose order moved on is the order's conflict, not the event's unique
/// violation. Then the event's unique violation (`Duplicate`) comes before the payment's
/// miss (the statement fails as a whole), then the miss, the first check that fails
/// deciding in the order the in-memory store checks. Each part reads the
/// statement's one snapshot, which is what the parts saw one by one too: none reads a row
/// another part writes (the jobs ended are queued ones, the job completed is running; the
/// jobs queued are new). The payment is locked after the order, as everywhere.
pub(super) struct OneStatementChange<'c> {
    /// The order's `UPDATE … RETURNING id` or `SELECT id … FOR UPDATE`.
    pub(super) order: Fragment<'c>,
    pub(super) lines: Option<HistoryLines<'c>>,
    /// The order whose queued dispense deadlines end (it has left `make_pending`).
    pub(super) deadlines_of: Option<uuid::Uuid>,
    /// The payment's `UPDATE … WHERE … AND EXISTS (SELECT 1 FROM touched) RETURNING id`.
    pub(super) payment: Option<Fragment<'c>>,
    /// The payment whose queued polls end (it has left `pending`).
    pub(super) polls_of: Option<uuid::Uuid>,
    /// The applied provider message: its provider code and key.
    pub(super) event: Option<(&'c str, &'c str)>,
    pub(super) jobs: Option<NewJobs<'c>>,
    /// The claimed job ended with the change: its id and claim token.
    pub(super) completes: Option<(uuid::Uuid, uuid::Uuid)>,
}

impl QueryFragment<Pg> for OneStatementChange<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH touched AS (");
        self.order.walk_ast(out.reborrow())?;
        out.push_sql(")");
        if let Some(lines) = &self.lines {
            out.push_sql(", lines AS (");
            lines.walk_insert(out.reborrow())?;
            out.push_sql(")");
        }
        if let Some(order_id) = &self.deadlines_of {
            // Kind and state written into the SQL, so the order's jobs index (and the
            // partial index of queued polls, below) serve a generic plan too.
            out.push_sql(
                ", deadlines_ended AS (UPDATE jobs SET state = 'done', updated_at = now() \
                 WHERE jobs.order_id = ",
            );
            out.push_bind_param::<SqlUuid, _>(order_id)?;
            out.push_sql(
                " AND jobs.kind = 'dispense_deadline' AND jobs.state = 'queued' \
                 AND EXISTS (SELECT 1 FROM touched))",
            );
        }
        if let Some(payment) = &self.payment {
            out.push_sql(", paid AS (");
            payment.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        if let Some(payment_id) = &self.polls_of {
            out.push_sql(
                ", polls_ended AS (UPDATE jobs SET state = 'done', updated_at = now() \
                 WHERE jobs.payment_id = ",
            );
            out.push_bind_param::<SqlUuid, _>(payment_id)?;
            out.push_sql(
                " AND jobs.kind = 'poll_payment' AND jobs.state = 'queued' \
                 AND EXISTS (SELECT 1 FROM paid))",
            );
        }
        if let Some((provider, event_key)) = &self.event {
            // A second delivery of an applied message is a unique violation: `Duplicate`.
            out.push_sql(
                ", event AS (INSERT INTO provider_events (provider, event_key, order_id) SELECT ",
            );
            out.push_bind_param::<Text, _>(provider)?;
            out.push_sql("::text, ");
            out.push_bind_param::<Text, _>(event_key)?;
            out.push_sql("::text, touched.id FROM touched)");
        }
        if let Some(jobs) = &self.jobs {
            out.push_sql(
                ", queued AS (INSERT INTO jobs (id, kind, order_id, state, attempts, \
                 max_attempts, run_at, payment_id, priority) SELECT job.id, job.kind, \
                 job.order_id, job.state, job.attempts, job.max_attempts, job.run_at, \
                 job.payment_id, job.priority FROM touched, unnest(",
            );
            out.push_bind_param::<Array<SqlUuid>, _>(&jobs.ids)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&jobs.kinds)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<SqlUuid>, _>(&jobs.order_ids)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&jobs.states)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Integer>, _>(&jobs.attempts)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Integer>, _>(&jobs.max_attempts)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Timestamptz>, _>(&jobs.run_ats)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<SqlUuid>>, _>(&jobs.payment_ids)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<SmallInt>, _>(&jobs.priorities)?;
            // Jobs keep their order: `seq` is drawn as they are inserted.
            out.push_sql(
                ") WITH ORDINALITY AS job (id, kind, order_id, state, attempts, max_attempts, \
                 run_at, payment_id, priority, n) ORDER BY job.n)",
            );
        }
        if let Some((job_id, claim)) = &self.completes {
            // Only while this claim holds it; a job taken over is its new holder's to end,
            // and the change stands either way.
            out.push_sql(
                ", completed AS (UPDATE jobs SET state = 'done', lease_until = NULL, \
                 claim_token = NULL, updated_at = now() WHERE jobs.id = ",
            );
            out.push_bind_param::<SqlUuid, _>(job_id)?;
            out.push_sql(" AND jobs.state = 'running' AND jobs.claim_token = ");
            out.push_bind_param::<SqlUuid, _>(claim)?;
            out.push_sql(" AND EXISTS (SELECT 1 FROM touched))");
        }
        out.push_sql(" SELECT (CASE WHEN NOT EXISTS (SELECT 1 FROM touched) THEN 0");
        if self.payment.is_some() {
            out.push_sql(" WHEN NOT EXISTS (SELECT 1 FROM paid) THEN 1");
        }
        out.push_sql(" ELSE 2 END)::int4");
        Ok(())
    }
}

impl QueryId for OneStatementChange<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Its one row: an [`outcome`] code.
impl Query for OneStatementChange<'_> {
    type SqlType = Integer;
}
