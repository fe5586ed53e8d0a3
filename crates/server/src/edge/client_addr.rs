//! The address a request really comes from, behind the reverse proxies we trust.

use super::networks::contains;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;
use std::future::{ready, Ready};
use std::net::IpAddr;

/// `TRUSTED_PROXIES`: the peers whose `X-Forwarded-For` is believed. The server registers it
/// as app data; without it no proxy is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        contains(&self.0, ip)
    }

    /// The client of a request that came from `peer` with these `X-Forwarded-For` header
    /// lines.
    ///
    /// The header is ignored unless `peer` is a trusted proxy. Then all its lines, in order,
    /// are one list of hops (a proxy may add a line of its own instead of extending the
    /// client's), walked from the right — the nearest hop — past trusted proxies: the first
    /// other address is the client. An unreadable entry stops the walk at the last trusted
    /// hop, so a forged or broken header never makes an outside sender look like another.
    pub fn client_addr(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let hops = forwarded_for.iter().flat_map(|line| line.split(','));
        let mut nearest_trusted = peer;
        for entry in hops.rev() {
            let Some(hop) = parse_hop(entry) else {
                return nearest_trusted;
            };
            if !self.contains(hop) {
                return hop;
            }
            nearest_trusted = hop;
        }
        nearest_trusted
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// Who sent a request, resolved through [`TrustedProxies`]: an extractor for every inbound
/// webhook and report route. `None` when the connection has no peer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    pub fn of(request: &HttpRequest) -> Self {
        let untrusting = TrustedProxies::default();
        let proxies = request
            .app_data::<web::Data<TrustedProxies>>()
            .map_or(&untrusting, |data| data.get_ref());
        // A line that is not text counts as one unreadable entry: it stops the walk there.
        let lines: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .map(|value| value.to_str().unwrap_or(""))
            .collect();
        Self(
            request
                .peer_addr()
                .map(|peer| proxies.client_addr(peer.ip(), &lines)),
        )
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}

impl FromRequest for ClientAddr {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::parse_cidr_list;
    use actix_web::test::TestRequest;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::new(parse_cidr_list(list).unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_client_is_the_peer() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_addr(ip("203.0.113.7"), &["185.71.76.1"]),
            ip("203.0.113.7")
        );
        assert_eq!(none.client_addr(ip("203.0.113.7"), &[]), ip("203.0.113.7"));
    }

    #[test]
    fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
        let proxies = proxies("10.0.0.0/8");
        assert_eq!(
            proxies.client_addr(ip("203.0.113.7"), &["185.71.76.1"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            proxies.client_addr(ip("203.0.113.7"), &["185.71.76.1", "10.0.0.2"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy() {
        let proxies = proxies("10.0.0.0/8, 127.0.0.1");
        // A forged left-most entry is skipped: the right-most non-proxy hop is the client.
        assert_eq!(
            proxies.client_addr(ip("127.0.0.1"), &["185.71.76.1, 203.0.113.9, 10.0.0.2"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["185.71.76.1"]),
            ip("185.71.76.1")
        );
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["[2a02:5180::1]:443"]),
            ip("2a02:5180::1")
        );
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["185.71.76.1:5555"]),
            ip("185.71.76.1")
        );
    }

    #[test]
    fn a_forged_first_header_line_does_not_get_past_a_proxy_that_adds_its_own_line() {
        let proxies = proxies("10.0.0.0/8");
        // The client sent a YooKassa address; the proxy appended the real one on a new line.
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["185.71.76.1", "203.0.113.7"]),
            ip("203.0.113.7")
        );
        // Lines and commas make one list: hops of the last line are the nearest ones.
        assert_eq!(
            proxies.client_addr(
                ip("10.0.0.1"),
                &["185.71.76.1, 198.51.100.4", "203.0.113.7, 10.0.0.3"]
            ),
            ip("203.0.113.7")
        );
        // Through trusted proxies only, the walk reaches the earlier line.
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["185.71.76.1", "10.0.0.3", "10.0.0.2"]),
            ip("185.71.76.1")
        );
    }

    #[test]
    fn an_unreadable_entry_falls_back_to_the_last_trusted_hop() {
        let proxies = proxies("10.0.0.0/8");
        assert_eq!(proxies.client_addr(ip("10.0.0.1"), &[]), ip("10.0.0.1"));
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["10.0.0.2, 10.0.0.3"]),
            ip("10.0.0.2")
        );
        // An unreadable entry stops the walk: the result is a proxy, never a forged address.
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["185.71.76.1, garbage"]),
            ip("10.0.0.1")
        );
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), &["185.71.76.1", "garbage"]),
            ip("10.0.0.1")
        );
        assert_eq!(proxies.client_addr(ip("10.0.0.1"), &[""]), ip("10.0.0.1"));
    }

    #[test]
    fn an_ipv4_mapped_peer_is_checked_and_reported_as_ipv4() {
        let proxies = proxies("10.0.0.0/8");
        assert_eq!(
            proxies.client_addr(ip("::ffff:10.0.0.1"), &["::ffff:185.71.76.1"]),
            ip("185.71.76.1")
        );
        assert_eq!(
            TrustedProxies::default().client_addr(ip("::ffff:203.0.113.7"), &[]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_extractor_reads_every_header_line_and_the_registered_proxies() {
        let request = TestRequest::default()
            .peer_addr("10.0.0.1:4000".parse().unwrap())
            .append_header(("x-forwarded-for", "185.71.76.1"))
            .append_header(("x-forwarded-for", "203.0.113.7"))
            .data(proxies("10.0.0.0/8"))
            .to_http_request();
        assert_eq!(
            ClientAddr::of(&request),
            ClientAddr(Some(ip("203.0.113.7")))
        );

        let unregistered = TestRequest::default()
            .peer_addr("10.0.0.1:4000".parse().unwrap())
            .append_header(("x-forwarded-for", "185.71.76.1"))
            .to_http_request();
        assert_eq!(
            ClientAddr::of(&unregistered),
            ClientAddr(Some(ip("10.0.0.1")))
        );
        assert_eq!(
            ClientAddr::of(&TestRequest::default().to_http_request()).0,
            None
        );
    }
}
