//! The HTTP edge: what holds for an inbound request before any route reads it, and for every
//! response on its way out. Who sent a request (the peer, or the client behind the reverse
//! proxies we trust), the abuse limits it is held to, the security headers, and errors
//! actix-web answers by itself, in the project's own format.

mod client_addr;
mod errors;
mod headers;
mod networks;
mod rate_limit;

pub use client_addr::{ClientAddr, TrustedProxies};
pub use errors::{failure_response, is_form, own_error_format, wants_json, BODY_LIMIT};
pub use headers::{security_headers, CONTENT_SECURITY_POLICY};
pub use networks::{contains, parse_cidr_list, NetworkListError};
pub use rate_limit::{limit_by_client, limit_scans, Limited, RateLimits};
