//! Asking every server the corpus and normalising the replies for comparison: sections
//! rendered as text and sorted (RRset order carries no meaning, RFC 2181 §5), the SOA serial
//! zeroed (legacy derives it from the clock), the OPT record left out (EDNS is off), and the
//! header reduced to RCODE, AA, TC and RA. A query that gets no reply is [`Obs::Timeout`].

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, Record};
use integration::harness::dns::{DnsClient, DnsError, Transport};

use super::corpus::Pair;

/// Queries in flight per server.
pub const CONCURRENCY: usize = 32;
/// Per-query timeout over UDP.
pub const UDP_TIMEOUT: Duration = Duration::from_secs(2);
/// Per-query timeout over TCP: the TCP pass carries answers of 1000+ records, which an
/// unoptimised build takes longer to assemble.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for `server` with the timeout of `transport`.
pub fn client(server: SocketAddr, transport: Transport) -> DnsClient {
    DnsClient {
        timeout: match transport {
            Transport::Udp => UDP_TIMEOUT,
            Transport::Tcp => TCP_TIMEOUT,
        },
        ..DnsClient::new(server)
    }
}

/// One normalised reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resp {
    /// RCODE.
    pub rcode: ResponseCode,
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion available.
    pub ra: bool,
    /// Answer section, sorted.
    pub answer: Vec<String>,
    /// Authority section, sorted.
    pub authority: Vec<String>,
    /// Additional section without OPT, sorted.
    pub additional: Vec<String>,
}

/// What a server did with one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obs {
    /// A reply.
    Reply(Resp),
    /// No reply within the client timeout.
    Timeout,
    /// The process died while answering this query (found by bisecting a batch): the panic
    /// message and the first frame of the stack.
    Crash(String),
    /// Anything else (socket error, unparsable reply).
    Error(String),
}

impl Obs {
    /// The reply, if any.
    pub fn reply(&self) -> Option<&Resp> {
        match self {
            Obs::Reply(r) => Some(r),
            _ => None,
        }
    }
}

fn render(r: &Record) -> String {
    let mut r = r.clone();
    if let RData::SOA(soa) = &mut r.data {
        soa.serial = 0;
    }
    r.to_string()
}

fn section(rs: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = rs.iter().map(render).collect();
    v.sort();
    v
}

/// The normalised form of `m`.
pub fn normalise(m: &Message) -> Resp {
    Resp {
        rcode: m.metadata.response_code,
        aa: m.metadata.authoritative,
        tc: m.metadata.truncation,
        ra: m.metadata.recursion_available,
        answer: section(&m.answers),
        authority: section(&m.authorities),
        additional: section(&m.additionals),
    }
}

impl fmt::Display for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |b: bool, s: &'static str| if b { s } else { "" };
        write!(
            f,
            "{:?}{}{}{}",
            self.rcode,
            flag(self.aa, " aa"),
            flag(self.tc, " tc"),
            flag(self.ra, " ra")
        )?;
        for (label, sec) in [
            ("AN", &self.answer),
            ("NS", &self.authority),
            ("AR", &self.additional),
        ] {
            if !sec.is_empty() {
                write!(f, " {label}[{}]", sec.join(" | "))?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Obs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obs::Reply(r) => r.fmt(f),
            Obs::Timeout => f.write_str("<no reply>"),
            Obs::Crash(why) => write!(f, "<process died: {why}>"),
            Obs::Error(e) => write!(f, "<error: {e}>"),
        }
    }
}

/// One query.
pub async fn ask(client: &DnsClient, pair: &Pair, transport: Transport) -> Obs {
    match client.query(&pair.name, pair.rtype, transport).await {
        Ok(m) => Obs::Reply(normalise(&m)),
        Err(DnsError::Timeout { .. }) => Obs::Timeout,
        Err(e) => Obs::Error(e.to_string()),
    }
}

/// Asks `server` every pair of `pairs` (at most [`CONCURRENCY`] at a time); results in the
/// order of `pairs`. A query that times out is asked once more when `retry` is set (a loaded
/// machine can delay an unoptimised build past the timeout; a stub resolver retries too).
pub async fn ask_all(
    server: SocketAddr,
    pairs: &[Pair],
    transport: Transport,
    retry: bool,
) -> Vec<Obs> {
    let client = client(server, transport);
    futures::stream::iter(pairs.iter())
        .map(|p| {
            let client = client.clone();
            async move {
                match ask(&client, p, transport).await {
                    Obs::Timeout if retry => ask(&client, p, transport).await,
                    o => o,
                }
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}
