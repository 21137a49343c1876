//! The answer engine: `(qname, qtype, qclass)` + a store [`View`] → [`Answer`].
//!
//! Pure and synchronous. Dispatch order (compat §1.8, with the documented deviations in
//! `docs/kubedns-records.md`):
//! 1. class CHAOS → [`crate::chaos`];
//! 2. `ANY` → REFUSED (AA=0, RA=0), RFC 8482 permits refusing;
//! 3. other classes than IN → REFUSED;
//! 4. `PTR` under `in-addr.arpa.`/`ip6.arpa.` → cluster PTR if the IP is a ClusterIP or a
//!    hostname'd endpoint, else forwarded;
//! 5. names outside the cluster domain → forwarded (single-label names → SERVFAIL, the
//!    legacy ndots guard);
//! 6. cluster names → [`cluster`] (SERVFAIL until the initial sync).
//!
//! Final assembly de-duplicates identical RRs and lowers all answer TTLs to their minimum
//! (legacy behaviour), and adds the SOA to negative answers (RFC 2308 §3, TTL 60). CNAME
//! chains that leave the cluster zone are completed by [`continue_chase`] (module `chain`).

mod chain;
mod cluster;
#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{NS, PTR, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

pub use chain::{MAX_CNAME_CHAIN, continue_chase};

use crate::names::parse_reverse;
use crate::store::View;

/// TTL of the SOA when it is the answer to `SOA <zone>` (skydns default).
pub const SOA_ANSWER_TTL: u32 = 3600;
/// TTL of the SOA in the authority section of negative answers (and its MINIMUM field).
pub const SOA_NEGATIVE_TTL: u32 = 60;
/// Schema version of the Kubernetes DNS specification implemented (`dns-version` TXT).
pub const SCHEMA_VERSION: &str = "1.1.0";

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
    /// (ExternalName / federation targets outside the cluster domain); see [`continue_chase`].
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

/// Lowercase labels of a name, leftmost first.
pub fn lower_labels(name: &Name) -> Vec<String> {
    name.iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect()
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

impl crate::store::Store {
    /// Answer one question from the current snapshot (wall clock for the SOA serial).
    pub fn lookup(&self, qname: &Name, qtype: RecordType, qclass: DNSClass) -> Answer {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        lookup(&self.view(), qname, qtype, qclass, now)
    }
}

/// Resolve one question against the store view. `now_unix` drives the SOA serial.
pub fn lookup(
    view: &View,
    qname: &Name,
    qtype: RecordType,
    qclass: DNSClass,
    now_unix: u64,
) -> Answer {
    let labels = lower_labels(qname);
    lookup_labels(view, qname, &labels, qtype, qclass, now_unix)
}

/// [`lookup`] with the lowercase labels already computed.
pub fn lookup_labels(
    view: &View,
    qname: &Name,
    labels: &[String],
    qtype: RecordType,
    qclass: DNSClass,
    now_unix: u64,
) -> Answer {
    if qclass == DNSClass::CH {
        let mut lower = labels.join(".");
        lower.push('.');
        return Answer::Local(crate::chaos::answer(qname, &lower, qtype, &view.domain));
    }
    if qtype == RecordType::ANY {
        return Answer::Local(Response::new(ResponseCode::Refused, false, false));
    }
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        // zone transfers are not offered (CoreDNS kubernetes plugin: REFUSED too)
        return Answer::Local(Response::new(ResponseCode::Refused, false, true));
    }
    if qclass != DNSClass::IN {
        return Answer::Local(Response::new(ResponseCode::Refused, false, true));
    }
    let n = labels.len();
    let is_arpa =
        n >= 2 && labels[n - 1] == "arpa" && (labels[n - 2] == "in-addr" || labels[n - 2] == "ip6");
    if is_arpa && qtype == RecordType::PTR {
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        if let Some(ip) = parse_reverse(&refs)
            && let Some(targets) = view.zone.ptr(ip)
        {
            let mut r = Response::new(ResponseCode::NoError, false, true);
            for t in targets {
                if let Ok(name) = Name::from_ascii(&**t) {
                    r.answers.push(Record::from_rdata(
                        qname.clone(),
                        view.ttl,
                        RData::PTR(PTR(name)),
                    ));
                }
            }
            return Answer::Local(finish(r));
        }
        if !view.synced && parse_reverse(&refs).is_some() {
            // It may be a cluster IP we have not learnt yet: do not leak a wrong answer.
            return Answer::Local(Response::new(ResponseCode::ServFail, false, true));
        }
        return Answer::Forward;
    }
    let dn = view.domain_name.num_labels() as usize;
    let in_zone = n >= dn
        && labels[n - dn..]
            .iter()
            .zip(view.domain_name.iter())
            .all(|(a, b)| a.as_bytes().eq_ignore_ascii_case(b));
    if !in_zone {
        if n < 2 {
            return Answer::Local(Response::new(ResponseCode::ServFail, false, true));
        }
        return Answer::Forward;
    }
    if !view.synced {
        return Answer::Local(Response::new(ResponseCode::ServFail, false, true));
    }
    let rel: Vec<&str> = labels[..n - dn].iter().map(String::as_str).collect();
    cluster::answer(view, qname, &rel, qtype, now_unix)
}

/// The zone's SOA record (compat §1.8): serial = Unix time truncated to the hour.
pub fn soa_record(view: &View, ttl: u32, now_unix: u64) -> Record {
    let zone = view.domain_name.clone();
    let mname = Name::from_ascii("ns.dns")
        .and_then(|n| n.append_domain(&zone))
        .unwrap_or_else(|_| zone.clone());
    let rname = Name::from_ascii("hostmaster")
        .and_then(|n| n.append_domain(&zone))
        .unwrap_or_else(|_| zone.clone());
    let serial = (now_unix - now_unix % 3600) as u32;
    let soa = SOA::new(mname, rname, serial, 28800, 7200, 604800, SOA_NEGATIVE_TTL);
    Record::from_rdata(zone, ttl, RData::SOA(soa))
}

/// The apex NS record: `ns.dns.<zone>` (legacy answered NXDOMAIN, see docs).
pub fn ns_record(view: &View, owner: &Name) -> Record {
    let zone = view.domain_name.clone();
    let ns = Name::from_ascii("ns.dns")
        .and_then(|n| n.append_domain(&zone))
        .unwrap_or(zone);
    Record::from_rdata(owner.clone(), view.ttl, RData::NS(NS(ns)))
}

/// De-duplicate identical RRs and lower answer TTLs to their minimum (legacy behaviour).
pub fn finish(mut r: Response) -> Response {
    if let Some(min) = r.answers.iter().map(|a| a.ttl).min() {
        for a in &mut r.answers {
            a.ttl = min;
        }
    }
    dedup(&mut r.answers);
    dedup(&mut r.additionals);
    r
}

/// Drop repeated records (RFC 2136 §1.1.1 equality: name case-insensitively, class, RDATA;
/// not the TTL), keeping the first of each in order. Linear: a headless Service may have
/// thousands of endpoints, and a pairwise comparison made every query on one cost seconds.
fn dedup(v: &mut Vec<Record>) {
    if v.len() < 2 {
        return;
    }
    let keep = first_by_rdata(v).unwrap_or_else(|| first_by_record(v));
    let mut keep = keep.into_iter();
    v.retain(|_| keep.next().unwrap_or(true));
}

/// Which records to keep, keyed by class and RDATA alone (cheap to hash; answers usually share
/// one owner). `None` when two records with equal RDATA have different owners.
fn first_by_rdata(v: &[Record]) -> Option<Vec<bool>> {
    let mut first: HashMap<(DNSClass, &RData), &Name> = HashMap::with_capacity(v.len());
    let mut keep = Vec::with_capacity(v.len());
    for r in v {
        match first.entry((r.dns_class, &r.data)) {
            Entry::Vacant(e) => {
                e.insert(&r.name);
                keep.push(true);
            }
            Entry::Occupied(e) if *e.get() == &r.name => keep.push(false),
            Entry::Occupied(_) => return None,
        }
    }
    Some(keep)
}

/// Which records to keep, keyed by the whole record identity.
fn first_by_record(v: &[Record]) -> Vec<bool> {
    let mut seen = HashSet::with_capacity(v.len());
    v.iter()
        .map(|r| seen.insert((&r.name, r.dns_class, &r.data)))
        .collect()
}
