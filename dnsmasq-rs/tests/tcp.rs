//! DNS over TCP end to end on loopback: fallback to TCP on a truncated upstream reply, TCP
//! serving, and the TCP limits (B4 row 17).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::upstream::RealTransport;
use dnsmasq_rs::{server, wire};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

mod loopback;
use loopback::{build, start_front, sv, udp_query, udp_raw};

/// Authority that always truncates over UDP and answers fully over TCP.
async fn truncating_authority(tcp_count: Arc<AtomicUsize>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    let l = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, src)) = s.recv_from(&mut buf).await else {
                return;
            };
            let mut r = answer_a(&buf[..n], &[], false);
            r[2] |= 0x02;
            let _ = s.send_to(&r, src).await;
        }
    });
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut c, _)) = l.accept().await else {
                return;
            };
            tcp_count.fetch_add(1, Ordering::SeqCst);
            let Ok(len) = c.read_u16().await else {
                continue;
            };
            let mut q = vec![0u8; len as usize];
            if c.read_exact(&mut q).await.is_err() {
                continue;
            }
            let many: Vec<(&str, u32, [u8; 4])> = (0..60)
                .map(|i| ("big.example", 60, [10, 3, 0, i as u8]))
                .collect();
            let r = answer_a(&q, &many, false);
            let _ = c.write_all(&(r.len() as u16).to_be_bytes()).await;
            let _ = c.write_all(&r).await;
        }
    });
    addr
}

async fn tcp_exchange(addr: SocketAddr, queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut all = Vec::new();
    for q in queries {
        all.extend_from_slice(&(q.len() as u16).to_be_bytes());
        all.extend_from_slice(q);
    }
    c.write_all(&all).await.unwrap(); // pipelined
    let mut out = Vec::new();
    for _ in queries {
        let len = c.read_u16().await.unwrap();
        let mut b = vec![0u8; len as usize];
        c.read_exact(&mut b).await.unwrap();
        out.push(b);
    }
    out
}

#[tokio::test]
async fn tcp_fallback_truncation_and_tcp_serving() {
    let tcp_count = Arc::new(AtomicUsize::new(0));
    let up = truncating_authority(Arc::clone(&tcp_count)).await;
    let f = start_front(
        build(&sv(&format!(
            "--no-resolv --no-hosts --server=127.0.0.1#{}",
            up.port()
        ))),
        None,
        Duration::from_secs(2),
    )
    .await;
    // UDP client without EDNS: 60 A records do not fit in 512 bytes → TC.
    let r = udp_query(f.addr, "big.example", 1).await.unwrap();
    assert_ne!(r[2] & 0x02, 0, "TC set");
    assert!(r.len() <= 512);
    assert_eq!(tcp_count.load(Ordering::SeqCst), 1);
    // EDNS 4096 client: capped at 1232.
    let (pkt, _) = query_id("big.example", wire::TYPE_A, Some(4096), 2);
    let r = udp_raw(f.addr, &pkt).await.unwrap();
    assert!(r.len() <= 1232);
    // TCP clients get everything, pipelined queries all answered; served from cache.
    let (q1, _) = query_id("big.example", wire::TYPE_A, None, 11);
    let (q2, _) = query_id("BIG.example", wire::TYPE_A, None, 12);
    let rs = tcp_exchange(f.addr, &[q1, q2]).await;
    let mut ids: Vec<u16> = rs
        .iter()
        .map(|r| u16::from_be_bytes([r[0], r[1]]))
        .collect();
    ids.sort();
    assert_eq!(ids, [11, 12]);
    for r in &rs {
        assert_eq!(answer_ips(r).len(), 60);
    }
    assert_eq!(
        tcp_count.load(Ordering::SeqCst),
        1,
        "cached after the TCP retry"
    );
}

// B4 row 17: TCP idle timeout, bad framing, connection cap, per-connection query cap.
#[tokio::test]
async fn tcp_limits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let engine = Engine::with_timeout(
        build(&sv("--no-resolv --no-hosts --address=/local.test/10.7.7.7")),
        Arc::new(RealTransport),
        Duration::from_millis(200),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let _guard = cancel.clone().drop_guard();
    let limits = server::TcpLimits {
        max_connections: 2,
        idle_timeout: Duration::from_secs(2),
        max_queries: 3,
    };
    tokio::spawn(server::serve_tcp(
        engine,
        listener,
        limits.connection_permits(),
        limits,
        tokio_util::task::TaskTracker::new(),
        cancel.clone(),
    ));
    let read_eof = |mut c: TcpStream| async move {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    };
    // Idle: one byte then nothing → closed after the idle timeout.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0]).await.unwrap();
    assert!(read_eof(c).await, "idle connection closed");
    // Length prefix 11 (shorter than a header) → closed.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0, 11]).await.unwrap();
    c.write_all(&[0u8; 11]).await.unwrap();
    assert!(read_eof(c).await, "bad framing closes");
    // Length prefix larger than the data that follows → closed by the idle timeout.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[2, 0]).await.unwrap();
    c.write_all(&[0u8; 20]).await.unwrap();
    assert!(read_eof(c).await, "over-long prefix closed");
    // Garbage after a readable header, correctly framed → FORMERR; the connection then
    // still answers a good query.
    let mut garbage = vec![0xBE, 0xEF, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3F];
    garbage.extend((0..27u8).map(|i| i.wrapping_mul(37) ^ 0xA5));
    let good = query_id("a.local.test", wire::TYPE_A, None, 12).0;
    let rs = tcp_exchange(addr, &[garbage, good]).await;
    assert_eq!(rs.len(), 2);
    assert_eq!(
        (rs[0][0], rs[0][1], rcode(&rs[0])),
        (0xBE, 0xEF, wire::RCODE_FORMERR)
    );
    assert_eq!(answer_ips(&rs[1]), [Ipv4Addr::new(10, 7, 7, 7)]);
    // Per-connection cap: 3 answered, then closed.
    let qs: Vec<Vec<u8>> = (0..3u16)
        .map(|i| query_id("a.local.test", wire::TYPE_A, None, i).0)
        .collect();
    let rs = tcp_exchange(addr, &qs).await;
    assert!(
        rs.iter()
            .all(|r| answer_ips(r) == [Ipv4Addr::new(10, 7, 7, 7)])
    );
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut all = Vec::new();
    for i in 0..4u16 {
        let q = query_id("a.local.test", wire::TYPE_A, None, i).0;
        all.extend_from_slice(&(q.len() as u16).to_be_bytes());
        all.extend_from_slice(&q);
    }
    c.write_all(&all).await.unwrap();
    let mut answered = 0;
    while let Ok(Ok(len)) = tokio::time::timeout(Duration::from_secs(3), c.read_u16()).await {
        let mut b = vec![0u8; len as usize];
        c.read_exact(&mut b).await.unwrap();
        answered += 1;
    }
    assert_eq!(answered, 3);
    // Connection cap: two idle connections held, the third is closed at once.
    let _c1 = TcpStream::connect(addr).await.unwrap();
    let _c2 = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c3 = TcpStream::connect(addr).await.unwrap();
    let t0 = std::time::Instant::now();
    assert!(read_eof(c3).await);
    assert!(
        t0.elapsed() < Duration::from_millis(250),
        "closed before the idle timeout"
    );
}
