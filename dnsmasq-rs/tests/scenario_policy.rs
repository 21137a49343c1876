//! Scenario tests for the forwarder's policy rows of house-style B4 (forward limit, failover,
//! REFUSED upstreams, local routing and CHAOS, config swaps, random upstream IDs, malformed
//! queries, all-servers, ANY, allow-list) on the deterministic harness in `common` (fake
//! transport, paused time). Reply-handling rows: `scenario.rs`; more rows: `hardening.rs`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::wire;

// B4 row 15: flood past --dns-forward-max → REFUSED.
#[tokio::test(start_paused = true)]
async fn row15_forward_max() {
    let mut h = harness(&format!(
        "--no-resolv -0 2 --server={}",
        UP1.replace(':', "#")
    ));
    let a = h.ask("a.example", 1);
    let b = h.ask("b.example", 2);
    let oa = h.expect_out().await;
    let ob = h.expect_out().await;
    let r = h.ask("c.example", 3).await.unwrap();
    assert_eq!(rcode(&r), wire::RCODE_REFUSED);
    assert_eq!(h.engine.stats().refused_forward_max.get(), 1);
    oa.answer(&[("a.example", 60, [1, 1, 1, 1])]);
    ob.answer(&[("b.example", 60, [2, 2, 2, 2])]);
    a.await.unwrap();
    b.await.unwrap();
    let c = h.ask("c.example", 4);
    h.expect_out()
        .await
        .answer(&[("c.example", 60, [3, 3, 3, 3])]);
    assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_NOERROR);
    assert_eq!(h.engine.stats().in_flight.get(), 0);

    // Upstream blackholed: 2 × the cap. Exactly `cap` queries go out, the rest are REFUSED
    // at once; after the try timeout the gauge is back to 0 and new queries work again.
    let held: Vec<_> = (0..4u16)
        .map(|i| h.ask(&format!("hole{i}.example"), 10 + i))
        .collect();
    let _o1 = h.expect_out().await;
    let _o2 = h.expect_out().await;
    settle().await;
    assert!(h.no_out(), "only `cap` upstream queries in flight");
    assert_eq!(h.engine.stats().in_flight.get(), 2);
    let mut rcodes: Vec<u8> = Vec::new();
    for c in held {
        rcodes.push(rcode(&c.await.unwrap()));
    }
    rcodes.sort_unstable();
    assert_eq!(
        rcodes,
        [
            wire::RCODE_SERVFAIL,
            wire::RCODE_SERVFAIL,
            wire::RCODE_REFUSED,
            wire::RCODE_REFUSED
        ]
    );
    assert_eq!(h.engine.stats().in_flight.get(), 0);
    let c = h.ask("back.example", 20);
    h.expect_out()
        .await
        .answer(&[("back.example", 60, [4, 4, 4, 4])]);
    assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_NOERROR);
}

// B4 row 18: failover to the second server; all down → SERVFAIL, each tried once.
#[tokio::test(start_paused = true)]
async fn row18_failover_and_all_down() {
    let mut h = harness(&format!(
        "--no-resolv --strict-order --server={} --server={}",
        UP1.replace(':', "#"),
        UP2.replace(':', "#")
    ));
    let c = h.ask("f.example", 1);
    let o1 = h.expect_out().await;
    assert_eq!(o1.server, UP1.parse().unwrap()); // blackholed
    let o2 = h.expect_out().await;
    assert_eq!(o2.server, UP2.parse().unwrap());
    o2.answer(&[("f.example", 60, [5, 5, 5, 5])]);
    assert_eq!(
        answer_ips(&c.await.unwrap()),
        vec![std::net::Ipv4Addr::new(5, 5, 5, 5)]
    );

    let c = h.ask("down.example", 2);
    let _o1 = h.expect_out().await;
    let _o2 = h.expect_out().await;
    assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_SERVFAIL);
    assert!(h.no_out());
    let stats = h
        .engine
        .stats()
        .servers_bind(&[UP1.parse().unwrap(), UP2.parse().unwrap()]);
    assert_eq!(stats, ["127.0.0.1#10053 2 2", "127.0.0.2#53 2 1"]);
}

// Upstream SERVFAIL/REFUSED is a server failure: the next server is tried.
#[tokio::test(start_paused = true)]
async fn upstream_refused_fails_over() {
    let mut h = harness(&format!(
        "--no-resolv --strict-order --server={} --server={}",
        UP1.replace(':', "#"),
        UP2.replace(':', "#")
    ));
    let c = h.ask("r.example", 1);
    let o1 = h.expect_out().await;
    let mut refused = answer_a(&o1.bytes, &[], false);
    refused[3] = (refused[3] & 0xF0) | wire::RCODE_REFUSED;
    o1.inject(refused, o1.server);
    h.expect_out()
        .await
        .answer(&[("r.example", 60, [4, 4, 4, 4])]);
    assert_eq!(
        answer_ips(&c.await.unwrap()),
        vec![std::net::Ipv4Addr::new(4, 4, 4, 4)]
    );
}

// Server selection, local answers and CHAOS stats through the pipeline.
#[tokio::test(start_paused = true)]
async fn routing_local_answers_and_chaos() {
    let mut h = harness(&format!(
        "--no-resolv --cache-size=1000 --server={} --server=/cluster.local/{} --server=/local.only/ \
         --address=/ads.example/10.9.9.9",
        UP2.replace(':', "#"),
        UP1.replace(':', "#")
    ));
    let c = h.ask("kubernetes.default.svc.cluster.local", 1);
    let o = h.expect_out().await;
    assert_eq!(o.server, UP1.parse().unwrap());
    o.answer(&[("kubernetes.default.svc.cluster.local", 30, [10, 0, 0, 1])]);
    c.await.unwrap();
    let c = h.ask("example.com", 2);
    let o = h.expect_out().await;
    assert_eq!(o.server, UP2.parse().unwrap());
    o.answer(&[("example.com", 30, [1, 1, 1, 1])]);
    c.await.unwrap();
    assert_eq!(
        rcode(&h.ask("x.local.only", 3).await.unwrap()),
        wire::RCODE_NXDOMAIN
    );
    assert_eq!(
        answer_ips(&h.ask("www.ads.example", 4).await.unwrap()),
        vec![std::net::Ipv4Addr::new(10, 9, 9, 9)]
    );
    h.ask("example.com", 5).await.unwrap(); // cache hit
    assert!(h.no_out());
    let chaos = |name: &str| {
        let engine = Arc::clone(&h.engine);
        let pkt = query_bytes(
            name,
            wire::TYPE_TXT,
            hickory_proto::rr::DNSClass::CH,
            None,
            9,
        );
        async move {
            let mut out = Vec::new();
            engine.handle(&pkt, client(), true, &mut out).await;
            answer_txt(&out)
        }
    };
    assert_eq!(chaos("cachesize.bind").await, ["1000"]);
    assert_eq!(chaos("insertions.bind").await, ["2"]);
    assert_eq!(chaos("evictions.bind").await, ["0"]);
    assert_eq!(chaos("misses.bind").await, ["2"]);
    assert_eq!(chaos("hits.bind").await, ["3"]);
    assert_eq!(chaos("auth.bind").await, ["0"]);
    assert_eq!(
        chaos("servers.bind").await,
        ["127.0.0.2#53 1 0", "127.0.0.1#10053 1 0"]
    );
    assert!(chaos("version.bind").await[0].starts_with("dnsmasq-rs-"));
}

// A configuration swap keeps cache entries whose servers did not change.
#[tokio::test(start_paused = true)]
async fn config_swap_keeps_unaffected_cache() {
    let base = format!(
        "--no-resolv --server={} --server=/cluster.local/{}",
        UP2.replace(':', "#"),
        UP1.replace(':', "#")
    );
    let mut h = harness(&base);
    for (name, ip) in [
        ("a.cluster.local", [1, 1, 1, 1]),
        ("a.acme.local", [2, 2, 2, 2]),
    ] {
        let c = h.ask(name, 1);
        h.expect_out().await.answer(&[(name, 300, ip)]);
        c.await.unwrap();
    }
    h.engine
        .apply_config(config(&format!("{base} --server=/acme.local/127.0.0.3#53")));
    h.ask("a.cluster.local", 2).await.unwrap();
    assert!(h.no_out(), "cluster.local entry survived");
    let c = h.ask("a.acme.local", 3);
    let o = h.expect_out().await;
    assert_eq!(o.server, "127.0.0.3:53".parse().unwrap());
    o.answer(&[("a.acme.local", 60, [3, 3, 3, 3])]);
    assert_eq!(
        answer_ips(&c.await.unwrap()),
        vec![std::net::Ipv4Addr::new(3, 3, 3, 3)]
    );
}

// B4 row 1 (statistical part): upstream IDs are unpredictable.
#[tokio::test(start_paused = true)]
async fn upstream_ids_are_random() {
    let mut h = harness(&format!(
        "--no-resolv --cache-size=0 --server={}",
        UP1.replace(':', "#")
    ));
    let mut ids = std::collections::HashSet::new();
    let mut sequential = 0;
    let mut last = None;
    for i in 0..500u16 {
        let c = h.ask(&format!("n{i}.example"), i);
        let o = h.expect_out().await;
        if last.is_some_and(|l: u16| o.id() == l.wrapping_add(1)) {
            sequential += 1;
        }
        last = Some(o.id());
        ids.insert(o.id());
        o.answer(&[]);
        c.await.unwrap();
    }
    assert!(ids.len() >= 490, "{} distinct IDs", ids.len());
    assert!(sequential < 5);
}

// B4 row 10: malformed queries, table-driven; each has a defined outcome and nothing panics.
#[tokio::test(start_paused = true)]
async fn row10_malformed_queries() {
    let h = harness("--no-resolv --address=/ok.test/10.0.0.1");
    let (good, _) = query_id("a.ok.test", wire::TYPE_A, None, 5);
    let mut long_name = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for _ in 0..5 {
        long_name.push(63);
        long_name.extend_from_slice(&[b'a'; 63]);
    }
    long_name.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut bad_rdlen = good.clone();
    bad_rdlen[11] = 1; // ARCOUNT 1
    bad_rdlen.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 50, 1, 2]);
    let mut counts_too_big = good.clone();
    counts_too_big[7] = 3; // ANCOUNT 3, no data
    let mut garbage = good.clone();
    garbage.extend_from_slice(&[0xde, 0xad]);
    let mut two_opts = good.clone();
    two_opts[11] = 2;
    for _ in 0..2 {
        two_opts.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    }
    let mut badvers = good.clone();
    badvers[11] = 1;
    badvers.extend_from_slice(&[0, 0, 41, 4, 0, 0, 1, 0, 0, 0, 0]);
    let mut status = good.clone();
    status[2] = 0x10;
    let mut response = good.clone();
    response[2] |= 0x80;
    let cases: Vec<(&str, Vec<u8>, Option<u8>)> = vec![
        ("zero bytes", vec![], None),
        ("11 bytes", vec![0; 11], None),
        ("QR=1", response, None),
        ("opcode STATUS", status, Some(wire::RCODE_NOTIMP)),
        ("name > 255", long_name, Some(wire::RCODE_FORMERR)),
        ("bad RDLENGTH", bad_rdlen, Some(wire::RCODE_FORMERR)),
        ("counts > data", counts_too_big, Some(wire::RCODE_FORMERR)),
        ("two OPT", two_opts, Some(wire::RCODE_FORMERR)),
        ("EDNS version 1", badvers, Some(0)), // BADVERS: low bits 0, high bits in OPT
        ("trailing garbage", garbage, Some(wire::RCODE_NOERROR)),
        ("good", good, Some(wire::RCODE_NOERROR)),
    ];
    for (what, pkt, expect) in cases {
        let mut out = Vec::new();
        let answered = h.engine.handle(&pkt, client(), true, &mut out).await;
        match expect {
            None => assert!(!answered, "{what}: dropped"),
            Some(rc) => {
                assert!(answered, "{what}: answered");
                assert_eq!(rcode(&out), rc, "{what}");
                assert_ne!(out[2] & 0x80, 0, "{what}: QR set");
            }
        }
        if what == "EDNS version 1" {
            // OPT TTL high byte = extended rcode 1 → 16 = BADVERS.
            let opt_ttl_hi = out[out.len() - 6];
            assert_eq!(opt_ttl_hi, 1);
        }
    }
}

// --all-servers: every server is asked at once; the first good reply wins.
#[tokio::test(start_paused = true)]
async fn all_servers_first_reply_wins() {
    let mut h = harness(&format!(
        "--no-resolv --all-servers --server={} --server={}",
        UP1.replace(':', "#"),
        UP2.replace(':', "#")
    ));
    let c = h.ask("p.example", 1);
    let o1 = h.expect_out().await;
    let o2 = h.expect_out().await;
    let mut servers = vec![o1.server, o2.server];
    servers.sort();
    assert_eq!(servers, [UP1.parse().unwrap(), UP2.parse().unwrap()]);
    o2.answer(&[("p.example", 60, [8, 8, 8, 8])]);
    assert_eq!(
        answer_ips(&c.await.unwrap()),
        vec![std::net::Ipv4Addr::new(8, 8, 8, 8)]
    );
}

/// An answer to `query` (any qtype) with `n` records each of A, AAAA and TXT: an ANY answer
/// far larger than the UDP caps.
fn big_any_answer(query: &[u8], n: u8) -> Vec<u8> {
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::{A, AAAA, TXT};
    use hickory_proto::rr::{RData, Record};
    let base = Message::from_vec(&answer_a(query, &[], false)).unwrap();
    let name = base.queries[0].name.clone();
    let mut m = base;
    for i in 0..n {
        let rdatas = [
            RData::A(A::new(10, 0, 0, i)),
            RData::AAAA(AAAA(std::net::Ipv6Addr::new(
                0xfd00,
                0,
                0,
                0,
                0,
                0,
                0,
                u16::from(i),
            ))),
            RData::TXT(TXT::new(vec![format!("{i:03} {}", "x".repeat(60))])),
        ];
        for rd in rdatas {
            m.add_answer(Record::from_rdata(name.clone(), 300, rd));
        }
    }
    m.to_vec().unwrap()
}

// B4 row 14 / RFC 8482: ANY is forwarded (as dnsmasq did) and the upstream's answer is cached
// and capped like any other: TC without answers when it exceeds the client's UDP limit (512
// plain, min(advertised, 1232) with EDNS), complete over TCP.
#[tokio::test(start_paused = true)]
async fn row14_any_forwarded_and_capped_like_any_other() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    let engine = Arc::clone(&h.engine);
    let ask = |edns: Option<u16>, udp: bool, id: u16| {
        let engine = Arc::clone(&engine);
        let (pkt, _) = query_id("Any.Example", wire::TYPE_ANY, edns, id);
        tokio::spawn(async move {
            let mut out = Vec::new();
            assert!(engine.handle(&pkt, client(), udp, &mut out).await);
            out
        })
    };
    let c = ask(None, true, 1);
    let o = h.expect_out().await;
    let wire::Parsed::Query(upstream_q) = wire::parse_query(&o.bytes) else {
        panic!("upstream query did not parse");
    };
    assert_eq!(upstream_q.qtype, wire::TYPE_ANY, "ANY forwarded as ANY");
    let big = big_any_answer(&o.bytes, 20);
    assert!(big.len() > wire::UDP_EDNS_CAP + 1000, "{} bytes", big.len());
    o.inject(big, o.server);
    let decode = |b: &[u8]| hickory_proto::op::Message::from_vec(b).unwrap();
    // Plain UDP client: ≤ 512 bytes, TC, question only.
    let r = c.await.unwrap();
    assert!(r.len() <= wire::UDP_PLAIN_MAX);
    let m = decode(&r);
    assert!(m.metadata.truncation && m.answers.is_empty());
    assert_eq!(m.metadata.id, 1);
    assert_eq!(m.queries[0].name.to_ascii(), "Any.Example.");
    // EDNS clients (cache hits now): capped at min(advertised, 1232), advertised < 512 → 512.
    for (size, cap) in [(4096, wire::UDP_EDNS_CAP), (1400, 1232), (200, 512)] {
        let r = ask(Some(size), true, 2).await.unwrap();
        assert!(r.len() <= cap, "EDNS {size}: {} bytes", r.len());
        let m = decode(&r);
        assert!(m.metadata.truncation && m.answers.is_empty(), "EDNS {size}");
        assert!(m.edns.is_some(), "EDNS {size}: OPT kept");
    }
    // TCP: the complete answer, from the cache.
    let r = ask(None, false, 3).await.unwrap();
    let m = decode(&r);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 60);
    assert!(h.no_out(), "one upstream query in all");
}

// B4 row 14: `--allow-from` answers only the listed client networks; others get REFUSED
// (never forwarded, never answered from the cache), and malformed packets from them are
// dropped rather than answered with FORMERR.
#[tokio::test(start_paused = true)]
async fn row14_allow_from_refuses_other_clients() {
    let mut h = harness(&format!(
        "--no-resolv --server={} --address=/local.test/10.5.5.5 \
         --allow-from=10.0.0.0/8,fd00::/8",
        UP1.replace(':', "#")
    ));
    let engine = Arc::clone(&h.engine);
    let handle = |src: &str, pkt: Vec<u8>| {
        let engine = Arc::clone(&engine);
        let src: SocketAddr = src.parse().unwrap();
        async move {
            let mut out = Vec::new();
            engine
                .handle(&pkt, src, true, &mut out)
                .await
                .then_some(out)
        }
    };
    let local = || query_id("a.local.test", wire::TYPE_A, Some(1232), 5).0;
    let r = handle("10.0.0.9:4000", local()).await.unwrap();
    assert_eq!(answer_ips(&r), [std::net::Ipv4Addr::new(10, 5, 5, 5)]);
    let r = handle("[fd00::9]:4000", local()).await.unwrap();
    assert_eq!(answer_ips(&r), [std::net::Ipv4Addr::new(10, 5, 5, 5)]);
    for outsider in ["192.0.2.1:4000", "[2001:db8::1]:4000", "127.0.0.1:4000"] {
        let r = handle(outsider, local()).await.expect("REFUSED is sent");
        assert_eq!(rcode(&r), wire::RCODE_REFUSED, "{outsider}");
        assert!(answer_ips(&r).is_empty());
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), 5);
        // Not forwarded either.
        let (q, _) = query_id("remote.example", wire::TYPE_A, None, 6);
        let r = handle(outsider, q).await.unwrap();
        assert_eq!(rcode(&r), wire::RCODE_REFUSED);
        // A NOTIFY (NOTIMP for allowed clients) from outside: nothing sent.
        let mut notify = query_id("x.example", wire::TYPE_A, None, 7).0;
        notify[2] = (notify[2] & !0x78) | (4 << 3);
        assert!(handle(outsider, notify.clone()).await.is_none());
        assert_eq!(
            rcode(&handle("10.1.1.1:53", notify).await.unwrap()),
            wire::RCODE_NOTIMP
        );
    }
    assert!(h.no_out(), "refused clients cause no upstream traffic");
    assert_eq!(h.engine.stats().refused_clients.get(), 6);
    // An allowed client's cached answer is still not served to outsiders.
    let c = tokio::spawn(handle(
        "10.0.0.9:4000",
        query_id("c.example", wire::TYPE_A, None, 8).0,
    ));
    let o = h.expect_out().await;
    o.answer(&[("c.example", 300, [1, 2, 3, 4])]);
    assert_eq!(
        answer_ips(&c.await.unwrap().unwrap()),
        [std::net::Ipv4Addr::new(1, 2, 3, 4)]
    );
    let r = handle(
        "192.0.2.1:4000",
        query_id("c.example", wire::TYPE_A, None, 9).0,
    )
    .await
    .unwrap();
    assert_eq!(rcode(&r), wire::RCODE_REFUSED);
}
