//! DNS over UDP, written once for both servers: the serving loop around a [`DatagramHandler`].
//!
//! Each loop is one OS thread running its own current-thread tokio runtime on one socket of the
//! caller's (binding stays in [`crate::net`]); several loops may share a socket
//! ([`UdpConfig::loops_per_socket`]: the kernel wakes one reader per datagram). A loop answers
//! what it can at once, in arrival order, on its own thread — no task per datagram — through a
//! per-loop state the handler creates ([`DatagramHandler::Local`], e.g. a reply cache, so the hot
//! path takes no lock). A query that must wait (an upstream) becomes a task on the loop's own
//! runtime, so its exchange and its reply stay on the thread that received it.
//!
//! Datagrams are read and the synchronous replies sent in batches ([`super::dgram`]:
//! `recvmmsg`/`sendmmsg` on Linux, [`UdpConfig::batch`]); a batch never waits to fill — the
//! first datagram ends the wait and the ones already queued come with it.
//!
//! While none of its tasks is in flight a loop blocks in the kernel's receive (the socket's read
//! timeout, [`CANCEL_POLL`], bounds how late it sees cancellation); while some are, it yields to
//! them after every batch, then waits for client datagrams and its tasks together (readiness
//! through the runtime) and receives without blocking. Keeping the upstream exchanges on the
//! loop's thread avoids a thread switch per forwarded query (handing them to the caller's
//! runtime was measured at about 2× dnsmasq's CPU per forwarded query, most of it in context
//! switches). Datagrams from a source that cannot be answered ([`crate::net::answerable_source`])
//! are dropped unread by the handler.
//!
//! Cancellation (lame duck over, shutdown): no further datagram is read; the replies of queries
//! already read are still sent — the synchronous ones at once, the deferred ones when their task
//! ends, for at most [`UdpConfig::drain_timeout`] — then the loop returns. The loops run on the
//! caller's [`TaskTracker`] ([`spawn_udp`]), so the caller's drain waits for them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tokio::io::Interest;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dgram::{self, Batch, DEFAULT_UDP_BATCH};

/// How late a loop blocked in the kernel notices cancellation (the socket's read timeout).
pub const CANCEL_POLL: Duration = Duration::from_millis(100);
/// Default [`UdpConfig::recv_buffer`]: EDNS clients may send up to this (RFC 6891 §6.2.5).
pub const DEFAULT_UDP_RECV_BUFFER: usize = 4096;
/// Default [`UdpConfig::drain_timeout`].
pub const DEFAULT_UDP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a cancelled loop checks whether its deferred replies are done.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// What the handler decided for one datagram.
#[derive(Debug)]
pub enum Outcome<D> {
    /// The reply is in the `reply` buffer: send it now.
    Reply,
    /// Send nothing.
    Drop,
    /// The reply needs waiting: [`DatagramHandler::complete`] runs as a task of the loop.
    Defer(D),
}

/// A DNS server's answer to UDP queries (static dispatch: no boxing per query).
pub trait DatagramHandler: Send + Sync + 'static {
    /// Per-loop state, created on the loop's thread ([`DatagramHandler::local`]).
    type Local;
    /// What a deferred query carries to its task.
    type Deferred: Send + 'static;

    /// A new loop's state.
    fn local(&self) -> Self::Local;

    /// The synchronous part: answer `query` from `peer` into `reply` (cleared by the loop
    /// before the call), drop it, or defer it.
    fn answer(
        &self,
        local: &mut Self::Local,
        query: &[u8],
        peer: SocketAddr,
        reply: &mut Vec<u8>,
    ) -> Outcome<Self::Deferred>;

    /// The asynchronous part of a deferred query: the reply, or `None` to send nothing.
    fn complete(
        self: Arc<Self>,
        deferred: Self::Deferred,
        peer: SocketAddr,
    ) -> impl Future<Output = Option<Vec<u8>>> + Send;
}

/// Settings of the UDP loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpConfig {
    /// Loops (threads) reading each socket; at least one.
    pub loops_per_socket: usize,
    /// Largest datagram read; longer ones are truncated (and so fail to parse).
    pub recv_buffer: usize,
    /// After cancellation, how long a loop keeps driving its deferred replies.
    pub drain_timeout: Duration,
    /// Datagrams read per receive call, and at most replies per send call (Linux; 1 elsewhere).
    pub batch: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            loops_per_socket: 1,
            recv_buffer: DEFAULT_UDP_RECV_BUFFER,
            drain_timeout: DEFAULT_UDP_DRAIN_TIMEOUT,
            batch: DEFAULT_UDP_BATCH,
        }
    }
}

/// Starts `cfg.loops_per_socket` loops on each socket, each on its own thread and tracked by
/// `tracker` (which must belong to the current runtime's context). Fails when a socket cannot be
/// configured ([`CANCEL_POLL`] as its read timeout; then no loop starts) or a thread cannot be
/// started (the loops already started stop at cancellation).
pub fn spawn_udp<H: DatagramHandler>(
    handler: Arc<H>,
    sockets: Vec<std::net::UdpSocket>,
    cfg: UdpConfig,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> io::Result<()> {
    let mut socks = Vec::with_capacity(sockets.len());
    for s in sockets {
        s.set_nonblocking(true)?;
        s.set_read_timeout(Some(CANCEL_POLL))?;
        socks.push(Arc::new(s));
    }
    let loops = cfg.loops_per_socket.max(1);
    for sock in socks {
        tracing::info!(addr = ?sock.local_addr().ok(), loops, "serving DNS over UDP");
        let registration = Arc::new(Barrier::new(loops));
        for _ in 0..loops {
            let (handler, sock, cancel) = (Arc::clone(&handler), Arc::clone(&sock), cancel.clone());
            let registration = Arc::clone(&registration);
            // A plain thread, not `spawn_blocking`: a blocking task that never ends would stop
            // tokio's paused test clock from advancing in the caller's runtime.
            let (done, ended) = tokio::sync::oneshot::channel::<()>();
            std::thread::Builder::new()
                .name("dns-udp".into())
                .spawn(move || {
                    serve_udp_loop(handler, sock, cfg, &registration, cancel);
                    drop(done);
                })?;
            tracker.spawn(async move {
                let _ = ended.await;
            });
        }
    }
    Ok(())
}

/// One loop on the calling thread (see the module header); returns after cancellation and the
/// drain. `registration` is shared by the loops of the socket.
fn serve_udp_loop<H: DatagramHandler>(
    handler: Arc<H>,
    sock: Arc<std::net::UdpSocket>,
    cfg: UdpConfig,
    registration: &Barrier,
    cancel: CancellationToken,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a UDP loop runtime");
            registration.wait();
            return;
        }
    };
    rt.block_on(udp_loop(handler, sock, cfg, registration, cancel));
}

/// Decrements the loop's count of deferred replies when their task ends (or is dropped).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn udp_loop<H: DatagramHandler>(
    handler: Arc<H>,
    sock: Arc<std::net::UdpSocket>,
    cfg: UdpConfig,
    registration: &Barrier,
    cancel: CancellationToken,
) {
    // A second handle on the socket registered with this loop's runtime, for readiness only
    // (every read and write goes through `dgram` with explicit flags).
    // Tokio registers non-blocking sockets only: every loop of the socket registers, then the
    // socket becomes blocking (the mode is shared by all handles; reads state their own).
    let registered = sock.try_clone().and_then(tokio::net::UdpSocket::from_std);
    registration.wait();
    let afd = match registered.and_then(|a| sock.set_nonblocking(false).map(|()| a)) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot register a UDP socket");
            return;
        }
    };
    let mut local = handler.local();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new(cfg.recv_buffer, cfg.batch);
    while !cancel.is_cancelled() {
        let received = if in_flight.load(Ordering::Relaxed) == 0 {
            // Nothing of ours in flight: block in the kernel (the fast path).
            batch.recv(&sock, true)
        } else {
            // Fairness: after every batch the deferred tasks get a turn, and the IO driver is
            // polled first (a yielded task resumes after the driver's next poll), so their
            // upstream replies are seen. Without it, a steady stream of client datagrams kept
            // the client socket ready and the tasks waited for tokio's cooperative budget
            // (forward path p50 3 ms at 10k QPS).
            tokio::task::yield_now().await;
            match tokio::time::timeout(CANCEL_POLL, afd.readable()).await {
                // Readiness is cleared only when the read says WouldBlock.
                Ok(Ok(())) => afd.try_io(Interest::READABLE, || batch.recv(&sock, false)),
                Ok(Err(e)) => Err(e),
                Err(_elapsed) => continue,
            }
        };
        match received {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                // e.g. ICMP-induced errors: never end the loop
                tracing::debug!(error = %e, "UDP receive error");
                continue;
            }
        }
        for i in 0..batch.len() {
            let (query, peer, reply) = batch.slot(i);
            let Some(peer) = peer.filter(|p| crate::net::answerable_source(*p)) else {
                continue;
            };
            reply.clear();
            match handler.answer(&mut local, query, peer, reply) {
                Outcome::Reply => batch.queue_reply(i),
                Outcome::Drop => {}
                Outcome::Defer(d) => {
                    let (handler, sock) = (Arc::clone(&handler), Arc::clone(&sock));
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let guard = InFlight(Arc::clone(&in_flight));
                    tokio::spawn(async move {
                        let _guard = guard;
                        if let Some(reply) = handler.complete(d, peer).await {
                            dgram::send_nonblocking(&sock, &reply, peer);
                        }
                    });
                }
            }
        }
        batch.send_replies(&sock);
    }
    let deadline = tokio::time::Instant::now() + cfg.drain_timeout;
    while in_flight.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

#[cfg(test)]
mod tests;
