//! Name helpers shared by the model and the answer engine: Kubernetes label validation
//! (DNS-1123 / DNS-1035), reverse-zone names (RFC 1035 §3.5 `in-addr.arpa`, RFC 3596 §2.5
//! `ip6.arpa`) and the legacy dashed pod-IP label.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Maximum length of one DNS label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// DNS-1123 label: 1–63 chars of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL_LEN
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Usable as one label of a DNS name (RFC 1035 §2.3.4: 1–63 octets) without changing the
/// name's structure (no `.`). Looser than the Kubernetes validations, which objects from a
/// validating API server always pass; what fails this cannot be queried at all.
pub fn is_usable_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LABEL_LEN && !s.contains('.')
}

/// Usable as a domain name (RFC 1035 §2.3.4): non-empty labels of at most 63 octets, at
/// most 253 characters in text form without the trailing dot.
pub fn is_usable_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_usable_label)
}

/// DNS-1035 label: a DNS-1123 label that starts with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Reverse-lookup name for an IP, with the trailing dot.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(73);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    s.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    s.push('.');
                }
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

/// Parse the labels of a reverse name (lowercase, without the trailing root, e.g.
/// `["1","0","0","10","in-addr","arpa"]`) into an IP. Only complete names are accepted:
/// 4 decimal octets or 32 hex nibbles (the legacy `ExtractIP` rules).
pub fn parse_reverse(labels: &[&str]) -> Option<IpAddr> {
    let n = labels.len();
    if n < 2 || labels[n - 1] != "arpa" {
        return None;
    }
    match labels[n - 2] {
        "in-addr" if n == 6 => {
            let mut o = [0u8; 4];
            for (i, l) in labels[..4].iter().enumerate() {
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                o[3 - i] = l.parse().ok()?;
            }
            Some(IpAddr::V4(Ipv4Addr::from(o)))
        }
        "ip6" if n == 34 => {
            let mut v: u128 = 0;
            for l in labels[..32].iter().rev() {
                let [c] = l.as_bytes() else { return None };
                let d = char::from(*c).to_digit(16)?;
                v = (v << 4) | u128::from(d);
            }
            Some(IpAddr::V6(Ipv6Addr::from(v)))
        }
        _ => None,
    }
}

/// Parse the legacy pod label `a-b-c-d` into an IPv4 address.
pub fn parse_dashed_ipv4(label: &str) -> Option<Ipv4Addr> {
    let mut o = [0u8; 4];
    let mut parts = label.split('-');
    for slot in &mut o {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Vec<&str> {
        s.trim_end_matches('.').split('.').collect()
    }

    #[test]
    fn label_validation() {
        assert!(is_dns1123_label("ep-0"));
        assert!(is_dns1123_label("0ab"));
        assert!(!is_dns1123_label("Ep"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("a-"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(!is_dns1123_label("a.b"));
        assert!(is_dns1035_label("svc1"));
        assert!(!is_dns1035_label("1svc"));
        assert!(is_usable_label("Bad_Host") && is_usable_label(&"a".repeat(63)));
        assert!(!is_usable_label(&"a".repeat(64)) && !is_usable_label("a.b"));
        assert!(!is_usable_label(""));
        assert!(is_usable_domain("www.example.com.") && is_usable_domain("localhost"));
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert!(long.len() > 253 && !is_usable_domain(&long));
        for bad in ["", ".", "a..b", &format!("{}.com", "a".repeat(64))] {
            assert!(!is_usable_domain(bad), "{bad:?}");
        }
    }

    #[test]
    fn extract_ip_legacy_cases() {
        assert_eq!(
            parse_reverse(&labels("255.2.0.192.in-addr.arpa.")),
            Some("192.0.2.255".parse().expect("ip"))
        );
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
        assert_eq!(
            parse_reverse(&labels(v6)),
            Some("2001:db8::1".parse().expect("ip"))
        );
        // wrong nibble count, bad octet, wrong suffix, non-hex nibble
        assert_eq!(parse_reverse(&labels(&v6[2..])), None);
        assert_eq!(parse_reverse(&labels("256.2.0.192.in-addr.arpa.")), None);
        assert_eq!(parse_reverse(&labels("2.0.192.in-addr.arpa.")), None);
        assert_eq!(parse_reverse(&labels("4.3.2.1.in-addr.example.")), None);
        let bad = v6.replacen('8', "g", 1);
        assert_eq!(parse_reverse(&labels(&bad)), None);
        let two = v6.replacen("8.", "88.", 1);
        assert_eq!(parse_reverse(&labels(&two)), None);
    }

    #[test]
    fn reverse_roundtrip() {
        for ip in [
            "10.0.0.1",
            "2001:db8::8a2e:370:7334",
            "::1",
            "255.255.255.255",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            let name = reverse_name(ip);
            assert_eq!(parse_reverse(&labels(&name)), Some(ip), "{name}");
        }
        assert_eq!(
            reverse_name("10.3.0.1".parse().expect("ip")),
            "1.0.3.10.in-addr.arpa."
        );
    }

    #[test]
    fn dashed_pod_ip() {
        assert_eq!(
            parse_dashed_ipv4("1-2-3-4"),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
        assert_eq!(parse_dashed_ipv4("1-2-3"), None);
        assert_eq!(parse_dashed_ipv4("1-2-3-4-5"), None);
        assert_eq!(parse_dashed_ipv4("1-2-3-256"), None);
        assert_eq!(parse_dashed_ipv4("bogus"), None);
        assert_eq!(parse_dashed_ipv4("1--3-4"), None);
    }
}
