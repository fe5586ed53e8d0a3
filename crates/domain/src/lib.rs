//! # coffee-domain — the hexagon
//!
//! Owns everything the Coffee Payments Server *decides*: money as integer kopecks, the
//! merchants/devices/drinks catalogue and its rules ([`fleet_rules`]), orders and their seven
//! statuses, payments and their money state, the side-effect jobs, the port traits adapters
//! implement ([`ports`]), the pure decisions of what each event does to an order
//! ([`decisions`]), and the use-case services that the HTTP layer and the background worker
//! call ([`services`]: each talks to the outside world, then commits a decision).
//!
//! It knows no web framework, database, HTTP client or MQTT crate; CI checks that with
//! `cargo tree -p coffee-domain -e normal`.
//!
//! The two rules it exists to enforce:
//! * exactly one make command per paid order (compare-and-set transitions, see [`status`]);
//! * money taken and no drink ⇒ a refund or hold-release job, committed atomically with the
//!   transition that decided it (see [`decisions::compensation`]).

pub mod branding;
pub mod catalog;
pub mod console;
pub mod decisions;
pub mod fleet_rules;
pub mod ids;
pub mod jobs;
pub mod money;
pub mod moving_over;
pub mod order;
pub mod payment;
pub mod ports;
pub mod services;
pub mod settings;
pub mod status;

pub use branding::{plain_text_from_html, Branding, DrinkReceipt};
pub use catalog::*;
pub use console::*;
pub use fleet_rules::FleetRuleError;
pub use ids::*;
pub use jobs::*;
pub use money::*;
pub use order::*;
pub use payment::*;
pub use status::*;
