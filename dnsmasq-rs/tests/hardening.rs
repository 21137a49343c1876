//! Scenario tests for the remaining forwarder rows of house-style B4: 0x20 case randomisation
//! (row 5), compression-pointer abuse in upstream replies (row 12) and forwarding loops
//! (row 19); the amplification factor (row 14) is in `hardening_amplification.rs`. Same
//! deterministic harness as `scenario.rs` (fake transport, paused time).

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::wire;

/// The question name of an outgoing query, as sent (wire form, exact bytes).
fn sent_name(o: &OutQuery) -> Vec<u8> {
    let end = wire::skip_name(&o.bytes, wire::HEADER_LEN).expect("question name");
    o.bytes[wire::HEADER_LEN..end].to_vec()
}

/// A reply to `o` with the question spelt `qname` and one A record whose owner is written out
/// in full as `qname` too (what a server that rewrites the case sends).
fn reply_spelt(o: &OutQuery, qname: &[u8], ip: [u8; 4]) -> Vec<u8> {
    let mut r = o.bytes[..wire::HEADER_LEN].to_vec();
    r[2] = 0x81;
    r[3] = 0x80;
    r[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
    r.extend_from_slice(qname);
    r.extend_from_slice(&[0, 1, 0, 1]);
    r.extend_from_slice(qname);
    r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 1, 44, 0, 4]);
    r.extend_from_slice(&ip);
    r
}

/// Owner names of the answer records, as the client sees them.
fn answer_owners(msg: &[u8]) -> Vec<String> {
    hickory_proto::op::Message::from_vec(msg)
        .unwrap()
        .answers
        .iter()
        .map(|r| r.name.to_ascii())
        .collect()
}

const LONG: &str = "abcdefghij.klmnopqrst.example";

// B4 row 5, 0x20 off (the default, as dnsmasq): the upstream query is lowercase and a reply
// in any case is accepted; the client gets its own spelling back.
#[tokio::test(start_paused = true)]
async fn row5_0x20_off_accepts_any_case() {
    let mut h = harness(&up1());
    let c = h.ask("Abcdefghij.KLMNOPQRST.example", 1);
    let o = h.expect_out().await;
    let sent = sent_name(&o);
    assert!(
        !sent.iter().any(u8::is_ascii_uppercase),
        "lowercase when off"
    );
    o.inject(
        reply_spelt(&o, &sent.to_ascii_uppercase(), [1, 2, 3, 4]),
        o.server,
    );
    let r = c.await.unwrap();
    assert_eq!(answer_ips(&r), [Ipv4Addr::new(1, 2, 3, 4)]);
    let m = hickory_proto::op::Message::from_vec(&r).unwrap();
    assert_eq!(
        m.queries[0].name.to_ascii(),
        "Abcdefghij.KLMNOPQRST.example."
    );
    assert_eq!(h.engine.stats().case_mismatches.get(), 0);
}

// B4 row 5, 0x20 on: the case is random per query, an exact echo is accepted, and neither the
// cache nor any client ever sees the random spelling — also with the cache off, where replies
// are relayed without being re-encoded.
#[tokio::test(start_paused = true)]
async fn row5_0x20_exact_echo_accepted_and_case_restored() {
    for cache in ["", " --cache-size=0"] {
        let mut h = harness(&format!("{} --dns-0x20{cache}", up1()));
        let mut spellings = std::collections::HashSet::new();
        for i in 0..8u8 {
            let name = format!("n{i}.{LONG}");
            let c = h.ask(&name, u16::from(i));
            let o = h.expect_out().await;
            let sent = sent_name(&o);
            assert!(sent.eq_ignore_ascii_case(&wire::string_to_wire_name(&name).unwrap()));
            spellings.insert(sent[4..].to_vec()); // without the per-query first label
            o.inject(reply_spelt(&o, &sent, [10, 0, 0, i]), o.server);
            let r = c.await.unwrap();
            assert_eq!(answer_ips(&r), [Ipv4Addr::new(10, 0, 0, i)]);
            assert_eq!(
                answer_owners(&r),
                [format!("{name}.")],
                "random case leaked{cache}"
            );
        }
        assert!(
            spellings.len() >= 7,
            "{} distinct spellings of 8",
            spellings.len()
        );
        assert_eq!(h.engine.stats().case_mismatches.get(), 0);
    }
    // A cache hit for another spelling gets that spelling in the question.
    let mut h = harness(&format!("{} --dns-0x20", up1()));
    let c = h.ask(LONG, 1);
    let o = h.expect_out().await;
    o.inject(reply_spelt(&o, &sent_name(&o), [10, 0, 0, 1]), o.server);
    c.await.unwrap();
    let r = h.ask("ABCDEFGHIJ.klmnopqrst.EXAMPLE", 99).await.unwrap();
    let m = hickory_proto::op::Message::from_vec(&r).unwrap();
    assert_eq!(
        m.queries[0].name.to_ascii(),
        "ABCDEFGHIJ.klmnopqrst.EXAMPLE."
    );
    assert_eq!(answer_owners(&r), ["ABCDEFGHIJ.klmnopqrst.EXAMPLE."]);
    assert!(h.no_out());
}

// B4 row 5, fallback (the `--dns-0x20` default): a server that folds case is not trusted over
// UDP; the same question goes over TCP at once and that answer is used and cached.
#[tokio::test(start_paused = true)]
async fn row5_0x20_fallback_retries_over_tcp() {
    let mut h = harness(&format!("{} --dns-0x20=fallback", up1()));
    *h.transport.tcp.lock().unwrap() = Some(Box::new(|_, q: &[u8]| {
        Ok(answer_a(q, &[(LONG, 300, [7, 7, 7, 7])], false))
    }));
    let c = h.ask(LONG, 1);
    let o = h.expect_out().await;
    let sent = sent_name(&o);
    let folded = sent.to_ascii_lowercase();
    assert_ne!(sent, folded, "20 letters were all sent lowercase");
    o.inject(reply_spelt(&o, &folded, [6, 6, 6, 6]), o.server);
    let r = c.await.unwrap();
    assert_eq!(
        answer_ips(&r),
        [Ipv4Addr::new(7, 7, 7, 7)],
        "the TCP answer"
    );
    assert_eq!(h.transport.tcp_calls.load(Ordering::SeqCst), 1);
    assert_eq!(h.engine.stats().case_mismatches.get(), 1);
    // The TCP answer was cached; the folded UDP answer never was.
    let r = h.ask(LONG, 2).await.unwrap();
    assert_eq!(answer_ips(&r), [Ipv4Addr::new(7, 7, 7, 7)]);
    assert!(h.no_out());
}

// B4 row 5, strict: a reply that does not echo the case is ignored like a spoof — the real
// reply that follows is used; a server that always folds case fails (SERVFAIL after the
// try timeout) and nothing is cached.
#[tokio::test(start_paused = true)]
async fn row5_0x20_strict_ignores_case_mismatches() {
    let mut h = harness(&format!("{} --dns-0x20=strict", up1()));
    let c = h.ask(LONG, 1);
    let o = h.expect_out().await;
    let sent = sent_name(&o);
    o.inject(
        reply_spelt(&o, &sent.to_ascii_lowercase(), [6, 6, 6, 6]),
        o.server,
    );
    o.inject(reply_spelt(&o, &sent, [1, 1, 1, 1]), o.server);
    assert_eq!(answer_ips(&c.await.unwrap()), [Ipv4Addr::new(1, 1, 1, 1)]);
    assert_eq!(h.engine.stats().case_mismatches.get(), 1);
    assert_eq!(h.engine.stats().unwanted_replies.get(), 1);

    let name = format!("other.{LONG}");
    let c = h.ask(&name, 2);
    let o = h.expect_out().await;
    let folded = sent_name(&o).to_ascii_lowercase();
    o.inject(reply_spelt(&o, &folded, [6, 6, 6, 6]), o.server);
    assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_SERVFAIL);
    assert_eq!(
        h.transport.tcp_calls.load(Ordering::SeqCst),
        0,
        "no TCP in strict mode"
    );
    // Only the short-lived SERVFAIL entry can be cached, never the folded answer.
    let (_, q) = query(&name, wire::TYPE_A, None);
    if let Some(e) = h.engine.cache().get(q.key(), tokio::time::Instant::now()) {
        assert_eq!(e.rcode(), wire::RCODE_SERVFAIL);
    }
    tokio::time::advance(Duration::from_secs(3)).await;
    let c = h.ask(&name, 3);
    let _o = h.expect_out().await; // asked again: nothing stale was kept
    drop(c);
}

/// An upstream reply to `o` with `ancount` answer records given as raw bytes (for
/// hand-made compression pointers). Returns the bytes and the offset where `answers` start.
fn raw_reply(o: &OutQuery, ancount: u16, answers: impl FnOnce(usize) -> Vec<u8>) -> Vec<u8> {
    let qend = wire::skip_name(&o.bytes, wire::HEADER_LEN).unwrap() + 4;
    let mut r = o.bytes[..qend].to_vec();
    r[2] = 0x81;
    r[3] = 0x80;
    r[6..8].copy_from_slice(&ancount.to_be_bytes());
    r[8..12].copy_from_slice(&[0, 0, 0, 0]);
    let a = answers(qend);
    r.extend_from_slice(&a);
    r
}

fn ptr(to: usize) -> [u8; 2] {
    (0xC000u16 | to as u16).to_be_bytes()
}

/// type A, class IN, TTL 300, 4 bytes of address.
const A_TAIL: [u8; 14] = [0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 0, 0, 1];

// B4 row 12, upstream side: replies whose names use a pointer to itself, two pointers to each
// other, a forward pointer, or a 255-hop chain. Each is rejected (SERVFAIL, nothing cached) or,
// for the legal backward chain, decoded correctly — quickly, and the forwarder keeps serving.
#[tokio::test(start_paused = true)]
async fn row12_compression_pointer_abuse_in_upstream_replies() {
    type Build = fn(usize) -> Vec<u8>;
    let cases: [(&str, u16, Build); 4] = [
        ("self", 1, |at| [&ptr(at)[..], &A_TAIL].concat()),
        ("mutual", 2, |at| {
            // record 1's owner points forward at record 2's owner, which points back.
            let second = at + 2 + A_TAIL.len();
            [&ptr(second)[..], &A_TAIL, &ptr(at), &A_TAIL].concat()
        }),
        ("forward", 2, |at| {
            let second = at + 2 + A_TAIL.len();
            [&ptr(second)[..], &A_TAIL, &ptr(wire::HEADER_LEN), &A_TAIL].concat()
        }),
        ("chain255", 2, |at| {
            // Record 1: owner = the question, type NULL, rdata = 255 pointers each to the
            // previous one (the first to the question). Record 2: owner = the last pointer.
            let rdata_at = at + 2 + 10;
            let mut rdata = Vec::new();
            for k in 0..255 {
                let target = if k == 0 {
                    wire::HEADER_LEN
                } else {
                    rdata_at + 2 * (k - 1)
                };
                rdata.extend_from_slice(&ptr(target));
            }
            let mut r = ptr(wire::HEADER_LEN).to_vec();
            r.extend_from_slice(&[0, 10, 0, 1, 0, 0, 1, 44]);
            r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            r.extend_from_slice(&rdata);
            r.extend_from_slice(&ptr(rdata_at + 2 * 254));
            r.extend_from_slice(&A_TAIL);
            r
        }),
    ];
    let mut h = harness(&up1());
    for (i, (label, ancount, build)) in cases.into_iter().enumerate() {
        let name = format!("{label}.example");
        let c = h.ask(&name, i as u16);
        let o = h.expect_out().await;
        o.inject(raw_reply(&o, ancount, build), o.server);
        let wall = std::time::Instant::now();
        let r = c.await.unwrap();
        assert!(wall.elapsed() < Duration::from_secs(1), "{label}: slow");
        match rcode(&r) {
            wire::RCODE_SERVFAIL => {
                let (_, q) = query(&name, wire::TYPE_A, None);
                if let Some(e) = h.engine.cache().get(q.key(), tokio::time::Instant::now()) {
                    assert_eq!(e.rcode(), wire::RCODE_SERVFAIL, "{label}: bad reply cached");
                }
            }
            rc => {
                // Accepted: must be the legal chain, decoded to the right owner (the 510-byte
                // NULL record makes the plain-UDP reply TC; the cached message is whole).
                assert_eq!(label, "chain255", "{label}: accepted with rcode {rc}");
                let (_, q) = query(&name, wire::TYPE_A, None);
                let e = h.engine.cache().get(q.key(), tokio::time::Instant::now());
                let m = hickory_proto::op::Message::from_vec(&e.expect("cached").bytes).unwrap();
                let a: Vec<_> = m
                    .answers
                    .iter()
                    .filter(|r| r.record_type().is_ip_addr())
                    .collect();
                assert_eq!(a.len(), 1);
                assert_eq!(a[0].name.to_ascii(), format!("{name}."));
            }
        }
    }
    // Still serving.
    let c = h.ask("fine.example", 99);
    h.expect_out()
        .await
        .answer(&[("fine.example", 60, [1, 2, 3, 4])]);
    assert_eq!(answer_ips(&c.await.unwrap()), [Ipv4Addr::new(1, 2, 3, 4)]);
}

/// An upstream transport that is the forwarder itself: every UDP query it sends is handled
/// by the same engine (as if `--server` pointed back at our own listener).
#[derive(Default)]
struct SelfLoop {
    engine: std::sync::OnceLock<std::sync::Weak<dnsmasq_rs::Engine>>,
    sent: std::sync::atomic::AtomicUsize,
}

struct SelfLoopUdp {
    owner: Arc<SelfLoop>,
    server: SocketAddr,
    tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
}

#[async_trait::async_trait]
impl dnsmasq_rs::upstream::UdpChannel for SelfLoopUdp {
    async fn send(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.owner.sent.fetch_add(1, Ordering::SeqCst);
        let engine = self.owner.engine.get().and_then(std::sync::Weak::upgrade);
        let (pkt, tx) = (buf.to_vec(), self.tx.clone());
        if let Some(engine) = engine {
            tokio::spawn(async move {
                let mut out = Vec::new();
                let from: SocketAddr = "127.0.0.1:33333".parse().unwrap();
                if engine.handle(&pkt, from, true, &mut out).await {
                    let _ = tx.send(out);
                }
            });
        }
        Ok(())
    }
    async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        match self.rx.recv().await {
            Some(b) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                Ok((n, self.server))
            }
            None => std::future::pending().await,
        }
    }
}

struct LoopTransport(Arc<SelfLoop>);

#[async_trait::async_trait]
impl dnsmasq_rs::upstream::Transport for LoopTransport {
    async fn udp(
        &self,
        server: SocketAddr,
    ) -> std::io::Result<Box<dyn dnsmasq_rs::upstream::UdpChannel>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Ok(Box::new(SelfLoopUdp {
            owner: Arc::clone(&self.0),
            server,
            tx,
            rx,
        }))
    }
    async fn tcp(&self, _: SocketAddr, _: &[u8]) -> std::io::Result<Vec<u8>> {
        Err(std::io::ErrorKind::ConnectionRefused.into())
    }
}

fn self_loop(args: &str) -> (Arc<dnsmasq_rs::Engine>, Arc<SelfLoop>) {
    let lp = Arc::new(SelfLoop::default());
    let engine = dnsmasq_rs::Engine::with_timeout(
        config(args),
        Arc::new(LoopTransport(Arc::clone(&lp))),
        Duration::from_secs(2),
    );
    lp.engine.set(Arc::downgrade(&engine)).ok();
    (engine, lp)
}

async fn ask_engine(engine: &Arc<dnsmasq_rs::Engine>, name: &str, id: u16) -> Vec<u8> {
    let (pkt, _) = query_id(name, wire::TYPE_A, None, id);
    let mut out = Vec::new();
    assert!(engine.handle(&pkt, client(), true, &mut out).await);
    out
}

// B4 row 19: the upstream is ourselves. With `--dns-loop-detect` the probe comes back, the
// server is disabled after exactly one self-query, and clients then get REFUSED (no usable
// server) with no further upstream traffic. Without it, coalescing still bounds the loop: a
// looping question meets its own pending entry, so each client question costs one packet.
#[tokio::test(start_paused = true)]
async fn row19_forwarding_loop_is_bounded() {
    let (engine, lp) = self_loop(&format!("{} --dns-loop-detect", up1()));
    engine.start_loop_probes();
    settle().await;
    assert_eq!(
        engine.looped_servers(),
        [UP1.parse().unwrap()],
        "loop detected"
    );
    assert_eq!(
        lp.sent.load(Ordering::SeqCst),
        1,
        "one self-query: the probe"
    );
    for i in 0..20 {
        let r = ask_engine(&engine, &format!("q{i}.example"), i).await;
        assert_eq!(rcode(&r), wire::RCODE_REFUSED);
    }
    assert_eq!(
        lp.sent.load(Ordering::SeqCst),
        1,
        "no traffic to a looped server"
    );

    let (engine, lp) = self_loop(&up1());
    let clients: Vec<_> = (0..20u16)
        .map(|i| {
            let engine = Arc::clone(&engine);
            tokio::spawn(
                async move { ask_engine(&engine, &format!("q{}.example", i % 5), i).await },
            )
        })
        .collect();
    for c in clients {
        assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_SERVFAIL);
    }
    assert_eq!(
        lp.sent.load(Ordering::SeqCst),
        5,
        "one packet per distinct question"
    );
    assert_eq!(engine.stats().in_flight.get(), 0);
}

// B4 rows 13/17: the TCP framer without sockets (`server::serve_stream` over an in-memory
// duplex): pipelined queries answered (matched by ID), framed garbage → FORMERR, a prefix
// shorter than a header closes the stream; the output is exactly three complete frames.
#[tokio::test(start_paused = true)]
async fn tcp_framer_over_an_in_memory_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = harness(&format!("{} --address=/local.test/10.7.7.7", up1()));
    let (mut peer, srv) = tokio::io::duplex(1 << 16);
    let limits = dnsmasq_rs::server::TcpLimits {
        max_connections: 1,
        idle_timeout: Duration::from_secs(2),
        max_queries: 100,
    };
    let task = tokio::spawn(dnsmasq_rs::server::serve_stream(
        Arc::clone(&h.engine),
        srv,
        client(),
        limits,
        tokio_util::sync::CancellationToken::new(),
    ));
    let mut garbage = vec![0xBE, 0xEF, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3F];
    garbage.extend((0..27u8).map(|i| i.wrapping_mul(37) ^ 0xA5));
    let mut input = Vec::new();
    for m in [
        query_id("a.local.test", wire::TYPE_A, None, 1).0,
        query_id("b.local.test", wire::TYPE_A, None, 2).0,
        garbage,
    ] {
        input.extend_from_slice(&(m.len() as u16).to_be_bytes());
        input.extend_from_slice(&m);
    }
    input.extend_from_slice(&[0, 5, 1, 2, 3, 4, 5]); // bad framing: closes
    input.extend_from_slice(&[0, 12]); // never read
    peer.write_all(&input).await.unwrap();
    let mut out = Vec::new();
    peer.read_to_end(&mut out).await.unwrap();
    task.await.unwrap();
    let mut got = Vec::new();
    let mut rest = &out[..];
    while let [a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b]));
        let m = &tail[..n];
        got.push((u16::from_be_bytes([m[0], m[1]]), rcode(m), answer_ips(m)));
        rest = &tail[n..];
    }
    got.sort();
    let ip = Ipv4Addr::new(10, 7, 7, 7);
    assert_eq!(
        got,
        [
            (1, wire::RCODE_NOERROR, vec![ip]),
            (2, wire::RCODE_NOERROR, vec![ip]),
            (0xBEEF, wire::RCODE_FORMERR, vec![])
        ]
    );
}
