//! The in-process DnsServer forwarding to fake loopback upstreams: ExternalName chase, all
//! upstreams down, the forwarding capacity limit, served-query metrics, and dig against it.

mod common;

use common::server::*;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use kubedns::dns::{DnsMetrics, DnsServer, Limits};
use kubedns::model::ServiceKind;
use kubedns::store::Standalone as Store;
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn forwarding_and_external_name_chase() {
    let (up, h) = fake_upstream().await;
    let srv = start(Limits::default(), vec![up], Some(h)).await;
    let (m, _) = udp(srv.udp, &query(900, "example.com.", RecordType::A, None)).await;
    assert_eq!(m.metadata.id, 900, "relayed with the client's ID");
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].ttl, 600, "relayed as-is");
    let (m, _) = udp(
        srv.udp,
        &query(901, "ext.default.svc.cluster.local.", RecordType::A, None),
    )
    .await;
    assert_eq!(m.answers.len(), 2);
    assert!(matches!(m.answers[0].data, RData::CNAME(_)));
    assert!(
        m.answers.iter().all(|r| r.ttl == 30),
        "chased TTL forced to 30"
    );
    // unknown reverse names are forwarded too
    let (m, _) = udp(
        srv.udp,
        &query(902, "8.8.8.8.in-addr.arpa.", RecordType::PTR, None),
    )
    .await;
    assert_eq!(m.metadata.id, 902);
    // TCP client → TCP upstream; the fake has no TCP listener, so this is SERVFAIL
    let mut s = TcpStream::connect(srv.tcp).await.expect("connect");
    tcp_send(&mut s, &query(903, "example.org.", RecordType::A, None)).await;
    assert_eq!(
        tcp_recv(&mut s).await.metadata.response_code,
        ResponseCode::ServFail
    );
}

#[tokio::test]
async fn all_upstreams_down_is_servfail() {
    let dead = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let srv = start(Limits::default(), vec![dead.local_addr().expect("a")], None).await;
    let (m, _) = udp(srv.udp, &query(5, "example.com.", RecordType::A, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // ExternalName whose target cannot be resolved: SERVFAIL keeping the CNAME (legacy
    // answered NODATA without it; see docs/compat.md)
    let (m, _) = udp(
        srv.udp,
        &query(6, "ext.default.svc.cluster.local.", RecordType::A, None),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
    // no upstreams at all
    let none = start(Limits::default(), vec![], None).await;
    let (m, _) = udp(none.udp, &query(7, "example.com.", RecordType::A, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

/// Cross-check with a real client: `dig` (BIND) must parse our replies, see the flags and the
/// OPT echo. Needs `dig` (`serverkit::require`: skips outside CI, fails under CI).
#[tokio::test]
async fn dig_interop() {
    serverkit::require!(serverkit::require::Need::Tool("dig"));
    let srv = start(Limits::default(), vec![], None).await;
    let dig = |args: Vec<String>| async move {
        let out = tokio::process::Command::new("dig")
            .args(args)
            .kill_on_drop(true)
            .output()
            .await
            .expect("run dig");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let base = |extra: &[&str]| {
        let mut v = vec![
            format!("@{}", srv.udp.ip()),
            "-p".into(),
            srv.udp.port().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let out = dig(base(&[
        "+tries=1",
        "+time=2",
        "kubernetes.default.svc.cluster.local",
        "A",
    ]))
    .await;
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("flags: qr aa rd ra"), "{out}");
    assert!(
        out.contains("kubernetes.default.svc.cluster.local. 30 IN A\t10.0.0.1"),
        "{out}"
    );
    assert!(
        out.contains("EDNS: version: 0") && out.contains("udp: 1232"),
        "{out}"
    );
    let out = dig(base(&[
        "+tries=1",
        "+time=2",
        "+noedns",
        "+ignore",
        "big.default.svc.cluster.local",
        "A",
    ]))
    .await;
    assert!(
        out.contains("flags: qr aa tc rd ra") && out.contains("ANSWER: 29"),
        "{out}"
    );
    let tcp_args: Vec<String> = vec![
        format!("@{}", srv.tcp.ip()),
        "-p".into(),
        srv.tcp.port().to_string(),
        "+tries=1".into(),
        "+time=2".into(),
        "+tcp".into(),
        "big.default.svc.cluster.local".into(),
        "A".into(),
    ];
    let out = dig(tcp_args).await;
    assert!(out.contains("ANSWER: 100"), "{out}");
    let out = dig(base(&[
        "+tries=1",
        "+time=2",
        "nope.default.svc.cluster.local",
        "A",
    ]))
    .await;
    assert!(
        out.contains("status: NXDOMAIN")
            && out.contains("ns.dns.cluster.local. hostmaster.cluster.local."),
        "{out}"
    );
}

#[tokio::test]
async fn metrics_count_served_queries() {
    let mut reg = prometheus_client::registry::Registry::default();
    let metrics = DnsMetrics::register(&mut reg);
    let store = Store::new("cluster.local.");
    store.upsert_service(svc(
        "kubernetes",
        ServiceKind::ClusterIp(vec!["10.0.0.1".parse().expect("ip")]),
    ));
    store.set_synced();
    let udp_sock = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let addr = udp_sock.local_addr().expect("addr");
    let token = CancellationToken::new();
    let server = DnsServer::new(store.reader(), Limits::default(), metrics);
    let handle = tokio::spawn(server.run(vec![udp_sock], vec![], token.clone()));
    udp(
        addr,
        &query(
            1,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            None,
        ),
    )
    .await;
    udp(
        addr,
        &query(2, "nope.default.svc.cluster.local.", RecordType::A, None),
    )
    .await;
    udp(
        addr,
        &query(3, "1.0.0.10.in-addr.arpa.", RecordType::PTR, None),
    )
    .await;
    token.cancel();
    handle.await.expect("join").expect("run");
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
    assert!(
        out.contains("skydns_skydns_dns_request_count_total{system=\"auth\"} 2"),
        "{out}"
    );
    assert!(
        out.contains("skydns_skydns_dns_request_count_total{system=\"reverse\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("skydns_skydns_dns_error_count_total{system=\"auth\",cause=\"nxdomain\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("kubedns_dns_requests_total{type=\"A\",rcode=\"NOERROR\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("kubedns_dns_requests_total{type=\"PTR\",rcode=\"NOERROR\"} 1"),
        "{out}"
    );
}

/// B4 row 15: with the forwarding capacity used up by a blackholed upstream, further
/// forwarded queries get SERVFAIL at once (before the in-flight one times out), while
/// cluster answers are unaffected.
#[tokio::test]
async fn forwarding_capacity_overflow_is_immediate_servfail() {
    let dead = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let limits = Limits {
        max_inflight_udp: 1,
        ..Limits::default()
    };
    let srv = start(limits, vec![dead.local_addr().expect("a")], None).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    client
        .send_to(&query(1, "slow.example.", RecordType::A, None), srv.udp)
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;
    client
        .send_to(&query(2, "other.example.", RecordType::A, None), srv.udp)
        .await
        .expect("send");
    client
        .send_to(
            &query(
                3,
                "kubernetes.default.svc.cluster.local.",
                RecordType::A,
                None,
            ),
            srv.udp,
        )
        .await
        .expect("send");
    let mut order = Vec::new();
    let mut buf = vec![0u8; 4096];
    for _ in 0..3 {
        let n = tokio::time::timeout(Duration::from_secs(3), client.recv(&mut buf))
            .await
            .expect("reply")
            .expect("recv");
        let m = Message::from_vec(&buf[..n]).expect("decode");
        order.push((m.metadata.id, m.metadata.response_code));
    }
    assert_eq!(
        order,
        vec![
            (2, ResponseCode::ServFail),
            (3, ResponseCode::NoError),
            (1, ResponseCode::ServFail)
        ]
    );
}
