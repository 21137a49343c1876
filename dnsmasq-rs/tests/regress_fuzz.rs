//! Regression cases found by the `fuzz/` targets (docs/reliability.md, "Findings").
//!
//! F1 (fuzz target `dnsmasq_upstream`): an upstream reply whose answer owner name is a
//! compression pointer into the message header (`C0 00`, offset 0 = the ID) is validated
//! (`cache::prepare`, hickory-proto) with the upstream query's ID, cached, and served by
//! `cache::render` after rewriting the ID (and the RD bit) for the client, so the name now
//! decodes from different bytes: the client gets a reply that does not parse. Replies whose
//! pointers point below offset 12 must be rejected (or the names re-encoded) before caching.
//! Fixed: `cache::prepare` re-encodes every accepted reply before storing it.
//!
//! F1b (same target, `crash-a67c8409…`): the same with the pointer aimed at ARCOUNT's low
//! byte (offset 11, 0 in an upstream reply without OPT, so the owner decodes as the root).
//! For an EDNS client `cache::render` appends an OPT record and bumps ARCOUNT to 1, so the
//! owner now reads as a 1-byte label followed by the question bytes: "unrecognized label
//! code". Deterministic — no dependence on the random ID. Reproducer (selector 0x01 =
//! `www.example.com AAAA` with EDNS; then the reply): `01 00 66 | 00 00 81 79 00 01 00 01 00
//! 00 00 00 03 77 77 77 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 00 1c 00 01 c0 0b fd 25 00 11
//! 00 00 01 2c 00 10 00 01 c0 0c 00 00 00 00 00 41 d0 00 00 00 00 00`.
//!
//! B1 (fuzz target `dnsmasq_parsers`, `crash-89569bc0…`): `flags::parse_go_duration` calls
//! `Duration::from_secs_f64` on an unbounded sum, which panics ("cannot convert float
//! seconds to Duration: value is either too big or NaN") for a huge value such as
//! `007440s0888…8s` (70 digits). Reachable from the command line
//! (`-syncInterval=`/`-logInterval=` in the nanny dialect): the process panics at startup
//! instead of exiting 2 with a usage error. Go's `time.ParseDuration` rejects values over
//! about 292 years ("invalid duration"); the parser must return an error instead. Fixed
//! (`Duration::try_from_secs_f64`) while this work was under way; the parser is now the shared
//! integer one (`serverkit::flags::parse_go_duration`) and the test guards it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use dnsmasq_rs::config::Config;
use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::testutil::query_id;
use dnsmasq_rs::upstream::{Transport, UdpChannel};
use dnsmasq_rs::{flags, wire};
use hickory_proto::op::Message;

/// The reply: `www.example.com A` answered with one A record whose owner is `C0 <target>`
/// (no OPT record, whatever the query had).
fn reply_with_owner_pointer(query: &[u8], target: u8) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&query[..2]);
    r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    for l in ["www", "example", "com"] {
        r.push(l.len() as u8);
        r.extend_from_slice(l.as_bytes());
    }
    r.extend_from_slice(&[0, 0, 1, 0, 1]);
    r.extend_from_slice(&[0xc0, target, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1]);
    r
}

struct Upstream {
    target: u8,
    replies: Arc<AtomicUsize>,
}

struct Chan {
    target: u8,
    sent: Option<Vec<u8>>,
    replies: Arc<AtomicUsize>,
}

#[async_trait]
impl UdpChannel for Chan {
    async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.sent = Some(buf.to_vec());
        Ok(())
    }
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let q = self
            .sent
            .take()
            .ok_or_else(|| io::Error::other("no more replies"))?;
        let r = reply_with_owner_pointer(&q, self.target);
        self.replies.fetch_add(1, Ordering::SeqCst);
        buf[..r.len()].copy_from_slice(&r);
        Ok((r.len(), "127.0.0.1:10053".parse().expect("addr")))
    }
}

#[async_trait]
impl Transport for Upstream {
    async fn udp(&self, _server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        Ok(Box::new(Chan {
            target: self.target,
            sent: None,
            replies: Arc::clone(&self.replies),
        }))
    }
    async fn tcp(&self, _server: SocketAddr, _query: &[u8]) -> io::Result<Vec<u8>> {
        Err(io::Error::from(io::ErrorKind::ConnectionRefused))
    }
}

fn config() -> Config {
    let args: Vec<String> = "--no-resolv --server=127.0.0.1#10053"
        .split_whitespace()
        .map(String::from)
        .collect();
    let nofs = |_: &std::path::Path| -> io::Result<String> { Err(io::Error::other("no fs")) };
    let o = flags::parse_dnsmasq(&args, &nofs, None).expect("flags");
    Config::build(&o, &nofs).expect("config").0
}

/// Asks until an engine accepts the upstream reply (acceptance depends on the random
/// upstream ID when the pointer targets it); returns the client's reply bytes.
async fn served_reply(target: u8) -> Option<Vec<u8>> {
    let client: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
    // Client ID 0x5a5a: as a label length byte 0x5a is an invalid (extended) label type.
    let (pkt, _) = query_id("www.example.com", wire::TYPE_A, None, 0x5a5a);
    for _ in 0..3000 {
        let engine = Engine::new(
            config(),
            Arc::new(Upstream {
                target,
                replies: Arc::new(AtomicUsize::new(0)),
            }),
        );
        let mut out = Vec::new();
        assert!(engine.handle(&pkt, client, true, &mut out).await);
        if out.get(3).is_some_and(|b| b & 0x0f == wire::RCODE_SERVFAIL) {
            continue; // the reply did not validate with this upstream ID
        }
        assert_eq!(out[..2], pkt[..2], "client ID");
        return Some(out);
    }
    None
}

#[tokio::test]
async fn f1b_pointer_to_arcount_reply_is_not_served_undecodable_to_edns_client() {
    let client: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
    let (pkt, _) = query_id("www.example.com", wire::TYPE_A, Some(1232), 0x1234);
    let engine = Engine::new(
        config(),
        Arc::new(Upstream {
            target: 0x0b,
            replies: Arc::new(AtomicUsize::new(0)),
        }),
    );
    let mut out = Vec::new();
    assert!(engine.handle(&pkt, client, true, &mut out).await);
    assert_eq!(out[..2], pkt[..2], "client ID");
    if let Err(e) = Message::from_vec(&out) {
        panic!("dnsmasq-rs served an undecodable reply ({e}): {out:02x?}");
    }
}

#[tokio::test]
async fn f1_header_pointer_reply_is_not_served_undecodable() {
    let out = served_reply(0x00)
        .await
        .expect("some upstream ID makes the reply acceptable");
    if let Err(e) = Message::from_vec(&out) {
        panic!("dnsmasq-rs served an undecodable reply ({e}): {out:02x?}");
    }
}

/// Pointer at byte 4 (QDCOUNT's high byte, never rewritten): the served reply decodes.
/// Guards the fix against over-rejecting (a SERVFAIL would be acceptable too).
#[tokio::test]
async fn pointer_into_unrewritten_header_byte_is_served_decodable() {
    if let Some(out) = served_reply(0x04).await {
        Message::from_vec(&out).expect("decodes");
    }
}

const B1_HUGE: &str =
    "007440s0888888888888888888888888888888888888888888888888888888888888888888888s";

#[test]
fn b1_huge_go_duration_is_rejected_not_a_panic() {
    assert!(flags::parse_go_duration(B1_HUGE).is_err());
    assert!(flags::parse_go_duration("9999999999999999999999h").is_err());
    let args: Vec<String> = [format!("-syncInterval={B1_HUGE}"), "--".into()].into();
    assert!(
        flags::split_dialects(&args).is_err(),
        "usage error, not a panic"
    );
}

#[test]
fn go_durations_within_range_still_parse() {
    assert_eq!(
        flags::parse_go_duration("1m30s"),
        Ok(std::time::Duration::from_secs(90))
    );
    assert_eq!(
        flags::parse_go_duration("2562047h"),
        Ok(std::time::Duration::from_secs(2_562_047 * 3600))
    );
}
