//! kubedns forward and ExternalName-chase paths with adversarial upstream replies.
//! Input: byte 0 picks one of the fixed client queries that must go upstream (bit 7: TCP);
//! the rest is up to three length-prefixed upstream replies (the forwarder retries an
//! upstream SERVFAIL once; the ID of each reply is patched to the upstream query's ID).
//! Invariants as for `kubedns_query`, except that the question's case is compared
//! case-insensitively (the reply is relayed as the upstream spelled it).
#![no_main]

use std::cell::RefCell;

use fuzz_support::kubedns::{Fixture, fixture, runtime};
use fuzz_support::{check_reply_opts, client, split_len_prefixed};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use kubedns::dns::Step;
use libfuzzer_sys::fuzz_target;

/// (name, type, EDNS payload) of client queries that leave the zone.
const QUERIES: &[(&str, RecordType, Option<u16>)] = &[
    ("www.example.com.", RecordType::A, None),
    ("www.example.com.", RecordType::AAAA, Some(4096)),
    ("ext.default.svc.cluster.local.", RecordType::A, None),
    (
        "ext.default.svc.cluster.local.",
        RecordType::AAAA,
        Some(1232),
    ),
    ("1.2.0.192.in-addr.arpa.", RecordType::PTR, None),
    ("Example.ORG.", RecordType::TXT, Some(512)),
];

fn query(i: usize) -> Vec<u8> {
    let (name, t, edns) = QUERIES[i % QUERIES.len()];
    let mut m = Message::new(0x5a5a, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let Ok(n) = Name::from_ascii(name) else {
        panic!("bad fixture name {name}");
    };
    m.add_query(Query::query(n, t));
    if let Some(p) = edns {
        let mut e = Edns::new();
        e.set_max_payload(p);
        m.set_edns(e);
    }
    match m.to_vec() {
        Ok(b) => b,
        Err(e) => panic!("cannot encode fixture query: {e}"),
    }
}

struct State {
    f: Fixture,
    rt: tokio::runtime::Runtime,
    queries: Vec<Vec<u8>>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let tcp = sel & 0x80 != 0;
    let (r1, rest) = split_len_prefixed(rest);
    let (r2, r3) = split_len_prefixed(rest);
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.get_or_insert_with(|| State {
            f: fixture(true),
            rt: runtime(),
            queries: (0..QUERIES.len()).map(query).collect(),
        });
        let q = &st.queries[usize::from(sel & 0x7f) % st.queries.len()];
        st.f.transport
            .set(vec![r1.to_vec(), r2.to_vec(), r3.to_vec()]);
        let Step::Upstream(p) = st.f.shared.handle(q, client(), tcp) else {
            panic!("fixture query was answered locally");
        };
        if let Some(reply) = st.rt.block_on(st.f.shared.complete(p)) {
            // relayed as-is: the upstream's spelling of the question comes back (finding F2)
            // F1 and B2 are fixed in kubedns: no tolerance (empty list of upstream replies).
            check_reply_opts("kubedns forward", q, &reply, tcp, false, &[]);
        }
    });
});
