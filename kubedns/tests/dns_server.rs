//! In-process DnsServer on 127.0.0.1:0 over real UDP and TCP sockets: answers, size caps,
//! malformed packets, TCP limits and pipelining, the TCP framer (forwarding is in
//! `dns_forwarding.rs`).

mod common;

use common::server::*;

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use kubedns::dns::{DnsMetrics, DnsServer, Limits};
use kubedns::model::ServiceKind;
use kubedns::store::Standalone as Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

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
    let server = DnsServer::new(
        store.reader(),
        Limits::default(),
        DnsMetrics::unregistered(),
    );
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
    let server = DnsServer::new(
        store.reader(),
        Limits::default(),
        DnsMetrics::unregistered(),
    );
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
