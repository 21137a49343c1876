//! `--allow-from` client networks (a dnsmasq-rs extension): `ip/prefix` or a single address;
//! IPv4-mapped IPv6 clients match IPv4 networks.

use std::net::IpAddr;

/// One `--allow-from` network: `ip/prefix`, or a bare address (a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`; host bits are ignored.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net: ip, prefix })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mask = |bits: u32, prefix: u8| -> u128 {
            if prefix == 0 {
                0
            } else {
                (u128::MAX << (bits - u32::from(prefix))) & (u128::MAX >> (128 - bits))
            }
        };
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = mask(32, self.prefix);
                (u128::from(u32::from(n)) & m) == (u128::from(u32::from(a)) & m)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask(128, self.prefix);
                (u128::from(n) & m) == (u128::from(a) & m)
            }
            _ => false,
        }
    }
}
