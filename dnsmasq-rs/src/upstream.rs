//! dnsmasq-rs's side of the shared upstream client ([`serverkit::upstream`]): the query
//! sent for a [`QueryInfo`] (lowercase name, RD=1, the client's CD and DO, EDNS payload
//! [`wire::UDP_EDNS_CAP`]), the [`Options`] of this forwarder (SERVFAIL and REFUSED move on
//! to the next server and a server answering only those has failed: the engine then answers
//! its own SERVFAIL, as dnsmasq does), the [`EngineObserver`] that feeds the statistics,
//! server health and debug logs, and [`resolve_a`] for stub nameserver names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serverkit::upstream::{
    self as sk, Client, EdnsOpt, Observer, Options, Query, QueryFlags, Question, RcodePolicy,
    TcpRetry, Unwanted,
};
pub use serverkit::upstream::{CaseMode, RealTransport, Transport, UdpChannel};

use crate::health::ServerHealth;
use crate::stats::Stats;
use crate::wire::{self, QueryInfo};

/// Largest upstream UDP reply read.
pub const MAX_UDP_REPLY: usize = 4096;
/// Per-try deadline of the stub nameserver name lookup.
pub const RESOLVE_A_TIMEOUT: Duration = Duration::from_secs(2);

/// The client options for a per-try `timeout` and the `--dns-0x20` mode.
pub fn options(timeout: Duration, case: CaseMode) -> Options {
    Options {
        attempt_timeout: timeout,
        case,
        rcode: RcodePolicy::FAILOVER_THEN_FAIL,
        max_udp_reply: MAX_UDP_REPLY,
    }
}

/// The upstream query for `q` (over UDP first).
pub fn query(q: &QueryInfo) -> Query {
    Query {
        question: Question {
            name: q.name_wire().to_vec(),
            qtype: q.qtype,
            qclass: q.qclass,
        },
        flags: QueryFlags {
            rd: true,
            cd: q.cd,
            edns: Some(EdnsOpt {
                payload: wire::UDP_EDNS_CAP as u16,
                dnssec_ok: q.dnssec_ok(),
            }),
        },
        tcp: false,
    }
}

/// Statistics, server health and debug logs of upstream tries.
pub struct EngineObserver<'a> {
    pub stats: &'a Stats,
    /// `None` for tries that do not rate servers (loop probes, name lookups).
    pub health: Option<&'a ServerHealth>,
}

impl Observer for EngineObserver<'_> {
    fn attempt(&self, server: SocketAddr) {
        self.stats.server_query(server);
    }
    fn query_sent(&self, _server: SocketAddr) {
        self.stats.upstream_queries.inc();
    }
    fn unwanted(&self, server: SocketAddr, from: SocketAddr, why: Unwanted) {
        if why == Unwanted::CaseMismatch {
            self.stats.case_mismatches.inc();
        }
        self.stats.unwanted_replies.inc();
        tracing::debug!(%server, %from, %why, "ignoring unwanted upstream reply");
    }
    fn tcp_retry(&self, server: SocketAddr, why: TcpRetry) {
        match why {
            TcpRetry::Truncated => {
                self.stats.tcp_fallbacks.inc();
            }
            TcpRetry::CaseNotEchoed => {
                self.stats.case_mismatches.inc();
                tracing::debug!(%server, "upstream did not echo the 0x20 case; retrying over TCP");
            }
        }
    }
    fn failed(&self, server: SocketAddr, failure: &str) {
        tracing::debug!(%server, %failure, "upstream try failed");
        self.stats.server_failed(server);
        if let Some(h) = self.health {
            h.failed(server);
        }
    }
    fn succeeded(&self, server: SocketAddr) {
        if let Some(h) = self.health {
            h.succeeded(server);
        }
    }
}

/// Resolves `name` to its first A/AAAA address by asking `server` (used for stub nameserver
/// names under `cluster.local`, sent to `-kubednsServer`).
pub async fn resolve_a(
    transport: std::sync::Arc<dyn Transport>,
    server: SocketAddr,
    name: &str,
) -> Option<IpAddr> {
    let wire_name = wire::string_to_wire_name(name)?;
    let mut q = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(&wire_name);
    q.extend_from_slice(&wire::TYPE_A.to_be_bytes());
    q.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
    let wire::Parsed::Query(info) = wire::parse_query(&q) else {
        return None;
    };
    let client = Client::new(transport, options(RESOLVE_A_TIMEOUT, CaseMode::Off));
    let stats = Stats::default();
    let obs = EngineObserver {
        stats: &stats,
        health: None,
    };
    let got: sk::Exchanged = client.exchange(server, &query(&info), &obs).await.ok()?;
    let reply = got.reply;
    let s = wire::walk(&reply).ok()?;
    s.answers.iter().find_map(|rr| match rr.rtype {
        wire::TYPE_A => {
            let b = reply.get(rr.rdata..rr.rdata + 4)?;
            Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        }
        wire::TYPE_AAAA => {
            let b: [u8; 16] = reply.get(rr.rdata..rr.rdata + 16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    })
}
