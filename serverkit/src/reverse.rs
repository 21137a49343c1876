//! Reverse-zone names: RFC 1035 §3.5 `in-addr.arpa` and RFC 3596 §2.5 `ip6.arpa`.
//!
//! Only complete names map to an address: 4 decimal octets (1–3 digits each, ≤ 255) or 32
//! single hex nibbles — the legacy kube-dns `ExtractIP` rules. A partial name (`2.0.192.in-addr.arpa`)
//! is a zone cut, not an address. Label comparison is ASCII case-insensitive (RFC 4343).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Reverse-lookup name for an IP, with the trailing dot (an IPv4-mapped IPv6 address is
/// named as its IPv4 address).
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

/// Parse the labels of a reverse name (without the empty root label, e.g.
/// `["1","0","0","10","in-addr","arpa"]`) into an IP.
pub fn parse_reverse_labels(labels: &[&str]) -> Option<IpAddr> {
    let n = labels.len();
    if n < 2 || !labels[n - 1].eq_ignore_ascii_case("arpa") {
        return None;
    }
    let zone = labels[n - 2];
    if zone.eq_ignore_ascii_case("in-addr") && n == 6 {
        let mut o = [0u8; 4];
        for (i, l) in labels[..4].iter().enumerate() {
            if l.is_empty() || l.len() > 3 || !l.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            o[3 - i] = l.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(o)));
    }
    if zone.eq_ignore_ascii_case("ip6") && n == 34 {
        let mut v: u128 = 0;
        for l in labels[..32].iter().rev() {
            let [c] = l.as_bytes() else { return None };
            let d = char::from(*c).to_digit(16)?;
            v = (v << 4) | u128::from(d);
        }
        return Some(IpAddr::V6(Ipv6Addr::from(v)));
    }
    None
}

/// Parse a reverse name in text form, with or without the trailing dot.
pub fn parse_reverse_name(name: &str) -> Option<IpAddr> {
    let name = name.strip_suffix('.').unwrap_or(name);
    // 34 labels at most; a longer name is not a reverse address name.
    let mut labels = [""; 34];
    let mut n = 0;
    for l in name.split('.') {
        *labels.get_mut(n)? = l;
        n += 1;
    }
    parse_reverse_labels(&labels[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_to_addresses() {
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
        let cases: &[(&str, Option<IpAddr>)] = &[
            ("255.2.0.192.in-addr.arpa.", Some(ip("192.0.2.255"))),
            ("1.0.0.127.in-addr.arpa", Some(ip("127.0.0.1"))),
            ("1.0.0.127.IN-ADDR.ARPA.", Some(ip("127.0.0.1"))),
            ("010.0.0.10.in-addr.arpa", Some(ip("10.0.0.10"))),
            (v6, Some(ip("2001:db8::1"))),
            ("256.2.0.192.in-addr.arpa.", None),
            ("2.0.192.in-addr.arpa.", None),
            ("1.2.0.192.in-addr.arpa.x", None),
            ("+1.2.0.192.in-addr.arpa", None),
            ("0001.2.0.192.in-addr.arpa", None),
            ("1..0.192.in-addr.arpa", None),
            ("0.8.b.d.0.1.0.0.2.ip6.arpa", None),
            ("10.8.b.d.0.1.0.0.2.ip6.arpa", None),
            ("4.3.2.1.in-addr.example.", None),
            (
                "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                None,
            ),
            (
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.88.b.d.0.1.0.0.2.ip6.arpa",
                None,
            ),
            ("in-addr.arpa", None),
            ("example.com.", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(parse_reverse_name(name), *want, "{name}");
        }
        let long = format!("0.{v6}");
        assert_eq!(parse_reverse_name(&long), None);
    }

    #[test]
    fn roundtrip() {
        for a in [
            "10.3.0.1",
            "255.255.255.255",
            "2001:db8::8a2e:370:7334",
            "::",
            "::1",
        ] {
            let name = reverse_name(ip(a));
            assert_eq!(parse_reverse_name(&name), Some(ip(a)), "{name}");
        }
        assert_eq!(
            reverse_name(ip("::ffff:10.3.0.1")),
            "1.0.3.10.in-addr.arpa."
        );
    }
}
