//! # coffee-adapter-tbank — the T-Bank (Tinkoff) Internet Acquiring MAPI v2 payment gateway
//!
//! Implements the domain's [`PaymentGateway`](coffee_domain::ports::PaymentGateway) port for
//! T-Bank (`https://securepay.tinkoff.ru/v2`):
//!
//! * **create** — `Init` with `PayType` `O` (capture at once) or `T` (hold, capture after the
//!   drink), `OrderId` = our payment attempt id, our order id in `DATA`, a 54-FZ `Receipt` when
//!   the customer left an email or phone. An `Init` whose answer was lost is settled with
//!   `CheckOrder(OrderId)`, never by a blind second `Init`;
//! * **get** — `GetState`: the only view of a payment the domain trusts;
//! * **capture / cancel / refund** — `Confirm`, `Cancel`, `Cancel` with `Amount`;
//! * **verify_notification** — the `Token` of the notification, checked in constant time with
//!   the password of the terminal it names.
//!
//! Every request carries the `Token` of [`token`]. Files by role (the same in every
//! external-service adapter): `config.rs` settings, `client.rs` transport, `transformers.rs`
//! wire types and their mapping, `notification.rs` inbound verification, `gateway.rs` the port;
//! besides them `token.rs` (the signature) and `account.rs` (per-merchant credentials).

mod account;
mod client;
mod config;
mod gateway;
mod notification;
pub mod token;
pub mod transformers;

pub use account::{Password, TbankAccount, TbankAccounts};
pub use client::TbankError;
pub use config::{ConfigError, TbankConfig, DEFAULT_API_URL};
pub use gateway::TbankGateway;
pub use notification::WEBHOOK_PATH;
