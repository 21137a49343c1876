//! Name helpers shared by the model and the answer engine: Kubernetes label validation
//! (DNS-1123 / DNS-1035) and the legacy dashed pod-IP label; reverse-zone names are re-exported
//! from [`serverkit::reverse`].

use std::net::Ipv4Addr;

/// Maximum length of one DNS label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// DNS-1123 label (the Kubernetes validation), shared: [`serverkit::configmap`].
pub use serverkit::configmap::is_dns1123_label;

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

/// Reverse-zone names are shared with dnsmasq-rs: [`serverkit::reverse`].
pub use serverkit::reverse::{parse_reverse_labels as parse_reverse, reverse_name};

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
