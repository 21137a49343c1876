//! The socket seam of the upstream client: [`Transport`] opens a fresh UDP "connection" to a
//! server or makes one TCP exchange; [`RealTransport`] does it with real sockets, tests and
//! fuzzers plug a fake that can inject replies from any source address.
//!
//! RFC 5452 §9.2: every UDP query gets a new socket bound to port 0, so the kernel picks a
//! random ephemeral source port per query. TCP uses the RFC 1035 §4.2.2 / RFC 7766 §8
//! two-byte length prefix on a new connection per query.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Largest DNS message (the TCP length prefix is 16 bits).
pub const MAX_DNS_MESSAGE: usize = 65_535;

/// A UDP "connection" to one upstream: a fresh socket used for one query.
#[async_trait]
pub trait UdpChannel: Send {
    /// Sends one datagram to the server.
    async fn send(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Receives one datagram and its source address (any source: the caller checks it).
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
}

/// How upstream packets move.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Opens a fresh UDP socket for one query to `server`.
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>>;
    /// One length-prefixed exchange over a new TCP connection; returns the raw reply.
    async fn tcp(&self, server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>>;
}

/// Real sockets.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealTransport;

struct RealUdp {
    sock: UdpSocket,
    server: SocketAddr,
}

#[async_trait]
impl UdpChannel for RealUdp {
    async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.sock.send_to(buf, self.server).await.map(|_| ())
    }
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.recv_from(buf).await
    }
}

/// The unspecified (or, for a loopback server, the loopback) address of the server's family,
/// port 0: the kernel picks a random ephemeral port for every new socket.
fn local_for(server: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match server.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(ip) if ip.is_loopback() => Ipv6Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, 0)
}

#[async_trait]
impl Transport for RealTransport {
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        let sock = UdpSocket::bind(local_for(server)).await?;
        Ok(Box::new(RealUdp { sock, server }))
    }

    async fn tcp(&self, server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        let len = u16::try_from(query.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
        let mut s = TcpStream::connect(server).await?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        s.write_all(&framed).await?;
        let n = usize::from(s.read_u16().await?);
        let mut buf = vec![0u8; n.min(MAX_DNS_MESSAGE)];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    }
}
