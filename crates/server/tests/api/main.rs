//! HTTP tests of the customer flow against the real application on a free port.

mod customer_flow;
mod errors;
mod helpers;
