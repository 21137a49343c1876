//! The TCP framers of both servers (kubedns `dns::serve_stream`, dnsmasq-rs
//! `server::serve_stream`): raw bytes written as one client stream (any mix of length
//! prefixes, messages, short prefixes, truncated frames), then EOF. Time is paused, so idle
//! timeouts and upstream waits cost nothing. Invariants: no panic; the framer ends; the
//! output is a sequence of complete length-prefixed frames, each a response (QR=1) that
//! decodes; never more replies than complete input frames.
#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::server::TcpLimits;
use fuzz_support::client;
use fuzz_support::dnsmasq::{GoodUpstream, config};
use fuzz_support::kubedns::{Fixture, fixture};
use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::sync::CancellationToken;

struct State {
    kubedns: Fixture,
    rt: tokio::runtime::Runtime,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Complete frames in `input` with a length of at least a header (what a framer may answer).
fn answerable_frames(mut input: &[u8]) -> usize {
    let mut n = 0;
    while let [a, b, rest @ ..] = input {
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if len < 12 || rest.len() < len {
            break;
        }
        n += 1;
        input = &rest[len..];
    }
    n
}

fn check_output(what: &str, input: &[u8], out: &[u8]) {
    let mut rest = out;
    let mut replies = 0;
    while !rest.is_empty() {
        let [a, b, body @ ..] = rest else {
            panic!("{what}: a dangling byte at the end of the output");
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        assert!(body.len() >= len, "{what}: incomplete output frame");
        let m = &body[..len];
        assert!(
            m.len() >= 12 && m[2] & 0x80 != 0,
            "{what}: frame is not a response"
        );
        if let Err(e) = Message::from_vec(m) {
            panic!("{what}: reply does not decode: {e}");
        }
        replies += 1;
        rest = &body[len..];
    }
    let frames = answerable_frames(input);
    assert!(
        replies <= frames,
        "{what}: {replies} replies to {frames} frames"
    );
}

async fn drive(input: &[u8], mut peer: DuplexStream) -> Vec<u8> {
    // Write everything, then EOF; read concurrently so a full pipe cannot block either side.
    let (mut rd, mut wr) = tokio::io::split(&mut peer);
    let write = async {
        let _ = wr.write_all(input).await;
        let _ = wr.shutdown().await;
    };
    let mut out = Vec::new();
    let read = rd.read_to_end(&mut out);
    let _ = tokio::join!(write, read);
    out
}

fuzz_target!(|data: &[u8]| {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.get_or_insert_with(|| State {
            kubedns: fixture(true),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}")),
        });
        st.kubedns.transport.set(Vec::new());
        let shared = Arc::clone(&st.kubedns.shared);
        let out = st.rt.block_on(async {
            let (peer, srv) = tokio::io::duplex(1 << 16);
            let server = tokio::spawn(kubedns::dns::serve_stream(
                shared,
                srv,
                client(),
                CancellationToken::new(),
            ));
            let out = drive(data, peer).await;
            let _ = server.await;
            out
        });
        check_output("kubedns tcp", data, &out);

        let engine = Engine::new(config(), Arc::new(GoodUpstream));
        let out = st.rt.block_on(async {
            let (peer, srv) = tokio::io::duplex(1 << 16);
            let server = tokio::spawn(dnsmasq_rs::server::serve_stream(
                engine,
                srv,
                client(),
                TcpLimits::default(),
                CancellationToken::new(),
            ));
            let out = drive(data, peer).await;
            let _ = server.await;
            out
        });
        check_output("dnsmasq tcp", data, &out);
    });
});
