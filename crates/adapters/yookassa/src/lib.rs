//! # coffee-adapter-yookassa — the YooKassa API v3 payment gateway
//!
//! Implements the domain's [`PaymentGateway`](coffee_domain::ports::PaymentGateway) port for
//! YooKassa (`https://api.yookassa.ru/v3`):
//!
//! * **create** — `POST /payments` with HTTP Basic `shopId:secretKey`, the caller's
//!   `Idempotence-Key`, the amount as an exact decimal string, `capture` from the merchant's
//!   capture mode, a redirect confirmation, our ids in `metadata` and a 54-FZ `receipt` when the
//!   customer left an email or phone;
//! * **get** — `GET /payments/{id}`: the only view of a payment the domain trusts;
//! * **capture / cancel / refund** — `POST /payments/{id}/capture`, `…/cancel`, `POST /refunds`;
//! * **verify_notification** — the webhook carries no signature, so only the sender address is
//!   checked (against YooKassa's published networks) and the body is read for *which* object
//!   changed; the domain then re-fetches it with `get_payment`.
//!
//! Transport rules (YooKassa's idempotence and response-handling rules, in `client.rs`): every
//! call has a timeout; HTTP 202, 5xx, 429 and network errors are retried with the **same** `Idempotence-Key` and body after a backoff
//! (honouring `Retry-After`, capped) up to [`YookassaConfig::max_attempts`], then reported as
//! `Unavailable`; other 4xx become typed errors carrying YooKassa's `code` and `description`.
//!
//! Credentials are per merchant and supplied by the server through [`YookassaAccounts`]; the
//! secret key lives in a [`SecretKey`] whose `Debug` prints `***` and is never logged, and
//! request bodies (which may carry a receipt's email or phone) are never logged either.
//!
//! Provider statuses are translated in [`transformers`] with exhaustive matches: a status this
//! crate does not know becomes `ProviderPaymentStatus::Other`, never a known status.
//!
//! Files by role (the same in every external-service adapter): `config.rs` settings,
//! `client.rs` transport, `transformers/` wire types and their mapping, `notification.rs`
//! inbound verification, `gateway.rs` the port; besides them `account.rs` (per-merchant
//! credentials) and `network.rs` (CIDR lists, the client address behind proxies).

mod account;
mod client;
mod config;
mod gateway;
mod network;
mod notification;
pub mod transformers;

pub use account::{SecretKey, YookassaAccount, YookassaAccounts};
pub use config::{ConfigError, YookassaConfig, DEFAULT_API_URL, YOOKASSA_NETWORKS};
pub use gateway::YookassaGateway;
pub use ipnet::IpNet;
pub use network::is_trusted;
