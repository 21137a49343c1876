//! The one upstream DNS client of the workspace (kubedns's forwarder, dnsmasq-rs's
//! forwarder, its loop probes and stub-server name lookups), with the RFC 5452 defences.
//!
//! * [`transport`] — the socket seam ([`Transport`]; real sockets);
//! * `fake` (feature `test-support`) — a scripted [`Transport`] for tests and fuzzers;
//! * [`wire`] — query building, reply acceptance, 0x20 spelling and its undoing;
//! * [`exchange`](mod@exchange) — one try against one server (UDP wait, TCP retry);
//! * this module — [`Options`] per caller and [`Client::resolve`], the ordered failover.
//!
//! Per upstream query (RFC 5452 §9.2): a new socket with a kernel-random source port and a
//! CSPRNG ID. A datagram is the reply only if it comes from the server's exact address and
//! port, carries the ID, QR=1, opcode QUERY and the question (name ignoring case, type,
//! class — RFC 5452 §9.1); with 0x20 (draft-vixie-dnsext-dns0x20, [`CaseMode`]) the name
//! must echo the random spelling exactly. Anything else is reported to the [`Observer`] and
//! dropped; the wait continues until the per-try deadline ([`Options::attempt_timeout`]).
//! TC=1 over UDP: the same server again over TCP (RFC 7766 §5) within the same deadline.
//! The returned reply carries the upstream ID (callers write their client's) and the
//! caller's spelling of the question (and, after 0x20, of owner names spelt as sent).
//!
//! Failover ([`Client::resolve`]): servers in the given order, one try each; a transport
//! error, timeout, unacceptable TCP reply or a reply the caller's `finish` rejects moves on.
//! SERVFAIL and REFUSED ([`RcodePolicy`]): the earlier copies disagreed — legacy kube-dns
//! retried SERVFAIL once on the same server and then relayed it (REFUSED was relayed), dnsmasq
//! moved on to the next server for both. Moving on is the correct choice for both callers:
//! the servers of one list are equivalent, and a SERVFAIL/REFUSED says only that this server
//! cannot answer now (RFC 1035 §7.3 "try the next server"). kubedns keeps the legacy single
//! same-server SERVFAIL retry first ([`RcodePolicy::servfail_retries`], compat). When every server failed that way, [`RcodePolicy::relay_last`] decides
//! whether the last such reply is relayed (kubedns: the client sees the upstream's rcode) or
//! the call fails (dnsmasq-rs answers its own SERVFAIL, as dnsmasq does).

pub mod exchange;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod tests;

use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use exchange::{Exchanged, exchange};
pub use transport::{RealTransport, Transport, UdpChannel};
pub use wire::{EdnsOpt, QueryFlags, Question, Unwanted};

/// Default per-try deadline (legacy kube-dns and dnsmasq both wait 2 s per server).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default largest UDP reply read (RFC 9715 / DNS flag day 2020 payload is 1232; a server
/// may still send more to a client that advertised more).
pub const DEFAULT_MAX_UDP_REPLY: usize = 4096;
/// RCODE SERVFAIL (RFC 1035 §4.1.1).
pub const RCODE_SERVFAIL: u8 = 2;
/// RCODE REFUSED (RFC 1035 §4.1.1).
pub const RCODE_REFUSED: u8 = 5;

/// Query-name case randomisation (draft-vixie-dnsext-dns0x20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseMode {
    /// The caller's spelling is sent; the reply's question is compared ignoring case.
    #[default]
    Off,
    /// Random case; a UDP reply matching in everything but case is not trusted and the query
    /// is repeated over TCP (which an off-path attacker cannot spoof). Tolerant of servers
    /// that fold case.
    Fallback,
    /// Random case; a reply not echoing it exactly is dropped like a spoof, so a server that
    /// folds case times out (unbound without `use-caps-for-id-fallback`).
    Strict,
}

/// What an upstream SERVFAIL or REFUSED does (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RcodePolicy {
    /// SERVFAIL: ask the same server again this many times before moving on (legacy
    /// kube-dns: 1).
    pub servfail_retries: u32,
    /// SERVFAIL moves on to the next server.
    pub failover_on_servfail: bool,
    /// REFUSED moves on to the next server.
    pub failover_on_refused: bool,
    /// When the last server also failed this way, relay its reply instead of failing.
    pub relay_last: bool,
}

impl RcodePolicy {
    /// Both rcodes move on; the last such reply is relayed.
    pub const FAILOVER_THEN_RELAY: Self = Self {
        servfail_retries: 0,
        failover_on_servfail: true,
        failover_on_refused: true,
        relay_last: true,
    };
    /// Both rcodes move on; a server answering only with them is a failed server.
    pub const FAILOVER_THEN_FAIL: Self = Self {
        relay_last: false,
        ..Self::FAILOVER_THEN_RELAY
    };

    fn fails_over(&self, rcode: Option<u8>) -> bool {
        match rcode {
            Some(RCODE_SERVFAIL) => self.failover_on_servfail,
            Some(RCODE_REFUSED) => self.failover_on_refused,
            _ => false,
        }
    }
}

/// Behaviour chosen by one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Deadline of one try against one server (UDP wait plus any TCP retry).
    pub attempt_timeout: Duration,
    /// 0x20.
    pub case: CaseMode,
    /// SERVFAIL / REFUSED handling.
    pub rcode: RcodePolicy,
    /// Receive buffer for UDP replies (longer datagrams are cut and fail to match).
    pub max_udp_reply: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            case: CaseMode::Off,
            rcode: RcodePolicy::FAILOVER_THEN_RELAY,
            max_udp_reply: DEFAULT_MAX_UDP_REPLY,
        }
    }
}

/// One question to resolve upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Question, spelt as the caller wants it back.
    pub question: Question,
    /// Header bits and EDNS.
    pub flags: QueryFlags,
    /// Start over TCP (a client that asked over TCP).
    pub tcp: bool,
}

/// Why the UDP answer was replaced by a TCP one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRetry {
    /// TC=1.
    Truncated,
    /// [`CaseMode::Fallback`] and the 0x20 spelling was not echoed.
    CaseNotEchoed,
}

/// Failure of one try against one server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TryError {
    /// No acceptable reply before the deadline.
    #[error("timed out")]
    Timeout,
    /// UDP socket error.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// TCP connection or framing error.
    #[error("TCP: {0}")]
    Tcp(#[source] io::Error),
    /// The TCP reply does not answer the query.
    #[error("TCP reply rejected: {0}")]
    TcpMismatch(Unwanted),
}

/// Failure of a whole resolution.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The server list is empty.
    #[error("no upstream servers configured")]
    NoServers,
    /// The caller's question cannot be put on the wire.
    #[error("cannot encode the upstream question: {0}")]
    BadQuestion(String),
    /// Every server failed; the last failure is attached.
    #[error("all upstream servers failed; last: {server}: {failure}")]
    AllFailed {
        /// Last server tried.
        server: SocketAddr,
        /// Its failure.
        failure: String,
    },
}

/// Hooks for the caller's metrics and logs; every method defaults to nothing.
pub trait Observer: Send + Sync {
    /// A try against `server` starts (one per server in [`Client::resolve`]).
    fn attempt(&self, _server: SocketAddr) {}
    /// An upstream query is about to be sent (one per [`exchange`]).
    fn query_sent(&self, _server: SocketAddr) {}
    /// A datagram from `from` was dropped while waiting for `server`.
    fn unwanted(&self, _server: SocketAddr, _from: SocketAddr, _why: Unwanted) {}
    /// The UDP answer is replaced by a TCP one.
    fn tcp_retry(&self, _server: SocketAddr, _why: TcpRetry) {}
    /// The try against `server` failed; the next server (if any) is tried.
    fn failed(&self, _server: SocketAddr, _failure: &str) {}
    /// `server` answered usably.
    fn succeeded(&self, _server: SocketAddr) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;
impl Observer for Quiet {}

/// The upstream client: a transport plus the caller's options.
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    opts: Options,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Client over `transport` with `opts`.
    pub fn new(transport: Arc<dyn Transport>, opts: Options) -> Self {
        Self { transport, opts }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// One try against one server (no rcode policy).
    pub async fn exchange(
        &self,
        server: SocketAddr,
        query: &Query,
        obs: &dyn Observer,
    ) -> Result<Exchanged, TryError> {
        exchange(&*self.transport, server, query, &self.opts, obs).await
    }

    /// Tries `servers` in order (see the module doc) and returns what `finish` makes of the
    /// first usable reply; `finish` rejecting a reply counts as that server failing.
    pub async fn resolve<T, E: Display>(
        &self,
        servers: &[SocketAddr],
        query: &Query,
        obs: &dyn Observer,
        mut finish: impl FnMut(SocketAddr, Exchanged) -> Result<T, E>,
    ) -> Result<T, UpstreamError> {
        let mut last: Option<(SocketAddr, String)> = None;
        let mut rcode_failure: Option<(SocketAddr, Exchanged)> = None;
        for &server in servers {
            obs.attempt(server);
            let mut result = self.exchange(server, query, obs).await;
            for _ in 0..self.opts.rcode.servfail_retries {
                match &result {
                    Ok(got) if wire::rcode(&got.reply) == Some(RCODE_SERVFAIL) => {
                        result = self.exchange(server, query, obs).await;
                    }
                    _ => break,
                }
            }
            let failure = match result {
                Ok(got) if self.opts.rcode.fails_over(wire::rcode(&got.reply)) => {
                    let failure = format!("rcode {}", wire::rcode(&got.reply).unwrap_or(0));
                    rcode_failure = Some((server, got));
                    failure
                }
                Ok(got) => match finish(server, got) {
                    Ok(t) => {
                        obs.succeeded(server);
                        return Ok(t);
                    }
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            obs.failed(server, &failure);
            last = Some((server, failure));
        }
        if self.opts.rcode.relay_last
            && let Some((server, got)) = rcode_failure
        {
            match finish(server, got) {
                Ok(t) => return Ok(t),
                Err(e) => last = Some((server, e.to_string())),
            }
        }
        let (server, failure) = last.ok_or(UpstreamError::NoServers)?;
        Err(UpstreamError::AllFailed { server, failure })
    }
}
