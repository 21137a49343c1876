//! Test DNS queries (behind `test-support`): the client questions the servers' unit,
//! in-process and end-to-end tests send, built with hickory-proto so that the bytes are what
//! a real stub resolver writes (RFC 1035 §4.1; the OPT record of RFC 6891 §6.1 when a payload
//! size is given). One builder for kubedns's and dnsmasq-rs's tests.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// A recursion-desired query with ID `id` for `name` (absolute or relative ASCII; panics on
/// a name hickory-proto rejects: test input) of `qtype` in `class`, advertising `edns` bytes
/// in an OPT record when given.
pub fn query_message(
    id: u16,
    name: &str,
    qtype: RecordType,
    class: DNSClass,
    edns: Option<u16>,
) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let mut q = Query::query(Name::from_ascii(name).expect("test query name"), qtype);
    q.query_class = class;
    m.add_query(q);
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

/// [`query_message`] in class IN, encoded.
pub fn query(id: u16, name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    query_message(id, name, qtype, DNSClass::IN, edns)
        .to_vec()
        .expect("encode test query")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_question_and_opt_are_as_a_stub_sends_them() {
        let q = query(0x5a5a, "www.example.com.", RecordType::AAAA, Some(1232));
        assert_eq!(&q[..2], &[0x5a, 0x5a], "ID");
        assert_eq!(q[2], 0x01, "QR=0, opcode QUERY, RD=1");
        assert_eq!(
            &q[4..12],
            &[0, 1, 0, 0, 0, 0, 0, 1],
            "1 question, 1 additional (OPT)"
        );
        let m = Message::from_vec(&q).expect("decodes");
        assert_eq!(m.queries[0].query_type(), RecordType::AAAA);
        assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(1232));
        let plain = query_message(1, "a.b.", RecordType::TXT, DNSClass::CH, None);
        assert!(plain.edns.is_none());
        assert_eq!(plain.queries[0].query_class(), DNSClass::CH);
    }
}
