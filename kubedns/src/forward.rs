//! Forwarding of out-of-zone names and unknown reverse names to the upstream servers
//! (ConfigMap `upstreamNameservers`, else resolv.conf), with the legacy kube-dns semantics
//! (compat §1.8 "Forwarding"):
//! * servers are tried in order, the first one first (no rotation);
//! * a transport error or timeout ([`UPSTREAM_TIMEOUT`] per try) moves to the next server;
//! * an upstream SERVFAIL is retried once on the same server, then relayed;
//! * UDP client queries go upstream over UDP, TCP ones over TCP;
//! * the reply is relayed as-is (the caller rewrites the ID to the client's).
//!
//! Spoofing defences (RFC 5452 §4, §9.1): every upstream query uses a fresh random ID from a
//! CSPRNG and a fresh socket (kernel-randomised source port) connected to the server, and a
//! reply is accepted only if it is a response with the same ID and the same question
//! (name compared case-insensitively, type, class). Non-matching datagrams are ignored and
//! counted; the wait continues until the per-try deadline.
//!
//! All upstreams failing, or none configured, is an error the server turns into SERVFAIL
//! (legacy kube-dns did not answer at all when every upstream was down).
//! The socket work sits behind the [`Transport`] trait so the retry logic is unit-tested
//! without a network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::serialize::binary::BinDecodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tracing::{debug, warn};

/// Read/write deadline of one upstream try (legacy 2 s).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// EDNS payload size we advertise upstream (RFC 9715 / DNS flag day 2020 value).
pub const UPSTREAM_EDNS_PAYLOAD: u16 = 1232;
/// Largest UDP datagram we read from an upstream.
const MAX_UDP_REPLY: usize = 65_535;

/// Forwarding failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// No upstream servers configured.
    #[error("no upstream servers configured")]
    NoUpstreams,
    /// Every upstream failed (last error attached).
    #[error("all upstream servers failed: {0}")]
    AllFailed(#[source] Box<ForwardError>),
    /// Socket error.
    #[error("upstream {server}: {source}")]
    Io {
        /// Server.
        server: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// No acceptable reply within the deadline.
    #[error("upstream {0}: timed out")]
    Timeout(SocketAddr),
    /// A TCP reply that did not match the query.
    #[error("upstream {0}: reply does not match the query")]
    Mismatch(SocketAddr),
    /// Could not encode the upstream query.
    #[error("cannot encode upstream query: {0}")]
    Encode(#[from] hickory_proto::ProtoError),
}

/// How a reply is checked before it is accepted.
pub type Validator<'a> = &'a (dyn Fn(&[u8]) -> bool + Sync);

/// One request/response exchange with one server.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Send `query` to `server` and return the first reply `accept` approves.
    async fn exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        tcp: bool,
        timeout: Duration,
        accept: Validator<'_>,
    ) -> Result<Vec<u8>, ForwardError>;
}

/// True when `reply` is a response to a query with `id` and `question`. Addresses and ports
/// are matched by the connected socket.
///
/// ```text
/// RFC 5452 §9.1: resolver implementations MUST match responses to all of the following
/// attributes of the query: Source address against query destination address;
/// Destination address against query source address; Destination port against query
/// source port; Query ID; Query name; Query class and type
/// ```
pub fn reply_matches(id: u16, question: &Query, reply: &[u8]) -> bool {
    if reply.len() < 12 || u16::from_be_bytes([reply[0], reply[1]]) != id || reply[2] & 0x80 == 0 {
        return false;
    }
    let Ok(msg) = Message::from_vec(reply) else {
        return false;
    };
    msg.metadata.message_type == MessageType::Response
        && msg.metadata.op_code == OpCode::Query
        && msg.queries.len() == 1
        && msg.queries[0].name() == question.name()
        && msg.queries[0].query_type() == question.query_type()
        && msg.queries[0].query_class() == question.query_class()
}

/// Copies the question name as we sent it (the client's spelling) over the reply's question,
/// when both are the same name up to ASCII case. Upstreams may answer in another case (0x20
/// or lower-casing resolvers); clients must get back the case they asked with (RFC 4343 §4.1:
/// the original case should be preserved). Both messages carry the question at offset 12
/// uncompressed (ours by construction, the reply because it was re-encoded), so equal names
/// have equal lengths.
pub fn echo_question_case(query: &[u8], reply: &mut [u8]) {
    let Some(len) = first_name_len(query) else {
        return;
    };
    let (Some(ours), Some(theirs)) = (query.get(12..12 + len), reply.get(12..12 + len)) else {
        return;
    };
    if first_name_len(reply) == Some(len) && ours.eq_ignore_ascii_case(theirs) {
        let ours = ours.to_vec();
        reply[12..12 + len].copy_from_slice(&ours);
    }
}

/// Wire length of the uncompressed name at offset 12 (including the root byte).
fn first_name_len(msg: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let l = usize::from(*msg.get(i)?);
        if l == 0 {
            return Some(i + 1 - 12);
        }
        if l > 63 {
            return None;
        }
        i += 1 + l;
    }
}

/// RCODE of an encoded message (low 4 bits only; enough to spot SERVFAIL).
fn rcode_of(reply: &[u8]) -> Option<ResponseCode> {
    reply.get(3).map(|b| ResponseCode::from_low(b & 0x0f))
}

/// Upstream client.
#[derive(Clone)]
pub struct Forwarder {
    transport: Arc<dyn Transport>,
    timeout: Duration,
    mismatches: Arc<AtomicU64>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Forwarder {
    fn default() -> Self {
        Self::new(Arc::new(NetTransport), UPSTREAM_TIMEOUT)
    }
}

impl Forwarder {
    /// Forwarder over `transport` with a per-try `timeout`.
    pub fn new(transport: Arc<dyn Transport>, timeout: Duration) -> Self {
        Self {
            transport,
            timeout,
            mismatches: Arc::default(),
        }
    }

    /// Replies ignored because ID or question did not match.
    pub fn mismatches(&self) -> u64 {
        self.mismatches.load(Ordering::Relaxed)
    }

    /// Resolve `question` through `upstreams`; returns the raw upstream reply (with the
    /// upstream query's ID — the caller rewrites it).
    pub async fn forward(
        &self,
        upstreams: &[SocketAddr],
        question: &Query,
        recursion_desired: bool,
        edns: bool,
        tcp: bool,
    ) -> Result<Vec<u8>, ForwardError> {
        if upstreams.is_empty() {
            return Err(ForwardError::NoUpstreams);
        }
        let mut last = ForwardError::NoUpstreams;
        for server in upstreams {
            let mut servfail_retried = false;
            loop {
                let id: u16 = rand::random();
                let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
                msg.metadata.recursion_desired = recursion_desired;
                msg.add_query(question.clone());
                if edns {
                    let mut e = Edns::new();
                    e.set_max_payload(UPSTREAM_EDNS_PAYLOAD);
                    msg.set_edns(e);
                }
                let bytes = msg.to_vec()?;
                let mismatches = &self.mismatches;
                let accept = move |reply: &[u8]| {
                    let ok = reply_matches(id, question, reply);
                    if !ok {
                        mismatches.fetch_add(1, Ordering::Relaxed);
                        warn!(%server, "ignoring upstream reply with wrong ID or question");
                    }
                    ok
                };
                match self
                    .transport
                    .exchange(*server, &bytes, tcp, self.timeout, &accept)
                    .await
                {
                    Ok(reply)
                        if rcode_of(&reply) == Some(ResponseCode::ServFail)
                            && !servfail_retried =>
                    {
                        debug!(%server, "upstream SERVFAIL, retrying once");
                        servfail_retried = true;
                    }
                    // Relay a re-encoded copy: the upstream's compression pointers may
                    // reach into the header (RFC 1035 §4.1.4 allows any prior offset), and
                    // the caller rewrites the ID, so the names would decode differently.
                    Ok(reply) => match Message::from_vec(&reply).map(|m| m.to_vec()) {
                        Ok(Ok(mut canonical)) => {
                            echo_question_case(&bytes, &mut canonical);
                            return Ok(canonical);
                        }
                        _ => {
                            debug!(%server, "upstream reply does not re-encode, trying next");
                            last = ForwardError::Mismatch(*server);
                            break;
                        }
                    },
                    Err(e) => {
                        debug!(%server, err = %e, "upstream failed, trying next");
                        last = e;
                        break;
                    }
                }
            }
        }
        Err(ForwardError::AllFailed(Box::new(last)))
    }
}

/// Real sockets: a fresh UDP socket (random source port) or TCP connection per try.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetTransport;

#[async_trait::async_trait]
impl Transport for NetTransport {
    async fn exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        tcp: bool,
        timeout: Duration,
        accept: Validator<'_>,
    ) -> Result<Vec<u8>, ForwardError> {
        let io = |source| ForwardError::Io { server, source };
        let work = async {
            if tcp {
                let mut s = TcpStream::connect(server).await.map_err(io)?;
                let len = u16::try_from(query.len()).map_err(|_| ForwardError::Mismatch(server))?;
                let mut framed = Vec::with_capacity(query.len() + 2);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(query);
                s.write_all(&framed).await.map_err(io)?;
                let n = s.read_u16().await.map_err(io)?;
                let mut buf = vec![0u8; usize::from(n)];
                s.read_exact(&mut buf).await.map_err(io)?;
                if accept(&buf) {
                    Ok(buf)
                } else {
                    Err(ForwardError::Mismatch(server))
                }
            } else {
                let bind: SocketAddr = if server.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let sock = UdpSocket::bind(bind).await.map_err(io)?;
                sock.connect(server).await.map_err(io)?;
                sock.send(query).await.map_err(io)?;
                let mut buf = vec![0u8; MAX_UDP_REPLY];
                loop {
                    let n = sock.recv(&mut buf).await.map_err(io)?;
                    if accept(&buf[..n]) {
                        buf.truncate(n);
                        return Ok(buf);
                    }
                }
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(ForwardError::Timeout(server)))
    }
}

/// Decode an upstream reply (for ExternalName chasing).
pub fn decode_reply(reply: &[u8]) -> Option<Message> {
    let mut d = hickory_proto::serialize::binary::BinDecoder::new(reply);
    Message::read(&mut d).ok()
}

#[cfg(test)]
mod tests;
