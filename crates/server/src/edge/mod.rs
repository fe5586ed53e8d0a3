//! The HTTP edge: what holds for an inbound request before any route reads it. Today that is
//! who sent it: the peer, or the client behind the reverse proxies we trust.

mod client_addr;
mod networks;

pub use client_addr::{ClientAddr, TrustedProxies};
pub use networks::{contains, parse_cidr_list, NetworkListError};
