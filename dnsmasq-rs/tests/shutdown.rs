//! Graceful shutdown of `run` on loopback (B4 row 27): after cancellation nothing new is
//! accepted, resolutions in flight are answered within the drain deadline, and `run` reports
//! whether the drain completed.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::run::{self, Sockets};
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::upstream::RealTransport;
use dnsmasq_rs::{server, wire};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

mod loopback;
use loopback::{build, sv, udp_query};

/// Authority that reports each UDP query on `got` and answers it (A 10.4.4.4 for the asked
/// name) only once `release` is cancelled.
async fn held_authority(
    got: tokio::sync::mpsc::UnboundedSender<()>,
    release: CancellationToken,
) -> SocketAddr {
    let s = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, src)) = s.recv_from(&mut buf).await else {
                return;
            };
            let q = buf[..n].to_vec();
            let _ = got.send(());
            let (s, release) = (Arc::clone(&s), release.clone());
            tokio::spawn(async move {
                release.cancelled().await;
                let Ok(m) = hickory_proto::op::Message::from_vec(&q) else {
                    return;
                };
                let name = m.queries[0].name.to_ascii();
                let r = answer_a(&q, &[(&name, 60, [10, 4, 4, 4])], false);
                let _ = s.send_to(&r, src).await;
            });
        }
    });
    addr
}

/// Serving sockets on a fresh loopback port: (UDP worker sockets, TCP listener, address).
fn bind_front() -> (Sockets, SocketAddr) {
    let (udp, tcp) =
        serverkit::net::bind_dns("127.0.0.1:0".parse().unwrap(), 2, server::UDP_SO_RCVBUF).unwrap();
    let addr = udp[0].local_addr().unwrap();
    let sockets = Sockets {
        udp,
        tcp: vec![TcpListener::from_std(tcp).unwrap()],
        metrics: None,
    };
    (sockets, addr)
}

// B4 row 27: after cancellation nothing new is accepted, but upstream resolutions in flight
// (UDP and TCP clients) are answered, idle TCP connections are closed, `run` reports a
// complete drain and the port can be bound again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_drains_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let release = CancellationToken::new();
    let up = held_authority(got_tx, release.clone()).await;
    let cfg = build(&sv(&format!(
        "--no-resolv --no-hosts --address=/local.test/10.7.7.7 --server=127.0.0.1#{}",
        up.port()
    )));
    let engine = Engine::with_timeout(cfg, Arc::new(RealTransport), Duration::from_secs(30));
    let (sockets, addr) = bind_front();
    let cancel = CancellationToken::new();
    let _guard = cancel.clone().drop_guard();
    let served = tokio::spawn(run::run(
        engine,
        sockets,
        None,
        Duration::ZERO,
        Duration::from_secs(30),
        cancel.clone(),
    ));
    assert_eq!(
        answer_ips(&udp_query(addr, "a.local.test", 1).await.unwrap()),
        [Ipv4Addr::new(10, 7, 7, 7)]
    );
    // One UDP and one TCP query waiting on the upstream, plus an idle TCP connection.
    let udp_client = tokio::spawn(async move {
        let (pkt, _) = query_id("u.held.test", wire::TYPE_A, None, 2);
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(&pkt, addr).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(30), s.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        buf.truncate(n);
        Some(buf)
    });
    let mut tcp_client = TcpStream::connect(addr).await.unwrap();
    let (q, _) = query_id("t.held.test", wire::TYPE_A, None, 3);
    tcp_client
        .write_all(&(q.len() as u16).to_be_bytes())
        .await
        .unwrap();
    tcp_client.write_all(&q).await.unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), got.recv())
            .await
            .expect("both queries reach the upstream");
    }
    cancel.cancel();
    // The idle connection is closed without waiting for its idle timeout.
    let mut b = [0u8; 1];
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), idle.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    ));
    // New work is refused: no answer to UDP, TCP connections refused or closed unanswered.
    tokio::time::sleep(server::UDP_CANCEL_POLL * 3).await;
    let (pkt, _) = query_id("a.local.test", wire::TYPE_A, None, 4);
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(&pkt, addr).await.unwrap();
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), s.recv_from(&mut buf))
            .await
            .is_err(),
        "a stopped UDP worker does not answer"
    );
    if let Ok(mut c) = TcpStream::connect(addr).await {
        let _ = c.write_all(&(pkt.len() as u16).to_be_bytes()).await;
        let _ = c.write_all(&pkt).await;
        assert!(matches!(
            tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        ));
    }
    assert!(!served.is_finished(), "still draining the held queries");
    release.cancel();
    let r = udp_client
        .await
        .unwrap()
        .expect("in-flight UDP query answered");
    assert_eq!(answer_ips(&r), [Ipv4Addr::new(10, 4, 4, 4)]);
    let len = tcp_client.read_u16().await.expect("in-flight TCP answer");
    let mut r = vec![0u8; len as usize];
    tcp_client.read_exact(&mut r).await.unwrap();
    assert_eq!(answer_ips(&r), [Ipv4Addr::new(10, 4, 4, 4)]);
    assert!(matches!(tcp_client.read(&mut b).await, Ok(0) | Err(_)));
    let drain = tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("run returns after the drain")
        .unwrap();
    assert_eq!(drain, run::Drain::Complete);
    std::net::UdpSocket::bind(addr).expect("UDP port free again");
    std::net::TcpListener::bind(addr).expect("TCP port free again");
}

// B4 row 27: the drain deadline bounds shutdown when an upstream never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drain_deadline() {
    let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let never = CancellationToken::new();
    let up = held_authority(got_tx, never.clone()).await;
    let cfg = build(&sv(&format!(
        "--no-resolv --no-hosts --server=127.0.0.1#{}",
        up.port()
    )));
    let engine = Engine::with_timeout(cfg, Arc::new(RealTransport), Duration::from_secs(60));
    let (sockets, addr) = bind_front();
    let cancel = CancellationToken::new();
    let served = tokio::spawn(run::run(
        engine,
        sockets,
        None,
        Duration::ZERO,
        Duration::from_millis(300),
        cancel.clone(),
    ));
    let _client = tokio::spawn(udp_query(addr, "stuck.test", 1));
    tokio::time::timeout(Duration::from_secs(5), got.recv())
        .await
        .expect("query reaches the upstream");
    cancel.cancel();
    let drain = tokio::time::timeout(Duration::from_secs(20), served)
        .await
        .expect("run returns at the drain deadline, long before the upstream timeout")
        .unwrap();
    assert_eq!(drain, run::Drain::TimedOut);
}
