//! Minimal DNS client used by every probe: legacy server-address syntax, query
//! construction (RFC 1035 §4.1, RD=1) and one UDP exchange with a deadline.
//!
//! The exchange sits behind [`Exchanger`] so probe loops can be driven by an in-process
//! fake target on paused tokio time; [`UdpExchanger`] is the real transport.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::net::UdpSocket;

/// Per-query timeout (the legacy miekg client default for dial, read and write).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest UDP reply we read; bigger datagrams are truncated by the kernel and fail to decode.
pub const MAX_UDP_REPLY: usize = 4096;

/// A `host:port` target as written in legacy flags (`127.0.0.1:53`, `[::1]:53`,
/// `[127.0.0.1]:10053`, `localhost:53`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddr {
    /// IP literal or host name (brackets removed).
    pub host: String,
    /// UDP port.
    pub port: u16,
}

impl ServerAddr {
    /// Parses `host:port` with Go `net.SplitHostPort` rules: brackets required around
    /// hosts containing `:`; brackets around IPv4 literals are accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("address {s}: missing ']' in address"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("address {s}: missing port in address"))?;
            (host, port)
        } else {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| format!("address {s}: missing port in address"))?;
            if host.contains(':') {
                return Err(format!("address {s}: too many colons in address"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(format!("address {s}: missing host"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("address {s}: invalid port \"{port}\""))?;
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// Resolves to a socket address: IP literals directly, names via the system
    /// resolver (`/etc/hosts` first), bounded by `timeout`.
    pub async fn resolve(&self, timeout: Duration) -> Result<SocketAddr, String> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        match tokio::time::timeout(timeout, lookup).await {
            Ok(Ok(mut addrs)) => addrs
                .next()
                .ok_or_else(|| format!("lookup {}: no such host", self.host)),
            Ok(Err(e)) => Err(format!("lookup {}: {e}", self.host)),
            Err(_) => Err(format!("lookup {}: i/o timeout", self.host)),
        }
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Builds a standard query with RD=1 for one question (RFC 1035 §4.1.1, §4.1.2).
pub fn build_query(name: &Name, qtype: RecordType, class: DNSClass) -> Message {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    let mut q = Query::query(name.clone(), qtype);
    q.set_query_class(class);
    msg.add_query(q);
    msg
}

/// Transport failure of one exchange; the text mirrors Go's `net` errors where the
/// legacy sidecar exposed them (`read udp A->B: i/o timeout`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExchangeError(pub String);

/// One query/response exchange with a DNS server.
pub trait Exchanger: Send + Sync + 'static {
    /// Sends `query` to `server` and returns the matching reply.
    fn exchange(
        &self,
        server: &ServerAddr,
        query: Message,
    ) -> BoxFuture<'static, Result<Message, ExchangeError>>;
}

/// Shared handle to an exchanger.
pub type SharedExchanger = Arc<dyn Exchanger>;

/// Real UDP transport: fresh ephemeral socket per exchange, replies with another ID
/// or without QR are ignored until the deadline.
#[derive(Clone, Debug)]
pub struct UdpExchanger {
    /// Deadline for resolve + send + receive.
    pub timeout: Duration,
}

impl Default for UdpExchanger {
    fn default() -> Self {
        Self {
            timeout: QUERY_TIMEOUT,
        }
    }
}

impl Exchanger for UdpExchanger {
    fn exchange(
        &self,
        server: &ServerAddr,
        query: Message,
    ) -> BoxFuture<'static, Result<Message, ExchangeError>> {
        let server = server.clone();
        let timeout = self.timeout;
        Box::pin(async move { udp_exchange(&server, &query, timeout).await })
    }
}

async fn udp_exchange(
    server: &ServerAddr,
    query: &Message,
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let target = server
        .resolve(timeout)
        .await
        .map_err(|e| ExchangeError(format!("dial udp {server}: {e}")))?;
    let bytes = query
        .to_vec()
        .map_err(|e| ExchangeError(format!("pack query: {e}")))?;
    let bind: SocketAddr = if target.is_ipv4() {
        (IpAddr::from([0u8; 4]), 0).into()
    } else {
        (IpAddr::from([0u16; 8]), 0).into()
    };
    let sock = UdpSocket::bind(bind)
        .await
        .map_err(|e| ExchangeError(format!("dial udp {target}: {e}")))?;
    sock.connect(target)
        .await
        .map_err(|e| ExchangeError(format!("dial udp {target}: {e}")))?;
    let local = sock
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let op_err =
        |op: &str, e: &dyn fmt::Display| ExchangeError(format!("{op} udp {local}->{target}: {e}"));
    sock.send(&bytes).await.map_err(|e| op_err("write", &e))?;
    let mut buf = vec![0u8; MAX_UDP_REPLY];
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Err(op_err("read", &"i/o timeout")),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(op_err("read", &"connection refused"));
            }
            Ok(Err(e)) => return Err(op_err("read", &e)),
            Ok(Ok(n)) => n,
        };
        let Ok(reply) = Message::from_vec(&buf[..n]) else {
            // Undecodable datagram: could be spoofed noise; keep waiting until the deadline.
            tracing::debug!(%target, len = n, "ignoring undecodable DNS reply");
            continue;
        };
        if reply.metadata.id != query.metadata.id
            || reply.metadata.message_type != MessageType::Response
        {
            continue;
        }
        return Ok(reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addr_forms() {
        let a = ServerAddr::parse("127.0.0.1:10053").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 10053));
        let a = ServerAddr::parse("[127.0.0.1]:10053").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 10053));
        let a = ServerAddr::parse("[::1]:53").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 53));
        assert_eq!(a.to_string(), "[::1]:53");
        let a = ServerAddr::parse("localhost:53").unwrap();
        assert_eq!(a.host, "localhost");
        assert!(ServerAddr::parse("::1:53").is_err());
        assert!(ServerAddr::parse("127.0.0.1").is_err());
        assert!(ServerAddr::parse("127.0.0.1:99999").is_err());
        assert!(ServerAddr::parse(":53").is_err());
        assert!(ServerAddr::parse("[::1]").is_err());
    }

    #[test]
    fn query_has_rd_and_class() {
        let name = Name::from_ascii("hits.bind.").unwrap();
        let q = build_query(&name, RecordType::TXT, DNSClass::CH);
        assert!(q.metadata.recursion_desired);
        assert_eq!(q.queries.len(), 1);
        assert_eq!(q.queries[0].query_class(), DNSClass::CH);
        assert_eq!(q.queries[0].query_type(), RecordType::TXT);
    }
}
