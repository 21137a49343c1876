//! Completion of a CNAME chain that left the cluster zone (ExternalName and federation
//! targets) from one upstream reply at a time; a chain that re-enters the zone is resumed by
//! [`super::cluster`]. The rules it follows are listed in [`super::chain`].

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::chain::{check, servfail};
use super::cluster;
use super::records::finish;
use super::response::{Answer, Response};
use crate::store::View;

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
            return cluster::resume(view, resp, &next, qtype, now_unix);
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
