//! Scenario tests for the forwarder rows of house-style B4 (spoofing, coalescing, poisoning,
//! truncation, negative caching, TTLs, malformed replies, flood, failover, ANY, allow-list):
//! client QUERY → expect OUT_QUERY → inject REPLY → TIME_PASSES → CHECK_ANSWER on the
//! deterministic harness in `common` (fake transport, paused time). More rows: `hardening.rs`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::wire;

// B4 row 1: spoofed replies (wrong ID, wrong port, wrong question) are ignored and counted.
#[tokio::test(start_paused = true)]
async fn row1_spoofed_replies_ignored() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    let c = h.ask("a.example", 0x1111);
    let o = h.expect_out().await;
    assert_eq!(o.server, UP1.parse().unwrap());
    let good = answer_a(&o.bytes, &[("a.example", 300, [10, 0, 0, 1])], false);
    let mut wrong_id = answer_a(&o.bytes, &[("a.example", 300, [6, 6, 6, 6])], false);
    wrong_id[0..2].copy_from_slice(&o.id().wrapping_add(1).to_be_bytes());
    let spoof = answer_a(&o.bytes, &[("a.example", 300, [6, 6, 6, 6])], false);
    let (other_q, _) = query_id("b.example", wire::TYPE_A, None, o.id());
    let wrong_q = answer_a(&other_q, &[("b.example", 300, [6, 6, 6, 6])], false);
    o.inject(wrong_id, o.server);
    o.inject(spoof, "127.0.0.1:10054".parse().unwrap());
    o.inject(wrong_q, o.server);
    o.inject(good, o.server);
    let resp = c.await.unwrap();
    assert_eq!(
        answer_ips(&resp),
        vec![std::net::Ipv4Addr::new(10, 0, 0, 1)]
    );
    assert_eq!(u16::from_be_bytes([resp[0], resp[1]]), 0x1111);
    assert_eq!(h.engine.stats().unwanted_replies.get(), 3);
    // Cached: no upstream query, same real answer.
    let resp = h.ask("a.example", 0x2222).await.unwrap();
    assert_eq!(
        answer_ips(&resp),
        vec![std::net::Ipv4Addr::new(10, 0, 0, 1)]
    );
    assert!(h.no_out());
}

// B4 row 2: 200 identical concurrent queries → exactly one upstream query.
#[tokio::test(start_paused = true)]
async fn row2_coalescing() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    let clients: Vec<_> = (0..200u16)
        .map(|i| h.ask("same.example", 1000 + i))
        .collect();
    let o = h.expect_out().await;
    settle().await;
    assert!(h.no_out(), "only one upstream query");
    o.answer(&[("same.example", 60, [10, 1, 1, 1])]);
    for (i, c) in clients.into_iter().enumerate() {
        let r = c.await.unwrap();
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), 1000 + i as u16);
        assert_eq!(answer_ips(&r).len(), 1);
    }
    assert_eq!(h.engine.stats().upstream_queries.get(), 1);
    assert_eq!(h.engine.stats().coalesced.get(), 199);
}

// B4 row 3: a reply with A's ID delivered on B's socket is rejected.
#[tokio::test(start_paused = true)]
async fn row3_reply_on_wrong_socket() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    let ca = h.ask("a.example", 1);
    let oa = h.expect_out().await;
    let cb = h.ask("b.example", 2);
    let ob = h.expect_out().await;
    let mut cross = answer_a(&oa.bytes, &[("a.example", 60, [6, 6, 6, 6])], false);
    cross[0..2].copy_from_slice(&oa.id().to_be_bytes());
    ob.inject(cross, ob.server);
    ob.answer(&[("b.example", 60, [2, 2, 2, 2])]);
    oa.answer(&[("a.example", 60, [1, 1, 1, 1])]);
    assert_eq!(
        answer_ips(&cb.await.unwrap()),
        vec![std::net::Ipv4Addr::new(2, 2, 2, 2)]
    );
    assert_eq!(
        answer_ips(&ca.await.unwrap()),
        vec![std::net::Ipv4Addr::new(1, 1, 1, 1)]
    );
    assert!(h.engine.stats().unwanted_replies.get() >= 1);
}

// B4 row 4: extra out-of-bailiwick records are never cached on their own.
#[tokio::test(start_paused = true)]
async fn row4_extra_records_not_cached() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    let c = h.ask("a.example", 1);
    let o = h.expect_out().await;
    o.inject(
        answer_with_additional(
            &o.bytes,
            ("a.example", 60, [1, 1, 1, 1]),
            ("victim.example", 3600, [6, 6, 6, 6]),
        ),
        o.server,
    );
    c.await.unwrap();
    let c = h.ask("victim.example", 2);
    let o = h.expect_out().await; // must go upstream
    o.answer(&[("victim.example", 60, [9, 9, 9, 9])]);
    assert_eq!(
        answer_ips(&c.await.unwrap()),
        vec![std::net::Ipv4Addr::new(9, 9, 9, 9)]
    );
}

// B4 row 6: TC over UDP → TCP; only the complete TCP answer is cached. TCP refused → SERVFAIL.
#[tokio::test(start_paused = true)]
async fn row6_truncation_tcp_fallback() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    *h.transport.tcp.lock().unwrap() = Some(Box::new(|_, q: &[u8]| {
        Ok(answer_a(q, &[("big.example", 60, [7, 7, 7, 7])], false))
    }));
    let c = h.ask("big.example", 1);
    let o = h.expect_out().await;
    let mut tc = answer_a(&o.bytes, &[], false);
    tc[2] |= 0x02;
    o.inject(tc, o.server);
    assert_eq!(
        answer_ips(&c.await.unwrap()),
        vec![std::net::Ipv4Addr::new(7, 7, 7, 7)]
    );
    assert_eq!(h.transport.tcp_calls.load(Ordering::SeqCst), 1);
    let r = h.ask("big.example", 2).await.unwrap();
    assert_eq!(answer_ips(&r), vec![std::net::Ipv4Addr::new(7, 7, 7, 7)]);
    assert!(h.no_out());

    *h.transport.tcp.lock().unwrap() = None;
    let c = h.ask("big2.example", 3);
    let o = h.expect_out().await;
    let mut tc = answer_a(&o.bytes, &[], false);
    tc[2] |= 0x02;
    o.inject(tc, o.server);
    let r = c.await.unwrap();
    assert_eq!(rcode(&r), wire::RCODE_SERVFAIL);
    let (_, q) = query("big2.example", wire::TYPE_A, None);
    // Only the short-lived SERVFAIL entry may exist, never a truncated answer.
    if let Some(e) = h.engine.cache().get(q.key(), tokio::time::Instant::now()) {
        assert_eq!(e.rcode(), wire::RCODE_SERVFAIL);
    }
}

// B4 row 8: negative caching with SOA; SERVFAIL short-lived.
#[tokio::test(start_paused = true)]
async fn row8_negative_caching() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    let c = h.ask("nx.example", 1);
    let o = h.expect_out().await;
    o.inject(nxdomain(&o.bytes, Some((300, 30))), o.server);
    assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_NXDOMAIN);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(
        rcode(&h.ask("nx.example", 2).await.unwrap()),
        wire::RCODE_NXDOMAIN
    );
    assert!(h.no_out());
    tokio::time::advance(Duration::from_secs(2)).await;
    let c = h.ask("nx.example", 3);
    let o = h.expect_out().await;
    o.inject(nxdomain(&o.bytes, None), o.server);
    c.await.unwrap();
    // Without SOA: not cached.
    let c = h.ask("nx.example", 4);
    let _o = h.expect_out().await;
    drop(c);
}

#[tokio::test(start_paused = true)]
async fn row8_no_negcache_flag() {
    let mut h = harness(&format!(
        "--no-resolv --no-negcache --server={}",
        UP1.replace(':', "#")
    ));
    let c = h.ask("nx.example", 1);
    let o = h.expect_out().await;
    o.inject(nxdomain(&o.bytes, Some((300, 30))), o.server);
    c.await.unwrap();
    let c = h.ask("nx.example", 2);
    let _o = h.expect_out().await;
    drop(c);
}

// B4 row 9: TTL clamp and countdown; TTL 0 refetched.
#[tokio::test(start_paused = true)]
async fn row9_ttl_abuse() {
    let mut h = harness(&format!(
        "--no-resolv --max-cache-ttl=60 --server={}",
        UP1.replace(':', "#")
    ));
    let c = h.ask("t.example", 1);
    let o = h.expect_out().await;
    o.answer(&[("t.example", 1_000_000, [1, 2, 3, 4])]);
    assert_eq!(first_answer_ttl(&c.await.unwrap()), 60);
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(first_answer_ttl(&h.ask("t.example", 2).await.unwrap()), 45);
    tokio::time::advance(Duration::from_secs(46)).await;
    let c = h.ask("t.example", 3);
    let o = h.expect_out().await;
    o.answer(&[("t.example", 0, [1, 2, 3, 4])]);
    c.await.unwrap();
    let c = h.ask("t.example", 4);
    let _o = h.expect_out().await; // TTL 0 was not stored
    drop(c);
}

// B4 row 11: malformed / empty replies → SERVFAIL, nothing cached, in-flight released.
#[tokio::test(start_paused = true)]
async fn row11_malformed_replies() {
    let mut h = harness(&format!("--no-resolv --server={}", UP1.replace(':', "#")));
    let c = h.ask("m.example", 1);
    let o = h.expect_out().await;
    let good = answer_a(&o.bytes, &[("m.example", 60, [1, 2, 3, 4])], false);
    o.inject(good[..good.len() - 3].to_vec(), o.server); // truncated RR
    assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_SERVFAIL);
    assert_eq!(h.engine.stats().in_flight.get(), 0);

    let c = h.ask("e.example", 2);
    let o = h.expect_out().await;
    o.inject(Vec::new(), o.server); // empty datagram: ignored, then timeout
    let mut qr0 = answer_a(&o.bytes, &[("e.example", 60, [1, 2, 3, 4])], false);
    qr0[2] &= !0x80;
    o.inject(qr0, o.server);
    assert_eq!(rcode(&c.await.unwrap()), wire::RCODE_SERVFAIL);
    assert_eq!(h.engine.stats().unwanted_replies.get(), 2);
    let (_, q) = query("m.example", wire::TYPE_A, None);
    tokio::time::advance(Duration::from_secs(3)).await;
    assert!(
        h.engine
            .cache()
            .get(q.key(), tokio::time::Instant::now())
            .is_none()
    );
}

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
