//! Forwarding of out-of-zone names and unknown reverse names to the upstream servers
//! (ConfigMap `upstreamNameservers`, else resolv.conf) through the shared RFC 5452 client
//! [`serverkit::upstream`] (fresh source port and CSPRNG ID per query, strict reply matching,
//! mismatching datagrams counted and ignored until the per-try deadline, TC=1 → TCP).
//!
//! kubedns's choices (compat §1.8 "Forwarding"):
//! * servers are tried in order, the first one first (no rotation), [`UPSTREAM_TIMEOUT`] per
//!   try; a transport error or timeout moves to the next server;
//! * an upstream SERVFAIL is retried once on the same server (legacy), then, like REFUSED,
//!   moves to the next server; when every server answered that way the last reply is relayed.
//!   (Legacy kube-dns relayed the second SERVFAIL, and any REFUSED, without trying the
//!   others; the servers of the list are equivalent, so asking the next one is the better
//!   answer — see the client's module doc.)
//! * UDP client queries go upstream over UDP (TCP again on TC=1), TCP ones over TCP; the
//!   client's RD bit is copied, EDNS ([`UPSTREAM_EDNS_PAYLOAD`]) is sent when the client
//!   used it; no 0x20 (the client's spelling is sent and given back);
//! * the reply is relayed re-encoded (the caller rewrites the ID to the client's).
//!
//! All upstreams failing, or none configured, is an error the server turns into SERVFAIL
//! (legacy kube-dns did not answer at all when every upstream was down).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
use serverkit::upstream::{
    CaseMode, Client, EdnsOpt, Exchanged, Observer, Options, QueryFlags, Question, RcodePolicy,
    Unwanted,
};
pub use serverkit::upstream::{RealTransport, Transport, UpstreamError};
use tracing::{debug, warn};

/// Deadline of one upstream try (legacy 2 s).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// EDNS payload size we advertise upstream (RFC 9715 / DNS flag day 2020 value).
pub const UPSTREAM_EDNS_PAYLOAD: u16 = 1232;
/// Same-server retries of an upstream SERVFAIL (legacy kube-dns: once).
pub const SERVFAIL_RETRIES: u32 = 1;
/// Largest UDP datagram we read from an upstream.
pub const MAX_UDP_REPLY: usize = 65_535;

/// Counts and logs what the client reports.
#[derive(Debug, Default)]
struct Counters {
    mismatches: AtomicU64,
}

impl Observer for Counters {
    fn unwanted(&self, server: SocketAddr, _from: SocketAddr, why: Unwanted) {
        self.mismatches.fetch_add(1, Ordering::Relaxed);
        warn!(%server, %why, "ignoring upstream reply with wrong ID or question");
    }
    fn failed(&self, server: SocketAddr, failure: &str) {
        debug!(%server, err = %failure, "upstream failed, trying next");
    }
}

/// Upstream client of kubedns.
#[derive(Clone, Debug)]
pub struct Forwarder {
    client: Client,
    counters: Arc<Counters>,
}

impl Default for Forwarder {
    fn default() -> Self {
        Self::new(Arc::new(RealTransport), UPSTREAM_TIMEOUT)
    }
}

impl Forwarder {
    /// Forwarder over `transport` with a per-try `timeout`.
    pub fn new(transport: Arc<dyn Transport>, timeout: Duration) -> Self {
        let opts = Options {
            attempt_timeout: timeout,
            case: CaseMode::Off,
            rcode: RcodePolicy {
                servfail_retries: SERVFAIL_RETRIES,
                ..RcodePolicy::FAILOVER_THEN_RELAY
            },
            max_udp_reply: MAX_UDP_REPLY,
        };
        Self {
            client: Client::new(transport, opts),
            counters: Arc::default(),
        }
    }

    /// Datagrams ignored because source, ID or question did not match.
    pub fn mismatches(&self) -> u64 {
        self.counters.mismatches.load(Ordering::Relaxed)
    }

    /// Resolve `question` through `upstreams`; returns the upstream reply re-encoded (with
    /// the upstream query's ID — the caller rewrites it — and the question as asked).
    pub async fn forward(
        &self,
        upstreams: &[SocketAddr],
        question: &Query,
        recursion_desired: bool,
        edns: bool,
        tcp: bool,
    ) -> Result<Vec<u8>, UpstreamError> {
        let name = question
            .name()
            .to_bytes()
            .map_err(|e| UpstreamError::BadQuestion(e.to_string()))?;
        let query = serverkit::upstream::Query {
            question: Question {
                name,
                qtype: question.query_type().into(),
                qclass: question.query_class().into(),
            },
            flags: QueryFlags {
                rd: recursion_desired,
                cd: false,
                edns: edns.then_some(EdnsOpt {
                    payload: UPSTREAM_EDNS_PAYLOAD,
                    dnssec_ok: false,
                }),
            },
            tcp,
        };
        // Relay a re-encoded copy: the upstream's compression pointers may reach into the
        // header (RFC 1035 §4.1.4 allows any prior offset), and the caller rewrites the ID,
        // so the names would decode differently.
        let canonical = |_: SocketAddr, got: Exchanged| {
            let decoded = Message::from_vec(&got.reply).map_err(|e| e.to_string())?;
            decoded
                .to_vec()
                .map_err(|e| format!("upstream reply does not re-encode: {e}"))
        };
        self.client
            .resolve(upstreams, &query, &*self.counters, canonical)
            .await
    }
}

/// Decode an upstream reply (for ExternalName chasing).
pub fn decode_reply(reply: &[u8]) -> Option<Message> {
    let mut d = hickory_proto::serialize::binary::BinDecoder::new(reply);
    Message::read(&mut d).ok()
}

#[cfg(test)]
mod tests;
