//! dnsmasq-rs query path: raw client bytes → `Engine::handle` (local answers: hosts,
//! `--address`, `--local`, CHAOS; otherwise the miss path against an upstream that answers
//! correctly, which fills the cache) → reply; then the same bytes again (now the cache-hit
//! path) and over TCP. A fresh engine per input keeps runs reproducible. Invariants: no
//! panic; a reply has the query's ID, QR=1, fits the size cap and decodes.
#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use dnsmasq_rs::config::Config;
use dnsmasq_rs::engine::Engine;
use fuzz_support::dnsmasq::{GoodUpstream, config};
use fuzz_support::kubedns::runtime;
use fuzz_support::{check_reply, client};
use libfuzzer_sys::fuzz_target;

struct State {
    cfg: Config,
    rt: tokio::runtime::Runtime,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.get_or_insert_with(|| State {
            cfg: config(),
            rt: runtime(),
        });
        let engine = Engine::new(st.cfg.clone(), Arc::new(GoodUpstream));
        let mut out = Vec::new();
        for (udp, what) in [
            (true, "dnsmasq udp (miss)"),
            (true, "dnsmasq udp (hit)"),
            (false, "dnsmasq tcp"),
        ] {
            out.clear();
            if st.rt.block_on(engine.handle(data, client(), udp, &mut out)) {
                check_reply(what, data, &out, !udp);
            }
        }
    });
});
