//! In-process DnsServer on 127.0.0.1:0 over real UDP and TCP sockets: answers, size caps,
//! malformed packets, TCP limits and pipelining, and forwarding to fake loopback upstreams.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use kubedns::dns::{DnsMetrics, DnsServer, Limits};
use kubedns::forward::{Forwarder, RealTransport};
use kubedns::model::{
    EndpointAddress, EndpointGroup, EndpointSubset, Service, ServiceKind, ServicePort,
};
use kubedns::store::{DnsConfig, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

/// A running server; cancelled on drop so no task outlives the test.
struct Running {
    udp: SocketAddr,
    tcp: SocketAddr,
    token: CancellationToken,
    upstream: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(h) = self.upstream.take() {
            h.abort();
        }
    }
}

fn svc(name: &str, kind: ServiceKind) -> Service {
    Service {
        namespace: "default".into(),
        name: name.into(),
        kind,
        ports: vec![ServicePort {
            name: "https".into(),
            protocol: "TCP".into(),
            port: 443,
        }],
        resource_version: None,
    }
}

/// Fake upstream answering every A query with 192.0.2.1 (UDP), or silent.
async fn fake_upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = sock.local_addr().expect("addr");
    let h = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut m = Message::response(q.metadata.id, OpCode::Query);
            m.metadata.recursion_available = true;
            m.metadata.recursion_desired = q.metadata.recursion_desired;
            m.add_queries(q.queries.clone());
            m.add_answer(Record::from_rdata(
                q.queries[0].name().clone(),
                600,
                RData::A(A([192, 0, 2, 1].into())),
            ));
            let _ = sock.send_to(&m.to_vec().expect("enc"), from).await;
        }
    });
    (addr, h)
}

async fn start(
    limits: Limits,
    upstreams: Vec<SocketAddr>,
    upstream: Option<tokio::task::JoinHandle<()>>,
) -> Running {
    let store = Store::new("cluster.local.");
    store.upsert_service(svc(
        "kubernetes",
        ServiceKind::ClusterIp(vec!["10.0.0.1".parse().expect("ip")]),
    ));
    store.upsert_service(svc("big", ServiceKind::Headless));
    store.upsert_endpoints(EndpointGroup {
        namespace: "default".into(),
        service: "big".into(),
        key: "slice/big".into(),
        subsets: vec![EndpointSubset {
            addresses: (0..100u8)
                .map(|i| EndpointAddress {
                    ip: IpAddr::from([10, 2, 0, i]),
                    hostname: None,
                    ready: true,
                })
                .collect(),
            ports: vec![],
        }],
    });
    store.upsert_service(svc(
        "ext",
        ServiceKind::ExternalName("www.example.com".into()),
    ));
    store.set_config(DnsConfig {
        upstreams,
        ..Default::default()
    });
    store.set_synced();
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("tcp");
    let (ua, ta) = (udp.local_addr().expect("a"), tcp.local_addr().expect("a"));
    let fwd = Forwarder::new(Arc::new(RealTransport), Duration::from_millis(300));
    let server = DnsServer::with_forwarder(store, limits, DnsMetrics::unregistered(), fwd);
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move { server.run(vec![udp], vec![tcp], t).await });
    Running {
        udp: ua,
        tcp: ta,
        token,
        upstream,
    }
}

fn query(id: u16, name: &str, t: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
    if let Some(p) = edns {
        let mut e = Edns::new();
        e.set_max_payload(p);
        m.set_edns(e);
    }
    m.to_vec().expect("enc")
}

async fn udp_raw(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    s.send_to(bytes, server).await.expect("send");
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(Duration::from_millis(1500), s.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

async fn udp(server: SocketAddr, bytes: &[u8]) -> (Message, usize) {
    let b = udp_raw(server, bytes).await.expect("reply");
    (Message::from_vec(&b).expect("decode"), b.len())
}

async fn tcp_send(s: &mut TcpStream, bytes: &[u8]) {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    s.write_all(&out).await.expect("write");
}

async fn tcp_recv(s: &mut TcpStream) -> Message {
    let n = s.read_u16().await.expect("len");
    let mut buf = vec![0u8; usize::from(n)];
    s.read_exact(&mut buf).await.expect("body");
    Message::from_vec(&buf).expect("decode")
}

#[tokio::test]
async fn udp_answers_and_caps() {
    let srv = start(Limits::default(), vec![], None).await;
    let (m, _) = udp(
        srv.udp,
        &query(
            4242,
            "Kubernetes.DEFAULT.svc.cluster.local.",
            RecordType::A,
            None,
        ),
    )
    .await;
    assert_eq!(m.metadata.id, 4242);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(
        m.answers[0].name.to_ascii(),
        "Kubernetes.DEFAULT.svc.cluster.local."
    );
    assert!(m.edns.is_none(), "no OPT in reply to a non-EDNS query");

    let big = "big.default.svc.cluster.local.";
    let (m, len) = udp(srv.udp, &query(1, big, RecordType::A, None)).await;
    assert!(len <= 512 && m.metadata.truncation, "{len}");
    assert!(!m.answers.is_empty() && m.answers.len() < 100);
    let (m, len) = udp(srv.udp, &query(2, big, RecordType::A, Some(4096))).await;
    assert!(len <= 1232 && m.metadata.truncation, "{len}");
    assert_eq!(m.answers.len(), 73, "as many as fit in 1232 bytes");
    assert_eq!(
        m.edns.as_ref().map(|e| e.max_payload()),
        Some(1232),
        "EDNS echoed with our size"
    );
    let (m, len) = udp(srv.udp, &query(3, big, RecordType::A, Some(100))).await;
    assert!(
        len <= 512 && m.metadata.truncation,
        "advertised 100 treated as 512: {len}"
    );

    let mut s = TcpStream::connect(srv.tcp).await.expect("connect");
    tcp_send(&mut s, &query(5, big, RecordType::A, None)).await;
    let m = tcp_recv(&mut s).await;
    assert_eq!(m.answers.len(), 100);
    assert!(!m.metadata.truncation);
}

#[tokio::test]
async fn malformed_packets_over_udp() {
    let srv = start(Limits::default(), vec![], None).await;
    let good = query(
        7,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
        None,
    );
    assert!(
        udp_raw(srv.udp, &good[..11]).await.is_none(),
        "11 bytes dropped"
    );
    let mut qr = good.clone();
    qr[2] |= 0x80;
    assert!(udp_raw(srv.udp, &qr).await.is_none(), "QR=1 dropped");
    let mut counts = good.clone();
    counts[5] = 3; // QDCOUNT 3
    let (m, _) = udp(srv.udp, &counts).await;
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let mut ptr = good[..12].to_vec();
    ptr.extend([0xC0, 0x0C, 0, 1, 0, 1]);
    let (m, _) = udp(srv.udp, &ptr).await;
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let mut op = good.clone();
    op[2] |= 4 << 3; // NOTIFY
    assert_eq!(
        udp(srv.udp, &op).await.0.metadata.response_code,
        ResponseCode::NotImp
    );
    // still alive and answering
    assert_eq!(udp(srv.udp, &good).await.0.answers.len(), 1);
}

#[tokio::test]
async fn tcp_pipelining_and_limits() {
    let limits = Limits {
        max_tcp_connections: 1,
        tcp_idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let srv = start(limits, vec![], None).await;
    let mut s = TcpStream::connect(srv.tcp).await.expect("connect");
    tcp_send(
        &mut s,
        &query(
            11,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            None,
        ),
    )
    .await;
    tcp_send(
        &mut s,
        &query(
            12,
            "missing.default.svc.cluster.local.",
            RecordType::A,
            None,
        ),
    )
    .await;
    // Pipelined queries are answered concurrently (RFC 7766 §6.2.1.1): match by ID.
    let mut ab = [tcp_recv(&mut s).await, tcp_recv(&mut s).await];
    ab.sort_by_key(|m| m.metadata.id);
    let [a, b] = ab;
    assert_eq!((a.metadata.id, a.answers.len()), (11, 1));
    assert_eq!(
        (b.metadata.id, b.metadata.response_code),
        (12, ResponseCode::NXDomain)
    );
    // second connection beyond the cap is closed at once
    let mut s2 = TcpStream::connect(srv.tcp).await.expect("connect");
    let mut buf = [0u8; 2];
    let r = tokio::time::timeout(Duration::from_secs(2), s2.read(&mut buf))
        .await
        .expect("closed promptly");
    assert!(matches!(r, Ok(0) | Err(_)));
    // idle connection closed after the idle timeout (slowloris: 1 byte then nothing)
    s.write_all(&[0]).await.expect("write");
    let r = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("closed by idle timeout");
    assert!(matches!(r, Ok(0) | Err(_)));
    // bad framing (length 11) closes the connection
    let mut s3 = TcpStream::connect(srv.tcp).await.expect("connect");
    s3.write_all(&[0, 11]).await.expect("write");
    s3.write_all(&[0u8; 11]).await.expect("write");
    let r = tokio::time::timeout(Duration::from_secs(2), s3.read(&mut buf))
        .await
        .expect("closed");
    assert!(matches!(r, Ok(0) | Err(_)));
    drop(s3);
    tokio::time::sleep(Duration::from_millis(50)).await; // the connection slot is released
    // length prefix larger than the data that follows: closed by the idle timeout
    let mut s4 = TcpStream::connect(srv.tcp).await.expect("connect");
    s4.write_all(&[2, 0]).await.expect("write");
    s4.write_all(&[0u8; 20]).await.expect("write");
    let r = tokio::time::timeout(Duration::from_secs(2), s4.read(&mut buf))
        .await
        .expect("closed");
    assert!(matches!(r, Ok(0) | Err(_)));
    drop(s4);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // garbage after a readable header, correctly framed: FORMERR, then the connection still
    // serves a good query
    let mut s5 = TcpStream::connect(srv.tcp).await.expect("connect");
    let mut garbage = vec![0xBE, 0xEF, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3F];
    garbage.extend((0..27u8).map(|i| i.wrapping_mul(37) ^ 0xA5));
    let good = query(
        12,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
        None,
    );
    let mut both = (garbage.len() as u16).to_be_bytes().to_vec();
    both.extend_from_slice(&garbage);
    both.extend_from_slice(&(good.len() as u16).to_be_bytes());
    both.extend_from_slice(&good);
    s5.write_all(&both).await.expect("write");
    for (id, rcode) in [(0xBEEF, ResponseCode::FormErr), (12, ResponseCode::NoError)] {
        let len = s5.read_u16().await.expect("frame");
        let mut b = vec![0u8; len as usize];
        s5.read_exact(&mut b).await.expect("frame body");
        let m = Message::from_vec(&b).expect("decodes");
        assert_eq!((m.metadata.id, m.metadata.response_code), (id, rcode));
    }
}

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

/// Deterministic fuzz: random and mutated packets through the whole synchronous pipeline
/// (classify → answer engine → encode) must never panic.
#[test]
fn no_panic_on_random_or_mutated_packets() {
    use kubedns::dns::Step;
    use rand::{Rng, SeedableRng};
    let store = Store::new("cluster.local.");
    store.upsert_service(svc(
        "kubernetes",
        ServiceKind::ClusterIp(vec!["10.0.0.1".parse().expect("ip")]),
    ));
    store.upsert_service(svc(
        "ext",
        ServiceKind::ExternalName("ext.default.svc.cluster.local".into()),
    ));
    store.set_synced();
    let server = DnsServer::new(store, Limits::default(), DnsMetrics::unregistered());
    let shared = server.shared();
    let src: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b756265);
    let seeds = [
        query(
            1,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            Some(4096),
        ),
        query(
            2,
            "_https._tcp.kubernetes.default.svc.cluster.local.",
            RecordType::SRV,
            None,
        ),
        query(
            3,
            "1-2-3-4.default.pod.cluster.local.",
            RecordType::SRV,
            None,
        ),
        query(4, "ext.default.svc.cluster.local.", RecordType::A, None),
        query(5, "1.0.0.10.in-addr.arpa.", RecordType::PTR, None),
    ];
    for i in 0..20_000 {
        let pkt: Vec<u8> = if i % 2 == 0 {
            let len = rng.random_range(0..300);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let mut p = seeds[i % seeds.len()].clone();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..p.len());
                p[at] = rng.random();
            }
            p
        };
        for tcp in [false, true] {
            match shared.handle(&pkt, src, tcp) {
                Step::Done(Some(reply)) => assert!(reply.len() >= 12),
                Step::Done(None) | Step::Upstream(_) => {}
            }
        }
    }
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
    let server = DnsServer::new(store, Limits::default(), metrics);
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

/// The TCP framer without sockets (`dns::serve_stream` over an in-memory duplex): pipelined
/// queries all answered (concurrently, so in any order; RFC 7766 §6.2.1.1), framed garbage →
/// FORMERR, then a prefix shorter than a header closes the stream — the output is exactly
/// three complete frames.
#[tokio::test]
async fn tcp_framer_over_an_in_memory_stream() {
    let store = Store::new("cluster.local.");
    store.upsert_service(svc(
        "kubernetes",
        ServiceKind::ClusterIp(vec!["10.0.0.1".parse().expect("ip")]),
    ));
    store.set_synced();
    let server = DnsServer::new(store, Limits::default(), DnsMetrics::unregistered());
    let (mut client, srv) = tokio::io::duplex(1 << 16);
    let peer: SocketAddr = "10.0.0.9:5000".parse().expect("addr");
    let task = tokio::spawn(kubedns::dns::serve_stream(
        server.shared(),
        srv,
        peer,
        CancellationToken::new(),
    ));
    let mut garbage = vec![0xBE, 0xEF, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3F];
    garbage.extend((0..27u8).map(|i| i.wrapping_mul(37) ^ 0xA5));
    let mut input = Vec::new();
    for m in [
        query(
            1,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            None,
        ),
        query(2, "nope.default.svc.cluster.local.", RecordType::A, None),
        garbage,
    ] {
        input.extend_from_slice(&(m.len() as u16).to_be_bytes());
        input.extend_from_slice(&m);
    }
    input.extend_from_slice(&[0, 5, 1, 2, 3, 4, 5]); // bad framing: closes
    input.extend_from_slice(&[0, 12]); // never read
    client.write_all(&input).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
        .await
        .expect("closed")
        .expect("read");
    task.await.expect("framer ends");
    let mut frames = Vec::new();
    let mut rest = &out[..];
    while let [a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b]));
        frames.push(Message::from_vec(&tail[..n]).expect("frame decodes"));
        rest = &tail[n..];
    }
    let mut got: Vec<_> = frames
        .iter()
        .map(|m| (m.metadata.id, m.metadata.response_code))
        .collect();
    got.sort_by_key(|(id, _)| *id);
    assert_eq!(
        got,
        [
            (1, ResponseCode::NoError),
            (2, ResponseCode::NXDomain),
            (0xBEEF, ResponseCode::FormErr)
        ]
    );
}
