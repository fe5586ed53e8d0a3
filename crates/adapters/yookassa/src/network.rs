//! Address helpers: CIDR lists from configuration and the client address behind proxies.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Parses one network: `a.b.c.d/n`, `x:y::/n`, or a bare address (a single-host network).
/// Host bits are cleared (`10.1.2.3/8` → `10.0.0.0/8`).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty network".to_owned());
    }
    if text.contains('/') {
        return text
            .parse::<IpNet>()
            .map(|net| net.trunc())
            .map_err(|_| format!("{text:?} is not a CIDR network"));
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))
}

/// Parses a comma- (or whitespace-) separated list such as `YOOKASSA_TRUSTED_IPS` or
/// `TRUSTED_PROXIES`: `"185.71.76.0/27, 77.75.156.11"`. An empty string is an empty list;
/// any bad entry fails the whole list, naming the entry.
pub fn parse_cidr_list(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(parse_cidr)
        .collect()
}

/// Whether `ip` lies in one of `networks`. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as
/// dual-stack sockets report IPv4 peers) is checked as the IPv4 address it is.
pub fn is_trusted(ip: IpAddr, networks: &[IpNet]) -> bool {
    let ip = canonical(ip);
    networks.iter().any(|net| net.contains(&ip))
}

/// The real client address of a request.
///
/// `X-Forwarded-For` is honoured only when the direct `peer` is a trusted proxy; then the
/// list is walked from the right (the entry our proxy appended) and the first address that is
/// not itself a trusted proxy is the client. An unreadable entry stops the walk at the last
/// trusted hop, so a forged or broken header can never make an outside sender look trusted.
pub fn client_ip(peer: IpAddr, x_forwarded_for: Option<&str>, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted_proxies) {
        return peer;
    }
    let Some(header) = x_forwarded_for else {
        return peer;
    };
    let mut current = peer;
    for entry in header.rsplit(',') {
        let Some(hop) = parse_forwarded_entry(entry) else {
            return current;
        };
        if !is_trusted(hop, trusted_proxies) {
            return hop;
        }
        current = hop;
    }
    current
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        IpAddr::V4(v4) => IpAddr::V4(v4),
    }
}
