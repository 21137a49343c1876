//! Legacy kube-dns hash labels for endpoints without a hostname (compat §1.7).
//!
//! kube-dns named a hostname-less endpoint after a hash of the Go `%v` rendering of its
//! skydns record: `&{<ip> 0 10 10  false 30 0  }` (host, port 0, priority 10, weight 10,
//! empty text, mail=false, ttl 30, targetstrip 0, empty group/key). The FNV-1a 32-bit sum is
//! printed as lowercase hex without padding and that ASCII string is hex-encoded again,
//! giving a 14- or 16-character label. Clients (StatefulSet-less SRV consumers, caches,
//! certificates) may have stored these names, so they are reproduced bit for bit.

use std::fmt::Write as _;
use std::net::IpAddr;

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32 bit.
fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// The legacy label for an endpoint IP, e.g. `10.0.0.1` → `3234633364383235`.
///
/// The IP is rendered as Go's `net.IP.String()` would: IPv4-mapped IPv6 addresses print as
/// dotted quads, other IPv6 addresses in RFC 5952 form (the same as Rust's `Display`).
pub fn endpoint_hash_label(ip: IpAddr) -> String {
    let ip = ip.to_canonical();
    let rendered = format!("&{{{ip} 0 10 10  false 30 0  }}");
    let sum = format!("{:x}", fnv1a32(rendered.as_bytes()));
    let mut out = String::with_capacity(sum.len() * 2);
    for b in sum.bytes() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> String {
        endpoint_hash_label(s.parse().expect("test ip"))
    }

    #[test]
    fn verified_legacy_examples() {
        assert_eq!(h("10.0.0.1"), "3234633364383235");
        assert_eq!(h("10.0.0.20"), "39373165633663");
        assert_eq!(h("10.0.0.21"), "3232333232393835");
        assert_eq!(h("10.1.0.2"), "3136356331663837");
    }

    #[test]
    fn mapped_v6_hashes_like_v4() {
        assert_eq!(h("::ffff:10.0.0.1"), h("10.0.0.1"));
        assert_ne!(h("2001:db8::1"), h("2001:db8::2"));
    }

    #[test]
    fn fnv_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    }
}
