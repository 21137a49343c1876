//! Socket loops: UDP workers (one SO_REUSEPORT socket each) and the TCP server.
//!
//! Owns: the UDP workers (one OS thread per socket blocked in `recvfrom`;
//! cache hits are answered inline with reused buffers — no task spawn, no allocation; misses
//! become tasks on the worker's own current-thread runtime, so a miss never changes thread).
//! TCP serving (RFC 7766 framing, concurrent pipelining, idle timeout, connection and
//! per-connection query caps) is the shared loop of [`serverkit::serve`], re-exported here;
//! the engine plugs in as its [`StreamHandler`].
//!
//! Shutdown: every loop stops accepting once its `CancellationToken` fires (UDP workers within
//! [`UDP_CANCEL_POLL`], thanks to a socket read timeout). Work already accepted — UDP misses
//! (driven by their worker thread until done) and open TCP connections — is tracked by a
//! [`TaskTracker`] so `run` can drain it: a TCP connection stops reading new queries at cancellation, finishes the ones
//! it has read, writes their answers and closes.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serverkit::serve::StreamHandler;
pub use serverkit::serve::{TcpLimits, serve_stream, serve_tcp};
use tokio::io::Interest;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::{Engine, Step};

/// Receive buffer for client datagrams (EDNS clients may send up to this).
pub const UDP_RECV_BUF: usize = 4096;
/// Socket receive buffer requested for UDP workers (binding: [`serverkit::net`]).
pub const UDP_SO_RCVBUF: usize = 4 << 20;

/// How often a blocked UDP worker checks for cancellation.
pub const UDP_CANCEL_POLL: Duration = Duration::from_millis(100);

/// Sends without blocking (used from async tasks on a blocking-mode socket); a full send
/// buffer drops the datagram, as the kernel would under load.
fn send_nonblocking(sock: &std::net::UdpSocket, buf: &[u8], dst: SocketAddr) {
    let r = socket2::SockRef::from(sock).send_to_with_flags(buf, &dst.into(), libc::MSG_DONTWAIT);
    if let Err(e) = r {
        tracing::debug!(error = %e, %dst, "udp send error");
    }
}

/// One UDP worker: a dedicated OS thread on its own SO_REUSEPORT socket, running its own
/// current-thread tokio runtime. While no miss of this worker is in flight, it blocks in
/// `recvfrom` and answers cache hits and local answers inline (two syscalls per query, no
/// epoll, no task, no allocation). A miss becomes a task on the worker's own runtime, so the
/// upstream exchange, the reply and the answer to the client happen on the same thread as the
/// receive — no hand-off to another thread, no cross-thread wake-up. While misses are in
/// flight, the worker waits for client datagrams and upstream replies together (epoll via the
/// runtime) and reads the client socket in non-blocking mode. Misses are tracked by `tracker`
/// so `run` can drain them; after `cancel` the worker stops reading and keeps driving its
/// misses until they finish (at most `--drain-timeout`, the bound `run` uses).
pub fn serve_udp_blocking(
    engine: Arc<Engine>,
    sock: std::net::UdpSocket,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let local = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start udp worker runtime");
            return;
        }
    };
    local.block_on(udp_loop(engine, Arc::new(sock), tracker, cancel));
}

/// Decrements the worker's in-flight miss count when a miss task ends (or is dropped).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn udp_loop(
    engine: Arc<Engine>,
    sock: Arc<std::net::UdpSocket>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    // A second handle on the same socket, registered with this worker's runtime while the
    // socket is still non-blocking (as tokio requires); the mode flag is shared by both.
    let registered = sock.try_clone().and_then(tokio::net::UdpSocket::from_std);
    let configured = sock
        .set_nonblocking(false)
        .and_then(|()| sock.set_read_timeout(Some(UDP_CANCEL_POLL)));
    let afd = match (registered, configured) {
        (Ok(a), Ok(())) => a,
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot configure udp socket");
            return;
        }
    };
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut buf = vec![0u8; UDP_RECV_BUF];
    let mut out = Vec::with_capacity(UDP_RECV_BUF);
    let mut nonblocking = false;
    while !cancel.is_cancelled() {
        // The socket is blocking while nothing of ours is in flight and non-blocking while
        // misses are: one `ioctl` per switch, none per packet.
        let want_nonblocking = in_flight.load(Ordering::Relaxed) > 0;
        if want_nonblocking != nonblocking {
            if let Err(e) = sock.set_nonblocking(want_nonblocking) {
                tracing::error!(error = %e, "cannot switch udp socket mode");
                break;
            }
            nonblocking = want_nonblocking;
        }
        let received = if !nonblocking {
            // Nothing of ours in flight: block in the kernel (the cache-hit fast path).
            sock.recv_from(&mut buf)
        } else {
            // Readiness waits do not count against tokio's cooperative budget: without this,
            // a steady stream of client datagrams would starve the miss tasks.
            tokio::task::coop::consume_budget().await;
            match tokio::time::timeout(UDP_CANCEL_POLL, afd.readable()).await {
                // Readiness is cleared only when the read says WouldBlock.
                Ok(Ok(())) => afd.try_io(Interest::READABLE, || sock.recv_from(&mut buf)),
                Ok(Err(e)) => Err(e),
                Err(_elapsed) => continue,
            }
        };
        let (n, src) = match received {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        if !serverkit::net::answerable_source(src) {
            continue;
        }
        let pkt = buf.get(..n).unwrap_or(&[]);
        match engine.answer_local(pkt, src, true, &mut out) {
            Step::Reply => {
                if let Err(e) = sock.send_to(&out, src) {
                    tracing::debug!(error = %e, %src, "udp send error");
                }
            }
            Step::Drop => {}
            Step::Forward(q) => {
                let pkt = pkt.to_vec();
                let engine = Arc::clone(&engine);
                let sock = Arc::clone(&sock);
                in_flight.fetch_add(1, Ordering::Relaxed);
                let guard = InFlight(Arc::clone(&in_flight));
                tokio::spawn(tracker.track_future(async move {
                    let _guard = guard;
                    let mut out = Vec::with_capacity(512);
                    engine.forward(&pkt, q, true, &mut out).await;
                    send_nonblocking(&sock, &out, src);
                }));
            }
        }
    }
    let deadline = tokio::time::Instant::now() + engine.config().drain_timeout;
    while in_flight.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Queries over TCP go through the one framing loop of [`serverkit::serve`].
impl StreamHandler for Engine {
    async fn answer(self: Arc<Self>, query: Vec<u8>, peer: SocketAddr) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(512);
        self.handle(&query, peer, false, &mut out)
            .await
            .then_some(out)
    }
}
