//! The answer engine: `(qname, qtype, qclass)` + a store [`View`] → [`Answer`].
//!
//! Pure and synchronous. Dispatch order (compat §1.8, with the documented deviations in
//! `docs/kubedns-records.md`):
//! 1. class CHAOS → [`chaos`];
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
//! chains that leave the cluster zone are completed by [`continue_chase`] (module `chase`).
//!
//! Submodules, lowest first; each uses only those above it (a DAG, no call back up into this
//! module): `response` ([`Response`], [`Answer`]) → `records` (SOA/NS, [`finish`]) →
//! `chaos`, `chain` (CNAME limit and loop rule) → `cluster` (in-zone names) → `chase`
//! (upstream completion of a chain) → this dispatcher.

mod chain;
pub mod chaos;
mod chase;
mod cluster;
mod records;
mod response;
#[cfg(test)]
mod tests;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

pub use chain::MAX_CNAME_CHAIN;
pub use chase::continue_chase;
pub use records::{
    SCHEMA_VERSION, SOA_ANSWER_TTL, SOA_NEGATIVE_TTL, finish, lower_labels, ns_record, soa_record,
};
pub use response::{Answer, Response, System, system_of};

use crate::names::parse_reverse;
use crate::store::View;

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
        return Answer::Local(chaos::answer(qname, &lower, qtype, &view.domain));
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
