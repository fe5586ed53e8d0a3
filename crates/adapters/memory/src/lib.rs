//! # coffee-adapter-memory
//!
//! In-memory implementations of the domain's ports, with exactly the semantics of the
//! production adapters (compare-and-set, all-or-nothing changes, leased jobs):
//!
//! * [`MemoryStore`] — catalogue, orders, payments, history and the job queue;
//! * [`FakeClock`] / [`SystemClock`], [`SequentialIds`] / [`RandomIds`];
//! * [`SandboxProvider`] — the demo payment provider, also the test double for payments;
//! * [`SimulatedMachine`] — the demo coffee machine, also the test double for machines.
//!
//! Demo mode runs on these; tests use them to exercise the domain in milliseconds.

mod clock;
mod sandbox;
mod simulated_machine;
mod store;

pub use clock::{FakeClock, RandomIds, SequentialIds, SystemClock};
pub use sandbox::{SandboxAction, SandboxPayment, SandboxProvider};
pub use simulated_machine::{MachineFailure, SimulatedMachine};
pub use store::MemoryStore;
