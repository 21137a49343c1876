//! Message builders for tests (unit, scenario harness and end-to-end), built with hickory-proto.
//! Compiled only for this crate's unit tests and with the `test-support` feature (which the
//! integration tests enable through a dev-dependency on this crate); never in the binary.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::wire::{self, Parsed, QueryInfo};

/// A client query (ID 0x1234, RD) and its parsed form.
pub fn query(name: &str, qtype: u16, edns: Option<u16>) -> (Vec<u8>, QueryInfo) {
    query_id(name, qtype, edns, 0x1234)
}

/// A client query with a chosen ID.
pub fn query_id(name: &str, qtype: u16, edns: Option<u16>, id: u16) -> (Vec<u8>, QueryInfo) {
    let bytes = query_bytes(name, qtype, DNSClass::IN, edns, id);
    match wire::parse_query(&bytes) {
        Parsed::Query(q) => (bytes, q),
        other => panic!("test query did not parse: {other:?}"),
    }
}

/// Raw query bytes ([`serverkit::testkit::query_message`]).
pub fn query_bytes(name: &str, qtype: u16, class: DNSClass, edns: Option<u16>, id: u16) -> Vec<u8> {
    serverkit::testkit::query_message(id, name, RecordType::from(qtype), class, edns)
        .to_vec()
        .expect("encode query")
}

fn response_to(query: &[u8]) -> Message {
    let q = Message::from_vec(query).expect("query decodes");
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.add_queries(q.queries.clone());
    if q.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m
}

/// An A answer to `query`; `with_opt` adds an OPT record even if the query had none.
pub fn answer_a(query: &[u8], records: &[(&str, u32, [u8; 4])], with_opt: bool) -> Vec<u8> {
    let mut m = response_to(query);
    for (name, ttl, ip) in records {
        m.add_answer(Record::from_rdata(
            Name::from_ascii(name).expect("name"),
            *ttl,
            RData::A(A(Ipv4Addr::from(*ip))),
        ));
    }
    if with_opt && m.edns.is_none() {
        m.set_edns(Edns::new());
    }
    m.to_vec().expect("encode answer")
}

/// Like [`answer_a`] plus extra records in the additional section.
pub fn answer_with_additional(
    query: &[u8],
    answer: (&str, u32, [u8; 4]),
    extra: (&str, u32, [u8; 4]),
) -> Vec<u8> {
    let mut m = Message::from_vec(&answer_a(query, &[answer], false)).expect("decode");
    m.add_additional(Record::from_rdata(
        Name::from_ascii(extra.0).expect("name"),
        extra.1,
        RData::A(A(Ipv4Addr::from(extra.2))),
    ));
    m.to_vec().expect("encode")
}

/// NXDOMAIN to `query`, with an SOA (ttl, minimum) in the authority section if given.
pub fn nxdomain(query: &[u8], soa: Option<(u32, u32)>) -> Vec<u8> {
    let mut m = response_to(query);
    m.metadata.response_code = ResponseCode::NXDomain;
    if let Some((ttl, minimum)) = soa {
        let zone = Name::from_ascii("example.").expect("name");
        m.add_authority(Record::from_rdata(
            zone.clone(),
            ttl,
            RData::SOA(SOA::new(
                Name::from_ascii("ns.example.").expect("name"),
                Name::from_ascii("hostmaster.example.").expect("name"),
                1,
                3600,
                600,
                86400,
                minimum,
            )),
        ));
    }
    m.to_vec().expect("encode nxdomain")
}

/// TTL of the first answer record.
pub fn first_answer_ttl(msg: &[u8]) -> u32 {
    Message::from_vec(msg).expect("decode").answers[0].ttl
}

/// Rcode of a message.
pub fn rcode(msg: &[u8]) -> u8 {
    msg.get(3).map_or(255, |b| b & 0x0F)
}

/// IPv4 addresses in the answer section.
pub fn answer_ips(msg: &[u8]) -> Vec<Ipv4Addr> {
    Message::from_vec(msg)
        .map(|m| {
            m.answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// TXT strings of the answer section.
pub fn answer_txt(msg: &[u8]) -> Vec<String> {
    Message::from_vec(msg)
        .map(|m| {
            m.answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|d| String::from_utf8_lossy(d).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}
