//! What an answer lookup returns: a locally built [`Response`] (RCODE, AA/RA flags and the
//! three record sections), or the [`Answer`] telling the server to answer locally, forward, or
//! complete a CNAME chain upstream; plus the metrics bucket ([`System`]) of a query.
//! A leaf module: it depends on nothing else in the crate.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

/// A locally built response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// RCODE.
    pub rcode: ResponseCode,
    /// AA flag.
    pub authoritative: bool,
    /// RA flag.
    pub recursion_available: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authorities: Vec<Record>,
    /// Additional section.
    pub additionals: Vec<Record>,
}

impl Response {
    /// Empty response with flags.
    pub fn new(rcode: ResponseCode, authoritative: bool, recursion_available: bool) -> Self {
        Self {
            rcode,
            authoritative,
            recursion_available,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

/// What to do with a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Answer locally.
    Local(Response),
    /// Relay the query to the upstream servers.
    Forward,
    /// Answer with `response` (a CNAME chain) completed by resolving `target` upstream
    /// (ExternalName / federation targets outside the cluster domain); see [`super::continue_chase`].
    Chase {
        /// The CNAME chain so far.
        response: Response,
        /// Name to resolve upstream.
        target: Name,
        /// Type to resolve.
        qtype: RecordType,
    },
}

/// Metrics bucket of a query (legacy `system` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// Answered from cluster data.
    Auth,
    /// Forwarded non-cluster name.
    Recursive,
    /// Reverse (PTR) path.
    Reverse,
}

/// Classify a query for metrics.
pub fn system_of(labels: &[String], answer: &Answer) -> System {
    let n = labels.len();
    if n >= 2 && labels[n - 1] == "arpa" && (labels[n - 2] == "in-addr" || labels[n - 2] == "ip6") {
        System::Reverse
    } else if matches!(answer, Answer::Forward) {
        System::Recursive
    } else {
        System::Auth
    }
}
