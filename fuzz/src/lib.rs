//! Shared fixtures and invariant checks for the kube-dns-rs fuzz targets.
//!
//! Each fuzz target feeds raw bytes through the same function a server socket loop uses
//! (kubedns `Shared::handle`/`complete`, dnsmasq-rs `Engine::answer_local`/`handle`) and then
//! checks the reply with [`check_reply`]: it must be a response (QR=1) with the query's ID and
//! opcode,
//! fit the size cap of the transport (UDP: 512 without EDNS, otherwise
//! min(max(advertised, 512), 1232); TCP: 65535), and decode with hickory-proto. A panic
//! anywhere (ours or in a check) is a crash that libFuzzer reports with the input.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::Message;

pub mod dnsmasq;
pub mod kubedns;

/// Largest UDP reply either server sends with EDNS (house style A6, B4 row 7).
pub const UDP_EDNS_CAP: usize = 1232;
/// Largest UDP reply without EDNS (RFC 1035 §4.2.1).
pub const UDP_PLAIN_CAP: usize = 512;
/// Largest TCP message (RFC 1035 §4.2.2).
pub const TCP_CAP: usize = 65_535;

/// The client address used for in-process queries.
pub fn client() -> SocketAddr {
    SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 40_000)
}

/// The UDP size cap that applies to `query`, judged independently of the server under test
/// (hickory-proto's decoder). Queries hickory cannot decode get the loosest UDP cap.
pub fn udp_cap_for(query: &[u8]) -> usize {
    match Message::from_vec(query) {
        Ok(m) => match m.edns {
            None => UDP_PLAIN_CAP,
            Some(e) => usize::from(e.max_payload()).clamp(UDP_PLAIN_CAP, UDP_EDNS_CAP),
        },
        Err(_) => UDP_EDNS_CAP,
    }
}

/// Invariants every reply must satisfy. Panics (= a fuzz crash) with a precise message.
pub fn check_reply(what: &str, query: &[u8], reply: &[u8], tcp: bool) {
    check_reply_opts(what, query, reply, tcp, true, &[]);
}

/// How often a reply was tolerated only because of known finding F1 (see
/// [`check_reply_opts`]); the first occurrence is printed to stderr.
pub static KNOWN_F1: AtomicU64 = AtomicU64::new(0);

/// True when the failure to decode `reply` is explained by finding F1: the upstream reply
/// (one of `upstream`, as handed to the server) decoded, and the served bytes decode again
/// once the header bytes the servers rewrite (ID, RD bit, counts) are restored from it and an
/// appended OPT record is cut off, i.e. a compression pointer points into bytes the server
/// rewrote (see docs/reliability.md, "Findings").
pub fn is_known_f1(reply: &[u8], upstream: &[Vec<u8>]) -> bool {
    reply.len() >= 12
        && upstream.iter().any(|u| {
            if u.len() < 12 || Message::from_vec(u).is_err() {
                return false;
            }
            // Restore only what the servers rewrite: ID and RD bit, and (when an OPT record
            // was appended) the counts and the length; never opcode or rcode. dnsmasq-rs may
            // also have stripped a trailing OPT, so the counts are tried both ways.
            let mut c = reply.to_vec();
            c[..2].copy_from_slice(&u[..2]);
            c[2] = (c[2] & !0x01) | (u[2] & 0x01);
            if Message::from_vec(&c).is_ok() {
                return true;
            }
            c[4..12].copy_from_slice(&u[4..12]);
            if c.len() > u.len() {
                c.truncate(u.len());
            }
            Message::from_vec(&c).is_ok()
        })
}

/// [`check_reply`] with options: `exact_case` requires the reply's question to carry the
/// client's spelling of the name; otherwise names are compared case-insensitively (used for
/// kubedns's forward path, which relays the upstream's reply as-is — see
/// docs/reliability.md, "Findings").
/// `upstream` are the upstream replies handed to the server (after the ID patch); an
/// undecodable reply explained by finding F1 ([`is_known_f1`]) is tolerated and
/// counted in [`KNOWN_F1`] when `FUZZ_STRICT_F1` is unset, so fuzzing can go on finding
/// other bugs while F1 is open.
pub fn check_reply_opts(
    what: &str,
    query: &[u8],
    reply: &[u8],
    tcp: bool,
    exact_case: bool,
    upstream: &[Vec<u8>],
) {
    assert!(
        reply.len() >= 12,
        "{what}: reply shorter than a header ({} bytes)",
        reply.len()
    );
    assert!(
        query.len() >= 12,
        "{what}: replied to a packet shorter than a header"
    );
    assert_eq!(
        reply[..2],
        query[..2],
        "{what}: reply ID differs from the query ID"
    );
    assert!(reply[2] & 0x80 != 0, "{what}: reply has QR=0");
    assert_eq!(
        (reply[2] >> 3) & 0x0f,
        (query[2] >> 3) & 0x0f,
        "{what}: reply opcode differs from the query's"
    );
    let cap = if tcp { TCP_CAP } else { udp_cap_for(query) };
    assert!(
        reply.len() <= cap,
        "{what}: reply of {} bytes exceeds the {} cap of {cap}",
        reply.len(),
        if tcp { "TCP" } else { "UDP" },
    );
    let r = match Message::from_vec(reply) {
        Ok(r) => r,
        Err(_) if std::env::var_os("FUZZ_STRICT_F1").is_none() && is_known_f1(reply, upstream) => {
            if KNOWN_F1.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!(
                    "note: {what}: tolerating known finding F1 (compression pointer into \
                     header bytes the server rewrites); set FUZZ_STRICT_F1=1 to treat it as a crash"
                );
            }
            return;
        }
        Err(e) => panic!("{what}: reply does not decode: {e}"),
    };
    // A reply that carries a question carries the client's question, in the client's case.
    if let (Ok(q), Some(rq)) = (Message::from_vec(query), r.queries.first())
        && let Some(qq) = q.queries.first()
    {
        let (rn, qn) = (rq.name().to_ascii(), qq.name().to_ascii());
        if exact_case {
            assert_eq!(
                rn, qn,
                "{what}: reply question name differs from the query's"
            );
        } else {
            assert!(
                rn.eq_ignore_ascii_case(&qn),
                "{what}: reply question name {rn} is not the query's {qn}"
            );
        }
        assert_eq!(
            (rq.query_type(), rq.query_class()),
            (qq.query_type(), qq.query_class()),
            "{what}: reply question type/class differs from the query's"
        );
    }
}

/// Splits fuzz input into NUL-separated UTF-8 strings (lossy), at most `max` of them.
pub fn strings(data: &[u8], max: usize) -> Vec<String> {
    data.split(|b| *b == 0)
        .take(max)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Parses `key=value` lines (the shape of a ConfigMap's `data`) from one string.
pub fn kv_map(text: &str) -> BTreeMap<String, String> {
    text.split('\n')
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Reads a big-endian u16 length prefix and splits `data` there (rest may be shorter).
pub fn split_len_prefixed(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (data, &[]);
    }
    let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let rest = &data[2..];
    let n = n.min(rest.len());
    rest.split_at(n)
}
