//! Job rows: as enqueued, as a claim hands them out, as summarised for operators.

use super::from_i64;
use crate::codes::Code;
use crate::error::StoreError;
use crate::schema::jobs;
use chrono::{DateTime, Utc};
use coffee_domain::ports::JobSummary;
use coffee_domain::{JobId, JobKind, JobState, OrderId, PaymentId};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Insertable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct NewJobRow {
    pub id: Uuid,
    pub kind: String,
    pub order_id: Uuid,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub payment_id: Option<Uuid>,
    pub priority: i16,
}

impl NewJobRow {
    pub fn from_domain(job: &coffee_domain::NewJob) -> Result<Self, StoreError> {
        Ok(Self {
            id: Uuid::new_v4(),
            kind: job.kind.code().to_owned(),
            order_id: job.order_id.as_uuid(),
            state: JobState::Queued.code().to_owned(),
            attempts: 0,
            max_attempts: i32::try_from(job.kind.max_attempts())
                .map_err(|_| StoreError::corrupt("max attempts does not fit the schema"))?,
            run_at: job.run_at,
            payment_id: job.payment_id.map(|p| p.as_uuid()),
            priority: job.kind.priority(),
        })
    }
}

/// A job as a claim hands it out.
#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ClaimedJobRow {
    pub id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub order_id: Uuid,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub priority: i16,
    pub claim_token: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl ClaimedJobRow {
    pub fn into_domain(self) -> Result<coffee_domain::Job, StoreError> {
        Ok(coffee_domain::Job {
            id: JobId::from_uuid(self.id),
            kind: JobKind::decode(&self.kind)?,
            order_id: OrderId::from_uuid(self.order_id),
            payment_id: self.payment_id.map(PaymentId::from_uuid),
            sent: self.sent_at.is_some(),
            attempts: from_i64(i64::from(self.attempts), "job attempts")?,
            max_attempts: from_i64(i64::from(self.max_attempts), "job max attempts")?,
            claim: self
                .claim_token
                .ok_or_else(|| StoreError::corrupt("claimed job without a claim token"))?,
        })
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct JobSummaryRow {
    pub id: Uuid,
    pub kind: String,
    pub order_id: Uuid,
    pub state: String,
    pub attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

impl JobSummaryRow {
    pub fn into_domain(self) -> Result<JobSummary, StoreError> {
        Ok(JobSummary {
            id: JobId::from_uuid(self.id),
            kind: JobKind::decode(&self.kind)?,
            order_id: OrderId::from_uuid(self.order_id),
            state: JobState::decode(&self.state)?,
            attempts: from_i64(i64::from(self.attempts), "job attempts")?,
            run_at: self.run_at,
            last_error: self.last_error,
        })
    }
}
