//! Scenario tests for the forwarder's reply-handling rows of house-style B4 (spoofing,
//! coalescing, poisoning, truncation, negative caching, TTLs, malformed replies):
//! client QUERY → expect OUT_QUERY → inject REPLY → TIME_PASSES → CHECK_ANSWER on the
//! deterministic harness in `common` (fake transport, paused time). Policy rows (limits, failover,
//! routing, ANY, allow-list): `scenario_policy.rs`; more rows: `hardening.rs`.

mod common;

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
