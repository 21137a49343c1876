//! The serving loops, written once for both servers: DNS over UDP in [`udp`] (datagram I/O in
//! [`dgram`]), and here DNS over TCP (RFC 1035 §4.2.2, RFC 7766): the accept loop
//! with a connection cap, and one connection's framing loop — 2-byte length prefix, a frame
//! shorter than a DNS header closes the connection (bad framing), an idle timeout per read, a
//! per-connection query cap, and pipelining: the queries of one connection are answered
//! concurrently and each reply is written as soon as it is ready (RFC 7766 §6.2.1.1: a slow
//! upstream answer must not hold back the ones after it; clients match replies by ID).
//!
//! The server plugs in as a [`StreamHandler`] (static dispatch, no boxing per query). After
//! cancellation no further query is read; those already read are answered, then the
//! connection is closed. Connections run on the caller's [`TaskTracker`], so the caller can
//! drain them ([`crate::lifecycle::drain`]).

pub mod dgram;
pub mod udp;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Length of the DNS header (RFC 1035 §4.1.1): a shorter frame cannot be a message.
pub const DNS_HEADER_LEN: usize = 12;
/// Default [`TcpLimits::max_connections`].
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 100;
/// Default [`TcpLimits::idle_timeout`] (B4 row 17).
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`TcpLimits::max_queries`] (dnsmasq closes after about 100).
pub const DEFAULT_TCP_MAX_QUERIES: usize = 100;
/// Pause after a failed `accept` (EMFILE and friends) instead of spinning.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Limits of the TCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Concurrent connections over all listeners sharing one permit pool; more are closed at
    /// accept.
    pub max_connections: usize,
    /// A connection with no complete query for this long is closed.
    pub idle_timeout: Duration,
    /// Queries read from one connection before it is closed.
    pub max_queries: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            max_queries: DEFAULT_TCP_MAX_QUERIES,
        }
    }
}

impl TcpLimits {
    /// The connection permit pool for [`serve_tcp`] (share it between listeners).
    pub fn connection_permits(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.max_connections.max(1)))
    }
}

/// A DNS server's answer to one query received over TCP.
pub trait StreamHandler: Send + Sync + 'static {
    /// The reply to `query` from `peer`, or `None` to send nothing.
    fn answer(
        self: Arc<Self>,
        query: Vec<u8>,
        peer: SocketAddr,
    ) -> impl Future<Output = Option<Vec<u8>>> + Send;
}

/// Accept loop: connections beyond the permits are closed at once. Returns (dropping the
/// listener) when `cancel` fires; connections run on `tracker`.
pub async fn serve_tcp<H: StreamHandler>(
    handler: Arc<H>,
    listener: TcpListener,
    permits: Arc<Semaphore>,
    limits: TcpLimits,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(err) => {
                    tracing::debug!(%err, "TCP accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(%peer, "TCP connection limit reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (handler, cancel) = (Arc::clone(&handler), cancel.clone());
        tracker.spawn(async move {
            serve_stream(handler, stream, peer, limits, cancel).await;
            drop(permit);
        });
    }
}

/// One connection's framing loop (see the module header). Generic over the stream so the
/// framer is testable and fuzzable without sockets.
pub async fn serve_stream<H, S>(
    handler: Arc<H>,
    stream: S,
    peer: SocketAddr,
    limits: TcpLimits,
    cancel: CancellationToken,
) where
    H: StreamHandler,
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let wr = Arc::new(Mutex::new(wr));
    let mut replies = JoinSet::new();
    for _ in 0..limits.max_queries {
        let len = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = tokio::time::timeout(limits.idle_timeout, rd.read_u16()) => match r {
                Ok(Ok(len)) => usize::from(len),
                Ok(Err(_)) => break,
                Err(_) => {
                    tracing::debug!(%peer, "TCP idle timeout");
                    break;
                }
            },
        };
        if len < DNS_HEADER_LEN {
            break; // bad framing: close
        }
        let mut query = vec![0u8; len];
        let Ok(Ok(_)) = tokio::time::timeout(limits.idle_timeout, rd.read_exact(&mut query)).await
        else {
            break;
        };
        let (handler, wr) = (Arc::clone(&handler), Arc::clone(&wr));
        replies.spawn(async move {
            let Some(reply) = handler.answer(query, peer).await else {
                return;
            };
            let Ok(len) = u16::try_from(reply.len()) else {
                return; // cannot be framed (the handler caps replies at 65535)
            };
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&reply);
            let _ = wr.lock().await.write_all(&framed).await;
        });
    }
    while replies.join_next().await.is_some() {}
    let _ = wr.lock().await.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes the query with QR set; a query whose ID is 0xFFFF gets no reply; ID 1 is
    /// answered after ID 2 (slow), to show replies are not held in order.
    struct Echo;
    impl StreamHandler for Echo {
        async fn answer(self: Arc<Self>, mut query: Vec<u8>, _: SocketAddr) -> Option<Vec<u8>> {
            let id = u16::from_be_bytes([query[0], query[1]]);
            if id == 0xFFFF {
                return None;
            }
            if id == 1 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            query[2] |= 0x80;
            Some(query)
        }
    }

    fn frame(id: u16) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0; 10]);
        let mut f = (m.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(&m);
        f
    }

    async fn run(input: Vec<u8>, limits: TcpLimits) -> Vec<u16> {
        let (mut client, srv) = tokio::io::duplex(1 << 16);
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let task = tokio::spawn(serve_stream(
            Arc::new(Echo),
            srv,
            peer,
            limits,
            CancellationToken::new(),
        ));
        client.write_all(&input).await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap();
        let mut ids = Vec::new();
        let mut rest = &out[..];
        while let [a, b, tail @ ..] = rest {
            let n = usize::from(u16::from_be_bytes([*a, *b]));
            ids.push(u16::from_be_bytes([tail[0], tail[1]]));
            assert_eq!(tail[2] & 0x80, 0x80, "a whole reply frame");
            rest = &tail[n..];
        }
        ids
    }

    #[tokio::test(start_paused = true)]
    async fn pipelined_queries_are_answered_concurrently() {
        let mut input = Vec::new();
        for id in [1, 2, 0xFFFF, 3] {
            input.extend(frame(id));
        }
        input.extend_from_slice(&[0, 5, 1, 2, 3, 4, 5]); // shorter than a header: closes
        input.extend(frame(4)); // never read
        let ids = run(input, TcpLimits::default()).await;
        assert_eq!(
            ids,
            [2, 3, 1],
            "slow ID 1 last, 0xFFFF unanswered, 4 never read"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn query_cap_and_idle_timeout_close() {
        let mut input = Vec::new();
        for id in 2..10 {
            input.extend(frame(id));
        }
        let limits = TcpLimits {
            max_queries: 3,
            ..TcpLimits::default()
        };
        assert_eq!(run(input, limits).await, [2, 3, 4]);
        // Half a frame, then silence: closed after the idle timeout.
        let (mut client, srv) = tokio::io::duplex(1 << 10);
        let task = tokio::spawn(serve_stream(
            Arc::new(Echo),
            srv,
            "10.0.0.9:5000".parse().unwrap(),
            TcpLimits::default(),
            CancellationToken::new(),
        ));
        client.write_all(&frame(7)[..5]).await.unwrap();
        let start = tokio::time::Instant::now();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap();
        assert!(out.is_empty());
        assert_eq!(start.elapsed(), DEFAULT_TCP_IDLE_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_answers_what_was_read_then_closes() {
        let (mut client, srv) = tokio::io::duplex(1 << 10);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve_stream(
            Arc::new(Echo),
            srv,
            "10.0.0.9:5000".parse().unwrap(),
            TcpLimits::default(),
            cancel.clone(),
        ));
        client.write_all(&frame(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        cancel.cancel();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap();
        assert_eq!(
            out.len(),
            2 + DNS_HEADER_LEN,
            "the slow reply still arrives"
        );
    }
}
