//! `--minimal-any`: RFC 8482 minimal responses to QTYPE=ANY over UDP.
//!
//! Owns: [`minimize`], which cuts a rendered ANY response down to its first RRset (RFC 8482
//! §4.1: "a subset of the available RRsets", here the first one the upstream returned), so a
//! small spoofed-source ANY query cannot pull a large cached answer out of the forwarder.
//! TCP clients still get the whole answer (§4.4 leaves TCP untouched; the source is verified).

use crate::wire::{self, QueryInfo};

/// Keeps only the leading answer records that share the first record's owner and type,
/// drops the authority and additional sections and puts the client's OPT back. Answers
/// without records (NXDOMAIN, NODATA) and unparsable buffers are left as they are.
///
/// Only a prefix of the message is kept, so every compression pointer in it (always
/// backwards, RFC 1035 §4.1.4) still points at kept bytes.
pub fn minimize(out: &mut Vec<u8>, q: &QueryInfo) {
    let Ok(s) = wire::walk(out) else {
        return;
    };
    let Some(first) = s.answers.first() else {
        return;
    };
    let Ok((owner, _)) = wire::read_name(out, first.start) else {
        return;
    };
    let same_rrset = |rr: &wire::RrPos| {
        rr.rtype == first.rtype
            && rr.class == first.class
            && wire::read_name(out, rr.start).is_ok_and(|(n, _)| n == owner)
    };
    let kept = s.answers.iter().take_while(|rr| same_rrset(rr)).count();
    let only_opt_follows = s.authority.is_empty()
        && s.additional.iter().all(|rr| rr.rtype == wire::TYPE_OPT)
        && kept == s.answers.len();
    if only_opt_follows {
        return;
    }
    let end = s.answers[kept - 1].end;
    out.truncate(end);
    wire::put_u16(out, 6, kept as u16);
    wire::put_u16(out, 8, 0);
    wire::put_u16(out, 10, 0);
    if let Some(e) = q.edns {
        wire::push_opt(out, e.dnssec_ok, 0);
        wire::bump_count(out, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::{A, AAAA, TXT};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn any_reply(query: &[u8], rdatas: Vec<RData>, extra: bool) -> Vec<u8> {
        let mut m = Message::from_vec(&answer_a(query, &[], false)).unwrap();
        let name = m.queries[0].name.clone();
        for rd in rdatas {
            m.add_answer(Record::from_rdata(name.clone(), 300, rd));
        }
        if extra {
            let ns = Name::from_ascii("ns.example.").unwrap();
            m.add_additional(Record::from_rdata(ns, 300, RData::A(A::new(9, 9, 9, 9))));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn keeps_the_first_rrset_only() {
        let (qb, q) = query("Any.Example", wire::TYPE_ANY, Some(4096));
        let mut out = any_reply(
            &qb,
            vec![
                RData::A(A::new(10, 0, 0, 1)),
                RData::A(A::new(10, 0, 0, 2)),
                RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
                RData::TXT(TXT::new(vec!["x".repeat(200)])),
            ],
            true,
        );
        let before = out.len();
        minimize(&mut out, &q);
        assert!(out.len() < before / 2, "{before} → {}", out.len());
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.answers.len(), 2);
        assert!(m.answers.iter().all(|r| r.record_type() == RecordType::A));
        assert_eq!(m.queries[0].name.to_ascii(), "Any.Example.");
        assert!(m.additionals.is_empty() && m.authorities.is_empty());
        assert!(m.edns.is_some(), "the client's OPT is put back");
        // Without EDNS there is no OPT.
        let (qb, q) = query("a.example", wire::TYPE_ANY, None);
        let mut out = any_reply(
            &qb,
            vec![
                RData::TXT(TXT::new(vec!["t".into()])),
                RData::A(A::new(10, 0, 0, 1)),
            ],
            false,
        );
        minimize(&mut out, &q);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].record_type(), RecordType::TXT);
        assert!(m.edns.is_none());
    }

    #[test]
    fn leaves_small_empty_and_broken_answers_alone() {
        let (qb, q) = query("a.example", wire::TYPE_ANY, None);
        let one = any_reply(&qb, vec![RData::A(A::new(10, 0, 0, 1))], false);
        let mut out = one.clone();
        minimize(&mut out, &q);
        assert_eq!(out, one);
        let nx = nxdomain(&qb, Some((60, 60)));
        let mut out = nx.clone();
        minimize(&mut out, &q);
        assert_eq!(out, nx);
        let mut junk = vec![0u8; 5];
        minimize(&mut junk, &q);
        assert_eq!(junk, [0u8; 5]);
    }
}
