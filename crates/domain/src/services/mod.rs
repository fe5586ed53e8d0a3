//! Use-case services: the only way the HTTP layer and the worker change anything.
//!
//! * [`checkout`] — a QR scan becomes an order; an order gets its one payment.
//! * [`settlement`] — provider news (verified notifications, polls) moves money and orders.
//! * [`dispensing`] — machine reports decide `make_pending` orders.
//! * [`expiry`] — unpaid orders become `not_paid` at `expires_at`.
//! * [`operations`] — an operator's actions from the console, and retries of dead jobs.
//! * [`worker`] — the job handlers: make command, capture, cancel, refund, poll, deadline.
//!
//! A service talks to the outside world, then asks a pure function of
//! [`decisions`](crate::decisions) what the news means and commits the answer with
//! [`Context::commit_retrying`] — the one loop that loads, decides, applies by compare-and-set
//! and, when a race was lost, decides again on the newer state.

pub mod checkout;
pub mod dispensing;
pub mod expiry;
pub mod operations;
pub mod settlement;
pub mod worker;

use crate::decisions::{Decision, Ignore, Snapshot};
use crate::ports::{
    CatalogRepository, Clock, IdGenerator, JobQueue, MachineGateway, OrderChange, OrderRepository,
    PaymentGateway, PaymentRepository, RepositoryError,
};
use crate::{MachineKind, OrderId, OrderStatus, PaymentId, ProviderKind};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::settings::Settings;

/// How often a lost race is decided again before giving up (each retry sees newer state).
const MAX_RACE_RETRIES: usize = 8;

/// The ports every service talks to.
#[derive(Clone)]
pub struct Ports {
    pub catalog: Arc<dyn CatalogRepository>,
    pub orders: Arc<dyn OrderRepository>,
    pub payments: Arc<dyn PaymentRepository>,
    pub jobs: Arc<dyn JobQueue>,
    pub payment_gateways: HashMap<ProviderKind, Arc<dyn PaymentGateway>>,
    pub machine_gateways: HashMap<MachineKind, Arc<dyn MachineGateway>>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

/// The ports and the settings, shared by the services.
pub struct Context {
    pub ports: Ports,
    pub settings: Settings,
}

/// What became of a decision once committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The change was written; `to` is the order's status after it.
    Applied { from: OrderStatus, to: OrderStatus },
    /// Already applied; nothing changed.
    Duplicate { status: OrderStatus },
    /// Not acted upon (and noted in the history where the decision said so).
    Ignored { reason: Ignore, status: OrderStatus },
}

impl Context {
    pub fn new(ports: Ports, settings: Settings) -> Arc<Self> {
        Arc::new(Self { ports, settings })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    /// Today in the merchants' calendar.
    pub fn business_day(&self) -> chrono::NaiveDate {
        self.now()
            .with_timezone(&self.settings.business_utc_offset)
            .date_naive()
    }

    pub fn payment_gateway(&self, provider: ProviderKind) -> Option<&Arc<dyn PaymentGateway>> {
        self.ports.payment_gateways.get(&provider)
    }

    pub fn machine_gateway(&self, machine: MachineKind) -> Option<&Arc<dyn MachineGateway>> {
        self.ports.machine_gateways.get(&machine)
    }

    /// The order and the payment in question (`payment`, or else its latest attempt) as
    /// stored now. Errors: `NotFound` for an unknown order; `Unavailable`.
    pub(crate) async fn snapshot(
        &self,
        order_id: OrderId,
        payment: Option<PaymentId>,
    ) -> Result<Snapshot, RepositoryError> {
        let (order, payment) = self
            .ports
            .orders
            .with_payment(order_id, payment)
            .await?
            .ok_or_else(|| RepositoryError::NotFound(format!("order {order_id}")))?;
        Ok(Snapshot { order, payment })
    }

    /// [`Context::commit_retrying_on`] the order's latest payment attempt.
    pub(crate) async fn commit_retrying(
        &self,
        order_id: OrderId,
        decide: impl FnMut(&Snapshot, DateTime<Utc>) -> Decision,
    ) -> Result<Committed, RepositoryError> {
        self.commit_retrying_on(order_id, None, decide).await
    }

    /// The one place that loads, decides, applies and retries: `decide` is asked on freshly
    /// loaded state; its change is committed by compare-and-set; a lost race (`Conflict`) asks
    /// again on the newer state. A change refused as `Duplicate` (the provider message or the
    /// payment is already recorded) is a duplicate.
    ///
    /// Errors: `NotFound` for an unknown order; `Conflict` after too many lost races;
    /// `Unavailable`.
    ///
    /// `payment` names the payment attempt the news is about (an old attempt's message must
    /// never move a newer one); `None` is the latest.
    pub(crate) async fn commit_retrying_on(
        &self,
        order_id: OrderId,
        payment: Option<PaymentId>,
        decide: impl FnMut(&Snapshot, DateTime<Utc>) -> Decision,
    ) -> Result<Committed, RepositoryError> {
        self.commit_from(order_id, payment, None, None, decide)
            .await
    }

    /// [`Context::commit_retrying_on`], deciding first on `loaded` — the order and payment
    /// the caller already read (with [`Context::snapshot`]) to do its work — instead of
    /// reading them again. Safe however old it is: the compare-and-set refuses a decision
    /// made on a status or money state that has moved, and the next attempt reads afresh.
    pub(crate) async fn commit_retrying_from(
        &self,
        loaded: Snapshot,
        payment: Option<PaymentId>,
        decide: impl FnMut(&Snapshot, DateTime<Utc>) -> Decision,
    ) -> Result<Committed, RepositoryError> {
        self.commit_from(loaded.order.id, payment, Some(loaded), None, decide)
            .await
    }

    /// [`Context::commit_retrying_from`] for a job's work: a committed change also ends the
    /// job (`completes`), so the job costs no commit of its own. `Committed::Applied` says it
    /// did; otherwise the caller completes the job itself.
    pub(crate) async fn commit_job_work(
        &self,
        job: &crate::Job,
        loaded: Snapshot,
        decide: impl FnMut(&Snapshot, DateTime<Utc>) -> Decision,
    ) -> Result<Committed, RepositoryError> {
        let claimed = crate::ports::ClaimedJob {
            id: job.id,
            claim: job.claim,
        };
        self.commit_from(loaded.order.id, None, Some(loaded), Some(claimed), decide)
            .await
    }

    #[tracing::instrument(skip_all, fields(order.id = %order_id))]
    async fn commit_from(
        &self,
        order_id: OrderId,
        payment: Option<PaymentId>,
        mut loaded: Option<Snapshot>,
        completes: Option<crate::ports::ClaimedJob>,
        mut decide: impl FnMut(&Snapshot, DateTime<Utc>) -> Decision,
    ) -> Result<Committed, RepositoryError> {
        for _ in 0..MAX_RACE_RETRIES {
            let snapshot = match loaded.take() {
                Some(snapshot) => snapshot,
                None => self.snapshot(order_id, payment).await?,
            };
            let status = snapshot.order.status;
            match decide(&snapshot, self.now()) {
                Decision::Commit(mut change) => {
                    change.completes = completes;
                    let to = change.status.as_ref().map_or(status, |s| s.next);
                    let reason = change.status.as_ref().and_then(|s| s.failure_reason);
                    let flag = change.attention;
                    match self.ports.orders.apply(change).await {
                        Ok(()) => {
                            tracing::info!(from = %status, to = %to, "order changed");
                            count_change(status, to, reason, flag);
                            return Ok(Committed::Applied { from: status, to });
                        }
                        Err(RepositoryError::Conflict(_)) => continue,
                        Err(RepositoryError::Duplicate(_)) => {
                            return Ok(Committed::Duplicate { status })
                        }
                        Err(error) => return Err(error),
                    }
                }
                Decision::Duplicate { note } => {
                    if let Some(line) = note {
                        self.ports.orders.record(vec![line]).await?;
                    }
                    return Ok(Committed::Duplicate { status });
                }
                Decision::Ignored { reason, note, flag } => {
                    match (flag, note) {
                        (Some(attention), note) => {
                            metrics::counter!("coffee_orders_flagged_total", "attention" => attention.as_str())
                                .increment(1);
                            let mut flagged = OrderChange::new(order_id);
                            flagged.attention = Some(attention);
                            flagged.history.extend(note);
                            self.ports.orders.apply(flagged).await?;
                            tracing::warn!(attention = attention.as_str(), %reason, "order flagged for an operator");
                        }
                        (None, Some(line)) => self.ports.orders.record(vec![line]).await?,
                        (None, None) => {}
                    }
                    return Ok(Committed::Ignored { reason, status });
                }
            }
        }
        Err(RepositoryError::Conflict(format!(
            "order {order_id}: too many concurrent changes"
        )))
    }
}

/// What a committed change counts in the metrics the server exports (names in docs/operations.md).
fn count_change(
    from: OrderStatus,
    to: OrderStatus,
    reason: Option<crate::FailureReason>,
    flag: Option<crate::Attention>,
) {
    if from != to {
        metrics::counter!("coffee_order_transitions_total", "from" => from.as_str(), "to" => to.as_str())
            .increment(1);
        if let (Some(reason), true) = (reason, to.is_terminal() || to == OrderStatus::Created) {
            metrics::counter!("coffee_order_failures_total", "reason" => reason.as_str())
                .increment(1);
        }
    }
    if let Some(attention) = flag {
        metrics::counter!("coffee_orders_flagged_total", "attention" => attention.as_str())
            .increment(1);
    }
}
