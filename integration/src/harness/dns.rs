//! A small DNS client for tests (hickory-proto messages, tokio sockets): one query over UDP
//! (RFC 1035 §4.2.1) or TCP with the two-byte length prefix (§4.2.2), returning the parsed
//! response. Checks the response id; no retries (tests poll with [`super::wait`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Default per-query timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest UDP response accepted.
const MAX_UDP: usize = 65_535;

/// Transport for one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// DNS client errors.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The name is not a valid domain name.
    #[error("invalid name {0:?}")]
    Name(String),
    /// Encoding or decoding failed.
    #[error("DNS message: {0}")]
    Proto(String),
    /// Socket error.
    #[error("{transport:?} to {server}: {source}")]
    Io {
        /// Transport.
        transport: Transport,
        /// Server.
        server: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("{transport:?} query to {server} timed out")]
    Timeout {
        /// Transport.
        transport: Transport,
        /// Server.
        server: SocketAddr,
    },
    /// The response id did not match.
    #[error("response id {got} does not match query id {want}")]
    IdMismatch {
        /// Query id.
        want: u16,
        /// Response id.
        got: u16,
    },
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct DnsClient {
    /// Server address.
    pub server: SocketAddr,
    /// Per-query timeout.
    pub timeout: Duration,
    /// EDNS payload size to advertise (None = no OPT record).
    pub edns_payload: Option<u16>,
}

impl DnsClient {
    /// A client for `server` with the default timeout and no EDNS.
    pub fn new(server: SocketAddr) -> Self {
        DnsClient {
            server,
            timeout: DEFAULT_TIMEOUT,
            edns_payload: None,
        }
    }

    /// Builds a recursion-desired query for `name`/`rtype`.
    pub fn build_query(&self, name: &str, rtype: RecordType) -> Result<Message, DnsError> {
        let name = Name::from_ascii(name).map_err(|_| DnsError::Name(name.to_string()))?;
        let mut msg = Message::query();
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(name, rtype));
        if let Some(p) = self.edns_payload {
            let mut e = Edns::new();
            e.set_max_payload(p);
            msg.set_edns(e);
        }
        Ok(msg)
    }

    /// Queries `name`/`rtype` over `transport`.
    pub async fn query(
        &self,
        name: &str,
        rtype: RecordType,
        transport: Transport,
    ) -> Result<Message, DnsError> {
        let msg = self.build_query(name, rtype)?;
        self.send(&msg, transport).await
    }

    /// Queries over UDP.
    pub async fn udp(&self, name: &str, rtype: RecordType) -> Result<Message, DnsError> {
        self.query(name, rtype, Transport::Udp).await
    }

    /// Queries over TCP.
    pub async fn tcp(&self, name: &str, rtype: RecordType) -> Result<Message, DnsError> {
        self.query(name, rtype, Transport::Tcp).await
    }

    /// Sends a prepared message and returns the parsed response.
    pub async fn send(&self, msg: &Message, transport: Transport) -> Result<Message, DnsError> {
        let wire = msg.to_vec().map_err(|e| DnsError::Proto(e.to_string()))?;
        let raw = self.send_raw(&wire, transport).await?;
        let resp = Message::from_vec(&raw).map_err(|e| DnsError::Proto(e.to_string()))?;
        if resp.metadata.id != msg.metadata.id {
            return Err(DnsError::IdMismatch {
                want: msg.metadata.id,
                got: resp.metadata.id,
            });
        }
        Ok(resp)
    }

    /// Sends raw bytes and returns the raw response (for malformed-packet tests).
    pub async fn send_raw(&self, wire: &[u8], transport: Transport) -> Result<Vec<u8>, DnsError> {
        let server = self.server;
        let io = |source| DnsError::Io {
            transport,
            server,
            source,
        };
        let fut = async {
            match transport {
                Transport::Udp => {
                    // Loopback servers get a loopback source; anything else (a pod IP behind
                    // a veth) the wildcard, so the kernel picks the right interface.
                    let bind: SocketAddr = match (server.is_ipv4(), server.ip().is_loopback()) {
                        (true, true) => "127.0.0.1:0",
                        (true, false) => "0.0.0.0:0",
                        (false, true) => "[::1]:0",
                        (false, false) => "[::]:0",
                    }
                    .parse()
                    .map_err(|_| DnsError::Proto("bind address".into()))?;
                    let sock = UdpSocket::bind(bind).await.map_err(io)?;
                    sock.connect(server).await.map_err(io)?;
                    sock.send(wire).await.map_err(io)?;
                    let mut buf = vec![0u8; MAX_UDP];
                    let n = sock.recv(&mut buf).await.map_err(io)?;
                    buf.truncate(n);
                    Ok(buf)
                }
                Transport::Tcp => {
                    let mut s = TcpStream::connect(server).await.map_err(io)?;
                    let len = u16::try_from(wire.len())
                        .map_err(|_| DnsError::Proto("message too long".into()))?;
                    let mut framed = len.to_be_bytes().to_vec();
                    framed.extend_from_slice(wire);
                    s.write_all(&framed).await.map_err(io)?;
                    let mut lenb = [0u8; 2];
                    s.read_exact(&mut lenb).await.map_err(io)?;
                    let mut buf = vec![0u8; u16::from_be_bytes(lenb) as usize];
                    s.read_exact(&mut buf).await.map_err(io)?;
                    Ok(buf)
                }
            }
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| DnsError::Timeout { transport, server })?
    }
}

/// A/AAAA addresses in the answer section, sorted.
pub fn answer_ips(m: &Message) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    ips.sort();
    ips
}

/// The response code.
pub fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

/// Answer records rendered as text (`name ttl class type rdata`), for assertions and messages.
pub fn answer_strings(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.to_string()).collect()
}
