//! How the engine plugs into the shared serving loops of [`serverkit::serve`].
//!
//! Owns: the engine's [`DatagramHandler`] (UDP: cache hits and local answers inline on the
//! loop's thread — no task, no allocation; a miss is deferred to a task on the loop's own
//! runtime, so its upstream exchange and its reply stay on the thread that received it) and its
//! [`StreamHandler`] (TCP: RFC 7766 framing, concurrent pipelining, idle timeout, connection
//! and per-connection query caps, re-exported here). The loops themselves, their threads, the
//! batching of datagram I/O and the shutdown semantics (after cancellation nothing new is
//! read; replies of queries already read are sent) are [`serverkit::serve`]'s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serverkit::serve::StreamHandler;
use serverkit::serve::udp::{DatagramHandler, Outcome, UdpConfig};
pub use serverkit::serve::{TcpLimits, serve_stream, serve_tcp};

use crate::engine::{Engine, Step};
use crate::wire::QueryInfo;

/// Receive buffer for client datagrams (EDNS clients may send up to this).
pub const UDP_RECV_BUF: usize = 4096;
/// Socket receive buffer requested for UDP sockets (binding: [`serverkit::net`]).
pub const UDP_SO_RCVBUF: usize = 4 << 20;
/// How often a UDP loop blocked in the kernel checks for cancellation.
pub const UDP_CANCEL_POLL: Duration = serverkit::serve::udp::CANCEL_POLL;

/// The UDP loop settings: one loop per socket (`--workers` sockets), the default batch,
/// misses drained for at most `drain_timeout`.
pub fn udp_config(drain_timeout: Duration) -> UdpConfig {
    UdpConfig {
        loops_per_socket: 1,
        recv_buffer: UDP_RECV_BUF,
        drain_timeout,
        ..UdpConfig::default()
    }
}

/// Queries over UDP: answered locally or from the cache inline, misses forwarded in a task.
impl DatagramHandler for Engine {
    type Local = ();
    /// The query bytes and what the engine parsed from them.
    type Deferred = (Vec<u8>, QueryInfo);

    fn local(&self) {}

    fn answer(
        &self,
        _: &mut (),
        query: &[u8],
        peer: SocketAddr,
        reply: &mut Vec<u8>,
    ) -> Outcome<Self::Deferred> {
        match self.answer_local(query, peer, true, reply) {
            Step::Reply => Outcome::Reply,
            Step::Drop => Outcome::Drop,
            Step::Forward(q) => Outcome::Defer((query.to_vec(), q)),
        }
    }

    async fn complete(
        self: Arc<Self>,
        (query, q): Self::Deferred,
        _: SocketAddr,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(512);
        self.forward(&query, q, true, &mut out).await;
        (!out.is_empty()).then_some(out)
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
