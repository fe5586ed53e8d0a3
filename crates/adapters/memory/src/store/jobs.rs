//! The job queue port: leased claims, each with its own token, so only the current claim may
//! complete, retry or bury a job.

use super::{MemoryStore, State};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{
    Backlog, Claim, JobQueue, JobSummary, JobsCommitted, RepositoryError, RunAgain,
};
use coffee_domain::{Job, JobId, JobKind, JobState, NewJob, OrderId, PaymentId};
use uuid::Uuid;

/// A job as the queue keeps it.
#[derive(Debug, Clone)]
pub(super) struct JobRow {
    kind: JobKind,
    order_id: OrderId,
    payment_id: Option<PaymentId>,
    state: JobState,
    attempts: u32,
    max_attempts: u32,
    run_at: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// The current claim's token; `None` while nobody holds the job.
    claim: Option<Uuid>,
    /// A claim marked the make command sent; cleared when the job is put back to retry.
    sent: bool,
}

impl JobRow {
    /// Ends the job if it is a queued poll of `payment`.
    pub(super) fn end_if_queued_poll_of(&mut self, payment: PaymentId) {
        if self.kind == JobKind::PollPayment
            && self.state == JobState::Queued
            && self.payment_id == Some(payment)
        {
            self.state = JobState::Done;
        }
    }

    /// Ends the job (`done`) if `claim` still holds it.
    pub(super) fn end_if_held_by(&mut self, claim: Uuid) {
        if self.state == JobState::Running && self.claim == Some(claim) {
            self.state = JobState::Done;
            self.lease_until = None;
            self.claim = None;
        }
    }

    /// Ends the job if it is a queued dispense deadline of `order`.
    pub(super) fn end_if_queued_deadline_of(&mut self, order: OrderId) {
        if self.kind == JobKind::DispenseDeadline
            && self.state == JobState::Queued
            && self.order_id == order
        {
            self.state = JobState::Done;
        }
    }

    /// A job an order change enqueues: queued, never tried.
    pub(super) fn queued(job: &NewJob) -> Self {
        Self {
            kind: job.kind,
            order_id: job.order_id,
            payment_id: job.payment_id,
            state: JobState::Queued,
            attempts: 0,
            max_attempts: job.kind.max_attempts(),
            run_at: job.run_at,
            lease_until: None,
            last_error: None,
            claim: None,
            sent: false,
        }
    }

    pub(super) fn summary(&self, id: JobId) -> JobSummary {
        JobSummary {
            id,
            kind: self.kind,
            order_id: self.order_id,
            state: self.state,
            attempts: self.attempts,
            run_at: self.run_at,
            last_error: self.last_error.clone(),
        }
    }
}

#[async_trait]
impl JobQueue for MemoryStore {
    fn jobs_committed(&self) -> JobsCommitted {
        self.jobs_committed.next_ring()
    }

    async fn claim_due(&self, claim: Claim) -> Result<Vec<Job>, RepositoryError> {
        let Claim { now, limit, lease } = claim;
        let mut state = self.lock()?;
        // Urgent kinds first whatever their run time, then by run time (ids keep insertion order).
        let mut due: Vec<(i16, DateTime<Utc>, JobId)> = state
            .jobs
            .iter()
            .filter(|(_, row)| match row.state {
                JobState::Queued => row.run_at <= now,
                JobState::Running => row.lease_until.is_some_and(|until| until <= now),
                JobState::Done | JobState::Dead => false,
            })
            .map(|(id, row)| (row.kind.priority(), row.run_at, *id))
            .collect();
        due.sort();
        due.truncate(limit);
        let mut claimed = Vec::with_capacity(due.len());
        for (_, _, id) in due {
            if let Some(row) = state.jobs.get_mut(&id) {
                row.state = JobState::Running;
                row.attempts += 1;
                row.lease_until = Some(now + lease);
                let claim = Uuid::new_v4();
                row.claim = Some(claim);
                claimed.push(Job {
                    claim,
                    id,
                    kind: row.kind,
                    order_id: row.order_id,
                    payment_id: row.payment_id,
                    attempts: row.attempts,
                    max_attempts: row.max_attempts,
                    sent: row.sent,
                });
            }
        }
        Ok(claimed)
    }

    async fn complete(&self, job: &Job) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let row = held(&mut state, job)?;
        row.state = JobState::Done;
        row.lease_until = None;
        row.claim = None;
        drop(state);
        self.jobs_committed.ring(1);
        Ok(())
    }

    async fn retry(&self, job: &Job, again: RunAgain<'_>) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let row = held(&mut state, job)?;
        row.state = JobState::Queued;
        row.run_at = again.at;
        row.lease_until = None;
        row.claim = None;
        row.sent = false;
        match again.failed {
            Some(error) => row.last_error = Some(error.to_owned()),
            None => row.attempts = row.attempts.saturating_sub(1),
        }
        Ok(())
    }

    async fn mark_sent(&self, job: &Job) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        held(&mut state, job)?.sent = true;
        Ok(())
    }

    async fn bury(&self, job: &Job, error: &str) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let row = held(&mut state, job)?;
        row.state = JobState::Dead;
        row.lease_until = None;
        row.claim = None;
        row.last_error = Some(error.to_owned());
        Ok(())
    }

    async fn backlog(&self, now: DateTime<Utc>) -> Result<Backlog, RepositoryError> {
        let state = self.lock()?;
        let mut counts: std::collections::BTreeMap<(&str, &str), (JobKind, JobState, u64)> =
            std::collections::BTreeMap::new();
        let mut oldest: Option<DateTime<Utc>> = None;
        for row in state.jobs.values() {
            let key = (row.kind.as_str(), row.state.as_str());
            counts.entry(key).or_insert((row.kind, row.state, 0)).2 += 1;
            if row.state == JobState::Queued && row.run_at <= now {
                oldest = Some(oldest.map_or(row.run_at, |o| o.min(row.run_at)));
            }
        }
        Ok(Backlog {
            counts: counts.into_values().collect(),
            oldest_overdue: oldest.map(|at| now - at),
        })
    }

    async fn revive(&self, job: JobId, now: DateTime<Utc>) -> Result<(), RepositoryError> {
        let mut state = self.lock()?;
        let row = state
            .jobs
            .get_mut(&job)
            .ok_or_else(|| RepositoryError::NotFound(format!("job {job}")))?;
        if row.state != JobState::Dead {
            return Err(RepositoryError::Conflict(format!("job {job} is not dead")));
        }
        row.state = JobState::Queued;
        row.attempts = 0;
        row.run_at = now;
        row.lease_until = None;
        row.claim = None;
        drop(state);
        self.jobs_committed.ring(1);
        Ok(())
    }

    async fn jobs_of(&self, order: OrderId) -> Result<Vec<JobSummary>, RepositoryError> {
        let state = self.lock()?;
        Ok(state
            .jobs
            .iter()
            .filter(|(_, row)| row.order_id == order)
            .map(|(id, row)| row.summary(*id))
            .collect())
    }
}

/// The job's row if `job` is still its current claim.
fn held<'a>(state: &'a mut State, job: &Job) -> Result<&'a mut JobRow, RepositoryError> {
    let row = state
        .jobs
        .get_mut(&job.id)
        .ok_or_else(|| RepositoryError::NotFound(format!("job {}", job.id)))?;
    if row.state != JobState::Running || row.claim != Some(job.claim) {
        return Err(RepositoryError::Conflict(format!(
            "job {} is no longer held by this claim",
            job.id
        )));
    }
    Ok(row)
}
