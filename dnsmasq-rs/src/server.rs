//! Socket loops: UDP workers (one SO_REUSEPORT socket each) and the TCP server.
//!
//! Owns: the UDP workers (one OS thread per socket blocked in `recvfrom`;
//! cache hits are answered inline with reused buffers — no task spawn, no allocation; misses
//! become tasks on the worker's own current-thread runtime, so a miss never changes thread),
//! and TCP serving with
//! RFC 7766 length framing, pipelining (queries handled concurrently, answers matched by ID),
//! an idle timeout, a connection cap and a per-connection query cap.
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

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::{Engine, Step};

/// Receive buffer for client datagrams (EDNS clients may send up to this).
pub const UDP_RECV_BUF: usize = 4096;
/// A TCP connection with no complete query for this long is closed (B4 row 17).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Queries answered on one TCP connection before it is closed (dnsmasq closes after ~100).
pub const TCP_MAX_QUERIES_PER_CONN: usize = 100;
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

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub max_queries: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: crate::config::DEFAULT_TCP_MAX_CONNECTIONS,
            idle_timeout: TCP_IDLE_TIMEOUT,
            max_queries: TCP_MAX_QUERIES_PER_CONN,
        }
    }
}

/// Accept loop; connections beyond the cap are closed at once. Returns (dropping the
/// listener) when `cancel` fires; connections are spawned on `tracker` and wind down on their
/// own (see the module header).
pub async fn serve_tcp(
    engine: Arc<Engine>,
    listener: TcpListener,
    limits: TcpLimits,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let sem = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, src) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp accept error");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&sem).try_acquire_owned() else {
            tracing::debug!(%src, "tcp connection cap reached; closing");
            drop(stream);
            continue;
        };
        let engine = Arc::clone(&engine);
        let cancel = cancel.clone();
        let _ = stream.set_nodelay(true);
        tracker.spawn(async move {
            serve_stream(engine, stream, src, limits, cancel).await;
            drop(permit);
        });
    }
}

/// One TCP connection's framing loop (RFC 1035 §4.2.2, RFC 7766 §6.2.1): length-prefixed
/// queries, answered concurrently (pipelining; replies matched by ID), up to
/// `limits.max_queries`; closed on EOF, a prefix shorter than a header, a short read or the
/// idle timeout. After `cancel`, no further query is read; those already read are answered
/// before the connection is closed. Generic over the stream so the framer is testable and
/// fuzzable without sockets.
pub async fn serve_stream<S>(
    engine: Arc<Engine>,
    stream: S,
    src: SocketAddr,
    limits: TcpLimits,
    cancel: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let wr = Arc::new(Mutex::new(wr));
    let mut tasks = JoinSet::new();
    for _ in 0..limits.max_queries {
        let read_len = tokio::time::timeout(limits.idle_timeout, rd.read_u16());
        let len = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = read_len => match r {
                Ok(Ok(len)) => len,
                _ => break,
            },
        };
        if (len as usize) < crate::wire::HEADER_LEN {
            break; // bad framing: close
        }
        let mut pkt = vec![0u8; len as usize];
        let Ok(Ok(_)) = tokio::time::timeout(limits.idle_timeout, rd.read_exact(&mut pkt)).await
        else {
            break;
        };
        let engine = Arc::clone(&engine);
        let wr = Arc::clone(&wr);
        tasks.spawn(async move {
            let mut out = Vec::with_capacity(512);
            if engine.handle(&pkt, src, false, &mut out).await {
                let Ok(len) = u16::try_from(out.len()) else {
                    return;
                };
                let mut framed = Vec::with_capacity(out.len() + 2);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(&out);
                let _ = wr.lock().await.write_all(&framed).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let _ = wr.lock().await.shutdown().await;
}
