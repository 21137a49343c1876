//! Record builders and final assembly shared by every answer path: the zone's SOA and apex
//! NS, the constants of the SOA and `dns-version` records, lowercase labels of a query name,
//! and [`finish`] (RR de-duplication and the minimum-TTL rule).
//! Depends only on [`super::response`] and the store's read [`View`].

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record};

use super::response::Response;
use crate::store::View;

/// TTL of the SOA when it is the answer to `SOA <zone>` (skydns default).
pub const SOA_ANSWER_TTL: u32 = 3600;
/// TTL of the SOA in the authority section of negative answers (and its MINIMUM field).
pub const SOA_NEGATIVE_TTL: u32 = 60;
/// Schema version of the Kubernetes DNS specification implemented (`dns-version` TXT).
pub const SCHEMA_VERSION: &str = "1.1.0";

/// Lowercase labels of a name, leftmost first.
pub fn lower_labels(name: &Name) -> Vec<String> {
    name.iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect()
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
