//! # coffee-server — the composition root
//!
//! Owns everything that is not a decision: configuration (`config`), the actix-web routes
//! (`routes`, the state they share in `state`, the table in `app`; errors mapped to HTTP in
//! one place: `error`), the HTTP edge every request and response passes (`edge`: client
//! address, security headers, actix-web's own refusals in our format), the tera pages
//! (`pages`, templates in the top-level `templates/`, their CSS and script in `static/`), the
//! fleet file (`fleet`), the import from the original system (`moving_over`), the background worker (`background`), wiring adapters into ports
//! (`startup`) and the `coffee-pay` CLI (`main.rs`).

pub mod accounts;
pub mod app;
pub mod background;
pub mod catalog_cache;
pub mod config;
pub mod console;
pub mod demo;
pub mod device_auth;
pub mod edge;
pub mod error;
pub mod fleet;
pub mod linkify;
pub mod metrics;
pub mod moving_over;
pub mod openapi;
pub mod order_bells;
pub mod pages;
pub mod routes;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod urls;
