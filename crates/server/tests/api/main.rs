#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! HTTP tests of the customer flow against the real application on a free port.

mod branding;
mod console;
mod console_api;
mod console_fleet;
mod console_order;
mod console_orders;
mod console_overview;
mod customer_flow;
mod devices;
mod edge;
mod errors;
mod helpers;
mod mqtt_flow;
mod openapi;
mod rate_limits;
mod tbank;
mod tmetr_flow;
mod yookassa;
mod yookassa_webhooks;
