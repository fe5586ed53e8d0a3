//! # coffee-adapter-tmetr
//!
//! The domain's [`MachineGateway`](coffee_domain::ports::MachineGateway) for coffee machines
//! connected to FWSoft's Tmetr ("ТМетр") telemetry cloud. It owns:
//!
//! * the three Tmetr HTTP calls: the drink price (`static/drink`), the make
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
//!
//! Files by role (the same in every external-service adapter): `config.rs` settings,
//! `client.rs` transport, `transformers.rs` wire types and their mapping, `gateway.rs` the
//! port; besides them `token.rs` (bearer tokens). Tmetr sends nothing inbound, so there is no
//! `notification.rs`.

mod client;
mod config;
mod gateway;
pub mod token;
mod transformers;

pub use config::{ConfigError, TmetrConfig, TokenRefresh, DEFAULT_TIMEOUT};
pub use gateway::TmetrGateway;
pub use transformers::heartbeat_time;
