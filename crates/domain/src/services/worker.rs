//! The job handlers. A handler re-reads state and acts only if its job still makes sense, so a
//! job that runs twice (a worker died after acting, before completing) is harmless: the make
//! command carries the machine's order id and provider calls carry idempotency keys.

use super::settlement::{Settlement, SettlementError};
use super::Context;
use crate::decisions::machines::{
    awaits_dispense_result, awaits_make_command, awaits_resent_make_command, machine_event,
    resent_make_result, MachineNews,
};
use crate::ports::{
    Claim, MachineError, MakeCommand, PaymentGatewayError, RefundState, RepositoryError, RunAgain,
};
use crate::{
    idempotency, retry_delay, DeadlinePolicy, Job, JobKind, JobState, Merchant, Payment,
    PaymentEvent, PaymentState,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A successful run of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Done, and the decision's own commit already ended the job.
    Ended,
    /// Not a failure: run again at this time (polling a payment that is still pending).
    RunAgainAt(DateTime<Utc>),
}

/// A failed run of a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later, with backoff.
    #[error("retry: {0}")]
    Retry(String),
    /// No attempt will succeed; the job is buried for an operator.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<RepositoryError> for JobError {
    fn from(error: RepositoryError) -> Self {
        JobError::Retry(error.to_string())
    }
}

impl From<SettlementError> for JobError {
    fn from(error: SettlementError) -> Self {
        JobError::Retry(error.to_string())
    }
}

fn gateway_error(error: PaymentGatewayError) -> JobError {
    match error {
        PaymentGatewayError::Unavailable(_) | PaymentGatewayError::InvalidResponse(_) => {
            JobError::Retry(error.to_string())
        }
        PaymentGatewayError::Rejected { .. }
        | PaymentGatewayError::NotFound
        | PaymentGatewayError::Unauthorized(_) => JobError::Permanent(error.to_string()),
    }
}

pub struct Worker {
    ctx: Arc<Context>,
    settlement: Settlement,
}

impl Worker {
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            settlement: Settlement::new(ctx.clone()),
            ctx,
        }
    }

    /// Claims and runs up to `limit` due jobs, one at a time; returns how many ran.
    ///
    /// Each job is claimed only when its turn comes, so its lease starts when its work does.
    /// Claiming a batch at once would start every lease together: while the first jobs ran
    /// (a slow machine cloud, a provider timing out), the leases of the last ones would run
    /// out, another replica would take them over, and both would run them — two make commands
    /// for one order.
    pub async fn run_due(&self, limit: usize) -> Result<usize, RepositoryError> {
        let queue = &self.ctx.ports.jobs;
        let mut count = 0;
        while count < limit {
            let claimed = queue
                .claim_due(Claim {
                    now: self.ctx.now(),
                    limit: 1,
                    lease: self.ctx.settings.job_lease,
                })
                .await?;
            let Some(job) = claimed.into_iter().next() else {
                break;
            };
            count += 1;
            let result = self.execute(&job).await;
            let outcome = match &result {
                Ok(JobOutcome::Done | JobOutcome::Ended) => "done",
                Ok(JobOutcome::RunAgainAt(_)) => "scheduled",
                Err(JobError::Retry(_)) if !job.is_last_attempt() => "retry",
                Err(_) => "dead",
            };
            metrics::counter!("coffee_jobs_run_total", "kind" => job.kind.as_str(), "outcome" => outcome)
                .increment(1);
            let now = self.ctx.now();
            let settled = match result {
                Ok(JobOutcome::Done) => queue.complete(&job).await,
                Ok(JobOutcome::Ended) => Ok(()),
                Ok(JobOutcome::RunAgainAt(at)) => queue.retry(&job, RunAgain::as_planned(at)).await,
                Err(JobError::Retry(why)) if !job.is_last_attempt() => {
                    tracing::warn!(order.id = %job.order_id, job = job.kind.as_str(), attempt = job.attempts, error = %why, "job will be retried");
                    queue
                        .retry(
                            &job,
                            RunAgain::after_failure(now + retry_delay(job.attempts), &why),
                        )
                        .await
                }
                Err(JobError::Retry(why) | JobError::Permanent(why)) => {
                    tracing::error!(order.id = %job.order_id, job = job.kind.as_str(), attempt = job.attempts, error = %why, "job is dead");
                    queue.bury(&job, &why).await
                }
            };
            match settled {
                Ok(()) => {}
                // Our lease ran out and another worker took the job over: its word counts.
                Err(RepositoryError::Conflict(reason)) => {
                    tracing::warn!(order.id = %job.order_id, job = job.kind.as_str(), %reason, "job was taken over before it finished");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(count)
    }

    #[tracing::instrument(skip_all, fields(order.id = %job.order_id, job = job.kind.as_str(), attempt = job.attempts))]
    pub async fn execute(&self, job: &Job) -> Result<JobOutcome, JobError> {
        match job.kind {
            JobKind::SendMakeCommand => self.send_make_command(job).await,
            JobKind::CapturePayment => self.capture(job).await,
            JobKind::CancelPayment => self.cancel(job).await,
            JobKind::RefundPayment => self.refund(job).await,
            JobKind::PollPayment => self.poll(job).await,
            JobKind::DispenseDeadline => self.dispense_deadline(job).await,
            JobKind::ResendMakeCommand => self.resend_make_command(job).await,
        }
    }

    async fn send_make_command(&self, job: &Job) -> Result<JobOutcome, JobError> {
        self.make_command(job, awaits_make_command, machine_event)
            .await
    }

    /// The operator's resend: the same one-send rule as the first command, its result decided
    /// by [`resent_make_result`].
    async fn resend_make_command(&self, job: &Job) -> Result<JobOutcome, JobError> {
        self.make_command(job, awaits_resent_make_command, resent_make_result)
            .await
    }

    /// Sends the make command of an order that `awaits` it, once, and commits what `decide`
    /// makes of the machine's answer together with the job's end.
    async fn make_command(
        &self,
        job: &Job,
        awaits: fn(&crate::Order) -> bool,
        decide: fn(
            &crate::decisions::Snapshot,
            &MachineNews,
            Option<&crate::Device>,
            DateTime<Utc>,
        ) -> crate::decisions::Decision,
    ) -> Result<JobOutcome, JobError> {
        let loaded = match self.ctx.snapshot(job.order_id, None).await {
            Ok(loaded) => loaded,
            Err(RepositoryError::NotFound(_)) => {
                return Err(JobError::Permanent("order vanished".into()))
            }
            Err(error) => return Err(error.into()),
        };
        if !awaits(&loaded.order) {
            return Ok(JobOutcome::Done);
        }
        let device = self.ctx.ports.catalog.device(&loaded.order.device).await?;
        let news = self.send_once(job, &loaded.order, device.as_ref()).await?;
        let committed = self
            .ctx
            .commit_job_work(job, loaded, |snapshot, now| {
                decide(snapshot, &news, device.as_ref(), now)
            })
            .await?;
        Ok(ended_if_applied(&committed))
    }

    /// Sends the job's make command at most once, whatever crashes: the job is marked sent
    /// before the send, and a claim that finds it marked reports the fate unknown instead.
    /// A machine that is unavailable is retried until the job's last attempt.
    async fn send_once(
        &self,
        job: &Job,
        order: &crate::Order,
        device: Option<&crate::Device>,
    ) -> Result<MachineNews, JobError> {
        if job.sent {
            // An earlier claim sent the command and died before recording what came of it.
            return Ok(MachineNews::MakeOutcomeUnknown {
                why: "обработчик, отправлявший команду, остановился, не получив ответа".into(),
            });
        }
        // Recorded before sending: a crash from here on can never lead to a second send.
        self.ctx.ports.jobs.mark_sent(job).await?;
        let sent = self.send(order, device).await;
        let outcome = match &sent {
            Ok(()) => "accepted",
            Err(MachineError::Unavailable(_)) => "not_delivered",
            Err(MachineError::OutcomeUnknown(_)) => "unknown",
            Err(_) => "rejected",
        };
        let machine = device.map_or("none", |d| machine_name(d.machine));
        metrics::counter!("coffee_machine_commands_total", "machine" => machine, "outcome" => outcome)
            .increment(1);
        Ok(match sent {
            Ok(()) => MachineNews::MakeAccepted,
            Err(MachineError::Unavailable(why)) if !job.is_last_attempt() => {
                return Err(JobError::Retry(why));
            }
            Err(MachineError::OutcomeUnknown(why)) => MachineNews::MakeOutcomeUnknown { why },
            Err(error) => MachineNews::MakeUndeliverable {
                why: format!("автомат недоступен, попыток: {}; {error}", job.attempts),
            },
        })
    }

    /// One make command to the device's machine gateway.
    async fn send(
        &self,
        order: &crate::Order,
        device: Option<&crate::Device>,
    ) -> Result<(), MachineError> {
        let (Some(device), Some(gateway)) = (
            device,
            device.and_then(|d| self.ctx.machine_gateway(d.machine)),
        ) else {
            return Err(MachineError::Rejected(
                "no machine gateway for this device".into(),
            ));
        };
        let command = MakeCommand {
            order_id: order.id,
            device: device.clone(),
            machine_order_id: order.machine_order_id.clone(),
            drink_no: order.drink_no.clone(),
            size: order.size,
            price: order.price,
        };
        gateway.make(&command).await
    }

    async fn payment_and_merchant(&self, job: &Job) -> Result<(Payment, Merchant), JobError> {
        let ports = &self.ctx.ports;
        let payment = match job.payment_id {
            Some(id) => ports.payments.get(id).await?,
            None => ports.payments.for_order(job.order_id).await?,
        }
        .ok_or_else(|| JobError::Permanent("order has no payment".into()))?;
        let order = ports
            .orders
            .get(job.order_id)
            .await?
            .ok_or_else(|| JobError::Permanent("order vanished".into()))?;
        let merchant = ports
            .catalog
            .merchant(&order.merchant)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("merchant {} missing", order.merchant)))?;
        Ok((payment, merchant))
    }

    fn gateway(
        &self,
        payment: &Payment,
    ) -> Result<&Arc<dyn crate::ports::PaymentGateway>, JobError> {
        self.ctx.payment_gateway(payment.provider).ok_or_else(|| {
            JobError::Retry(format!("{:?} gateway not configured", payment.provider))
        })
    }

    async fn capture(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let (payment, merchant) = self.payment_and_merchant(job).await?;
        if payment.state != PaymentState::Authorized {
            return Ok(JobOutcome::Done);
        }
        self.gateway(&payment)?
            .capture(&merchant, &payment, &idempotency::capture(payment.id))
            .await
            .map_err(gateway_error)?;
        self.settlement
            .apply_payment_event(&payment, PaymentEvent::Captured)
            .await?;
        Ok(JobOutcome::Done)
    }

    async fn cancel(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let (payment, merchant) = self.payment_and_merchant(job).await?;
        if !matches!(
            payment.state,
            PaymentState::Authorized | PaymentState::Pending
        ) {
            return Ok(JobOutcome::Done);
        }
        self.gateway(&payment)?
            .cancel(&merchant, &payment, &idempotency::cancel(payment.id))
            .await
            .map_err(gateway_error)?;
        self.settlement
            .apply_payment_event(&payment, PaymentEvent::Canceled)
            .await?;
        Ok(JobOutcome::Done)
    }

    async fn refund(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let (payment, merchant) = self.payment_and_merchant(job).await?;
        if payment.state != PaymentState::RefundPending {
            return Ok(JobOutcome::Done);
        }
        let gateway = self.gateway(&payment)?;
        // A refund asked for before is fetched, never asked for again.
        let answer = match &payment.refund_id {
            Some(refund_id) => gateway.get_refund(&merchant, refund_id).await,
            None => {
                gateway
                    .refund(&merchant, &payment, &idempotency::refund(payment.id))
                    .await
            }
        }
        .map_err(gateway_error)?;
        self.settlement
            .apply_refund_answer(&payment, &answer)
            .await?;
        // A refund on its way is fetched again later; the handler ends once the payment is no
        // longer waiting for one.
        Ok(if answer.state == RefundState::Pending {
            JobOutcome::RunAgainAt(self.ctx.now() + self.ctx.settings.poll_slow)
        } else {
            JobOutcome::Done
        })
    }

    /// A lost webhook never loses a paid order: pending payments are asked about, fast at
    /// first, then slowly, until final or well past the order's expiry.
    async fn poll(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let (payment, merchant) = self.payment_and_merchant(job).await?;
        if payment.state != PaymentState::Pending {
            return Ok(JobOutcome::Done);
        }
        let fetched = self
            .gateway(&payment)?
            .get_payment(&merchant, &payment.provider_payment_id)
            .await
            .map_err(gateway_error)?;
        self.settlement
            .apply_provider_payment(&payment, &fetched)
            .await?;
        let ports = &self.ctx.ports;
        let still_pending = ports
            .payments
            .get(payment.id)
            .await?
            .is_some_and(|p| p.state == PaymentState::Pending);
        if !still_pending {
            return Ok(JobOutcome::Done);
        }
        let Some(order) = ports.orders.get(job.order_id).await? else {
            return Ok(JobOutcome::Done);
        };
        let now = self.ctx.now();
        let settings = &self.ctx.settings;
        if now >= order.expires_at + settings.poll_after_expiry {
            return Ok(JobOutcome::Done);
        }
        let interval = if now - payment.created_at < settings.poll_fast_window {
            settings.poll_fast
        } else {
            settings.poll_slow
        };
        Ok(JobOutcome::RunAgainAt(now + interval))
    }

    async fn dispense_deadline(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let ports = &self.ctx.ports;
        let Some(order) = ports.orders.get(job.order_id).await? else {
            return Ok(JobOutcome::Done);
        };
        if !awaits_dispense_result(&order) {
            return Ok(JobOutcome::Done);
        }
        // The machine's progress queued a later deadline: that one decides, this one is spent.
        let now = self.ctx.now();
        let superseded = ports.jobs.jobs_of(order.id).await?.iter().any(|other| {
            other.id != job.id
                && other.kind == JobKind::DispenseDeadline
                && matches!(other.state, JobState::Queued | JobState::Running)
                && other.run_at > now
        });
        if superseded {
            tracing::info!(order = %order.id, "dispense deadline moved by the machine's progress");
            return Ok(JobOutcome::Done);
        }
        let policy = ports
            .catalog
            .device(&order.device)
            .await?
            .map(|d| d.on_dispense_deadline)
            .unwrap_or(DeadlinePolicy::FailAndRefund);
        let news = MachineNews::DeadlinePassed { policy };
        self.ctx
            .commit_retrying(order.id, |snapshot, now| {
                machine_event(snapshot, &news, None, now)
            })
            .await?;
        Ok(JobOutcome::Done)
    }
}

/// `Ended` when the job's work was committed with the job's end, else `Done`.
fn ended_if_applied(committed: &super::Committed) -> JobOutcome {
    match committed {
        super::Committed::Applied { .. } => JobOutcome::Ended,
        super::Committed::Duplicate { .. } | super::Committed::Ignored { .. } => JobOutcome::Done,
    }
}

/// The machine kind as metrics label it.
fn machine_name(machine: crate::MachineKind) -> &'static str {
    match machine {
        crate::MachineKind::Simulated => "simulated",
        crate::MachineKind::Tmetr => "tmetr",
        crate::MachineKind::Mqtt => "mqtt",
        crate::MachineKind::MqttLegacy => "mqtt-legacy",
    }
}
