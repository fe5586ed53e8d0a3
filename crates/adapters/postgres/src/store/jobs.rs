//! The job queue port: claims under a lease with `FOR UPDATE SKIP LOCKED`, each with its own
//! token, so only the current claim may complete, retry or bury a job.

use super::PgStore;
use crate::codes::Code;
use crate::error::StoreError;
use crate::models::{ClaimedJobRow, JobSummaryRow};
use crate::prepared::Prepared;
use crate::schema::jobs;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{
    Backlog, Claim, JobQueue, JobSummary, JobsCommitted, RepositoryError, RunAgain,
};
use coffee_domain::{Job, JobId, JobKind, JobState, OrderId};
use diesel::dsl::{exists, now as db_now, select, sql};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A job row filtered down to one claim.
type HeldJob = diesel::dsl::Filter<
    diesel::dsl::Find<jobs::table, Uuid>,
    diesel::dsl::And<
        diesel::dsl::Eq<jobs::state, &'static str>,
        diesel::dsl::Eq<jobs::claim_token, Uuid>,
    >,
>;

/// The job's row while `job` is its current claim.
fn held(job: &Job) -> HeldJob {
    jobs::table.find(job.id.as_uuid()).filter(
        jobs::state
            .eq(JobState::Running.code())
            .and(jobs::claim_token.eq(job.claim)),
    )
}

/// Claims up to `{limit}` jobs due at `$1` — queued ones whose time has come and running ones
/// whose lease ran out — under the lease `$2` and the claim token `$3`, in one statement (one
/// round trip, one commit). The limit is written into the SQL: bound as a parameter, it
/// would make Postgres cost a generic plan so far above a custom one that it planned every
/// claim afresh (workers claim one job at a time, so there is one such text).
///
/// Rows another claimer holds are skipped, not waited for: no job is handed to two workers,
/// and claimers never queue up behind each other. The two kinds of due jobs are read apart,
/// each walking its own partial index in claim order and stopping at the limit: the states
/// are written into the SQL, because a prepared statement's generic plan cannot match a
/// partial index's predicate to a bound parameter (it would scan every job ever run), and
/// one read with both conditions OR-ed cannot walk an index in order. Urgent kinds go first
/// whatever their run time, so a poll storm cannot hold up a paid order's make command; rows
/// locked and not taken are free again when the statement ends.
const CLAIM_DUE: &str = "\
WITH queued AS (
    SELECT id, priority, run_at, seq FROM jobs
        WHERE state = 'queued' AND run_at <= $1
        ORDER BY priority, run_at, seq LIMIT {limit}
        FOR UPDATE SKIP LOCKED
), taken_over AS (
    SELECT id, priority, run_at, seq FROM jobs
        WHERE state = 'running' AND lease_until <= $1
        ORDER BY lease_until LIMIT {limit}
        FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM taken_over) AS due
        ORDER BY priority, run_at, seq LIMIT {limit}
)
UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, lease_until = $2,
    claim_token = $3, updated_at = now()
FROM chosen
WHERE jobs.id = chosen.id
RETURNING jobs.*";

/// Nothing was updated: the job is unknown (`NotFound`) or no longer this claim's (`Conflict`).
async fn not_held_unless_touched(
    conn: &mut AsyncPgConnection,
    job: &Job,
    touched: usize,
) -> Result<(), StoreError> {
    if touched > 0 {
        return Ok(());
    }
    let exists: bool = select(exists(jobs::table.find(job.id.as_uuid())))
        .get_result(conn)
        .await?;
    let error = if exists {
        RepositoryError::Conflict(format!("job {} is no longer held by this claim", job.id))
    } else {
        RepositoryError::NotFound(format!("job {}", job.id))
    };
    Err(StoreError::Repo(error))
}

#[async_trait]
impl JobQueue for PgStore {
    fn jobs_committed(&self) -> JobsCommitted {
        self.jobs_committed.next_ring()
    }

    async fn claim_due(&self, claim: Claim) -> Result<Vec<Job>, RepositoryError> {
        let Claim { now, limit, lease } = claim;
        let lease_until = now
            .checked_add_signed(lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        // One token for this claim; with the job id it names the claim uniquely.
        let claim = Uuid::new_v4();
        self.run(async |conn| {
            let mut claimed: Vec<ClaimedJobRow> = Prepared(
                diesel::sql_query(CLAIM_DUE.replace("{limit}", &limit.to_string()))
                    .bind::<Timestamptz, _>(now)
                    .bind::<Timestamptz, _>(lease_until)
                    .bind::<SqlUuid, _>(claim),
            )
            .load(conn)
            .await?;
            claimed.sort_by_key(|row| (row.priority, row.run_at, row.seq));
            claimed
                .into_iter()
                .map(ClaimedJobRow::into_domain)
                .collect()
        })
        .await
    }

    async fn complete(&self, job: &Job) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let touched = Prepared(diesel::update(held(job)).set((
                jobs::state.eq(JobState::Done.code()),
                jobs::lease_until.eq(None::<DateTime<Utc>>),
                jobs::claim_token.eq(None::<Uuid>),
                jobs::updated_at.eq(db_now),
            )))
            .execute(conn)
            .await?;
            not_held_unless_touched(conn, job, touched).await
        })
        .await
    }

    async fn retry(&self, job: &Job, again: RunAgain<'_>) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let requeue = (
                jobs::state.eq(JobState::Queued.code()),
                jobs::run_at.eq(again.at),
                jobs::lease_until.eq(None::<DateTime<Utc>>),
                jobs::claim_token.eq(None::<Uuid>),
                jobs::updated_at.eq(db_now),
                // Put back only after the command certainly did not reach the machine.
                jobs::sent_at.eq(None::<DateTime<Utc>>),
            );
            let touched = if let Some(error) = again.failed {
                Prepared(diesel::update(held(job)).set((requeue, jobs::last_error.eq(error))))
                    .execute(conn)
                    .await?
            } else {
                // A planned re-run (polling) is no failure: give the attempt back.
                Prepared(diesel::update(held(job)).set((
                    requeue,
                    jobs::attempts.eq(sql::<Integer>("GREATEST(attempts - 1, 0)")),
                )))
                .execute(conn)
                .await?
            };
            not_held_unless_touched(conn, job, touched).await
        })
        .await
    }

    async fn mark_sent(&self, job: &Job) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let touched = Prepared(
                diesel::update(held(job))
                    .set((jobs::sent_at.eq(db_now), jobs::updated_at.eq(db_now))),
            )
            .execute(conn)
            .await?;
            not_held_unless_touched(conn, job, touched).await
        })
        .await
    }

    async fn bury(&self, job: &Job, error: &str) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let touched = Prepared(diesel::update(held(job)).set((
                jobs::state.eq(JobState::Dead.code()),
                jobs::lease_until.eq(None::<DateTime<Utc>>),
                jobs::claim_token.eq(None::<Uuid>),
                jobs::last_error.eq(error),
                jobs::updated_at.eq(db_now),
            )))
            .execute(conn)
            .await?;
            not_held_unless_touched(conn, job, touched).await
        })
        .await
    }

    async fn revive(&self, job: JobId, now: DateTime<Utc>) -> Result<(), RepositoryError> {
        self.run(async |conn| {
            let touched = diesel::update(
                jobs::table
                    .find(job.as_uuid())
                    .filter(jobs::state.eq(JobState::Dead.code())),
            )
            .set((
                jobs::state.eq(JobState::Queued.code()),
                jobs::attempts.eq(0),
                jobs::run_at.eq(now),
                jobs::lease_until.eq(None::<DateTime<Utc>>),
                jobs::claim_token.eq(None::<Uuid>),
                jobs::updated_at.eq(db_now),
            ))
            .execute(conn)
            .await?;
            if touched > 0 {
                // An idle worker runs it now, not at its next tick.
                self.jobs_committed.ring(1);
                return Ok(());
            }
            let exists: bool = select(exists(jobs::table.find(job.as_uuid())))
                .get_result(conn)
                .await?;
            Err(StoreError::Repo(if exists {
                RepositoryError::Conflict(format!("job {job} is not dead"))
            } else {
                RepositoryError::NotFound(format!("job {job}"))
            }))
        })
        .await
    }

    async fn backlog(&self, now: DateTime<Utc>) -> Result<Backlog, RepositoryError> {
        self.run(async |conn| {
            let rows: Vec<(String, String, i64)> = jobs::table
                .group_by((jobs::kind, jobs::state))
                .select((jobs::kind, jobs::state, diesel::dsl::count_star()))
                .order((jobs::kind, jobs::state))
                .load(conn)
                .await?;
            let oldest: Option<DateTime<Utc>> = jobs::table
                .filter(jobs::state.eq(JobState::Queued.code()))
                .filter(jobs::run_at.le(now))
                .select(diesel::dsl::min(jobs::run_at))
                .first(conn)
                .await?;
            let counts = rows
                .into_iter()
                .map(|(kind, state, count)| {
                    Ok((
                        JobKind::decode(&kind)?,
                        JobState::decode(&state)?,
                        u64::try_from(count).unwrap_or(0),
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Backlog {
                counts,
                oldest_overdue: oldest.map(|at| now - at),
            })
        })
        .await
    }

    async fn jobs_of(&self, order: OrderId) -> Result<Vec<JobSummary>, RepositoryError> {
        find_all!(
            self,
            jobs::table
                .filter(jobs::order_id.eq(order.as_uuid()))
                .order(jobs::seq),
            JobSummaryRow
        )
    }
}
