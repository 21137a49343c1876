//! Wire-level request classification and response encoding (pure, no sockets).
//!
//! Classification order (house style A6.4, RFC 9267 robustness):
//! 1. fewer than 12 bytes or QR=1 → dropped silently (never answer a response: reflection);
//! 2. opcode ≠ QUERY → NOTIMP (RFC 1035 §4.1.1);
//! 3. anything hickory-server's `Request` decoder rejects (bad counts, pointer loops, labels
//!    > 63, names > 255, duplicate OPT …) or QDCOUNT ≠ 1 → FORMERR (RFC 9619 for QDCOUNT);
//! 4. EDNS version > 0 → BADVERS with an OPT record (RFC 6891 §6.1.3).
//!
//! Encoding caps (house style, B4 row 7): UDP 512 bytes without EDNS, otherwise
//! min(max(advertised, 512), `max_udp_payload`); TCP 65535. When the message is too large,
//! the additional section is dropped first (no TC: RFC 2181 §9 says TC is only for data that
//! was required), then answers/authorities are trimmed to what fits and TC is set. A message
//! that does not fit in 65535 bytes over TCP becomes SERVFAIL. Replies made only of address
//! records owned by the question, and SRV records owned by it once the additional section is
//! dropped, are encoded by [`compact`], which compresses every owner.

use std::net::SocketAddr;

use hickory_proto::ProtoError;
use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_server::net::xfer::Protocol;

use self::compact::Compact;
use crate::answer::Response;

/// Maximum size of a UDP reply to a client without EDNS (RFC 1035 §4.2.1).
pub const PLAIN_UDP_LIMIT: usize = 512;
/// Maximum size of a TCP message (RFC 1035 §4.2.2 length prefix).
pub const TCP_LIMIT: usize = 65_535;
// DNS header length (RFC 1035 §4.1.1), shared with the serving loops.
use serverkit::serve::DNS_HEADER_LEN as HEADER_LEN;
/// The smallest possible resource record: a root owner name (1 byte), TYPE, CLASS, TTL and
/// RDLENGTH (10 bytes), empty RDATA (RFC 1035 §4.1.3). No more than
/// `(limit - HEADER_LEN) / MIN_RECORD_LEN` records can fit in `limit` bytes.
const MIN_RECORD_LEN: usize = 11;

/// A parsed query ready for dispatch.
#[derive(Debug, Clone)]
pub struct ParsedQuery {
    /// Request metadata (ID, RD, CD …).
    pub metadata: Metadata,
    /// The question with the client's case.
    pub query: Query,
    /// Client EDNS, if any.
    pub edns: Option<Edns>,
}

impl ParsedQuery {
    /// Reply size limit for this query over UDP.
    pub fn udp_limit(&self, max_udp_payload: u16) -> usize {
        match &self.edns {
            None => PLAIN_UDP_LIMIT,
            Some(e) => usize::from(e.max_payload().max(512).min(max_udp_payload.max(512))),
        }
    }
}

/// Outcome of classifying one incoming message.
#[derive(Debug)]
pub enum Incoming {
    /// Ignore silently.
    Drop,
    /// Send this error reply without dispatching.
    Reply(Message),
    /// Dispatch.
    Query(ParsedQuery),
}

fn error_reply(bytes: &[u8], rcode: ResponseCode) -> Message {
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let op = OpCode::from_u8((bytes[2] >> 3) & 0x0f);
    let mut m = Message::error_msg(id, op, rcode);
    m.metadata.recursion_desired = bytes[2] & 0x01 != 0;
    m
}

/// Classify raw request bytes.
pub fn classify(bytes: &[u8], src: SocketAddr, tcp: bool) -> Incoming {
    if bytes.len() < 12 || bytes[2] & 0x80 != 0 {
        return Incoming::Drop;
    }
    if (bytes[2] >> 3) & 0x0f != 0 {
        return Incoming::Reply(error_reply(bytes, ResponseCode::NotImp));
    }
    let proto = if tcp { Protocol::Tcp } else { Protocol::Udp };
    let Ok(req) = hickory_server::server::Request::from_bytes(bytes.to_vec(), src, proto) else {
        return Incoming::Reply(error_reply(bytes, ResponseCode::FormErr));
    };
    let queries = req.queries.queries();
    let [query] = queries else {
        return Incoming::Reply(error_reply(bytes, ResponseCode::FormErr));
    };
    let metadata = req.metadata;
    let edns = req.edns.clone();
    if let Some(e) = &edns
        && e.version() > 0
    {
        let mut m = error_reply(bytes, ResponseCode::BADVERS);
        m.add_query(query.original().clone());
        m.set_edns(response_edns(e, 1232));
        return Incoming::Reply(m);
    }
    Incoming::Query(ParsedQuery {
        metadata,
        query: query.original().clone(),
        edns,
    })
}

/// The OPT record we send back: our payload size, version 0, the query's DO bit, no options.
///
/// ```text
/// RFC 6891 §6.1.1: If an OPT record is present in a received request, compliant
/// responders MUST include an OPT record in their respective responses.
/// ```
pub fn response_edns(request: &Edns, max_udp_payload: u16) -> Edns {
    let mut e = Edns::new();
    e.set_max_payload(max_udp_payload.max(512));
    e.set_version(0);
    // RFC 3225 §3: the DO bit of the query is copied into the response
    e.set_dnssec_ok(request.flags().dnssec_ok);
    e
}

/// Build the response message for a locally answered query.
pub fn build_response(q: &ParsedQuery, r: Response, max_udp_payload: u16) -> Message {
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.checking_disabled = q.metadata.checking_disabled;
    m.metadata.authoritative = r.authoritative;
    m.metadata.recursion_available = r.recursion_available;
    m.metadata.response_code = r.rcode;
    m.add_query(q.query.clone());
    m.answers = r.answers;
    m.authorities = r.authorities;
    m.additionals = r.additionals;
    if let Some(e) = &q.edns {
        m.set_edns(response_edns(e, max_udp_payload));
    }
    m
}

/// SERVFAIL reply for a query.
pub fn servfail(q: &ParsedQuery, max_udp_payload: u16) -> Message {
    build_response(
        q,
        Response::new(ResponseCode::ServFail, false, true),
        max_udp_payload,
    )
}

/// An encoded response and whether it was truncated (TC=1).
#[derive(Debug)]
pub struct Encoded {
    /// Wire bytes.
    pub bytes: Vec<u8>,
    /// TC was set.
    pub truncated: bool,
    /// The response code actually sent.
    pub rcode: ResponseCode,
}

/// Encode `msg` within `limit` bytes (see the module docs for the trimming order).
///
/// ```text
/// RFC 2181 §9: The TC bit should be set in responses only when an RRSet is required as a
/// part of the response, but could not be included in its entirety.
/// ```
pub fn encode_capped(mut msg: Message, limit: usize) -> Result<Encoded, ProtoError> {
    let rcode = msg.metadata.response_code;
    if let Some(compact) = Compact::new(&msg) {
        return encode_compact(compact?, &msg, limit);
    }
    // hickory's encoder stops at 65535 bytes and sets TC itself: treat that as "too big"
    let fits =
        |b: &Vec<u8>, m: &Message| b.len() <= limit && (m.metadata.truncation || b[2] & 0x02 == 0);
    // Encoding is linear in the records; skip the attempts that cannot succeed, so a query
    // for a headless Service with thousands of endpoints costs one small encode, not several
    // large ones.
    let max_records = limit.saturating_sub(HEADER_LEN) / MIN_RECORD_LEN;
    if msg.answers.len() + msg.authorities.len() <= max_records {
        let full = msg.to_vec()?;
        if fits(&full, &msg) {
            return Ok(Encoded {
                bytes: full,
                truncated: msg.metadata.truncation,
                rcode,
            });
        }
        if !msg.additionals.is_empty() {
            msg.additionals.clear();
            let bytes = msg.to_vec()?;
            if fits(&bytes, &msg) {
                return Ok(Encoded {
                    bytes,
                    truncated: msg.metadata.truncation,
                    rcode,
                });
            }
        }
    }
    msg.additionals.clear();
    // without its additional section an SRV reply may now be one [`Compact`] encodes
    if let Some(compact) = Compact::new(&msg) {
        return encode_compact(compact?, &msg, limit);
    }
    if limit >= TCP_LIMIT {
        return overflow(&msg);
    }
    msg.metadata.truncation = true;
    msg.authorities.clear();
    let mut answers = std::mem::take(&mut msg.answers);
    answers.truncate(max_records);
    // largest prefix of the answers that fits (binary search over the count)
    let (mut lo, mut hi) = (0usize, answers.len());
    let mut best = msg.to_vec()?;
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        msg.answers = answers[..mid].to_vec();
        let b = msg.to_vec()?;
        if b.len() <= limit {
            lo = mid;
            best = b;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Encoded {
        bytes: best,
        truncated: true,
        rcode,
    })
}

/// `msg` through [`Compact`]: whole when it fits, else (UDP) the largest prefix with TC, or
/// (TCP) SERVFAIL.
fn encode_compact(compact: Compact, msg: &Message, limit: usize) -> Result<Encoded, ProtoError> {
    let rcode = msg.metadata.response_code;
    let n = compact.fitting(limit);
    if n == compact.len() {
        return Ok(Encoded {
            bytes: compact.bytes(n, msg.metadata.truncation),
            truncated: msg.metadata.truncation,
            rcode,
        });
    }
    if limit >= TCP_LIMIT {
        return overflow(msg);
    }
    Ok(Encoded {
        bytes: compact.bytes(n, true),
        truncated: true,
        rcode,
    })
}

/// SERVFAIL for a reply that does not fit even in a TCP message (legacy kube-dns did the same).
fn overflow(msg: &Message) -> Result<Encoded, ProtoError> {
    let mut m = Message::error_msg(msg.metadata.id, OpCode::Query, ResponseCode::ServFail);
    m.metadata.recursion_desired = msg.metadata.recursion_desired;
    m.metadata.recursion_available = msg.metadata.recursion_available;
    m.add_queries(msg.queries.clone());
    m.edns = msg.edns.clone();
    Ok(Encoded {
        bytes: m.to_vec()?,
        truncated: false,
        rcode: ResponseCode::ServFail,
    })
}

mod compact;
#[cfg(test)]
mod tests;
