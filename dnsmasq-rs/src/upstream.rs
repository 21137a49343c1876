//! The safe upstream client (RFC 5452, DNSpooq defences; house-style B2).
//!
//! Owns: the [`Transport`] seam (real sockets, or a scripted fake in the scenario harness),
//! one exchange with one server — a fresh socket (kernel-random source port) and a CSPRNG ID
//! per query, replies accepted only from the exact server address and port with the same ID,
//! QR=1 and the same question (`accept_reply`, pure), anything else counted and ignored until
//! the per-try deadline — and the TCP retry when the UDP reply has TC set (RFC 7766).
//! With `--dns-0x20` (draft-vixie-dnsext-dns0x20) the question's letters are sent in random
//! case and a UDP reply must echo them exactly; see [`CaseMode`] for the fallback.

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

/// `--dns-0x20`: query-name case randomisation, an extra ~1 bit of entropy per letter against
/// off-path spoofing (draft-vixie-dnsext-dns0x20; unbound `use-caps-for-id`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseMode {
    /// Lowercase question, reply question compared case-insensitively (dnsmasq's behaviour).
    #[default]
    Off,
    /// Randomised case. A UDP reply that matches in everything but case (a server that does
    /// not preserve case) is not trusted: the query is repeated at once over TCP, which an
    /// off-path attacker cannot spoof, and that answer is used. Tolerant of every server.
    Fallback,
    /// Randomised case; a reply that does not echo it exactly is ignored like a spoof, so a
    /// server that folds case times out and counts as failed (unbound without
    /// `use-caps-for-id-fallback`).
    Strict,
}

/// The query name as sent: `name` (lowercase wire form) with each ASCII letter's case
/// chosen at random; length bytes and non-letters unchanged.
pub fn randomize_case(name: &[u8], bits: &mut impl FnMut() -> bool) -> Vec<u8> {
    let mut out = name.to_vec();
    let mut i = 0;
    while let Some(&len) = out.get(i) {
        if len == 0 || len & 0xC0 != 0 {
            break;
        }
        let end = (i + 1 + len as usize).min(out.len());
        for c in out.get_mut(i + 1..end).unwrap_or(&mut []) {
            if c.is_ascii_alphabetic() && bits() {
                c.make_ascii_uppercase();
            }
        }
        i = end;
    }
    out
}

/// Undoes the randomised spelling in an accepted reply: the question and every record owner
/// name written out in full with exactly the `sent` bytes get the canonical (lowercase)
/// spelling back, so cached answers and clients never see the random case. Same length, so
/// no offsets move. Names compressed to the question follow it automatically.
pub fn restore_case(reply: &mut [u8], sent: &[u8], canonical: &[u8]) {
    if sent.len() != canonical.len() {
        return;
    }
    let mut starts = vec![wire::HEADER_LEN];
    if let Ok(s) = wire::walk(reply) {
        starts.extend(
            s.answers
                .iter()
                .chain(&s.authority)
                .chain(&s.additional)
                .map(|rr| rr.start),
        );
    }
    for at in starts {
        if let Some(dst) = reply.get_mut(at..at + sent.len())
            && dst == sent
        {
            dst.copy_from_slice(canonical);
        }
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
    #[error("reply did not echo the 0x20 query-name case")]
    CaseMismatch,
}

/// RFC 5452 §9.1 acceptance: exact source, ID, QR=1, opcode QUERY and the same question
/// (case-insensitive name, type, class). With `exact_case` = the name as sent (0x20), the
/// reply's question must also spell it byte for byte.
pub fn accept_reply(
    reply: &[u8],
    from: SocketAddr,
    server: SocketAddr,
    id: u16,
    q: &QueryInfo,
    exact_case: Option<&[u8]>,
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
    // The question is the first name in the message, so it cannot be compressed.
    if let Some(sent) = exact_case
        && reply.get(wire::HEADER_LEN..wire::HEADER_LEN + sent.len()) != Some(sent)
    {
        return Err(Unwanted::CaseMismatch);
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
/// Returns the reply and whether TCP was used (on TC=1, or the 0x20 fallback).
pub async fn exchange(
    transport: &dyn Transport,
    server: SocketAddr,
    q: &QueryInfo,
    timeout: Duration,
    case: CaseMode,
    stats: &Stats,
) -> Result<(Vec<u8>, bool), TryError> {
    let id: u16 = rand::random();
    let sent = match case {
        CaseMode::Off => None,
        CaseMode::Fallback | CaseMode::Strict => {
            Some(randomize_case(q.name_wire(), &mut || rand::random()))
        }
    };
    let query = wire::build_upstream_query(q, id, sent.as_deref().unwrap_or(q.name_wire()));
    stats.upstream_queries.inc();
    let deadline = tokio::time::Instant::now() + timeout;
    let udp = tokio::time::timeout_at(deadline, async {
        let mut ch = transport.udp(server).await?;
        ch.send(&query).await?;
        let mut buf = vec![0u8; MAX_UDP_REPLY];
        loop {
            let (n, from) = ch.recv(&mut buf).await?;
            let reply = buf.get(..n).unwrap_or(&[]);
            match accept_reply(reply, from, server, id, q, sent.as_deref()) {
                Ok(()) => return Ok::<_, TryError>(Some(reply.to_vec())),
                Err(Unwanted::CaseMismatch) if case == CaseMode::Fallback => {
                    stats.case_mismatches.inc();
                    tracing::debug!(%server, "upstream did not echo the 0x20 case; retrying over TCP");
                    return Ok(None);
                }
                Err(why) => {
                    if why == Unwanted::CaseMismatch {
                        stats.case_mismatches.inc();
                    }
                    stats.unwanted_replies.inc();
                    tracing::debug!(%server, %from, %why, "ignoring unwanted upstream reply");
                }
            }
        }
    })
    .await
    .map_err(|_| TryError::Timeout)??;
    match udp {
        Some(mut reply) if reply.get(2).is_none_or(|f| f & 0x02 == 0) => {
            if let Some(sent) = &sent {
                restore_case(&mut reply, sent, q.name_wire());
            }
            Ok((reply, false))
        }
        // TC=1 (RFC 7766 §6.2.1), or the 0x20 fallback: the same question over TCP.
        truncated => {
            if truncated.is_some() {
                stats.tcp_fallbacks.inc();
            }
            let id: u16 = rand::random();
            let query = wire::build_upstream_query(q, id, q.name_wire());
            let reply = tokio::time::timeout_at(deadline, transport.tcp(server, &query))
                .await
                .map_err(|_| TryError::Timeout)?
                .map_err(|e| TryError::Tcp(e.to_string()))?;
            accept_reply(&reply, server, server, id, q, None)
                .map_err(|e| TryError::Tcp(e.to_string()))?;
            Ok((reply, true))
        }
    }
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
    let (reply, _) = exchange(
        transport,
        server,
        &info,
        Duration::from_secs(2),
        CaseMode::Off,
        &stats,
    )
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
        assert_eq!(accept_reply(&good, server, server, 7, &q, None), Ok(()));
        let other_port: SocketAddr = "127.0.0.1:54".parse().unwrap();
        assert_eq!(
            accept_reply(&good, other_port, server, 7, &q, None),
            Err(Unwanted::WrongSource)
        );
        assert_eq!(
            accept_reply(&good, server, server, 8, &q, None),
            Err(Unwanted::WrongId)
        );
        let (_, q2) = query("b.example", wire::TYPE_A, None);
        assert_eq!(
            accept_reply(&good, server, server, 7, &q2, None),
            Err(Unwanted::WrongQuestion)
        );
        let (_, q3) = query("a.example", wire::TYPE_AAAA, None);
        assert_eq!(
            accept_reply(&good, server, server, 7, &q3, None),
            Err(Unwanted::WrongQuestion)
        );
        let mut not_resp = good.clone();
        not_resp[2] &= !0x80;
        assert_eq!(
            accept_reply(&not_resp, server, server, 7, &q, None),
            Err(Unwanted::NotResponse)
        );
        // Case differences are accepted (0x20 is off).
        let (_, qc) = query("A.EXAMPLE", wire::TYPE_A, None);
        assert_eq!(accept_reply(&good, server, server, 7, &qc, None), Ok(()));
    }

    /// A reply to `query` (ID, question copied) with one A record whose owner name is written
    /// out in full as `owner` (uncompressed wire bytes).
    fn literal_reply(query: &[u8], owner: &[u8]) -> Vec<u8> {
        let wire::Parsed::Query(q) = wire::parse_query(query) else {
            panic!("query")
        };
        let mut r = query.get(..q.question_end).unwrap().to_vec();
        r[2] = 0x81;
        r[3] = 0x80;
        r[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
        r.extend_from_slice(owner);
        r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        r
    }

    #[test]
    fn randomize_case_keeps_the_name_and_flips_only_letters() {
        let (_, q) = query("ab-1.Example.COM", wire::TYPE_A, None);
        let mut all = || true;
        let up = randomize_case(q.name_wire(), &mut all);
        assert_eq!(up, b"\x04AB-1\x07EXAMPLE\x03COM\x00");
        let mut none = || false;
        assert_eq!(randomize_case(q.name_wire(), &mut none), q.name_wire());
        // Real randomness: a 20-letter name is almost never sent all-lowercase, and always
        // equals the name ignoring case.
        let (_, q) = query("abcdefghij.klmnopqrst", wire::TYPE_A, None);
        let spellings: std::collections::HashSet<Vec<u8>> = (0..64)
            .map(|_| randomize_case(q.name_wire(), &mut || rand::random()))
            .inspect(|s| assert!(s.eq_ignore_ascii_case(q.name_wire())))
            .collect();
        assert!(
            spellings.len() > 60,
            "{} distinct spellings",
            spellings.len()
        );
        // Root and malformed input do not panic.
        assert_eq!(randomize_case(&[0], &mut all), [0]);
        assert_eq!(randomize_case(&[5, b'a'], &mut all), [5, b'A']);
    }

    #[test]
    fn exact_case_acceptance_and_restore() {
        let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let (_, q) = query("www.example.com", wire::TYPE_A, None);
        let sent = b"\x03wWw\x07exAMple\x03Com\x00".to_vec();
        let up = wire::build_upstream_query(&q, 9, &sent);
        let echo = literal_reply(&up, &sent);
        assert_eq!(
            accept_reply(&echo, server, server, 9, &q, Some(&sent)),
            Ok(())
        );
        // Off: any case is fine. On: a case-folding server is a mismatch.
        let lower_q = wire::build_upstream_query(&q, 9, q.name_wire());
        let folded = literal_reply(&lower_q, q.name_wire());
        assert_eq!(accept_reply(&folded, server, server, 9, &q, None), Ok(()));
        assert_eq!(
            accept_reply(&folded, server, server, 9, &q, Some(&sent)),
            Err(Unwanted::CaseMismatch)
        );
        // Other rules still come first.
        assert_eq!(
            accept_reply(&folded, server, server, 10, &q, Some(&sent)),
            Err(Unwanted::WrongId)
        );
        // Restoring: question and literal owner names get the canonical spelling back.
        let mut restored = echo.clone();
        restore_case(&mut restored, &sent, q.name_wire());
        let m = hickory_proto::op::Message::from_vec(&restored).unwrap();
        assert_eq!(m.queries[0].name.to_ascii(), "www.example.com.");
        assert_eq!(m.answers[0].name.to_ascii(), "www.example.com.");
        assert_eq!(restored.len(), echo.len());
        // A differently spelt owner (the server's own data) is left alone.
        let mut other = literal_reply(&up, b"\x03WWW\x07example\x03com\x00");
        restore_case(&mut other, &sent, q.name_wire());
        let m = hickory_proto::op::Message::from_vec(&other).unwrap();
        assert_eq!(m.answers[0].name.to_ascii(), "WWW.example.com.");
    }
}
