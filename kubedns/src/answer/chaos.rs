//! CHAOS-class TXT answers, as the skydns server inside legacy kube-dns gave them
//! (compat §1.8): `version.bind`/`version.server` → `"2.5.3a"`, `authors.bind` (and the
//! cluster domain itself) → the four skydns authors, `hostname.bind`/`id.server` →
//! `"localhost"`, TTL 0. Anything else in class CHAOS is SERVFAIL.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, rdata::TXT};

use super::response::Response;

/// Version string legacy kube-dns reported (the skydns fork's version).
pub const SKYDNS_VERSION: &str = "2.5.3a";
const AUTHORS: [&str; 4] = [
    "Erik St. Martin",
    "Brian Ketelsen",
    "Miek Gieben",
    "Michael Crosby",
];

/// Answer a CHAOS query. `lower` is the lowercase query name with trailing dot.
pub fn answer(qname: &Name, lower: &str, qtype: RecordType, domain: &str) -> Response {
    let txt = |values: &[&str]| {
        values
            .iter()
            .map(|v| {
                let mut r = Record::from_rdata(
                    qname.clone(),
                    0,
                    RData::TXT(TXT::new(vec![(*v).to_string()])),
                );
                r.dns_class = DNSClass::CH;
                r
            })
            .collect::<Vec<_>>()
    };
    let answers = if qtype != RecordType::TXT {
        None
    } else {
        match lower {
            "version.bind." | "version.server." => Some(txt(&[SKYDNS_VERSION])),
            "hostname.bind." | "id.server." => Some(txt(&["localhost"])),
            "authors.bind." => Some(txt(&AUTHORS)),
            d if d == domain => Some(txt(&AUTHORS)),
            _ => None,
        }
    };
    match answers {
        Some(answers) => Response {
            answers,
            ..Response::new(ResponseCode::NoError, false, false)
        },
        None => Response::new(ResponseCode::ServFail, false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, t: RecordType) -> Response {
        let n = Name::from_ascii(name).expect("name");
        answer(&n, &name.to_ascii_lowercase(), t, "cluster.local.")
    }

    #[test]
    fn chaos_names() {
        let r = q("VERSION.bind.", RecordType::TXT);
        assert_eq!(r.rcode, ResponseCode::NoError);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].ttl, 0);
        assert_eq!(r.answers[0].dns_class, DNSClass::CH);
        assert_eq!(r.answers[0].name.to_ascii(), "VERSION.bind.");
        assert_eq!(q("authors.bind.", RecordType::TXT).answers.len(), 4);
        assert_eq!(q("cluster.local.", RecordType::TXT).answers.len(), 4);
        let h = q("id.server.", RecordType::TXT);
        assert_eq!(
            h.answers[0].data,
            RData::TXT(TXT::new(vec!["localhost".into()]))
        );
        assert_eq!(
            q("hits.bind.", RecordType::TXT).rcode,
            ResponseCode::ServFail
        );
        assert_eq!(
            q("version.bind.", RecordType::A).rcode,
            ResponseCode::ServFail
        );
    }
}
