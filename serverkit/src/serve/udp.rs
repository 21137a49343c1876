//! DNS over UDP, written once for both servers: the serving loop around a [`DatagramHandler`].
//!
//! Each loop is one OS thread running its own current-thread tokio runtime on one socket of the
//! caller's (binding stays in [`crate::net`]); several loops may share a socket
//! ([`UdpConfig::loops_per_socket`]: the kernel wakes one reader per datagram). A loop answers
//! what it can at once, in arrival order, on its own thread — no task per datagram — through a
//! per-loop state the handler creates ([`DatagramHandler::Local`], e.g. a reply cache, so the hot
//! path takes no lock). A query that must wait (an upstream) becomes a task on the loop's own
//! caller's runtime (the one [`spawn_udp`] is called on), so the loop itself never waits for
//! it: a loop thread only reads, answers and sends, and the kernel's scheduler — not a
//! cooperative budget — shares the CPU between it and the upstream exchanges. (An earlier
//! version ran deferred tasks on the loop's own runtime and polled them only while the client
//! socket was idle; under a steady stream of misses the tasks waited for the loop to yield and
//! the forward path's median latency rose to 3 ms.)
//!
//! Datagrams are read and the synchronous replies sent in batches ([`super::dgram`]:
//! `recvmmsg`/`sendmmsg` on Linux, [`UdpConfig::batch`]); a batch never waits to fill — the
//! first datagram ends the wait and the ones already queued come with it.
//!
//! A loop blocks in the kernel's receive (the socket's read timeout, [`CANCEL_POLL`], bounds how
//! late it sees cancellation). Datagrams from a source that cannot be answered
//! ([`crate::net::answerable_source`]) are dropped unread by the handler.
//!
//! Cancellation (lame duck over, shutdown): no further datagram is read; the replies of queries
//! already read are still sent — the synchronous ones at once, the deferred ones when their task
//! ends, for at most [`UdpConfig::drain_timeout`] — then the loop returns. The loops run on the
//! caller's [`TaskTracker`] ([`spawn_udp`]), so the caller's drain waits for them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
/// `tracker` (which must belong to the current runtime's context; deferred replies run as tasks
/// of that runtime). Fails when a socket cannot be configured (blocking, [`CANCEL_POLL`] as its
/// read timeout; then no loop starts) or a thread cannot be started (the loops already started
/// stop at cancellation).
pub fn spawn_udp<H: DatagramHandler>(
    handler: Arc<H>,
    sockets: Vec<std::net::UdpSocket>,
    cfg: UdpConfig,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> io::Result<()> {
    let tasks = tokio::runtime::Handle::current();
    let mut socks = Vec::with_capacity(sockets.len());
    for s in sockets {
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(CANCEL_POLL))?;
        socks.push(Arc::new(s));
    }
    let loops = cfg.loops_per_socket.max(1);
    for sock in socks {
        tracing::info!(addr = ?sock.local_addr().ok(), loops, "serving DNS over UDP");
        for _ in 0..loops {
            let (handler, sock, cancel) = (Arc::clone(&handler), Arc::clone(&sock), cancel.clone());
            let tasks = tasks.clone();
            // A plain thread, not `spawn_blocking`: a blocking task that never ends would stop
            // tokio's paused test clock from advancing in the caller's runtime.
            let (done, ended) = tokio::sync::oneshot::channel::<()>();
            std::thread::Builder::new()
                .name("dns-udp".into())
                .spawn(move || {
                    serve_udp_loop(handler, sock, cfg, tasks, cancel);
                    drop(done);
                })?;
            tracker.spawn(async move {
                let _ = ended.await;
            });
        }
    }
    Ok(())
}

/// Decrements the loop's count of deferred replies when their task ends (or is dropped).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One loop on the calling thread (see the module header); returns after cancellation and the
/// drain. Deferred replies run on `tasks`.
fn serve_udp_loop<H: DatagramHandler>(
    handler: Arc<H>,
    sock: Arc<std::net::UdpSocket>,
    cfg: UdpConfig,
    tasks: tokio::runtime::Handle,
    cancel: CancellationToken,
) {
    // The caller's runtime is this thread's context: what the handler spawns or times runs
    // there (and a paused test clock applies).
    let _context = tasks.enter();
    let mut local = handler.local();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new(cfg.recv_buffer, cfg.batch);
    while !cancel.is_cancelled() {
        match batch.recv(&sock, true) {
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
                    tasks.spawn(async move {
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
    let deadline = std::time::Instant::now() + cfg.drain_timeout;
    while in_flight.load(Ordering::Relaxed) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(DRAIN_POLL);
    }
}

#[cfg(test)]
mod tests;
