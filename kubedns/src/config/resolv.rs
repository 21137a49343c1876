//! `/etc/resolv.conf` parsing: the fallback upstream list used when the ConfigMap has no
//! `upstreamNameservers` (legacy kube-dns read it on every config change; so do we).
//!
//! Only `nameserver <ip>` lines matter (resolv.conf(5)); comments start with `#` or `;`.
//! IPv6 addresses may carry a numeric zone (`fe80::1%2`); a named zone cannot be resolved without
//! FFI, so such an entry is skipped with a warning.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;

use super::validate::DEFAULT_DNS_PORT;

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
            out.push(SocketAddr::new(ip, DEFAULT_DNS_PORT));
        } else if let Some((ip, zone)) = addr.split_once('%')
            && let (Ok(ip), Ok(scope)) = (ip.parse::<Ipv6Addr>(), zone.parse::<u32>())
        {
            out.push(SocketAddr::V6(SocketAddrV6::new(
                ip,
                DEFAULT_DNS_PORT,
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
                    nameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n";
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
