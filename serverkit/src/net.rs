//! Network policy shared by the DNS servers: which UDP sources may be answered.

use std::net::{IpAddr, SocketAddr};

/// Whether a UDP source can be answered (house style B2, "sanitize the source"): never port
/// 0, an unspecified, broadcast or multicast address (also IPv4-mapped) — a reply there is
/// either undeliverable or a reflection towards many hosts. Such datagrams are dropped
/// without a reply.
pub fn answerable_source(src: SocketAddr) -> bool {
    if src.port() == 0 {
        return false;
    }
    match src.ip() {
        IpAddr::V4(ip) => !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast()),
        IpAddr::V6(ip) => {
            let mapped_bad = ip
                .to_ipv4_mapped()
                .is_some_and(|v4| v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast());
            !(ip.is_unspecified() || ip.is_multicast() || mapped_bad)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswerable_udp_sources() {
        for ok in [
            "10.0.0.1:5353",
            "127.0.0.1:1",
            "[fd00::1]:53",
            "[::ffff:10.0.0.1]:53",
        ] {
            assert!(answerable_source(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "10.0.0.1:0",
            "0.0.0.0:53",
            "255.255.255.255:53",
            "224.0.0.251:5353",
            "[::]:53",
            "[ff02::fb]:5353",
            "[::ffff:255.255.255.255]:53",
            "[::ffff:239.1.1.1]:53",
            "[::ffff:0.0.0.0]:53",
        ] {
            assert!(!answerable_source(bad.parse().unwrap()), "{bad}");
        }
    }
}
