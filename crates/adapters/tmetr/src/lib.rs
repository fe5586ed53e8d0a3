//! # coffee-adapter-tmetr
//!
//! The domain's [`MachineGateway`](coffee_domain::ports::MachineGateway) for coffee machines
//! connected to FWSoft's Tmetr ("ТМетр") telemetry cloud. It owns:
//!
//! * the three Tmetr HTTP calls (reference §9.4): the drink price (`static/drink`), the make
//!   command (`command/make`, a one-element JSON array) and the last heartbeat
//!   (`stat/heartbeat/recent`), with their size vocabularies (`SMALL`/`MEDIUM`/`BIG` and
//!   `small`/`medium`/`big`), headers and a timeout on every call;
//! * the translation of HTTP outcomes into [`MachineError`](coffee_domain::ports::MachineError):
//!   timeouts, network errors, 429 and 5xx are `Unavailable` (the caller retries), other 4xx
//!   `Rejected`, a missing or zero price `PriceUnknown` (never an invented price);
//! * the bearer token: a static JWT watched for expiry, or access tokens obtained and
//!   refreshed from an OAuth2 token endpoint before they expire and once after a 401.
//!
//! It does not decide anything: whether a heartbeat is recent enough, whether to retry and
//! what to do with the money are the domain's. Configuration ([`TmetrConfig`]) is injected by
//! the server; this crate reads no environment variables.

mod config;
mod gateway;
mod http;
pub mod token;
mod wire;

pub use config::{TmetrConfig, TmetrConfigError, TokenRefresh, DEFAULT_TIMEOUT};
pub use gateway::TmetrGateway;
pub use wire::heartbeat_time;
