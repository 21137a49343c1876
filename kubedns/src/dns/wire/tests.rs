//! RFC 9267-style malformed-packet table and the size-cap rules.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn src() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5353))
}

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [id, flags, qd, an, ns, ar]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// `example.com.` A IN as raw bytes.
fn question() -> Vec<u8> {
    let mut q = vec![7];
    q.extend_from_slice(b"example");
    q.push(3);
    q.extend_from_slice(b"com");
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn rcode_of(i: Incoming) -> Option<ResponseCode> {
    match i {
        Incoming::Reply(m) => Some(m.metadata.response_code),
        Incoming::Query(_) => Some(ResponseCode::NoError),
        Incoming::Drop => None,
    }
}

#[test]
fn malformed_table() {
    let mut good = header(1, 0x0100, 1, 0, 0, 0);
    good.extend(question());
    assert!(matches!(classify(&good, src(), false), Incoming::Query(_)));

    // 11 bytes: dropped
    assert!(matches!(
        classify(&good[..11], src(), false),
        Incoming::Drop
    ));
    // zero bytes
    assert!(matches!(classify(&[], src(), false), Incoming::Drop));
    // QR=1: dropped (never answer a response)
    let mut resp = good.clone();
    resp[2] |= 0x80;
    assert!(matches!(classify(&resp, src(), false), Incoming::Drop));
    // opcode STATUS/UPDATE: NOTIMP
    let mut upd = good.clone();
    upd[2] |= 5 << 3;
    assert_eq!(
        rcode_of(classify(&upd, src(), false)),
        Some(ResponseCode::NotImp)
    );
    // counts larger than the data
    let mut counts = header(2, 0x0100, 3, 0, 0, 0);
    counts.extend(question());
    assert_eq!(
        rcode_of(classify(&counts, src(), false)),
        Some(ResponseCode::FormErr)
    );
    let mut an = header(2, 0x0100, 1, 2, 0, 0);
    an.extend(question());
    assert_eq!(
        rcode_of(classify(&an, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // QDCOUNT 0
    assert_eq!(
        rcode_of(classify(&header(3, 0x0100, 0, 0, 0, 0), src(), false)),
        Some(ResponseCode::FormErr)
    );
    // QDCOUNT 2 (RFC 9619)
    let mut two = header(3, 0x0100, 2, 0, 0, 0);
    two.extend(question());
    two.extend(question());
    assert_eq!(
        rcode_of(classify(&two, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // compression pointer to itself (offset 12 = C0 0C)
    let mut selfptr = header(4, 0x0100, 1, 0, 0, 0);
    selfptr.extend([0xC0, 0x0C, 0, 1, 0, 1]);
    assert_eq!(
        rcode_of(classify(&selfptr, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // two pointers to each other
    let mut mutual = header(5, 0x0100, 1, 0, 0, 0);
    mutual.extend([0xC0, 0x0E, 0xC0, 0x0C, 0, 1, 0, 1]);
    assert_eq!(
        rcode_of(classify(&mutual, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // forward pointer
    let mut fwd = header(6, 0x0100, 1, 0, 0, 0);
    fwd.extend([0xC0, 0x20, 0, 1, 0, 1]);
    assert_eq!(
        rcode_of(classify(&fwd, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // 64-byte label
    let mut long = header(7, 0x0100, 1, 0, 0, 0);
    long.push(64);
    long.extend([b'a'; 64]);
    long.extend([0, 0, 1, 0, 1]);
    assert_eq!(
        rcode_of(classify(&long, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // name longer than 255 bytes
    let mut big = header(8, 0x0100, 1, 0, 0, 0);
    for _ in 0..5 {
        big.push(60);
        big.extend([b'a'; 60]);
    }
    big.extend([0, 0, 1, 0, 1]);
    assert_eq!(
        rcode_of(classify(&big, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // truncated question
    let mut cut = header(9, 0x0100, 1, 0, 0, 0);
    cut.extend(&question()[..6]);
    assert_eq!(
        rcode_of(classify(&cut, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // bad RDLENGTH: an additional OPT record claiming 200 bytes of RDATA that are not there
    let mut rdlen = header(10, 0x0100, 1, 0, 0, 1);
    rdlen.extend(question());
    rdlen.extend([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 200, 0, 1]);
    assert_eq!(
        rcode_of(classify(&rdlen, src(), false)),
        Some(ResponseCode::FormErr)
    );
    // trailing garbage after a complete message is ignored (the question is answerable)
    let mut trailing = good.clone();
    trailing.extend([0xde, 0xad, 0xbe, 0xef]);
    assert!(matches!(
        classify(&trailing, src(), false),
        Incoming::Query(_)
    ));
    // a lone header with random flags but no question
    assert_eq!(
        rcode_of(classify(&header(11, 0x01ff, 0, 0, 0, 0), src(), false)),
        Some(ResponseCode::FormErr)
    );
    // error replies echo the ID
    let Incoming::Reply(m) = classify(&cut, src(), false) else {
        panic!("reply")
    };
    assert_eq!(m.metadata.id, 9);
    assert_eq!(m.metadata.message_type, MessageType::Response);
}

#[test]
fn edns_version_and_payload() {
    let mut m = Message::new(10, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("example.com.").expect("n"),
        RecordType::A,
    ));
    let mut e = Edns::new();
    e.set_version(1);
    m.set_edns(e);
    let Incoming::Reply(r) = classify(&m.to_vec().expect("enc"), src(), false) else {
        panic!("badvers")
    };
    assert_eq!(u16::from(r.metadata.response_code), 16);
    assert!(r.edns.is_some());
    // encoded BADVERS carries the extended rcode in OPT
    let bytes = r.to_vec().expect("enc");
    let back = Message::from_vec(&bytes).expect("dec");
    assert_eq!(
        u16::from(back.metadata.response_code),
        16,
        "BADVERS (16) via the OPT extended rcode"
    );

    for (adv, want) in [
        (None, 512),
        (Some(4096), 1232),
        (Some(100), 512),
        (Some(800), 800),
    ] {
        let mut m = Message::new(11, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii("example.com.").expect("n"),
            RecordType::A,
        ));
        if let Some(a) = adv {
            let mut e = Edns::new();
            e.set_max_payload(a);
            m.set_edns(e);
        }
        let Incoming::Query(q) = classify(&m.to_vec().expect("enc"), src(), false) else {
            panic!("query")
        };
        assert_eq!(q.udp_limit(1232), want, "{adv:?}");
    }
}

fn big_response(n: usize) -> Message {
    let name = Name::from_ascii("hl.default.svc.cluster.local.").expect("n");
    let mut m = Message::new(1, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(name.clone(), RecordType::A));
    for i in 0..n {
        m.add_answer(Record::from_rdata(
            name.clone(),
            30,
            RData::A(A([10, 0, (i / 256) as u8, (i % 256) as u8].into())),
        ));
        m.add_additional(Record::from_rdata(
            name.clone(),
            30,
            RData::A(A([10, 1, 0, 1].into())),
        ));
    }
    m
}

#[test]
fn do_bit_copied() {
    let mut req = Edns::new();
    req.set_dnssec_ok(true);
    req.set_max_payload(4096);
    let e = response_edns(&req, 1232);
    assert!(e.flags().dnssec_ok);
    assert_eq!(e.max_payload(), 1232);
    assert!(!response_edns(&Edns::new(), 1232).flags().dnssec_ok);
}

#[test]
fn caps_and_truncation() {
    let e = encode_capped(big_response(100), 512).expect("enc");
    assert!(e.bytes.len() <= 512 && e.truncated);
    let back = Message::from_vec(&e.bytes).expect("dec");
    assert!(back.metadata.truncation);
    assert!(back.additionals.is_empty());
    assert_eq!(
        back.answers.len(),
        29,
        "legacy also fitted 29 A records in 511 bytes"
    );
    let e = encode_capped(big_response(100), 1232).expect("enc");
    assert!(e.bytes.len() <= 1232 && e.truncated);
    let fitted = Message::from_vec(&e.bytes).expect("dec").answers;
    // thousands of answers (a big headless Service): the same largest prefix fits
    let e = encode_capped(big_response(5000), 1232).expect("enc");
    assert!(e.bytes.len() <= 1232 && e.truncated);
    assert_eq!(Message::from_vec(&e.bytes).expect("dec").answers, fitted);
    let e = encode_capped(big_response(100), TCP_LIMIT).expect("enc");
    assert!(!e.truncated);
    assert_eq!(Message::from_vec(&e.bytes).expect("dec").answers.len(), 100);
    // additionals dropped alone do not set TC
    let e = encode_capped(big_response(20), 512).expect("enc");
    let back = Message::from_vec(&e.bytes).expect("dec");
    assert_eq!(
        (back.answers.len(), back.additionals.len(), e.truncated),
        (20, 0, false)
    );
    // > 64 KiB over TCP → SERVFAIL
    let e = encode_capped(big_response(5000), TCP_LIMIT).expect("enc");
    assert_eq!(e.rcode, ResponseCode::ServFail);
}

/// `n` address answers owned by the question name (the compact-encoding case), with EDNS.
fn address_response(n: usize, qtype: RecordType) -> Message {
    let name = Name::from_ascii("Big.Default.svc.cluster.local.").expect("n");
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = true;
    m.add_query(Query::query(name.clone(), qtype));
    for i in 0..n {
        let data = match qtype {
            RecordType::A => RData::A(A([10, 0, (i / 256) as u8, (i % 256) as u8].into())),
            _ => RData::AAAA(hickory_proto::rr::rdata::AAAA(
                [0xfd00, 0, 0, 0, 0, 0, (i / 256) as u16, (i % 256) as u16].into(),
            )),
        };
        m.add_answer(Record::from_rdata(name.clone(), 30, data));
    }
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.set_edns(e);
    m
}

#[test]
fn compact_answers_match_hickory_and_fit_as_many_as_legacy() {
    for qtype in [RecordType::A, RecordType::AAAA] {
        for n in [1, 29, 100, 119, 120, 121, 1000] {
            let m = address_response(n, qtype);
            let e = encode_capped(m.clone(), TCP_LIMIT).expect("enc");
            assert!(!e.truncated);
            if n <= 100 {
                // hickory compresses the first 120 names the same way: identical bytes
                assert_eq!(e.bytes, m.to_vec().expect("enc"), "{qtype} n={n}");
            }
            let back = Message::from_vec(&e.bytes).expect("dec");
            assert_eq!(back.answers, m.answers, "{qtype} n={n}");
            assert_eq!(back.queries, m.queries);
            assert_eq!(back.metadata.id, 7);
            assert!(back.metadata.authoritative && !back.metadata.truncation);
            assert_eq!(back.edns.map(|e| e.max_payload()), Some(1232));
            // every owner is a 2-byte pointer to the question (hickory: only the first 120)
            let per = if qtype == RecordType::A { 16 } else { 28 };
            assert!(e.bytes.len() <= m.to_vec().expect("enc").len());
            assert_eq!(e.bytes.len(), 12 + 35 + n * per + 11, "{qtype} n={n}");
        }
    }
    // about 4000 endpoint addresses fit in one TCP message, as with legacy kube-dns
    let e = encode_capped(address_response(4000, RecordType::A), TCP_LIMIT).expect("enc");
    assert_eq!(
        Message::from_vec(&e.bytes).expect("dec").answers.len(),
        4000
    );
    let e = encode_capped(address_response(4200, RecordType::A), TCP_LIMIT).expect("enc");
    assert_eq!(e.rcode, ResponseCode::ServFail);
    // UDP: the largest prefix with TC, the same count as the general path
    for limit in [512, 1232] {
        let e = encode_capped(address_response(1000, RecordType::A), limit).expect("enc");
        let back = Message::from_vec(&e.bytes).expect("dec");
        assert!(e.truncated && back.metadata.truncation && e.bytes.len() <= limit);
        let mut general = address_response(1000, RecordType::A);
        general.add_additional(Record::from_rdata(
            Name::root(),
            0,
            RData::A(A([1, 1, 1, 1].into())),
        ));
        let g = encode_capped(general, limit).expect("enc");
        let g = Message::from_vec(&g.bytes).expect("dec");
        assert_eq!(back.answers, g.answers, "limit {limit}");
    }
}

/// `SRV <headless>` for `n` endpoints without hostnames: one SRV per endpoint (hash-label
/// target, not compressed: RFC 2782), each target's A record in the additional section.
fn srv_response(n: usize) -> Message {
    let owner = Name::from_ascii("_http._tcp.big.cmp.svc.cluster.local.").expect("n");
    let mut m = Message::new(1, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(owner.clone(), RecordType::SRV));
    for i in 0..n {
        let target = Name::from_ascii(format!(
            "{:016x}.big.cmp.svc.cluster.local.",
            0x3130_0000_0000_0000u64 + i as u64
        ))
        .expect("t");
        m.add_answer(Record::from_rdata(
            owner.clone(),
            30,
            RData::SRV(hickory_proto::rr::rdata::SRV::new(
                10,
                0,
                80,
                target.clone(),
            )),
        ));
        m.add_additional(Record::from_rdata(
            target,
            30,
            RData::A(A([10, 250, (i / 250) as u8, (i % 250) as u8].into())),
        ));
    }
    m
}

#[test]
fn srv_answers_of_1000_endpoints_fit_over_tcp_without_additionals() {
    // found by the legacy comparison (integration/tests/legacy_compare.rs): hickory compresses
    // only 120 names, so 1000 SRV records took more than 64 KiB and the reply was SERVFAIL,
    // where legacy kube-dns answered
    let full = srv_response(1000);
    let e = encode_capped(full.clone(), TCP_LIMIT).expect("enc");
    assert_eq!((e.rcode, e.truncated), (ResponseCode::NoError, false));
    let back = Message::from_vec(&e.bytes).expect("dec");
    assert_eq!(back.answers, full.answers, "every SRV record, in order");
    assert!(
        back.additionals.is_empty(),
        "additional section dropped, no TC (RFC 2181 §9)"
    );
    assert!(e.bytes.len() <= 1000 * 62 + 60, "{} bytes", e.bytes.len());
    // a small SRV reply keeps its additional section
    let e = encode_capped(srv_response(5), TCP_LIMIT).expect("enc");
    assert_eq!(
        Message::from_vec(&e.bytes).expect("dec").additionals.len(),
        5
    );
    // over UDP: the largest prefix with TC
    let e = encode_capped(srv_response(1000), 1232).expect("enc");
    let back = Message::from_vec(&e.bytes).expect("dec");
    assert!(
        e.truncated && e.bytes.len() <= 1232,
        "{} bytes",
        e.bytes.len()
    );
    assert_eq!(back.answers.len(), 19, "(1232 - 54) / 62 records");
    assert_eq!(back.answers[..], full.answers[..19]);
    // past 64 KiB even without additionals: SERVFAIL as for every over-size TCP reply
    let e = encode_capped(srv_response(1100), TCP_LIMIT).expect("enc");
    assert_eq!(e.rcode, ResponseCode::ServFail);
}
