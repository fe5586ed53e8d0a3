//! YooKassa's notification networks and the sender check against them. Which address a
//! notification really comes from (behind reverse proxies) is decided at the server's HTTP edge
//! and arrives here resolved, as `InboundNotification::sender_ip`.

use ipnet::{AddrParseError, IpNet};
use std::net::IpAddr;

/// Parses one entry of YooKassa's published list ([`crate::YOOKASSA_NETWORKS`]): `a.b.c.d/n`,
/// `x:y::/n` or a bare address (a single-host network). Host bits are cleared.
pub(crate) fn parse_cidr(text: &str) -> Result<IpNet, AddrParseError> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(net) => Ok(net.trunc()),
        Err(error) => text.parse::<IpAddr>().map(IpNet::from).map_err(|_| error),
    }
}

/// Whether `ip` lies in one of `networks`. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as
/// dual-stack sockets report IPv4 peers) is checked as the IPv4 address it is.
pub fn is_trusted(ip: IpAddr, networks: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    networks.iter().any(|net| net.contains(&ip))
}
