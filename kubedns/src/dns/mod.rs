//! The DNS server: UDP and TCP socket loops around one request pipeline ([`handler`]).
//!
//! Split with hickory-server: hickory-server 0.26 parses requests for us
//! (`hickory_server::server::Request`, used by [`wire::classify`]: header, question with the
//! client's case, EDNS), and hickory-proto encodes responses. Its `Server` socket loops are
//! not used: the UDP loop spawns one task per datagram and has no concurrency cap, TCP has no
//! connection cap or per-connection query cap, and nothing enforces the 512-byte non-EDNS
//! limit. So the hot paths and every limit are ours:
//! * UDP: the shared loop of [`serverkit::serve::udp`], one loop thread per socket (IO may
//!   pass several `SO_REUSEPORT` sockets), answering cluster queries inline — no task per
//!   packet. Only queries that must wait on an upstream get a task, bounded by a semaphore
//!   (`max_inflight_udp`); beyond it the client gets SERVFAIL at once. Each loop owns a
//!   [`ReplyCache`] of encoded cluster answers keyed by the request bytes after the ID and
//!   valid for one store generation, so a repeated question skips parsing, lookup and
//!   encoding (`Limits::reply_cache_entries`; 0 = off).
//! * TCP: the shared loop of [`serverkit::serve`] — a connection cap (excess connections are
//!   closed at accept), an idle timeout, a per-connection query cap, and pipelined queries
//!   answered concurrently (RFC 7766 §6.2.1.1).
//! * Shutdown: the token stops the accept/recv loops; in-flight work drains for up to
//!   [`Limits::drain_timeout`].

pub mod handler;
pub mod limits;
pub mod metrics;
pub mod reply_cache;
pub mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use serverkit::serve::udp::{DatagramHandler, Outcome, UdpConfig};
use serverkit::serve::{StreamHandler, TcpLimits};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use handler::{Shared, Step};
pub use limits::{DRAIN_TIMEOUT, Limits};
pub use metrics::DnsMetrics;
pub use reply_cache::ReplyCache;

use crate::forward::Forwarder;
use crate::store::Store;

/// Receive buffer for one UDP datagram (the largest EDNS payload a client may send).
const UDP_RECV_BUFFER: usize = 65_535;

/// DNS server errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// No sockets were passed.
    #[error("no UDP or TCP sockets to serve")]
    NoSockets,
    /// Socket error.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// The DNS server.
pub struct DnsServer {
    shared: Arc<Shared>,
}

impl DnsServer {
    /// New server answering from `store`.
    pub fn new(store: Store, limits: Limits, metrics: DnsMetrics) -> Self {
        Self::with_forwarder(store, limits, metrics, Forwarder::default())
    }

    /// New server with a specific forwarder (tests, custom timeouts).
    pub fn with_forwarder(
        store: Store,
        limits: Limits,
        metrics: DnsMetrics,
        forwarder: Forwarder,
    ) -> Self {
        let forward_permits = Arc::new(Semaphore::new(limits.max_inflight_udp.max(1)));
        let tcp_cache = if limits.reply_cache_entries == 0 {
            ReplyCache::new(0)
        } else {
            ReplyCache::for_tcp()
        };
        Self {
            shared: Arc::new(Shared {
                store,
                limits,
                metrics,
                forwarder,
                forward_permits,
                tcp_cache: std::sync::Mutex::new(tcp_cache),
            }),
        }
    }

    /// The pipeline, for in-process use (tests, benchmarks).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serve until `shutdown` is cancelled, then drain.
    pub async fn run(
        self,
        udp: Vec<UdpSocket>,
        tcp: Vec<TcpListener>,
        shutdown: CancellationToken,
    ) -> Result<(), DnsError> {
        if udp.is_empty() && tcp.is_empty() {
            return Err(DnsError::NoSockets);
        }
        let tracker = TaskTracker::new();
        let tcp_limits = self.shared.limits.tcp();
        let conn_permits = tcp_limits.connection_permits();
        let udp = udp
            .into_iter()
            .map(UdpSocket::into_std)
            .collect::<Result<Vec<_>, _>>()?;
        let udp_config = UdpConfig {
            loops_per_socket: 1,
            recv_buffer: UDP_RECV_BUFFER,
            drain_timeout: self.shared.limits.drain_timeout,
            ..UdpConfig::default()
        };
        serverkit::serve::udp::spawn_udp(
            self.shared.clone(),
            udp,
            udp_config,
            &tracker,
            &shutdown,
        )?;
        for l in tcp {
            info!(addr = ?l.local_addr().ok(), "serving DNS over TCP");
            tracker.spawn(serverkit::serve::serve_tcp(
                self.shared.clone(),
                l,
                conn_permits.clone(),
                tcp_limits,
                tracker.clone(),
                shutdown.clone(),
            ));
        }
        shutdown.cancelled().await;
        tracker.close();
        if tokio::time::timeout(self.shared.limits.drain_timeout, tracker.wait())
            .await
            .is_err()
        {
            warn!("DNS server drain deadline passed with work in flight");
        }
        Ok(())
    }
}

/// What a UDP query waiting on the forwarder carries to its task: the pipeline state and its
/// permit (`Limits::max_inflight_udp`).
pub struct Deferred {
    pending: Box<handler::Pending>,
    _permit: OwnedSemaphorePermit,
}

/// Queries over UDP go through the one loop of [`serverkit::serve::udp`]: cluster answers
/// inline through the loop's own [`ReplyCache`], forwarded ones in a task while a permit is
/// free (SERVFAIL at once otherwise).
impl DatagramHandler for Shared {
    type Local = ReplyCache;
    type Deferred = Deferred;

    fn local(&self) -> ReplyCache {
        ReplyCache::new(self.limits.reply_cache_entries)
    }

    fn answer(
        &self,
        cache: &mut ReplyCache,
        query: &[u8],
        peer: SocketAddr,
        reply: &mut Vec<u8>,
    ) -> Outcome<Deferred> {
        let done = |r: Option<Vec<u8>>, reply: &mut Vec<u8>| match r {
            Some(r) => {
                *reply = r;
                Outcome::Reply
            }
            None => Outcome::Drop,
        };
        match self.handle_udp(query, peer, cache) {
            Step::Done(r) => done(r, reply),
            Step::Upstream(p) => match self.forward_permits.clone().try_acquire_owned() {
                Ok(permit) => Outcome::Defer(Deferred {
                    pending: p,
                    _permit: permit,
                }),
                Err(_) => done(self.overloaded(p), reply),
            },
        }
    }

    async fn complete(self: Arc<Self>, d: Deferred, _: SocketAddr) -> Option<Vec<u8>> {
        Shared::complete(&self, d.pending).await
    }
}

/// Queries over TCP go through the one framing loop of [`serverkit::serve`].
impl StreamHandler for Shared {
    async fn answer(self: Arc<Self>, query: Vec<u8>, peer: SocketAddr) -> Option<Vec<u8>> {
        match self.handle_tcp(&query, peer) {
            Step::Done(r) => r,
            Step::Upstream(p) => Shared::complete(&self, p).await,
        }
    }
}

impl Limits {
    /// The TCP part of the limits, for [`serverkit::serve`].
    pub fn tcp(&self) -> TcpLimits {
        TcpLimits {
            max_connections: self.max_tcp_connections,
            idle_timeout: self.tcp_idle_timeout,
            max_queries: self.max_queries_per_tcp_connection,
        }
    }
}

/// One TCP connection ([`serverkit::serve::serve_stream`] with this server's limits):
/// length-prefixed queries answered concurrently (RFC 7766 §6.2.1.1), up to the
/// per-connection cap; closed on EOF, a prefix shorter than a header, a short read, the idle
/// timeout or shutdown (queries already read are answered first).
pub async fn serve_stream<S: AsyncRead + AsyncWrite + Send + 'static>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    shutdown: CancellationToken,
) {
    let limits = shared.limits.tcp();
    serverkit::serve::serve_stream(shared, stream, peer, limits, shutdown).await;
}
