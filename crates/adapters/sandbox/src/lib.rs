//! # coffee-adapter-sandbox
//!
//! A fake outside world that lives in this process, behind the same ports as the real one:
//!
//! * [`SandboxProvider`] (`payment_provider.rs`) — the `PaymentGateway` of demo mode, paid
//!   through our own checkout page; in tests the payment double that records every call and
//!   fails on request;
//! * [`SimulatedMachine`] (`simulated_machine.rs`) — the `MachineGateway` of demo mode, which
//!   reports each drink after the device's configured delay and outcome; in tests the machine
//!   double.
//!
//! Storage is not here: that is `coffee-adapter-memory` (or Postgres).

mod payment_provider;
mod simulated_machine;

pub use payment_provider::{SandboxAction, SandboxPayment, SandboxProvider};
pub use simulated_machine::{MachineFailure, SimulatedMachine, REMEMBERED_COMMANDS};
