//! The safe upstream client (RFC 5452, DNSpooq defences; house-style B2).
//!
//! Owns: the [`Transport`] seam (real sockets, or a scripted fake in the scenario harness),
//! one exchange with one server — a fresh socket (kernel-random source port) and a CSPRNG ID
//! per query, replies accepted only from the exact server address and port with the same ID,
//! QR=1 and the same question (`accept_reply`, pure), anything else counted and ignored until
//! the per-try deadline — and the TCP retry when the UDP reply has TC set (RFC 7766).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::stats::Stats;
use crate::wire::{self, QueryInfo};

/// Largest upstream UDP reply we read.
pub const MAX_UDP_REPLY: usize = 4096;
/// Largest upstream TCP reply we read (the DNS maximum).
pub const MAX_TCP_REPLY: usize = 65535;

/// A UDP "connection" to one upstream (a fresh socket).
#[async_trait]
pub trait UdpChannel: Send {
    async fn send(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Receives one datagram and its source.
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
}

/// How upstream packets move; replaced by a fake in the scenario harness.
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

#[async_trait]
impl Transport for RealTransport {
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        // Port 0: the kernel picks a random ephemeral port for every new socket.
        let local = match server.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            IpAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            IpAddr::V6(ip) if ip.is_loopback() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0),
            IpAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
        };
        let sock = UdpSocket::bind(local).await?;
        Ok(Box::new(RealUdp { sock, server }))
    }

    async fn tcp(&self, server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(server).await?;
        let len = u16::try_from(query.len()).map_err(|_| io::Error::other("query too long"))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        s.write_all(&framed).await?;
        let n = s.read_u16().await? as usize;
        let mut buf = vec![0u8; n.min(MAX_TCP_REPLY)];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    }
}

/// Why a datagram was not accepted as the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unwanted {
    #[error("reply from an unexpected address or port")]
    WrongSource,
    #[error("reply with a different transaction ID")]
    WrongId,
    #[error("not a response")]
    NotResponse,
    #[error("reply for a different question")]
    WrongQuestion,
}

/// RFC 5452 §9.1 acceptance: exact source, ID, QR=1, opcode QUERY and the same question
/// (case-insensitive name, type, class).
pub fn accept_reply(
    reply: &[u8],
    from: SocketAddr,
    server: SocketAddr,
    id: u16,
    q: &QueryInfo,
) -> Result<(), Unwanted> {
    if from != server {
        return Err(Unwanted::WrongSource);
    }
    if wire::u16_at(reply, 0) != Some(id) {
        return Err(Unwanted::WrongId);
    }
    let flags = reply.get(2).copied().unwrap_or(0);
    if flags & 0x80 == 0 || (flags >> 3) & 0x0F != 0 {
        return Err(Unwanted::NotResponse);
    }
    if wire::u16_at(reply, 4) != Some(1) {
        return Err(Unwanted::WrongQuestion);
    }
    let Ok((name, end)) = wire::read_name(reply, wire::HEADER_LEN) else {
        return Err(Unwanted::WrongQuestion);
    };
    if name != q.name_wire()
        || wire::u16_at(reply, end) != Some(q.qtype)
        || wire::u16_at(reply, end + 2) != Some(q.qclass)
    {
        return Err(Unwanted::WrongQuestion);
    }
    Ok(())
}

/// Failure of one try against one server.
#[derive(Debug, thiserror::Error)]
pub enum TryError {
    #[error("timed out")]
    Timeout,
    #[error("io: {0}")]
    Io(#[from] io::Error),
    #[error("TCP retry failed: {0}")]
    Tcp(String),
}

/// Sends `q` to `server` over UDP and waits for an acceptable reply until `timeout`.
/// Returns the reply and whether TCP was used (on TC=1).
pub async fn exchange(
    transport: &dyn Transport,
    server: SocketAddr,
    q: &QueryInfo,
    timeout: Duration,
    stats: &Stats,
) -> Result<(Vec<u8>, bool), TryError> {
    let id: u16 = rand::random();
    let query = wire::build_upstream_query(q, id);
    stats.upstream_queries.inc();
    let deadline = tokio::time::Instant::now() + timeout;
    let reply = tokio::time::timeout_at(deadline, async {
        let mut ch = transport.udp(server).await?;
        ch.send(&query).await?;
        let mut buf = vec![0u8; MAX_UDP_REPLY];
        loop {
            let (n, from) = ch.recv(&mut buf).await?;
            let reply = buf.get(..n).unwrap_or(&[]);
            match accept_reply(reply, from, server, id, q) {
                Ok(()) => return Ok::<Vec<u8>, TryError>(reply.to_vec()),
                Err(why) => {
                    stats.unwanted_replies.inc();
                    tracing::debug!(%server, %from, %why, "ignoring unwanted upstream reply");
                }
            }
        }
    })
    .await
    .map_err(|_| TryError::Timeout)??;
    if reply.get(2).is_some_and(|f| f & 0x02 != 0) {
        stats.tcp_fallbacks.inc();
        let id: u16 = rand::random();
        let query = wire::build_upstream_query(q, id);
        let reply = tokio::time::timeout_at(deadline, transport.tcp(server, &query))
            .await
            .map_err(|_| TryError::Timeout)?
            .map_err(|e| TryError::Tcp(e.to_string()))?;
        accept_reply(&reply, server, server, id, q).map_err(|e| TryError::Tcp(e.to_string()))?;
        return Ok((reply, true));
    }
    Ok((reply, false))
}

/// Resolves `name` to its first A/AAAA address by asking `server` (used for stub nameserver
/// names under `cluster.local`, sent to `-kubednsServer`).
pub async fn resolve_a(
    transport: &dyn Transport,
    server: SocketAddr,
    name: &str,
) -> Option<IpAddr> {
    let wire_name = wire::string_to_wire_name(name)?;
    let mut q = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(&wire_name);
    q.extend_from_slice(&wire::TYPE_A.to_be_bytes());
    q.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
    let wire::Parsed::Query(info) = wire::parse_query(&q) else {
        return None;
    };
    let stats = Stats::default();
    let (reply, _) = exchange(transport, server, &info, Duration::from_secs(2), &stats)
        .await
        .ok()?;
    let s = wire::walk(&reply).ok()?;
    s.answers.iter().find_map(|rr| match rr.rtype {
        wire::TYPE_A => {
            let b = reply.get(rr.rdata..rr.rdata + 4)?;
            Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        }
        wire::TYPE_AAAA => {
            let b: [u8; 16] = reply.get(rr.rdata..rr.rdata + 16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn acceptance_rules() {
        let (qb, q) = query("a.example", wire::TYPE_A, None);
        let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let mut up = qb.clone();
        up[0..2].copy_from_slice(&7u16.to_be_bytes());
        let good = answer_a(&up, &[("a.example", 60, [1, 2, 3, 4])], false);
        assert_eq!(accept_reply(&good, server, server, 7, &q), Ok(()));
        let other_port: SocketAddr = "127.0.0.1:54".parse().unwrap();
        assert_eq!(
            accept_reply(&good, other_port, server, 7, &q),
            Err(Unwanted::WrongSource)
        );
        assert_eq!(
            accept_reply(&good, server, server, 8, &q),
            Err(Unwanted::WrongId)
        );
        let (_, q2) = query("b.example", wire::TYPE_A, None);
        assert_eq!(
            accept_reply(&good, server, server, 7, &q2),
            Err(Unwanted::WrongQuestion)
        );
        let (_, q3) = query("a.example", wire::TYPE_AAAA, None);
        assert_eq!(
            accept_reply(&good, server, server, 7, &q3),
            Err(Unwanted::WrongQuestion)
        );
        let mut not_resp = good.clone();
        not_resp[2] &= !0x80;
        assert_eq!(
            accept_reply(&not_resp, server, server, 7, &q),
            Err(Unwanted::NotResponse)
        );
        // Case differences are accepted (0x20 is off).
        let (_, qc) = query("A.EXAMPLE", wire::TYPE_A, None);
        assert_eq!(accept_reply(&good, server, server, 7, &qc), Ok(()));
    }
}
