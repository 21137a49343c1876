//! dnsmasq-rs upstream reply handling: acceptance (RFC 5452 matching), validation, TTL
//! clamping, negative caching, TC → TCP retry, caching, then a cache hit for a client with a
//! different ID and case. Input: byte 0 picks a fixed client query; then a length-prefixed
//! UDP reply; the rest (if any) is the TCP reply (IDs are patched to the upstream query's, so
//! only the content is fuzzed). Bit 6 of byte 0 runs the engine with `--dns-0x20=fallback
//! --minimal-any` (a reply that does not echo the random case → the TCP reply; ANY over UDP
//! cut to its first RRset), and the case-restoring rewrite runs on the raw UDP reply.
//! Invariants as for `dnsmasq_query` (including: the second client gets its own ID and its
//! own spelling of the name back).
#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use dnsmasq_rs::config::Config;
use dnsmasq_rs::engine::Engine;
use serverkit::upstream::wire::{randomize_case, restore_case};
use dnsmasq_rs::wire;
use fuzz_support::dnsmasq::{ReplayUpstream, config, config_with};
use fuzz_support::kubedns::runtime;
use fuzz_support::{check_reply_opts, client, split_len_prefixed};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

/// (name, type, EDNS payload, DO) of client queries routed to the upstream.
const QUERIES: &[(&str, RecordType, Option<u16>, bool)] = &[
    ("www.example.com.", RecordType::A, None, false),
    ("www.example.com.", RecordType::AAAA, Some(4096), true),
    ("nx.example.com.", RecordType::A, Some(1232), false),
    (
        "kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
        None,
        false,
    ),
    ("example.org.", RecordType::TXT, Some(512), false),
    ("example.org.", RecordType::ANY, None, false),
];

fn query(i: usize, id: u16, upper: bool) -> Vec<u8> {
    let (name, t, edns, dnssec_ok) = QUERIES[i % QUERIES.len()];
    let name = if upper {
        name.to_ascii_uppercase()
    } else {
        name.to_string()
    };
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let Ok(n) = Name::from_ascii(&name) else {
        panic!("bad fixture name {name}");
    };
    m.add_query(Query::query(n, t));
    if let Some(p) = edns {
        let mut e = Edns::new();
        e.set_max_payload(p);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    match m.to_vec() {
        Ok(b) => b,
        Err(e) => panic!("cannot encode fixture query: {e}"),
    }
}

struct State {
    cfg: Config,
    hardened: Config,
    rt: tokio::runtime::Runtime,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (udp_reply, tcp_reply) = split_len_prefixed(rest);
    let i = usize::from(sel);
    let first = query(i, 0x1111, false);
    let second = query(i, 0x2222, true);
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.get_or_insert_with(|| State {
            cfg: config(),
            hardened: config_with("--dns-0x20=fallback --minimal-any"),
            rt: runtime(),
        });
        // The 0x20 case restore on untrusted bytes: same length, never a panic.
        if let wire::Parsed::Query(q) = wire::parse_query(&first) {
            let mut bits = udp_reply
                .iter()
                .flat_map(|b| (0..8).map(move |i| b >> i & 1 == 1));
            let sent = randomize_case(q.name_wire(), &mut || bits.next().unwrap_or(false));
            let mut copy = udp_reply.to_vec();
            restore_case(&mut copy, q.name_wire(), Some(&sent));
            assert_eq!(
                copy.len(),
                udp_reply.len(),
                "restore_case changed the length"
            );
        }
        let cfg = if sel & 0x40 != 0 {
            &st.hardened
        } else {
            &st.cfg
        };
        let transport = Arc::new(ReplayUpstream::default());
        transport.set(udp_reply, (!tcp_reply.is_empty()).then_some(tcp_reply));
        let engine = Engine::new(cfg.clone(), transport.clone());
        let mut out = Vec::new();
        if st
            .rt
            .block_on(engine.handle(&first, client(), true, &mut out))
        {
            // F1 is fixed in dnsmasq-rs: no tolerance (empty list of upstream replies).
            check_reply_opts("dnsmasq forward", &first, &out, false, true, &[]);
        }
        // Upstream now silent: a second client is served from the cache or gets SERVFAIL.
        transport.set(&[], None);
        out.clear();
        if st
            .rt
            .block_on(engine.handle(&second, client(), true, &mut out))
        {
            check_reply_opts("dnsmasq cached", &second, &out, false, true, &[]);
        }
    });
});
