//! A scripted upstream for tests and fuzzers (feature `test-support`): [`FnTransport`]
//! answers every UDP query with the datagrams a closure returns — from any source address,
//! so spoofs from a wrong port are expressible — and TCP queries with another closure. It
//! records every query sent. Datagrams not returned never arrive: the client waits until
//! its deadline (use paused tokio time).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::transport::{Transport, UdpChannel};

/// Datagrams (bytes, source address) a fake server sends back for one UDP query.
pub type UdpReplies = Vec<(Vec<u8>, SocketAddr)>;
/// The UDP behaviour: server and query bytes in, datagrams out.
pub type UdpFn = dyn Fn(SocketAddr, &[u8]) -> UdpReplies + Send + Sync;
/// The TCP behaviour: server and query bytes in, reply (or connection error) out.
pub type TcpFn = dyn Fn(SocketAddr, &[u8]) -> io::Result<Vec<u8>> + Send + Sync;

/// One query the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Server it went to.
    pub server: SocketAddr,
    /// Over TCP.
    pub tcp: bool,
    /// Query bytes (no length prefix).
    pub bytes: Vec<u8>,
}

/// The scripted transport.
pub struct FnTransport {
    udp: Arc<UdpFn>,
    tcp: Box<TcpFn>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl std::fmt::Debug for FnTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnTransport").finish_non_exhaustive()
    }
}

impl FnTransport {
    /// UDP answered by `udp`; TCP connections are refused.
    pub fn udp(udp: impl Fn(SocketAddr, &[u8]) -> UdpReplies + Send + Sync + 'static) -> Self {
        Self {
            udp: Arc::new(udp),
            tcp: Box::new(|_, _| Err(io::ErrorKind::ConnectionRefused.into())),
            sent: Arc::default(),
        }
    }

    /// TCP answered by `tcp`.
    pub fn with_tcp(
        mut self,
        tcp: impl Fn(SocketAddr, &[u8]) -> io::Result<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.tcp = Box::new(tcp);
        self
    }

    /// Every query sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.sent).clone()
    }

    fn record(sent: &Mutex<Vec<Sent>>, server: SocketAddr, tcp: bool, bytes: &[u8]) {
        lock(sent).push(Sent {
            server,
            tcp,
            bytes: bytes.to_vec(),
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct FnUdp {
    server: SocketAddr,
    udp: Arc<UdpFn>,
    sent: Arc<Mutex<Vec<Sent>>>,
    queue: VecDeque<(Vec<u8>, SocketAddr)>,
}

#[async_trait]
impl UdpChannel for FnUdp {
    async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        FnTransport::record(&self.sent, self.server, false, buf);
        self.queue.extend((self.udp)(self.server, buf));
        Ok(())
    }

    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let Some((bytes, from)) = self.queue.pop_front() else {
            return std::future::pending().await;
        };
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok((n, from))
    }
}

#[async_trait]
impl Transport for FnTransport {
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        Ok(Box::new(FnUdp {
            server,
            udp: Arc::clone(&self.udp),
            sent: Arc::clone(&self.sent),
            queue: VecDeque::new(),
        }))
    }

    async fn tcp(&self, server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        Self::record(&self.sent, server, true, query);
        (self.tcp)(server, query)
    }
}
