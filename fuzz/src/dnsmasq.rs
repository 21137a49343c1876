//! dnsmasq-rs fixture: a configuration with every local-answer kind (`--address`, `--local`,
//! `--host-record`, a cluster stub server, a default server) and two fake upstream
//! transports: [`GoodUpstream`] answers every forwarded query correctly (so the miss path,
//! caching and cache hits run on valid data), [`ReplayUpstream`] replays fuzz-chosen UDP and
//! TCP replies (ID patched to the upstream query's ID, so only the content is fuzzed).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dnsmasq_rs::config::Config;
use dnsmasq_rs::flags;
use dnsmasq_rs::upstream::{Transport, UdpChannel};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Default upstream (`--server=127.0.0.1#10053` style address of the fake).
pub const UPSTREAM: &str = "127.0.0.1:10053";

/// Arguments of the fixture configuration.
pub const ARGS: &str = "--no-resolv --no-hosts --cache-size=1000 --dns-forward-max=150 \
     --server=127.0.0.1#10053 --server=/cluster.local/127.0.0.1#10053 \
     --address=/blocked.test/10.9.9.9 --address=/blocked.test/::9 --local=/local.test/ \
     --host-record=host.test,192.0.2.7,2001:db8::7 --neg-ttl=5 --max-ttl=300";

fn no_fs(_: &std::path::Path) -> io::Result<String> {
    Err(io::Error::other("no file system in the fuzz fixture"))
}

/// The fixture configuration.
pub fn config() -> Config {
    config_with("")
}

/// The fixture configuration plus `extra` options (e.g. `--dns-0x20 --minimal-any`).
pub fn config_with(extra: &str) -> Config {
    let args: Vec<String> = ARGS
        .split_whitespace()
        .chain(extra.split_whitespace())
        .map(String::from)
        .collect();
    let o = match flags::parse_dnsmasq(&args, &no_fs, None) {
        Ok(o) => o,
        Err(e) => panic!("fixture flags do not parse: {e}"),
    };
    match Config::build(&o, &no_fs) {
        Ok((c, _)) => c,
        Err(e) => panic!("fixture config does not build: {e}"),
    }
}

/// A correct upstream answer to `query` (A/AAAA data, NXDOMAIN with SOA for names starting
/// with `nx`, NODATA with SOA otherwise), or `None` if the query does not decode.
pub fn good_answer(query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let question = q.queries.first()?.clone();
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.add_query(question.clone());
    let name = question.name().clone();
    let first = name.iter().next().map(|l| l.to_ascii_lowercase());
    let nx = first.is_some_and(|l| l.starts_with(b"nx"));
    let soa = || {
        let zone = Name::from_ascii("example.").unwrap_or_else(|_| Name::root());
        Record::from_rdata(
            zone,
            60,
            RData::SOA(SOA::new(
                Name::from_ascii("ns.example.").unwrap_or_else(|_| Name::root()),
                Name::from_ascii("hostmaster.example.").unwrap_or_else(|_| Name::root()),
                1,
                3600,
                600,
                86400,
                30,
            )),
        )
    };
    if nx {
        m.metadata.response_code = ResponseCode::NXDomain;
        m.add_authority(soa());
    } else {
        match question.query_type() {
            RecordType::A => {
                m.add_answer(Record::from_rdata(
                    name.clone(),
                    120,
                    RData::A(A::new(192, 0, 2, 1)),
                ));
                m.add_answer(Record::from_rdata(
                    name,
                    120,
                    RData::A(A::new(192, 0, 2, 2)),
                ));
            }
            RecordType::AAAA => {
                m.add_answer(Record::from_rdata(
                    name,
                    120,
                    RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                ));
            }
            _ => {
                m.add_authority(soa());
            }
        }
    }
    if let Some(e) = q.edns {
        let mut out = hickory_proto::op::Edns::new();
        out.set_max_payload(1232);
        out.set_dnssec_ok(e.flags().dnssec_ok);
        m.set_edns(out);
    }
    m.to_vec().ok()
}

/// How one fake UDP channel answers.
enum Mode {
    Good,
    Replay(Option<Vec<u8>>),
}

struct FakeUdp {
    server: SocketAddr,
    mode: Mode,
    sent: Option<Vec<u8>>,
    handed_out: Option<Arc<Mutex<Vec<Vec<u8>>>>>,
}

fn record(handed_out: &Mutex<Vec<Vec<u8>>>, reply: &[u8]) {
    if let Ok(mut h) = handed_out.lock() {
        h.push(reply.to_vec());
    }
}

#[async_trait]
impl UdpChannel for FakeUdp {
    async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.sent = Some(buf.to_vec());
        Ok(())
    }
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let sent = self.sent.take().unwrap_or_default();
        let reply = match &mut self.mode {
            Mode::Good => good_answer(&sent),
            Mode::Replay(r) => r.take().map(|mut r| {
                if r.len() >= 2 && sent.len() >= 2 {
                    r[..2].copy_from_slice(&sent[..2]);
                }
                r
            }),
        };
        // Nothing (more) to deliver: the channel fails, the try ends at once.
        let reply = reply.ok_or_else(|| io::Error::other("fake upstream: no reply"))?;
        if let Some(h) = &self.handed_out {
            record(h, &reply);
        }
        let n = reply.len().min(buf.len());
        buf[..n].copy_from_slice(&reply[..n]);
        Ok((n, self.server))
    }
}

/// Upstream that answers every query correctly (UDP and TCP).
#[derive(Debug, Default)]
pub struct GoodUpstream;

#[async_trait]
impl Transport for GoodUpstream {
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        Ok(Box::new(FakeUdp {
            server,
            mode: Mode::Good,
            sent: None,
            handed_out: None,
        }))
    }
    async fn tcp(&self, _server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        good_answer(query).ok_or_else(|| io::Error::other("undecodable query"))
    }
}

/// Upstream that replays one fuzz-chosen UDP reply per channel and one TCP reply.
#[derive(Debug, Default)]
pub struct ReplayUpstream {
    udp: Mutex<Vec<u8>>,
    tcp: Mutex<Option<Vec<u8>>>,
    handed_out: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ReplayUpstream {
    /// Set the replies for the next query.
    pub fn set(&self, udp: &[u8], tcp: Option<&[u8]>) {
        if let Ok(mut u) = self.udp.lock() {
            *u = udp.to_vec();
        }
        if let Ok(mut t) = self.tcp.lock() {
            *t = tcp.map(<[u8]>::to_vec);
        }
    }

    /// Every reply handed out so far (after the ID patch).
    pub fn handed_out(&self) -> Vec<Vec<u8>> {
        self.handed_out
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Transport for ReplayUpstream {
    async fn udp(&self, server: SocketAddr) -> io::Result<Box<dyn UdpChannel>> {
        let reply = self.udp.lock().map(|u| u.clone()).unwrap_or_default();
        Ok(Box::new(FakeUdp {
            server,
            mode: Mode::Replay(Some(reply)),
            sent: None,
            handed_out: Some(Arc::clone(&self.handed_out)),
        }))
    }
    async fn tcp(&self, _server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
        let reply = self.tcp.lock().ok().and_then(|t| t.clone());
        let mut reply = reply.ok_or_else(|| io::Error::from(io::ErrorKind::ConnectionRefused))?;
        if reply.len() >= 2 && query.len() >= 2 {
            reply[..2].copy_from_slice(&query[..2]);
        }
        record(&self.handed_out, &reply);
        Ok(reply)
    }
}

/// The upstream address as a socket address.
pub fn upstream() -> SocketAddr {
    UPSTREAM
        .parse()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 10053))
}
