//! `/etc/resolv.conf` parsing (resolv.conf(5)): the `nameserver` lines, the node's upstreams.
//!
//! Comments start with `#` or `;` (also after a value). IPv6 addresses may carry a numeric
//! zone (`fe80::1%2`), which is kept as the scope id — without it a link-local upstream is
//! unreachable. A named zone (`%eth0`) cannot be turned into an index without FFI, so such an
//! entry is skipped with a warning rather than used with the wrong (zero) scope.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;

/// The DNS port resolv.conf nameservers are reached on (resolv.conf has no port syntax).
pub const RESOLV_CONF_PORT: u16 = 53;

/// Parse resolv.conf text into upstream socket addresses (port 53), in file order.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        if let Ok(ip) = addr.parse::<IpAddr>() {
            out.push(SocketAddr::new(ip, RESOLV_CONF_PORT));
        } else if let Some((ip, zone)) = addr.split_once('%')
            && let (Ok(ip), Ok(scope)) = (ip.parse::<Ipv6Addr>(), zone.parse::<u32>())
        {
            out.push(SocketAddr::V6(SocketAddrV6::new(
                ip,
                RESOLV_CONF_PORT,
                0,
                scope,
            )));
        } else {
            tracing::warn!(entry = addr, "ignoring unusable nameserver in resolv.conf");
        }
    }
    out
}

/// Read and parse a resolv.conf file; a missing or unreadable file gives an empty list (logged).
pub fn read_resolv_conf(path: &Path) -> Vec<SocketAddr> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_resolv_conf(&text),
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "cannot read resolv.conf; no fallback upstreams");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nameservers() {
        let text = "# comment\nsearch default.svc.cluster.local\nnameserver 127.0.0.1\n\
                    nameserver 2001:db8::1 ; trailing\n  nameserver\t10.0.0.10\nnameserver fe80::1%3\n\
                    nameserver fe80::1%eth0\nnameserver bogus\n;nameserver 10.9.9.9\n\
                    nameserver\noptions ndots:5\n";
        let got = parse_resolv_conf(text);
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:53".parse().unwrap(),
            "[2001:db8::1]:53".parse().unwrap(),
            "10.0.0.10:53".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 3)),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn missing_file_gives_empty_list() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(read_resolv_conf(&tmp.path().join("resolv.conf")).is_empty());
    }
}
