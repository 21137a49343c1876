//! kubedns query path: raw client bytes → `Shared::handle` (the function the UDP and TCP
//! loops call) → reply bytes, over UDP and TCP, against a synced and an unsynced store.
//! Queries that need an upstream are completed with an upstream that never answers (UDP:
//! also the overload path). Invariants: no panic; a reply has the query's ID, QR=1, fits the
//! transport's size cap and decodes.
#![no_main]

use std::cell::RefCell;

use fuzz_support::kubedns::{Fixture, fixture, runtime};
use fuzz_support::{check_reply, client};
use kubedns::dns::Step;
use libfuzzer_sys::fuzz_target;

struct State {
    synced: Fixture,
    unsynced: Fixture,
    rt: tokio::runtime::Runtime,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn run(f: &Fixture, rt: &tokio::runtime::Runtime, data: &[u8], tcp: bool, what: &str) {
    f.transport.set(Vec::new());
    let reply = match f.shared.handle(data, client(), tcp) {
        Step::Done(r) => r,
        Step::Upstream(p) => {
            if tcp {
                rt.block_on(f.shared.complete(p))
            } else {
                // the UDP loop's two outcomes: a forward permit (completion) or overload
                let again = f.shared.handle(data, client(), tcp);
                if let Step::Upstream(p2) = again {
                    if let Some(r) = f.shared.overloaded(p2) {
                        check_reply(&format!("{what} overloaded"), data, &r, tcp);
                    }
                } else {
                    panic!("{what}: the same query dispatched differently twice");
                }
                rt.block_on(f.shared.complete(p))
            }
        }
    };
    if let Some(r) = reply {
        check_reply(what, data, &r, tcp);
    }
}

fuzz_target!(|data: &[u8]| {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.get_or_insert_with(|| State {
            synced: fixture(true),
            unsynced: fixture(false),
            rt: runtime(),
        });
        run(&st.synced, &st.rt, data, false, "kubedns udp");
        run(&st.synced, &st.rt, data, true, "kubedns tcp");
        run(&st.unsynced, &st.rt, data, false, "kubedns udp (unsynced)");
    });
});
