//! CNAME chains: the limit and loop rule shared by in-zone and upstream hops, and the
//! completion of a chain that left the cluster zone (ExternalName and federation targets)
//! from one upstream reply at a time.
//!
//! Rules (RFC 1034 §4.3.2 step 3a, RFC 6604 §2, RFC 2308 §2.1/§2.2/§3/§7.1):
//! * the answer holds every CNAME of the chain, then the records of the asked type owned by
//!   the last name;
//! * the RCODE is the one of the last name: NXDOMAIN when it does not exist, NOERROR when it
//!   exists without data of that type (NODATA);
//! * a negative answer carries the SOA of the zone of the last name: the cluster SOA when
//!   the chain ends inside the cluster zone, the upstream's SOA (only if its owner is that
//!   name or one of its ancestors) when it ends outside;
//! * from an upstream reply only the chain is taken: CNAMEs walked from the name asked,
//!   records of the asked type at the end of the walk, and that SOA. Records owned by other
//!   names, the additional section, NS records and any record for a name inside the cluster
//!   zone (the upstream has no authority there) are dropped;
//! * every record taken from upstream keeps its TTL but never more than the store record TTL
//!   (30 s): the whole answer then expires with its CNAME, and nothing is served longer than
//!   its owner allows;
//! * a chain that re-enters the cluster zone is resolved from the store, and may leave it
//!   again;
//! * a loop, a chain of more than [`MAX_CNAME_CHAIN`] CNAMEs, or a target that cannot be
//!   resolved (every upstream failed or timed out, upstream SERVFAIL/REFUSED/other RCODE)
//!   answers SERVFAIL carrying the chain built so far: the alias stays visible, and no cache
//!   stores a NODATA or NXDOMAIN for a name whose target was never answered (RFC 2308 §7.1;
//!   docs/compat.md explains the choice against CoreDNS's CNAME-alone NOERROR).

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::{Answer, Response, finish};
use crate::store::View;

/// Most CNAME records one answer may hold (ExternalName → … → final name, in-zone and
/// upstream hops together). The 9th CNAME, like a loop, makes the answer SERVFAIL. CoreDNS
/// stops at 8 as well (`len(previousRecords) > 7`).
pub const MAX_CNAME_CHAIN: usize = 8;

/// Why a chain cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Broken {
    /// The next name is already an owner in the chain.
    Loop,
    /// More than [`MAX_CNAME_CHAIN`] CNAMEs.
    TooLong,
}

/// Check the chain in `resp` (its last CNAME just pushed) before following it to `next`.
pub(super) fn check(resp: &Response, next: &Name) -> Result<(), Broken> {
    let mut cnames = 0;
    for r in &resp.answers {
        if r.record_type() == RecordType::CNAME {
            cnames += 1;
            if r.name == *next {
                return Err(Broken::Loop);
            }
        }
    }
    if cnames > MAX_CNAME_CHAIN {
        return Err(Broken::TooLong);
    }
    Ok(())
}

/// SERVFAIL keeping the chain built so far in the answer section (AA=0, RA=1).
pub(super) fn servfail(resp: Response) -> Response {
    let mut r = finish(resp);
    r.rcode = ResponseCode::ServFail;
    r.authoritative = false;
    r.recursion_available = true;
    r.authorities.clear();
    r.additionals.clear();
    r
}

fn capped(rec: &Record, ttl: u32) -> Record {
    let mut r = rec.clone();
    r.ttl = r.ttl.min(ttl);
    r
}

/// Continue a chain whose last CNAME points at `target` (outside the cluster zone), with the
/// upstream reply to `target`/`qtype` (`None`: every upstream failed or timed out).
///
/// Returns [`Answer::Local`] with the final response, or [`Answer::Chase`] when the reply
/// stopped at a CNAME whose target it did not answer (an authoritative upstream does not
/// follow names outside its zone), so the caller asks again for that name.
pub fn continue_chase(
    view: &View,
    mut resp: Response,
    target: &Name,
    qtype: RecordType,
    upstream: Option<&Message>,
    now_unix: u64,
) -> Answer {
    let Some(msg) = upstream else {
        return Answer::Local(servfail(resp));
    };
    let rcode = msg.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return Answer::Local(servfail(resp));
    }
    let of = |r: &&Record, t: RecordType, owner: &Name| {
        r.dns_class == DNSClass::IN && r.record_type() == t && r.name == *owner
    };
    let mut current = target.clone();
    loop {
        let data: Vec<Record> = msg
            .answers
            .iter()
            .filter(|r| of(r, qtype, &current))
            .map(|r| capped(r, view.ttl))
            .collect();
        if !data.is_empty() {
            resp.answers.extend(data);
            resp.rcode = ResponseCode::NoError;
            return Answer::Local(finish(resp));
        }
        let Some((rec, next)) = msg
            .answers
            .iter()
            .filter(|r| of(r, RecordType::CNAME, &current))
            .find_map(|r| match &r.data {
                RData::CNAME(c) => Some((r, c.0.clone())),
                _ => None,
            })
        else {
            break;
        };
        resp.answers.push(capped(rec, view.ttl));
        if check(&resp, &next).is_err() {
            return Answer::Local(servfail(resp));
        }
        if view.domain_name.zone_of(&next) {
            // back in the cluster zone: the store answers, whatever the upstream said
            return super::cluster::resume(view, resp, &next, qtype, now_unix);
        }
        current = next;
    }
    let soa = msg
        .authorities
        .iter()
        .find(|r| r.dns_class == DNSClass::IN && matches!(r.data, RData::SOA(_)))
        .filter(|r| r.name.zone_of(&current))
        .map(|r| capped(r, view.ttl));
    if rcode == ResponseCode::NoError && soa.is_none() && current != *target {
        // the reply ended at a CNAME it did not follow: ask for the new name
        return Answer::Chase {
            response: resp,
            target: current,
            qtype,
        };
    }
    resp.rcode = rcode;
    resp.authorities.extend(soa);
    Answer::Local(finish(resp))
}
