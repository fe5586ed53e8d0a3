//! # coffee-adapter-memory
//!
//! In-memory storage with exactly the semantics of the Postgres adapter (compare-and-set,
//! all-or-nothing changes, leased jobs with claim tokens):
//!
//! * [`MemoryStore`] — catalogue, orders, payments, history and the job queue, one module per
//!   port under `store/`;
//! * [`FakeClock`] / [`SystemClock`], [`SequentialIds`] / [`RandomIds`].
//!
//! Demo mode stores its data here; tests use it to exercise the domain in milliseconds. The
//! fake outside world (payment provider, coffee machines) is `coffee-adapter-sandbox`.

mod clock;
mod store;

pub use clock::{FakeClock, RandomIds, SequentialIds, SystemClock};
pub use store::MemoryStore;
