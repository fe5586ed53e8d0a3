//! Network lists from configuration, such as `TRUSTED_PROXIES` and `YOOKASSA_TRUSTED_IPS`.

use ipnet::IpNet;
use std::net::IpAddr;

/// An entry of a network list that is not a network; the message names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkListError {
    #[error("{0:?} is not a CIDR network")]
    NotCidr(String),
    #[error("{0:?} is not an IP address or CIDR network")]
    NotAddress(String),
}

/// Parses a comma- (or whitespace-) separated list such as `"185.71.76.0/27, 77.75.156.11"`.
/// Each entry is `a.b.c.d/n`, `x:y::/n` or a bare address (a single-host network); host bits
/// are cleared (`10.1.2.3/8` → `10.0.0.0/8`). An empty string is an empty list; any bad entry
/// fails the whole list.
pub fn parse_cidr_list(text: &str) -> Result<Vec<IpNet>, NetworkListError> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(parse_network)
        .collect()
}

fn parse_network(entry: &str) -> Result<IpNet, NetworkListError> {
    if entry.contains('/') {
        return entry
            .parse::<IpNet>()
            .map(|net| net.trunc())
            .map_err(|_| NetworkListError::NotCidr(entry.to_owned()));
    }
    entry
        .parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| NetworkListError::NotAddress(entry.to_owned()))
}

/// Whether `ip` lies in one of `networks`. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as
/// dual-stack sockets report IPv4 peers) is checked as the IPv4 address it is.
pub fn contains(networks: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    networks.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_networks_and_bare_addresses() {
        let nets =
            parse_cidr_list(" 185.71.76.0/27, 77.75.156.11 ,2a02:5180::/32\n10.1.2.3/8 ").unwrap();
        let printed: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(
            printed,
            [
                "185.71.76.0/27",
                "77.75.156.11/32",
                "2a02:5180::/32",
                "10.0.0.0/8"
            ]
        );
        assert!(parse_cidr_list("").unwrap().is_empty());
        assert!(parse_cidr_list(" , ").unwrap().is_empty());
    }

    #[test]
    fn a_list_with_a_bad_entry_is_refused_naming_the_entry() {
        for bad in [
            "185.71.76.0/33",
            "300.1.1.1",
            "abc",
            "1.2.3.4/24, nope",
            "2a02:5180::/129",
            "1.2.3.4/",
        ] {
            let error = parse_cidr_list(bad).unwrap_err();
            assert!(!error.to_string().is_empty(), "{bad}");
        }
        assert!(parse_cidr_list("1.2.3.4/24, nope")
            .unwrap_err()
            .to_string()
            .contains("nope"));
    }

    #[test]
    fn membership_counts_ipv4_mapped_addresses_as_ipv4() {
        let nets = parse_cidr_list("185.71.76.0/27").unwrap();
        assert!(contains(&nets, "185.71.76.31".parse().unwrap()));
        assert!(!contains(&nets, "185.71.76.32".parse().unwrap()));
        assert!(contains(&nets, "::ffff:185.71.76.1".parse().unwrap()));
    }
}
