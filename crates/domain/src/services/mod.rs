//! Use-case services: the only way the HTTP layer and the worker change anything.
//!
//! * [`checkout`] — a QR scan becomes an order; an order gets its one payment.
//! * [`settlement`] — provider news (verified notifications, polls) moves money and orders.
//! * [`dispensing`] — machine reports decide `make_pending` orders.
//! * [`expiry`] — unpaid orders become `not_paid` at `expires_at`.
//! * [`worker`] — the job handlers: make command, capture, cancel, refund, poll, deadline.
//!
//! Every decision is computed from freshly loaded state and written with one
//! [`OrderRepository::apply`](crate::ports::OrderRepository::apply); when a compare-and-set
//! loses a race, the decision is recomputed from the new state (usually: a duplicate).

pub mod checkout;
pub mod dispensing;
pub mod expiry;
pub mod settlement;
pub mod worker;

use crate::ports::{
    CatalogRepository, Clock, IdGenerator, JobQueue, MachineGateway, OrderRepository,
    PaymentGateway, PaymentRepository, PaymentStateChange, RepositoryError,
};
use crate::{
    HistoryEntry, HistorySource, JobKind, MachineKind, NewJob, OrderId, OrderStatus, Payment,
    PaymentEvent, PaymentState, PaymentTransition, ProviderKind,
};
use chrono::{DateTime, Duration, Offset, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// How often a lost race is recomputed before giving up (each retry sees newer state).
const MAX_RACE_RETRIES: usize = 8;

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ORDER_EXPIRATION_MINUTES`.
    pub order_ttl: Duration,
    /// A device is online when its last heartbeat is at most this old.
    pub device_online_threshold: Duration,
    /// Public base URL, for return URLs.
    pub base_url: String,
    /// Polling a pending payment: every `poll_fast` during `poll_fast_window`, then `poll_slow`.
    pub poll_fast: Duration,
    pub poll_fast_window: Duration,
    pub poll_slow: Duration,
    /// How long after expiry a still-pending payment is polled (a late success gets refunded).
    pub poll_after_expiry: Duration,
    /// The merchants' calendar: a subscription's last day ends at midnight of this offset
    /// (Moscow, UTC+3, by default).
    pub business_utc_offset: chrono::FixedOffset,
    /// How long a claimed job is its worker's before another may take it over (a worker that
    /// died mid-job is replaced after this).
    pub job_lease: Duration,
}

impl Settings {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            order_ttl: Duration::minutes(15),
            device_online_threshold: Duration::minutes(15),
            base_url: base_url.into(),
            poll_fast: Duration::seconds(5),
            poll_fast_window: Duration::minutes(5),
            poll_slow: Duration::seconds(60),
            poll_after_expiry: Duration::hours(1),
            job_lease: Duration::seconds(60),
            business_utc_offset: chrono::FixedOffset::east_opt(3 * 3600)
                .unwrap_or_else(|| Utc.fix()),
        }
    }
}

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

/// Shared by the services: the ports, the settings and the rules more than one service applies.
pub struct Context {
    pub ports: Ports,
    pub settings: Settings,
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

    pub fn history(
        &self,
        order_id: OrderId,
        source: HistorySource,
        from: Option<OrderStatus>,
        to: Option<OrderStatus>,
        message: impl Into<String>,
    ) -> HistoryEntry {
        HistoryEntry {
            order_id,
            at: self.now(),
            source,
            from,
            to,
            message: message.into(),
        }
    }

    /// What returns the customer's money when no drink will be made: a hold is released,
    /// captured money refunded. Nothing when no money was taken or it is already on its way.
    pub fn compensation(&self, payment: &Payment) -> Compensation {
        let now = self.now();
        match payment.state {
            PaymentState::Authorized => Compensation {
                payment_state: None,
                jobs: vec![NewJob::now(JobKind::CancelPayment, payment.order_id, now)],
                note: Some("удержание средств будет снято"),
            },
            PaymentState::Succeeded => Compensation {
                payment_state: Some(PaymentStateChange {
                    payment_id: payment.id,
                    expected: PaymentState::Succeeded,
                    next: PaymentState::RefundPending,
                }),
                jobs: vec![NewJob::now(JobKind::RefundPayment, payment.order_id, now)],
                note: Some("деньги будут возвращены"),
            },
            PaymentState::Pending
            | PaymentState::Canceled
            | PaymentState::RefundPending
            | PaymentState::Refunded => Compensation {
                payment_state: None,
                jobs: vec![],
                note: None,
            },
        }
    }
}

/// The payment change and jobs that return a customer's money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compensation {
    pub payment_state: Option<PaymentStateChange>,
    pub jobs: Vec<NewJob>,
    pub note: Option<&'static str>,
}

/// The money state a payment would move to, `None` when the event is a duplicate.
pub(crate) fn next_payment_state(
    payment: &Payment,
    event: PaymentEvent,
) -> Result<Option<PaymentState>, crate::IllegalPaymentTransition> {
    match payment.state.apply(event)? {
        PaymentTransition::To(next) => Ok(Some(next)),
        PaymentTransition::Duplicate => Ok(None),
    }
}

pub(crate) fn is_conflict(error: &RepositoryError) -> bool {
    matches!(error, RepositoryError::Conflict(_))
}

/// What became of an event a machine, a deadline or the worker reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The order moved to this status.
    Moved(OrderStatus),
    /// Already applied; nothing changed.
    Duplicate,
    /// Contradicts the order's status (e.g. a result after the deadline decided): recorded in
    /// the history, nothing else changed.
    Recorded(OrderStatus),
}

impl Context {
    /// Applies a dispensing-side event to an order: on success captures a held payment, on
    /// failure returns the money — in the same commit as the transition.
    pub async fn decide(
        &self,
        order_id: OrderId,
        event: crate::OrderEvent,
        reason: Option<crate::FailureReason>,
        source: HistorySource,
        message: &str,
    ) -> Result<Decision, RepositoryError> {
        use crate::{transition, OrderEvent, Transition};
        for _ in 0..MAX_RACE_RETRIES {
            let order = self
                .ports
                .orders
                .get(order_id)
                .await?
                .ok_or_else(|| RepositoryError::NotFound(format!("order {order_id}")))?;
            // A result can overtake the record of the command's acceptance: it proves it.
            let from = if order.status == OrderStatus::Paid
                && matches!(event, OrderEvent::Dispensed | OrderEvent::DispenseFailed)
            {
                OrderStatus::MakePending
            } else {
                order.status
            };
            let next = match transition(from, event) {
                Ok(Transition::To(next)) => next,
                Ok(Transition::Duplicate) => {
                    // Every machine message belongs in the timeline, even one that changes nothing.
                    let entry = self.history(
                        order_id,
                        source,
                        None,
                        None,
                        format!("{message}: already applied"),
                    );
                    self.ports.orders.record(vec![entry]).await?;
                    return Ok(Decision::Duplicate);
                }
                Err(illegal) => {
                    let entry = self.history(
                        order_id,
                        source,
                        None,
                        None,
                        format!("{message}: ignored, {illegal}"),
                    );
                    self.ports.orders.record(vec![entry]).await?;
                    return Ok(Decision::Recorded(order.status));
                }
            };
            let payment = self.ports.payments.for_order(order_id).await?;
            let mut change = crate::ports::OrderChange::new(order_id);
            change.status = Some(crate::ports::StatusChange {
                expected: order.status,
                next,
                failure_reason: reason,
                dispense_assumed: event == OrderEvent::DispenseAssumed,
            });
            let mut line = message.to_owned();
            if let Some(payment) = &payment {
                if next == OrderStatus::Failed {
                    let compensation = self.compensation(payment);
                    change.payment_state = compensation.payment_state;
                    change.jobs.extend(compensation.jobs);
                    if let Some(note) = compensation.note {
                        line.push_str(&format!("; {note}"));
                    }
                } else if next == OrderStatus::Successful
                    && payment.state == PaymentState::Authorized
                {
                    change
                        .jobs
                        .push(NewJob::now(JobKind::CapturePayment, order_id, self.now()));
                    line.push_str("; capture queued");
                }
            }
            if next == OrderStatus::MakePending {
                if let Some(device) = self.ports.catalog.device(&order.device).await? {
                    let deadline =
                        self.now() + Duration::seconds(i64::from(device.dispense_deadline_seconds));
                    change.jobs.push(NewJob {
                        kind: JobKind::DispenseDeadline,
                        order_id,
                        run_at: deadline,
                    });
                }
            }
            change.history.push(self.history(
                order_id,
                source,
                Some(order.status),
                Some(next),
                line,
            ));
            match self.ports.orders.apply(change).await {
                Ok(()) => {
                    tracing::info!(order.id = %order_id, from = %order.status, to = %next, "order moved");
                    return Ok(Decision::Moved(next));
                }
                Err(error) if is_conflict(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(RepositoryError::Conflict(format!(
            "order {order_id}: too many concurrent changes"
        )))
    }
}
