//! # coffee-test-support
//!
//! Test-only helpers shared by the test suites (never a runtime dependency):
//!
//! * [`fixtures`] — builders of merchants, devices and drinks, from the fleet file's defaults;
//! * [`fleet_file`] — fleets of those, as the TOML `coffee-pay fleet apply` reads or as the
//!   domain's `Fleet`;
//! * [`contract`] — the repository contract: one `pub async fn` check per rule every storage
//!   adapter must keep, and [`contract_tests!`] to run them all as separate tests;
//! * [`test_db`] — throw-away Postgres databases cloned from a template migrated once per
//!   test process, skipped loudly (or failed under `CI=true`) when Postgres is not reachable;
//! * [`test_broker`] — the MQTT broker tests use (Mosquitto), skipped loudly (or failed under
//!   `CI=true`) when unreachable, unique topics per test, and a probe client that plays the
//!   machines;
//! * [`fakes`] — stateful local HTTP fakes of YooKassa and Tmetr for end-to-end tests.
//!
//! Its checks report violations by panicking, as tests do; hence `unwrap` is allowed here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod contract;
pub mod fakes;
pub mod fixtures;
pub mod fleet_file;
pub mod test_broker;
pub mod test_db;
