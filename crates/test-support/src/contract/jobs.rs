//! `JobQueue`: due jobs claimed once each under a lease, retried, buried or completed only by
//! their current claim.

use super::support::{
    assert_conflict, assert_not_found, assert_nothing_due, at, claim, entry, job, job_by_kind,
    new_job, new_order, order_with_jobs, seed, t0, unknown_order,
};
use super::Stores;
use chrono::{DateTime, Duration, Utc};
use coffee_domain::ports::{Claim, OrderChange, RepositoryError, RunAgain};
use coffee_domain::{Job, JobId, JobKind, JobState, OrderId};
use std::collections::HashSet;
use uuid::Uuid;

/// The kinds of `jobs`, in order.
fn kinds(jobs: &[Job]) -> Vec<JobKind> {
    jobs.iter().map(|j| j.kind).collect()
}

/// Requeues `job` for `run_at` after `error`.
async fn retry(
    stores: &Stores,
    job: &Job,
    run_at: DateTime<Utc>,
    error: &str,
    count_attempt: bool,
) {
    stores
        .jobs
        .retry(
            job,
            if count_attempt {
                RunAgain::after_failure(run_at, error)
            } else {
                RunAgain::as_planned(run_at)
            },
        )
        .await
        .unwrap();
}

/// A stored job's state, attempts, run time and last error.
async fn progress(
    stores: &Stores,
    order: OrderId,
    id: JobId,
) -> (JobState, u32, DateTime<Utc>, Option<String>) {
    let job = job(stores, order, id).await;
    (job.state, job.attempts, job.run_at, job.last_error)
}

/// The one job due at `now`, claimed.
async fn claim_one(stores: &Stores, now: DateTime<Utc>, lease: Duration) -> Job {
    let claimed = claim(stores, now, 1, lease).await;
    assert_eq!(claimed.len(), 1, "claimed at {now}: {claimed:?}");
    claimed[0].clone()
}

/// Every job of `orders` is running after its first attempt.
async fn assert_all_running_once(stores: &Stores, orders: &[OrderId]) {
    for order in orders {
        for job in stores.jobs.jobs_of(*order).await.unwrap() {
            assert_eq!((job.state, job.attempts), (JobState::Running, 1), "{job:?}");
        }
    }
}

/// Due jobs are claimed urgent kinds first (make commands and money before polls), then
/// earliest run time (ties in enqueue order), at most `limit`; future jobs wait; a claim
/// counts an attempt and carries the kind's attempt budget.
pub async fn claim_due_respects_run_at_order_and_limit(stores: &Stores) {
    seed(stores).await;
    let enqueued = [
        (JobKind::SendMakeCommand, at(10)),
        (JobKind::PollPayment, at(-5)),
        (JobKind::CapturePayment, at(-20)),
        (JobKind::RefundPayment, at(-5)),
    ];
    let order = order_with_jobs(stores, "moid-1", &enqueued).await;
    let listed: Vec<JobKind> = stores
        .jobs
        .jobs_of(order.id)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.kind)
        .collect();
    assert_eq!(listed, enqueued.map(|(kind, _)| kind));

    let lease = Duration::minutes(5);
    let first = claim(stores, t0(), 2, lease).await;
    let claimed: Vec<_> = first
        .iter()
        .map(|j| (j.kind, j.order_id, j.attempts, j.max_attempts))
        .collect();
    let first_attempt = |kind: JobKind| (kind, order.id, 1, kind.max_attempts());
    assert_eq!(
        claimed,
        [
            first_attempt(JobKind::CapturePayment),
            first_attempt(JobKind::RefundPayment)
        ]
    );
    let second = claim(stores, t0(), 10, lease).await;
    assert_eq!(kinds(&second), [JobKind::PollPayment]);
    assert_nothing_due(stores, t0(), lease).await;
    assert_nothing_due(stores, at(9), lease).await;
    let third = claim(stores, at(10), 10, lease).await;
    assert_eq!(kinds(&third), [JobKind::SendMakeCommand]);
    assert!(claim(stores, at(10), 0, lease).await.is_empty());

    assert_all_running_once(stores, &[order.id]).await;
    let capture = job_by_kind(stores, order.id, JobKind::CapturePayment).await;
    assert_eq!(capture.id, first[0].id);
    assert_eq!(capture.run_at, at(-20));
}

/// Twenty workers claiming fifty jobs at once: every job is handed out exactly once.
pub async fn concurrent_claimers_never_share_a_job(stores: &Stores) {
    seed(stores).await;
    let mut orders = Vec::new();
    for batch in 0..5 {
        let jobs: Vec<(JobKind, DateTime<Utc>)> = (0..10)
            .map(|i| {
                (
                    JobKind::ALL[i % JobKind::ALL.len()],
                    at(-(i as i64) - batch),
                )
            })
            .collect();
        orders.push(
            order_with_jobs(stores, &format!("moid-{batch}"), &jobs)
                .await
                .id,
        );
    }
    let mut workers = Vec::new();
    for _ in 0..20 {
        let queue = stores.jobs.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = queue
                    .claim_due(Claim {
                        now: t0(),
                        limit: 3,
                        lease: Duration::hours(1),
                    })
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|job| job.id));
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let unique: HashSet<JobId> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a job was handed to two claimers");
    assert_eq!(all.len(), 50, "every job is claimed");
    assert_nothing_due(stores, t0(), Duration::hours(1)).await;
    assert_all_running_once(stores, &orders).await;
}

/// A running job whose lease ran out (its worker died) is claimed again, with one more attempt;
/// before that it is not.
pub async fn an_expired_lease_makes_a_job_claimable_again(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::SendMakeCommand, t0())]).await;
    let lease = Duration::seconds(60);
    let first = claim_one(stores, t0(), lease).await;
    assert_eq!(first.attempts, 1);
    assert_nothing_due(stores, at(30), lease).await;
    assert_nothing_due(stores, at(59), lease).await;
    let again = claim_one(stores, at(60), lease).await;
    assert_eq!((again.id, again.attempts), (first.id, 2));
    assert!(!again.is_last_attempt());
    let stored = job(stores, order.id, first.id).await;
    assert_eq!((stored.state, stored.attempts), (JobState::Running, 2));
    assert_nothing_due(stores, at(119), lease).await;
    assert_eq!(claim_one(stores, at(120), lease).await.attempts, 3);
}

/// A counted retry requeues the job for `run_at` with the error; the attempt stays counted.
pub async fn retry_counts_attempts_and_records_the_error(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::CapturePayment, t0())]).await;
    let lease = Duration::minutes(5);
    let first = claim_one(stores, t0(), lease).await;
    retry(stores, &first, at(100), "provider 503", true).await;
    assert_eq!(
        progress(stores, order.id, first.id).await,
        (JobState::Queued, 1, at(100), Some("provider 503".into()))
    );
    assert_nothing_due(stores, at(99), lease).await;
    let claimed = claim_one(stores, at(100), lease).await;
    assert_eq!((claimed.id, claimed.attempts), (first.id, 2));
    retry(stores, &claimed, at(200), "timeout", true).await;
    let stored = job(stores, order.id, first.id).await;
    assert_eq!(
        (stored.attempts, stored.last_error.as_deref()),
        (2, Some("timeout"))
    );
}

/// A planned re-run (`count_attempt = false`) gives the attempt back and keeps the last error.
pub async fn retry_without_counting_keeps_attempts(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::PollPayment, t0())]).await;
    let lease = Duration::minutes(5);
    let first = claim_one(stores, t0(), lease).await;
    retry(stores, &first, at(10), "provider 500", true).await;
    let claimed = claim_one(stores, at(10), lease).await;
    assert_eq!(claimed.attempts, 2);
    retry(stores, &claimed, at(20), "still pending", false).await;
    assert_eq!(
        progress(stores, order.id, first.id).await,
        (JobState::Queued, 1, at(20), Some("provider 500".into()))
    );
    for round in 0..5 {
        let claimed = claim_one(stores, at(20 + round), lease).await;
        assert_eq!(claimed.attempts, 2, "round {round}");
        retry(stores, &claimed, at(21 + round), "still pending", false).await;
    }
    assert_eq!(job(stores, order.id, first.id).await.attempts, 1);
}

/// `bury` makes a job dead with its error, `complete` makes it done; neither is claimed again.
pub async fn bury_and_complete_end_a_job(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(
        stores,
        "moid-1",
        &[
            (JobKind::RefundPayment, at(-2)),
            (JobKind::PollPayment, at(-1)),
        ],
    )
    .await;
    let lease = Duration::seconds(30);
    let claimed = claim(stores, t0(), 10, lease).await;
    assert_eq!(claimed.len(), 2);
    let (refund, poll) = (claimed[0].id, claimed[1].id);
    stores.jobs.bury(&claimed[0], "card expired").await.unwrap();
    stores.jobs.complete(&claimed[1]).await.unwrap();

    let stored = job(stores, order.id, refund).await;
    assert_eq!(
        (stored.state, stored.last_error.as_deref(), stored.attempts),
        (JobState::Dead, Some("card expired"), 1)
    );
    let stored = job(stores, order.id, poll).await;
    assert_eq!(
        (stored.state, stored.last_error, stored.attempts),
        (JobState::Done, None, 1)
    );
    // Not even after their leases would have run out.
    assert_nothing_due(stores, at(3600), lease).await;
    assert!(stores
        .jobs
        .jobs_of(unknown_order())
        .await
        .unwrap()
        .is_empty());
}

/// Every job operation on an unknown id is `NotFound`.
pub async fn unknown_jobs_are_not_found(stores: &Stores) {
    let ghost = Job {
        id: JobId::from_uuid(Uuid::new_v4()),
        kind: JobKind::PollPayment,
        order_id: unknown_order(),
        payment_id: None,
        attempts: 1,
        max_attempts: 1,
        claim: Uuid::new_v4(),
        sent: false,
    };
    assert_not_found(stores.jobs.complete(&ghost).await);
    let failed = RunAgain::after_failure(t0(), "x");
    assert_not_found(stores.jobs.retry(&ghost, failed).await);
    assert_not_found(stores.jobs.retry(&ghost, RunAgain::as_planned(t0())).await);
    assert_not_found(stores.jobs.bury(&ghost, "x").await);
}

/// Only the current claim ends a job: a worker whose lease ran out and whose job was taken
/// over gets `Conflict` from `complete`, `retry` and `bury`, and changes nothing.
pub async fn a_stale_claim_cannot_end_a_job_taken_over(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::SendMakeCommand, t0())]).await;
    let lease = Duration::seconds(30);
    let stale = claim_one(stores, t0(), lease).await;
    let current = claim_one(stores, at(31), lease).await;
    assert_eq!((stale.id, current.attempts), (current.id, 2));
    assert_ne!(stale.claim, current.claim);
    let before = job(stores, order.id, stale.id).await;
    assert_conflict(stores.jobs.complete(&stale).await);
    assert_conflict(
        stores
            .jobs
            .retry(&stale, RunAgain::after_failure(at(40), "x"))
            .await,
    );
    assert_conflict(stores.jobs.bury(&stale, "x").await);
    assert_eq!(job(stores, order.id, stale.id).await, before);
    stores.jobs.complete(&current).await.unwrap();
    assert_eq!(job(stores, order.id, stale.id).await.state, JobState::Done);
    assert!(
        matches!(
            stores.jobs.complete(&current).await,
            Err(RepositoryError::Conflict(_))
        ),
        "an ended job is no claim's"
    );
}

/// A change that records a job's work ends the job in the same commit while its claim holds
/// it; a claim taken over ends nothing, and its change is written all the same.
pub async fn a_change_ends_the_job_whose_work_it_records_only_for_the_current_claim(
    stores: &Stores,
) {
    use coffee_domain::ports::{ClaimedJob, OrderChange};
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::SendMakeCommand, t0())]).await;
    let lease = Duration::seconds(30);
    let stale = claim_one(stores, t0(), lease).await;
    let current = claim_one(stores, at(31), lease).await;
    let change = |job: &Job, second: i64| {
        let mut change = OrderChange::new(order.id);
        change.history = vec![super::support::entry(order.id, second, None, None, "work")];
        change.completes = Some(ClaimedJob {
            id: job.id,
            claim: job.claim,
        });
        change
    };
    stores.orders.apply(change(&stale, 40)).await.unwrap();
    assert_eq!(
        job(stores, order.id, current.id).await.state,
        JobState::Running
    );
    stores.orders.apply(change(&current, 41)).await.unwrap();
    assert_eq!(
        job(stores, order.id, current.id).await.state,
        JobState::Done
    );
    assert_conflict(stores.jobs.complete(&current).await);
    assert_nothing_due(stores, at(3600), lease).await;
    let history = stores.orders.history(order.id).await.unwrap();
    assert_eq!(history.iter().filter(|e| e.message == "work").count(), 2);
}

/// An order that leaves `make_pending` ends its queued dispense deadlines in the same commit:
/// nothing is left for them to decide. Staying (the machine's progress) leaves them queued.
pub async fn leaving_make_pending_ends_the_orders_queued_deadlines(stores: &Stores) {
    use coffee_domain::OrderStatus::{MakePending, Successful};
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::DispenseDeadline, at(300))]).await;
    let other = order_with_jobs(stores, "moid-2", &[(JobKind::DispenseDeadline, at(300))]).await;
    let to = |next| {
        let mut change = super::support::status_move(order.id, order.status, next);
        change.history = vec![super::support::entry(order.id, 10, None, None, "moved")];
        change
    };
    stores.orders.apply(to(MakePending)).await.unwrap();
    let mut progress = coffee_domain::ports::OrderChange::new(order.id);
    progress.history = vec![super::support::entry(order.id, 20, None, None, "brewing")];
    progress.jobs = vec![super::support::new_job(
        JobKind::DispenseDeadline,
        order.id,
        at(400),
    )];
    stores.orders.apply(progress).await.unwrap();
    let queued = |jobs: Vec<coffee_domain::ports::JobSummary>| {
        jobs.iter()
            .filter(|j| j.kind == JobKind::DispenseDeadline && j.state == JobState::Queued)
            .count()
    };
    assert_eq!(queued(stores.jobs.jobs_of(order.id).await.unwrap()), 2);
    let mut done = super::support::status_move(order.id, MakePending, Successful);
    done.history = vec![super::support::entry(order.id, 30, None, None, "dispensed")];
    stores.orders.apply(done).await.unwrap();
    assert_eq!(queued(stores.jobs.jobs_of(order.id).await.unwrap()), 0);
    assert_eq!(queued(stores.jobs.jobs_of(other.id).await.unwrap()), 1);
}

/// Thousands of overdue polls do not hold up a paid order's make command: it is the next job
/// claimed, and claiming it stays fast.
pub async fn a_poll_storm_does_not_delay_a_make_command(stores: &Stores) {
    seed(stores).await;
    let polls: Vec<(JobKind, DateTime<Utc>)> = (0..3_000)
        .map(|n| (JobKind::PollPayment, at(-3_600 + n)))
        .collect();
    order_with_jobs(stores, "moid-polls", &polls).await;
    let paid = order_with_jobs(stores, "moid-paid", &[(JobKind::SendMakeCommand, at(0))]).await;
    let started = std::time::Instant::now();
    let first = claim(stores, t0(), 1, Duration::minutes(1)).await;
    let took = started.elapsed();
    assert_eq!(kinds(&first), [JobKind::SendMakeCommand]);
    assert_eq!(first[0].order_id, paid.id);
    assert!(
        took < std::time::Duration::from_secs(1),
        "claiming behind 3 000 polls took {took:?}"
    );
    eprintln!("make command claimed behind 3 000 overdue polls in {took:?}");
}

/// A claim marked as sending its make command hands that mark to the claim that takes over
/// after its lease ran out; putting the job back to retry clears it.
pub async fn a_sent_mark_survives_a_takeover_and_a_retry_clears_it(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(stores, "moid-1", &[(JobKind::SendMakeCommand, at(0))]).await;
    let lease = Duration::seconds(60);
    let first = claim(stores, t0(), 1, lease).await;
    assert!(!first[0].sent);
    stores.jobs.mark_sent(&first[0]).await.unwrap();
    let taken_over = claim(stores, at(61), 1, lease).await;
    assert_eq!(taken_over[0].id, first[0].id);
    assert!(
        taken_over[0].sent,
        "the takeover must know the command may be out"
    );
    assert_conflict(stores.jobs.mark_sent(&first[0]).await);
    stores
        .jobs
        .retry(
            &taken_over[0],
            RunAgain::after_failure(at(62), "not delivered"),
        )
        .await
        .unwrap();
    let retried = claim(stores, at(62), 1, lease).await;
    assert_eq!(retried[0].order_id, order.id);
    assert!(!retried[0].sent);
}

/// The backlog counts jobs per kind and state and says how long the oldest due job has waited.
pub async fn the_backlog_counts_jobs_by_kind_and_state_and_ages_the_oldest_due_one(
    stores: &Stores,
) {
    seed(stores).await;
    order_with_jobs(
        stores,
        "moid-1",
        &[
            (JobKind::PollPayment, at(-30)),
            (JobKind::PollPayment, at(100)),
            (JobKind::SendMakeCommand, at(-10)),
        ],
    )
    .await;
    let claimed = claim(stores, t0(), 1, Duration::minutes(1)).await;
    stores.jobs.complete(&claimed[0]).await.unwrap();
    let backlog = stores.jobs.backlog(t0()).await.unwrap();
    let mut counts = backlog.counts.clone();
    counts.sort_by_key(|(kind, state, _)| (kind.as_str(), state.as_str()));
    assert_eq!(
        counts,
        [
            (JobKind::PollPayment, JobState::Queued, 2),
            (JobKind::SendMakeCommand, JobState::Done, 1),
        ]
    );
    assert_eq!(backlog.oldest_overdue, Some(Duration::seconds(30)));
}

/// An idle worker's signal stays quiet until a commit queues a job, then resolves — also when
/// the commit came before the worker started waiting on it.
pub async fn committing_a_job_wakes_an_idle_worker(stores: &Stores) {
    seed(stores).await;
    let quiet = stores.jobs.jobs_committed();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), quiet)
            .await
            .is_err(),
        "woke with nothing committed"
    );
    let signal = stores.jobs.jobs_committed();
    order_with_jobs(stores, "moid-1", &[(JobKind::SendMakeCommand, at(0))]).await;
    tokio::time::timeout(std::time::Duration::from_secs(2), signal)
        .await
        .expect("the commit woke the worker");
}

/// A job due later wakes no idle worker: it would only find nothing to claim now (the
/// workers' tick finds it when its time comes).
pub async fn a_job_due_later_wakes_no_idle_worker(stores: &Stores) {
    seed(stores).await;
    let order = new_order(stores, "moid-1").await;
    let signal = stores.jobs.jobs_committed();
    let mut change = OrderChange::new(order.id);
    change.history = vec![entry(order.id, 0, None, None, "polls from now on")];
    change.jobs = vec![new_job(JobKind::PollPayment, order.id, at(5))];
    stores.orders.apply(change).await.unwrap();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), signal)
            .await
            .is_err(),
        "a job due in 5 s woke a worker now"
    );
}

/// The base fleet and one order `machine_order_id` with a make job due now: a commit that
/// queues a job, for tests of waking workers across processes.
pub async fn seed_with_job(stores: &Stores, machine_order_id: &str) {
    seed(stores).await;
    order_with_jobs(
        stores,
        machine_order_id,
        &[(JobKind::SendMakeCommand, at(0))],
    )
    .await;
}

/// An operator's retry queues a dead job again, once: its attempts start over, it is due
/// now; a job that is not dead (or retried already) is a `Conflict`, an unknown one
/// `NotFound`.
pub async fn a_dead_job_is_revived_once_by_an_operator(stores: &Stores) {
    seed(stores).await;
    let order = order_with_jobs(
        stores,
        "moid-1",
        &[
            (JobKind::RefundPayment, at(-2)),
            (JobKind::PollPayment, at(-1)),
        ],
    )
    .await;
    let lease = Duration::seconds(30);
    let claimed = claim(stores, t0(), 10, lease).await;
    let (refund, poll) = (claimed[0].id, claimed[1].id);
    stores.jobs.bury(&claimed[0], "card expired").await.unwrap();
    let dead = stores.queries.dead_jobs(None, 10).await.unwrap();
    assert_eq!(dead.iter().map(|j| j.id).collect::<Vec<_>>(), [refund]);
    assert_eq!(dead[0].last_error.as_deref(), Some("card expired"));
    let other = coffee_domain::MerchantKey::parse("m2").unwrap();
    assert!(stores
        .queries
        .dead_jobs(Some(&other), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        stores.jobs.revive(poll, at(10)).await,
        Err(RepositoryError::Conflict(_))
    ));
    stores.jobs.revive(refund, at(10)).await.unwrap();
    assert!(matches!(
        stores.jobs.revive(refund, at(11)).await,
        Err(RepositoryError::Conflict(_))
    ));
    assert!(matches!(
        stores
            .jobs
            .revive(JobId::from_uuid(Uuid::new_v4()), at(10))
            .await,
        Err(RepositoryError::NotFound(_))
    ));
    let stored = job(stores, order.id, refund).await;
    assert_eq!(
        (stored.state, stored.attempts, stored.run_at),
        (JobState::Queued, 0, at(10))
    );
    assert!(stores.queries.dead_jobs(None, 10).await.unwrap().is_empty());
    let again = claim(stores, at(10), 10, lease).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (refund, 1));
}
