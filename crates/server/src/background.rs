//! The background worker inside the server process: runs due jobs, expires unpaid orders and
//! feeds simulated machines' reports into the domain. Stops cleanly on shutdown.

use coffee_domain::services::dispensing::{DispenseReport, Dispensing};
use coffee_domain::services::expiry::Expiry;
use coffee_domain::services::worker::Worker;
use coffee_domain::services::Context;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const JOB_BATCH: usize = 32;
const EXPIRY_BATCH: usize = 200;

pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts the loops; `tick` is how often they look for work when idle.
    pub fn start(
        ctx: Arc<Context>,
        reports: Option<mpsc::UnboundedReceiver<DispenseReport>>,
        tick: Duration,
        job_loops: usize,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        // Several loops: one slow provider or machine call does not hold up the others. Idle,
        // only the first looks on the tick for jobs whose time has come (the others look
        // eight times less often, in case it is stuck on a slow call); a loop that finds more
        // than one job due wakes them all, so a backlog is worked by every loop.
        let backlog = Arc::new(tokio::sync::Notify::new());
        for index in 0..job_loops.max(1) {
            let worker = Worker::new(ctx.clone());
            let mut stop_jobs = stopped.clone();
            let queue = ctx.ports.jobs.clone();
            let backlog = backlog.clone();
            let tick = if index == 0 { tick } else { tick * 8 };
            tasks.push(tokio::spawn(async move {
                loop {
                    // Taken before claiming, so a job committed meanwhile is not slept through.
                    let committed = queue.jobs_committed();
                    let ran = match worker.run_due(JOB_BATCH).await {
                        Ok(ran) => ran,
                        Err(error) => {
                            tracing::warn!(%error, "job queue unavailable");
                            0
                        }
                    };
                    if ran > 1 {
                        // More than one was due: there may be more, so the others help.
                        backlog.notify_waiters();
                    }
                    if ran == JOB_BATCH {
                        continue; // more may be due
                    }
                    // Woken by a commit that queued a job, by a backlog another loop found,
                    // or by the tick for jobs whose time has come (polls, deadlines,
                    // retries) and other replicas' jobs.
                    tokio::select! {
                        _ = stop_jobs.changed() => break,
                        _ = committed => {}
                        _ = backlog.notified() => {}
                        _ = tokio::time::sleep(tick) => {}
                    }
                }
            }));
        }

        let expiry = Expiry::new(ctx.clone());
        let mut stop_expiry = stopped.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                if let Err(error) = expiry.expire_due(EXPIRY_BATCH).await {
                    tracing::warn!(%error, "expiry sweep failed");
                }
                tokio::select! {
                    _ = stop_expiry.changed() => break,
                    _ = tokio::time::sleep(tick * 4) => {}
                }
            }
        }));

        if let Some(reports) = reports {
            tasks.extend(report_lanes(
                Arc::new(Dispensing::new(ctx)),
                reports,
                job_loops.max(1),
                stopped,
            ));
        }
        Self { stop, tasks }
    }

    /// Asks the loops to stop and waits for the job (and report) in hand to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Machines' reports, applied in `lanes` concurrent lanes: one slow commit does not hold up
/// every other machine's report, while the reports of one order stay in the order they came
/// (an order always goes to the same lane).
fn report_lanes(
    dispensing: Arc<Dispensing>,
    mut reports: mpsc::UnboundedReceiver<DispenseReport>,
    lanes: usize,
    stopped: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(lanes + 1);
    let mut senders = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let (lane, mut lane_reports) = mpsc::unbounded_channel::<DispenseReport>();
        senders.push(lane);
        let dispensing = dispensing.clone();
        let mut stop = stopped.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    report = lane_reports.recv() => match report {
                        Some(report) => apply(&dispensing, report).await,
                        None => break,
                    }
                }
            }
        }));
    }
    let mut stop = stopped;
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                report = reports.recv() => match report {
                    Some(report) => {
                        let lane = lane_of(&report, senders.len());
                        if let Some(sender) = senders.get(lane) {
                            // A lane ends only on shutdown, when this loop ends too.
                            let _ = sender.send(report);
                        }
                    }
                    None => break,
                }
            }
        }
    }));
    tasks
}

/// The lane of an order's reports: the same for every report of that order.
fn lane_of(report: &DispenseReport, lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    report.device.as_str().hash(&mut hasher);
    report.machine_order_id.as_str().hash(&mut hasher);
    (hasher.finish() % lanes.max(1) as u64) as usize
}

async fn apply(dispensing: &Dispensing, report: DispenseReport) {
    let machine_order_id = report.machine_order_id.clone();
    if let Err(error) = dispensing.apply_report(report).await {
        tracing::error!(machine_order_id = %machine_order_id, %error, "dispense report not applied");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffee_domain::ids::{DeviceUuid, MachineOrderId};
    use coffee_domain::services::dispensing::DispenseResult;

    fn report(device: &str, machine_order_id: &str) -> DispenseReport {
        DispenseReport {
            device: DeviceUuid::parse(device).unwrap(),
            machine_order_id: MachineOrderId::parse(machine_order_id).unwrap(),
            result: DispenseResult::Dispensed,
            at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn every_report_of_an_order_goes_to_the_same_lane() {
        let lane = lane_of(&report("dev-1", "order-7"), 4);
        for _ in 0..10 {
            assert_eq!(lane_of(&report("dev-1", "order-7"), 4), lane);
        }
    }

    #[test]
    fn the_orders_of_a_fleet_spread_over_every_lane() {
        let mut used = [0usize; 4];
        for n in 0..400 {
            used[lane_of(&report(&format!("dev-{}", n % 7), &format!("order-{n}")), 4)] += 1;
        }
        assert!(used.iter().all(|&count| count > 50), "{used:?}");
    }
}
