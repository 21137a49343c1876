//! Tests of the upstream client, by part: [`acceptance`] (reply acceptance table, query
//! layout, 0x20 spelling and restore), [`client`] (the whole client against the scripted
//! [`FnTransport`] with paused time: spoofs ignored, deadlines, TC→TCP, 0x20 modes, failover
//! and the rcode policy) and [`real_sockets`]. Shared here: message builders and an
//! [`Observer`] that records what it is told.

mod acceptance;
mod client;
mod real_sockets;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::fake::FnTransport;
use super::wire::*;
use super::*;

const A: u16 = 1;
const AAAA: u16 = 28;
const IN: u16 = 1;
const TIMEOUT: Duration = Duration::from_millis(500);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// `www.example.com` in the spelling given.
fn name(spelling: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in spelling.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

fn question(spelling: &str, qtype: u16) -> Question {
    Question {
        name: name(spelling),
        qtype,
        qclass: IN,
    }
}

fn udp_query(q: Question) -> Query {
    Query {
        question: q,
        flags: QueryFlags {
            rd: true,
            cd: false,
            edns: None,
        },
        tcp: false,
    }
}

/// A reply to `query`: same ID and question bytes, `rcode`, `tc`, one A record whose owner
/// is the question name written out in full as `owner` (or compressed to it when `None`).
fn reply(query: &[u8], rcode: u8, tc: bool, owner: Option<&[u8]>) -> Vec<u8> {
    let end = HEADER_LEN + name_len(query, HEADER_LEN).expect("name") + 4;
    let mut r = query[..end].to_vec();
    r[2] = 0x81 | if tc { 0x02 } else { 0 };
    r[3] = 0x80 | rcode;
    r[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
    r.extend_from_slice(owner.unwrap_or(&[0xC0, 0x0C]));
    r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    r
}

/// The same message with another ID.
fn with_id(mut msg: Vec<u8>, id: u16) -> Vec<u8> {
    msg[..2].copy_from_slice(&id.to_be_bytes());
    msg
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

impl Observer for Recorder {
    fn attempt(&self, s: SocketAddr) {
        self.0.lock().expect("lock").push(format!("attempt {s}"));
    }
    fn unwanted(&self, _: SocketAddr, _: SocketAddr, why: Unwanted) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("unwanted {why:?}"));
    }
    fn tcp_retry(&self, _: SocketAddr, why: TcpRetry) {
        self.0.lock().expect("lock").push(format!("tcp {why:?}"));
    }
    fn failed(&self, s: SocketAddr, failure: &str) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("failed {s} {failure}"));
    }
    fn succeeded(&self, s: SocketAddr) {
        self.0.lock().expect("lock").push(format!("ok {s}"));
    }
}

fn client(t: FnTransport, case: CaseMode, rcode: RcodePolicy) -> (Client, Arc<FnTransport>) {
    let t = Arc::new(t);
    let opts = Options {
        attempt_timeout: TIMEOUT,
        case,
        rcode,
        ..Options::default()
    };
    (Client::new(t.clone(), opts), t)
}
