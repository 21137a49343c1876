//! Regression cases found by the `fuzz/` targets (docs/reliability.md, "Findings").
//!
//! F1 (fuzz target `kubedns_upstream`): an upstream reply whose answer owner name is a
//! compression pointer into the message header (`C0 00`, offset 0 = the ID) passes
//! validation with the upstream query's ID, but kubedns then rewrites the ID to the client's
//! and relays the bytes, so the name now decodes from different bytes: the client gets a
//! reply that does not parse (here: label type 0x5a). Replies whose pointers point below
//! offset 12 must be rejected (or re-encoded) before the ID is rewritten.
//! Fixed: `Forwarder::forward` relays a re-encoded copy; B2 (non-QUERY opcode replies) is
//! fixed in the reply acceptance (`serverkit::upstream::wire::accept_reply`).
//! Reproducer as committed by libFuzzer (`fuzz/artifacts/kubedns_upstream/crash-d9c2…`):
//! selector 0x05, then a 106-byte reply `.. 81 80 00 01 00 02 00 00 00 01 07 example 03 org
//! 00 00 10 00 01 c0 00 00 10 0c 00 00 01 2c 00 15 …` (TXT answers, first owner `C0 00`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use kubedns::dns::{DnsMetrics, DnsServer, Limits, Step};
use kubedns::forward::Forwarder;
use kubedns::store::{DnsConfig, Standalone as Store};
use serverkit::upstream::fake::FnTransport;

fn header_pointer_reply(query: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&query[..2]); // the upstream query's ID
    r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    for l in ["www", "example", "com"] {
        r.push(l.len() as u8);
        r.extend_from_slice(l.as_bytes());
    }
    r.extend_from_slice(&[0, 0, 1, 0, 1]);
    // answer: owner = pointer to offset 0, A IN, TTL 300, 192.0.2.1
    r.extend_from_slice(&[0xc0, 0x00, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1]);
    r
}

/// Upstream that answers `www.example.com. A` with one A record whose owner name is the
/// compression pointer `C0 00` (into the header), from the right address.
fn header_pointer_upstream() -> Arc<FnTransport> {
    Arc::new(FnTransport::udp(|s, q| vec![(header_pointer_reply(q), s)]))
}

fn client_query() -> Vec<u8> {
    // ID 0x5a5a: as a label length byte 0x5a is an invalid (extended) label type.
    serverkit::testkit::query(0x5a5a, "www.example.com.", RecordType::A, None)
}

#[tokio::test]
async fn f1_header_pointer_reply_is_not_relayed_undecodable() {
    let store = Store::new("cluster.local.");
    store.set_config(DnsConfig {
        upstreams: vec!["192.0.2.53:53".parse().expect("addr")],
        ..Default::default()
    });
    store.set_synced();
    let fwd = Forwarder::new(header_pointer_upstream(), Duration::from_millis(100));
    let server = DnsServer::with_forwarder(
        store.reader(),
        Limits::default(),
        DnsMetrics::unregistered(),
        fwd,
    );
    let shared = server.shared();
    let q = client_query();
    let src: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
    // Whether the reply decodes depends on the random upstream ID (its high byte is read as
    // a label length); try until one is relayed, then check what the client gets.
    for _ in 0..5000 {
        let Step::Upstream(p) = shared.handle(&q, src, false) else {
            panic!("out-of-zone query must be forwarded");
        };
        let reply = shared.complete(p).await.expect("a reply");
        if reply[3] & 0x0f == 2 {
            continue; // the reply did not re-encode: SERVFAIL, try another random ID
        }
        assert_eq!(reply[..2], q[..2], "client ID");
        if let Err(e) = Message::from_vec(&reply) {
            panic!("kubedns relayed an undecodable reply ({e}): {reply:02x?}");
        }
        return;
    }
    panic!("no upstream ID made the reply decodable in 5000 tries");
}

/// The same reply with the pointer aimed at byte 4 (QDCOUNT's high byte, never rewritten):
/// decodes before and after the ID rewrite. Guards the fix against over-rejecting.
#[tokio::test]
async fn pointer_into_unrewritten_header_byte_still_relays_decodable() {
    let upstream = FnTransport::udp(|s, q| {
        let mut reply = header_pointer_reply(q);
        let at = reply.len() - 16;
        reply[at + 1] = 0x04;
        vec![(reply, s)]
    });
    let store = Store::new("cluster.local.");
    store.set_config(DnsConfig {
        upstreams: vec!["192.0.2.53:53".parse().expect("addr")],
        ..Default::default()
    });
    store.set_synced();
    let fwd = Forwarder::new(Arc::new(upstream), Duration::from_millis(100));
    let server = DnsServer::with_forwarder(
        store.reader(),
        Limits::default(),
        DnsMetrics::unregistered(),
        fwd,
    );
    let shared = server.shared();
    let q = client_query();
    let src: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
    let Step::Upstream(p) = shared.handle(&q, src, false) else {
        panic!("out-of-zone query must be forwarded");
    };
    let reply = shared.complete(p).await.expect("a reply");
    assert_eq!(reply[..2], q[..2], "client ID");
    let m = Message::from_vec(&reply).expect("decodes");
    // Either relayed (owner = root via the pointer) or rejected as SERVFAIL by a stricter
    // validator; never undecodable.
    assert!(m.answers.len() <= 1);
}

/// B2 (fuzz target `kubedns_upstream`, `crash-0c4d7044…`, found by `.ci/fuzz-smoke.sh`):
/// kubedns's former `forward::reply_matches` did not check the reply's opcode. An upstream reply with opcode
/// UPDATE (5) is accepted; hickory-proto decodes it under UPDATE rules, which allow records
/// with empty RDATA. Relayed as-is, the client gets a reply whose opcode differs from its
/// query; on the ExternalName chase path the records are copied into a QUERY response that
/// clients cannot decode ("unexpected record with length 0 in non-update message").
/// libFuzzer input: selector 0x03 (`ext.default.svc.cluster.local AAAA`, EDNS 1232) then
/// `00 51 | 00 00 ab 80 00 01 00 01 00 00 00 00 03 www 07 example 03 com 00 00 1c 00 01 c0 0c
/// 01 01 ff ff 00 00 01 00 00 00 00 00 00 00 00 00 00 01 c0 01`. Fix: accept only replies with
/// opcode QUERY (`serverkit::upstream::wire::accept_reply`).
fn update_opcode_reply(query: &[u8]) -> Vec<u8> {
    let q = Message::from_vec(query).expect("upstream query decodes");
    let question = q.queries[0].clone();
    let mut r = Vec::new();
    r.extend_from_slice(&query[..2]);
    r.extend_from_slice(&[0xab, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]); // QR, opcode 5 (UPDATE)
    for l in question.name().iter() {
        r.push(l.len() as u8);
        r.extend_from_slice(l);
    }
    r.push(0);
    r.extend_from_slice(&u16::from(question.query_type()).to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    // owner = the question name, type CAA, class 0xffff, TTL 256, empty RDATA
    r.extend_from_slice(&[0xc0, 0x0c, 0x01, 0x01, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
    r
}

async fn b2_reply(name: &str, qtype: RecordType) -> Vec<u8> {
    let store = Store::new("cluster.local.");
    store.upsert_service(kubedns::model::Service {
        namespace: "default".into(),
        name: "ext".into(),
        kind: kubedns::model::ServiceKind::ExternalName("www.example.com".into()),
        ports: vec![],
        resource_version: None,
    });
    store.set_config(DnsConfig {
        upstreams: vec!["192.0.2.53:53".parse().expect("addr")],
        ..Default::default()
    });
    store.set_synced();
    let fwd = Forwarder::new(
        Arc::new(FnTransport::udp(|s, q| vec![(update_opcode_reply(q), s)])),
        Duration::from_millis(100),
    );
    let server = DnsServer::with_forwarder(
        store.reader(),
        Limits::default(),
        DnsMetrics::unregistered(),
        fwd,
    );
    let shared = server.shared();
    let q = serverkit::testkit::query(0x4242, name, qtype, None);
    let src: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
    let Step::Upstream(p) = shared.handle(&q, src, false) else {
        panic!("{name} must need the upstream");
    };
    shared.complete(p).await.expect("a reply")
}

#[tokio::test]
async fn b2_update_opcode_reply_not_relayed() {
    let reply = b2_reply("www.example.com.", RecordType::AAAA).await;
    assert_eq!(
        (reply[2] >> 3) & 0x0f,
        0,
        "reply opcode must be QUERY: {reply:02x?}"
    );
}

#[tokio::test]
async fn b2_update_opcode_reply_does_not_break_external_name_chase() {
    let reply = b2_reply("ext.default.svc.cluster.local.", RecordType::AAAA).await;
    if let Err(e) = Message::from_vec(&reply) {
        panic!("kubedns sent an undecodable chase reply ({e}): {reply:02x?}");
    }
}
