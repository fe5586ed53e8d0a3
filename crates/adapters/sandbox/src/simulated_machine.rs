//! The simulated coffee machine: accepts make commands and, after the device's configured
//! delay, reports the configured outcome. Tests use it as the machine double.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{Clock, MachineError, MachineGateway, MakeCommand};
use coffee_domain::services::dispensing::{DispenseReport, DispenseResult};
use coffee_domain::{Device, DeviceUuid, MachineOrderId, SimulatedOutcome};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// A failure the machine double is told to produce on its next make command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineFailure {
    /// Timeout / 5xx: the command did not arrive.
    Unavailable,
    /// Refused for good.
    Rejected,
    /// The command arrives and is brewed, but its answer is lost (a timeout after sending).
    AnswerLost,
    /// The command is lost after sending and nothing is brewed; the caller cannot tell this
    /// from `AnswerLost`.
    LostAfterSending,
}

/// How many distinct make commands a simulated machine remembers: enough to recognise any
/// repeat the worker sends (a repeat comes within the dispense deadline), while a sandbox or
/// a benchmark that runs for days holds a bounded amount of memory.
pub const REMEMBERED_COMMANDS: usize = 1024;

#[derive(Debug, Default)]
struct State {
    /// The last `REMEMBERED_COMMANDS` distinct commands, oldest first.
    accepted: VecDeque<MakeCommand>,
    seen: HashSet<(DeviceUuid, MachineOrderId)>,
    make_calls: usize,
    failures: VecDeque<MachineFailure>,
    offline: HashSet<DeviceUuid>,
}

pub struct SimulatedMachine {
    clock: Arc<dyn Clock>,
    reports: Option<UnboundedSender<DispenseReport>>,
    state: Mutex<State>,
}

impl SimulatedMachine {
    /// A machine that does not report results (tests drive results by hand).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            reports: None,
            state: Mutex::default(),
        }
    }

    /// A machine that reports each result on `reports` after the device's delay.
    pub fn reporting(clock: Arc<dyn Clock>, reports: UnboundedSender<DispenseReport>) -> Self {
        Self {
            clock,
            reports: Some(reports),
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fail_next(&self, failure: MachineFailure) {
        self.lock().failures.push_back(failure);
    }

    pub fn set_offline(&self, device: &DeviceUuid, offline: bool) {
        let mut state = self.lock();
        if offline {
            state.offline.insert(device.clone());
        } else {
            state.offline.remove(device);
        }
    }

    /// Distinct make commands accepted (a repeat with the same machine order id is not a
    /// second drink), the last [`REMEMBERED_COMMANDS`] of them, oldest first.
    pub fn accepted(&self) -> Vec<MakeCommand> {
        self.lock().accepted.iter().cloned().collect()
    }

    /// Every make call, including failed and repeated ones.
    pub fn make_calls(&self) -> usize {
        self.lock().make_calls
    }
}

#[async_trait]
impl MachineGateway for SimulatedMachine {
    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError> {
        if self.lock().offline.contains(&device.device_uuid) {
            return Ok(None);
        }
        Ok(Some(self.clock.now()))
    }

    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError> {
        let failure;
        {
            let mut state = self.lock();
            state.make_calls += 1;
            failure = state.failures.pop_front();
            match failure {
                Some(MachineFailure::Unavailable) => {
                    return Err(MachineError::Unavailable("simulated timeout".into()))
                }
                Some(MachineFailure::Rejected) => {
                    return Err(MachineError::Rejected("simulated refusal".into()))
                }
                Some(MachineFailure::LostAfterSending) => {
                    return Err(MachineError::OutcomeUnknown(
                        "simulated timeout after sending".into(),
                    ))
                }
                Some(MachineFailure::AnswerLost) | None => {}
            }
            let key = (
                command.device.device_uuid.clone(),
                command.machine_order_id.clone(),
            );
            if !state.seen.insert(key) {
                return Ok(()); // the same order again: acknowledged, not brewed twice
            }
            if state.accepted.len() == REMEMBERED_COMMANDS {
                if let Some(oldest) = state.accepted.pop_front() {
                    state
                        .seen
                        .remove(&(oldest.device.device_uuid, oldest.machine_order_id));
                }
            }
            state.accepted.push_back(command.clone());
        }
        let answered = if failure == Some(MachineFailure::AnswerLost) {
            Err(MachineError::OutcomeUnknown(
                "simulated timeout after the machine took the command".into(),
            ))
        } else {
            Ok(())
        };
        let simulation = command.device.simulation;
        let result = match simulation.outcome {
            SimulatedOutcome::Dispensed => DispenseResult::Dispensed,
            SimulatedOutcome::Failed => DispenseResult::Failed {
                code: Some("simulated_failure".into()),
            },
            SimulatedOutcome::Silent => return answered,
        };
        if let Some(reports) = self.reports.clone() {
            let report = DispenseReport {
                device: command.device.device_uuid.clone(),
                machine_order_id: command.machine_order_id.clone(),
                result,
                at: self.clock.now(),
            };
            let clock = self.clock.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(simulation.delay_ms)).await;
                let _ = reports.send(DispenseReport {
                    at: clock.now(),
                    ..report
                });
            });
        }
        answered
    }
}
