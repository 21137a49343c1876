//! The UDP loop over real loopback sockets: inline, dropped and deferred replies, per-loop
//! state, several loops per socket, cancellation with a deferred reply in flight.

use super::*;
use std::collections::BTreeSet;
use std::net::UdpSocket;

/// Echoes the query with QR set and the loop's count of answered queries in byte 3; ID 0xFFFF
/// gets no reply; ID 1 is deferred and answered after `slow`.
struct Echo {
    slow: Duration,
}

impl DatagramHandler for Echo {
    type Local = u8;
    type Deferred = Vec<u8>;

    fn local(&self) -> u8 {
        0
    }

    fn answer(&self, n: &mut u8, q: &[u8], _: SocketAddr, out: &mut Vec<u8>) -> Outcome<Vec<u8>> {
        match u16::from_be_bytes([q[0], q[1]]) {
            0xFFFF => Outcome::Drop,
            1 => Outcome::Defer(q.to_vec()),
            _ => {
                *n = n.wrapping_add(1);
                out.extend_from_slice(q);
                out[2] |= 0x80;
                out[3] = *n;
                Outcome::Reply
            }
        }
    }

    async fn complete(self: Arc<Self>, mut q: Vec<u8>, _: SocketAddr) -> Option<Vec<u8>> {
        tokio::time::sleep(self.slow).await;
        q[2] |= 0x80;
        Some(q)
    }
}

fn query(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0; 10]);
    m
}

fn client() -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    c
}

/// Replies received until a read times out: (id, byte 3).
fn replies(c: &UdpSocket) -> Vec<(u16, u8)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok(n) = c.recv(&mut buf) {
        assert!(n >= 12 && buf[2] & 0x80 != 0, "a reply");
        out.push((u16::from_be_bytes([buf[0], buf[1]]), buf[3]));
    }
    out
}

fn start(slow: Duration, loops: usize) -> (SocketAddr, TaskTracker, CancellationToken) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let (tracker, cancel) = (TaskTracker::new(), CancellationToken::new());
    let cfg = UdpConfig {
        loops_per_socket: loops,
        ..UdpConfig::default()
    };
    spawn_udp(Arc::new(Echo { slow }), vec![sock], cfg, &tracker, &cancel).unwrap();
    (addr, tracker, cancel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_dropped_and_deferred_replies() {
    let (addr, tracker, cancel) = start(Duration::from_millis(300), 1);
    let c = client();
    for id in [1, 2, 0xFFFF, 3] {
        c.send_to(&query(id), addr).unwrap();
    }
    let got = tokio::task::spawn_blocking(move || replies(&c))
        .await
        .unwrap();
    // In order and counted by the one loop's state; the deferred reply comes last; 0xFFFF none.
    assert_eq!(got, [(2, 1), (3, 2), (1, 0)]);
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_loops_share_a_socket() {
    let (addr, tracker, cancel) = start(Duration::ZERO, 3);
    let c = client();
    let got = tokio::task::spawn_blocking(move || {
        for id in 10..60 {
            c.send_to(&query(id), addr).unwrap();
        }
        replies(&c)
    })
    .await
    .unwrap();
    let ids: BTreeSet<u16> = got.iter().map(|r| r.0).collect();
    assert_eq!(ids, (10..60).collect(), "every query answered once");
    assert_eq!(got.len(), 50);
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}

/// After cancellation no datagram is read, but the deferred reply already in flight is sent
/// before the loop returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_sends_deferred_replies_then_stops_reading() {
    let (addr, tracker, cancel) = start(Duration::from_millis(500), 1);
    let c = client();
    c.send_to(&query(1), addr).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    tracker.close();
    let c = tokio::task::spawn_blocking(move || {
        let got = replies(&c);
        (c, got)
    });
    let (c, got) = c.await.unwrap();
    assert_eq!(got, [(1, 0)], "the slow reply still arrives");
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .expect("loops end after the drain");
    c.send_to(&query(2), addr).unwrap();
    let got = tokio::task::spawn_blocking(move || replies(&c))
        .await
        .unwrap();
    assert!(got.is_empty(), "nothing read after cancellation: {got:?}");
}
