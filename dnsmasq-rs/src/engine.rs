//! The request pipeline shared by the UDP and TCP servers, in order:
//! cheap rejections → `--allow-from` (REFUSED; malformed packets from outside are dropped,
//! B4 row 14) → FORMERR/NOTIMP/BADVERS → CHAOS stats, hosts and `--address`/local-only
//! answers ([`crate::local`]) → loop probes ([`crate::loops`]) → cache hit (all synchronous,
//! no allocation on a hit) → on a miss: the pending table and `--dns-forward-max`
//! ([`crate::coalesce`]), server order and health ([`crate::health`]; `--strict-order`,
//! `--all-servers`), failover, SERVFAIL when every server fails, caching; plus atomic
//! configuration swaps that keep the cache of names whose servers did not change.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::cache::{self, Cache, CachedMsg, TtlPolicy};
use crate::coalesce::{Coalescer, Join};
use crate::config::{Config, Route};
pub use crate::health::FAILED_SERVER_PENALTY;
use crate::health::ServerHealth;
pub use crate::local::VERSION;
use crate::loops::LoopDetector;
use crate::reply::{self, Reply};
use crate::stats::Stats;
use crate::upstream::{self, EngineObserver, Transport};
use crate::wire::{self, Parsed, QueryInfo};
use crate::{any, local, relay};
use serverkit::upstream::Client;

/// Per-try upstream timeout (B4 row 18).
pub const UPSTREAM_TRY_TIMEOUT: Duration = Duration::from_secs(2);

/// Result of the synchronous part of the pipeline.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned by value on the hot path
pub enum Step {
    /// `out` holds the response.
    Reply,
    /// Nothing to send.
    Drop,
    /// Cache miss: call [`Engine::forward`].
    Forward(QueryInfo),
}

/// The forwarder state shared by every worker.
pub struct Engine {
    cfg: ArcSwap<Config>,
    cache: Cache,
    stats: Arc<Stats>,
    transport: Arc<dyn Transport>,
    pending: Coalescer,
    try_timeout: Duration,
    health: ServerHealth,
    loops: LoopDetector,
}

impl Engine {
    pub fn new(cfg: Config, transport: Arc<dyn Transport>) -> Arc<Engine> {
        Self::with_timeout(cfg, transport, UPSTREAM_TRY_TIMEOUT)
    }

    pub fn with_timeout(
        cfg: Config,
        transport: Arc<dyn Transport>,
        try_timeout: Duration,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            cache: Cache::new(cfg.cache_size),
            cfg: ArcSwap::from_pointee(cfg),
            stats: Arc::new(Stats::default()),
            transport,
            pending: Coalescer::default(),
            try_timeout,
            health: ServerHealth::default(),
            loops: LoopDetector::default(),
        })
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
    pub fn cache(&self) -> &Cache {
        &self.cache
    }
    pub fn config(&self) -> Arc<Config> {
        self.cfg.load_full()
    }
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.transport)
    }

    /// Swaps in a new configuration; cache entries whose route changed are dropped.
    /// In-flight queries finish with the snapshot they started with.
    pub fn apply_config(self: &Arc<Self>, new: Config) {
        let old = self.cfg.swap(Arc::new(new));
        let new = self.cfg.load_full();
        if old.domains != new.domains || old.default_servers != new.default_servers {
            let removed = self.cache.retain(&|key| {
                let name = wire::wire_name_to_string(
                    key.get(..key.len().saturating_sub(5)).unwrap_or(&[]),
                );
                old.route(&name) == new.route(&name)
            });
            tracing::info!(
                removed,
                "configuration changed; dropped cache entries whose servers changed"
            );
            self.loops.clear();
        }
        if new.loop_detect && old.all_upstreams() != new.all_upstreams() {
            self.start_loop_probes();
        }
    }

    /// The synchronous pipeline: everything except forwarding. Never allocates on a cache hit.
    pub fn answer_local(&self, pkt: &[u8], src: SocketAddr, udp: bool, out: &mut Vec<u8>) -> Step {
        let cfg = self.cfg.load();
        let allowed = cfg.client_allowed(src.ip());
        let q = match wire::parse_query(pkt) {
            Parsed::Drop => return Step::Drop,
            // No error replies to clients outside the allow-list: only REFUSED, to a query.
            Parsed::Error { .. } if !allowed => return Step::Drop,
            Parsed::Error {
                id,
                opcode,
                rd,
                rcode,
            } => {
                wire::header_error(out, id, opcode, rd, rcode);
                return Step::Reply;
            }
            Parsed::Query(q) => q,
        };
        if !allowed {
            self.stats.refused_clients.inc();
            tracing::debug!(%src, "client outside --allow-from; REFUSED");
            reply::error(out, pkt, &q, wire::RCODE_REFUSED);
            return Step::Reply;
        }
        self.stats.queries.inc();
        if cfg.log_queries {
            tracing::info!(qtype = q.qtype, name = %q.name_string(), %src, "query");
        }
        let limit = udp.then(|| q.udp_limit());
        if q.edns.is_some_and(|e| e.version > 0) {
            // RFC 6891 §6.1.3: BADVERS = extended rcode 16.
            Reply::start(out, pkt, &q, wire::RCODE_NOERROR, false)
                .finish_with(wire::EXT_RCODE_BADVERS_HIGH, None);
            return Step::Reply;
        }
        if q.qclass == wire::CLASS_CH {
            local::chaos(pkt, &q, &cfg, &self.cache, &self.stats, limit, out);
            return Step::Reply;
        }
        if q.qtype == wire::TYPE_TXT && self.loops.is_probe(&q) {
            reply::error(out, pkt, &q, wire::RCODE_REFUSED);
            return Step::Reply;
        }
        if local::hosts(pkt, &q, &cfg, limit, out) {
            self.stats.hits.inc();
            return Step::Reply;
        }
        if q.qclass == wire::CLASS_IN || q.qclass == 255 {
            let mut buf = [0u8; wire::MAX_NAME_LEN + 1];
            let owned;
            let name = match wire::dotted_name(q.name_wire(), &mut buf) {
                Some(n) => n,
                None => {
                    owned = q.name_string();
                    owned.as_str()
                }
            };
            if local::route(pkt, &q, cfg.route(name), cfg.local_ttl, limit, out) {
                self.stats.hits.inc();
                return Step::Reply;
            }
        }
        if let Some(hit) = self.cache.get(q.key(), Instant::now()) {
            self.stats.hits.inc();
            serve(&hit, pkt, &q, &cfg, udp, out);
            return Step::Reply;
        }
        Step::Forward(q)
    }

    /// The miss path: coalesce, cap, forward, cache, render into `out`.
    pub async fn forward(self: &Arc<Self>, pkt: &[u8], q: QueryInfo, udp: bool, out: &mut Vec<u8>) {
        let cfg = self.cfg.load_full();
        let mut buf = [0u8; wire::MAX_NAME_LEN + 1];
        let owned;
        let name = match wire::dotted_name(q.name_wire(), &mut buf) {
            Some(n) => n,
            None => {
                owned = q.name_string();
                owned.as_str()
            }
        };
        let servers: Vec<SocketAddr> = match cfg.route(name) {
            Route::Forward(s) => self.loops.usable(s),
            _ => Vec::new(),
        };
        if servers.is_empty() {
            reply::error(out, pkt, &q, wire::RCODE_REFUSED);
            return;
        }
        let (lead, rx) = match self.pending.join(q.key(), cfg.forward_max) {
            Join::Lead(rx) => {
                self.stats.misses.inc();
                self.stats.in_flight.inc();
                (true, rx)
            }
            Join::Follow(rx) => {
                self.stats.misses.inc();
                self.stats.coalesced.inc();
                (false, rx)
            }
            Join::OverLimit => {
                self.stats.refused_forward_max.inc();
                reply::error(out, pkt, &q, wire::RCODE_REFUSED);
                return;
            }
            Join::Failed => {
                reply::error(out, pkt, &q, wire::RCODE_SERVFAIL);
                return;
            }
        };
        if lead {
            let me = Arc::clone(self);
            let cfg = Arc::clone(&cfg);
            // The resolution is its own task so a client going away cannot cancel it.
            tokio::spawn(async move { me.lead(q, servers, cfg).await });
        }
        match rx.await {
            Ok(msg) => serve(&msg, pkt, &q, &cfg, udp, out),
            Err(_) => reply::error(out, pkt, &q, wire::RCODE_SERVFAIL),
        }
    }

    async fn lead(self: Arc<Self>, q: QueryInfo, servers: Vec<SocketAddr>, cfg: Arc<Config>) {
        let msg = Arc::new(self.resolve(&q, &servers, &cfg).await);
        let now = Instant::now();
        // Cache only if the name is still routed to the same servers.
        let current = self.cfg.load();
        if msg.lifetime > 0 && current.route(&q.name_string()) == cfg.route(&q.name_string()) {
            self.cache
                .insert(q.key(), Arc::clone(&msg), now, &self.stats);
        }
        self.stats.in_flight.dec();
        self.pending.finish(q.key(), &msg, cfg.forward_max);
    }

    /// Tries the servers (health order, or all at once with `--all-servers`); the first
    /// usable reply wins, else a SERVFAIL entry.
    async fn resolve(&self, q: &QueryInfo, servers: &[SocketAddr], cfg: &Config) -> CachedMsg {
        let order = self.health.order(servers, cfg.strict_order);
        let policy = TtlPolicy {
            no_negcache: cfg.no_negcache,
            neg_ttl: cfg.neg_ttl,
            min_cache_ttl: cfg.min_cache_ttl,
            max_cache_ttl: cfg.max_cache_ttl,
        };
        let client = self.client(cfg);
        let query = upstream::query(q);
        let obs = EngineObserver {
            stats: &self.stats,
            health: Some(&self.health),
        };
        let finish =
            |_, got: serverkit::upstream::Exchanged| self.prepare_reply(&got.reply, q, &policy);
        if cfg.all_servers && order.len() > 1 {
            let mut tries: FuturesUnordered<_> = order
                .iter()
                .map(|s| client.resolve(std::slice::from_ref(s), &query, &obs, finish))
                .collect();
            while let Some(r) = tries.next().await {
                if let Ok(m) = r {
                    return m;
                }
            }
        } else if let Ok(m) = client.resolve(&order, &query, &obs, finish).await {
            return m;
        }
        self.stats.servfail_sent.inc();
        tracing::debug!(name = %q.name_string(), "every upstream failed; answering SERVFAIL");
        cache::servfail_entry(q, Instant::now())
    }

    /// The upstream client for this configuration (`--dns-0x20`).
    fn client(&self, cfg: &Config) -> Client {
        Client::new(
            Arc::clone(&self.transport),
            upstream::options(self.try_timeout, cfg.dns_0x20),
        )
    }

    /// With caching disabled the reply is only relayed: skip the canonicalising re-encode
    /// unless it may point into the header (see `relay`).
    fn prepare_reply(
        &self,
        reply: &[u8],
        q: &QueryInfo,
        policy: &TtlPolicy,
    ) -> Result<CachedMsg, cache::ReplyError> {
        if self.cache.capacity() == 0 {
            relay::prepare_uncached(reply, q, policy, Instant::now())
        } else {
            cache::prepare(reply, q, policy, Instant::now())
        }
    }

    /// `--dns-loop-detect`: sends a probe to every upstream ([`crate::loops`]).
    pub fn start_loop_probes(self: &Arc<Self>) {
        let cfg = self.cfg.load_full();
        for probe in self.loops.new_probes(&cfg.all_upstreams()) {
            let me = Arc::clone(self);
            tokio::spawn(async move {
                let client = Client::new(
                    Arc::clone(&me.transport),
                    upstream::options(me.try_timeout, upstream::CaseMode::Off),
                );
                let obs = EngineObserver {
                    stats: &me.stats,
                    health: None,
                };
                let _ = client
                    .exchange(probe.server, &upstream::query(&probe.query), &obs)
                    .await;
                me.loops.probe_done(&probe.name);
            });
        }
    }

    /// Servers disabled by loop detection.
    pub fn looped_servers(&self) -> Vec<SocketAddr> {
        self.loops.looped()
    }

    /// Full pipeline for one query (TCP, tests): returns false when nothing is to be sent.
    pub async fn handle(
        self: &Arc<Self>,
        pkt: &[u8],
        src: SocketAddr,
        udp: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        match self.answer_local(pkt, src, udp, out) {
            Step::Reply => true,
            Step::Drop => false,
            Step::Forward(q) => {
                self.forward(pkt, q, udp, out).await;
                true
            }
        }
    }
}

/// Renders a cached or fresh answer for this client: `--minimal-any` (RFC 8482) for ANY over
/// UDP, then the UDP size cap.
fn serve(msg: &CachedMsg, pkt: &[u8], q: &QueryInfo, cfg: &Config, udp: bool, out: &mut Vec<u8>) {
    let limit = udp.then(|| q.udp_limit());
    if udp && cfg.minimal_any && q.qtype == wire::TYPE_ANY {
        cache::render(msg, pkt, q, Instant::now(), cfg.max_ttl, None, out);
        any::minimize(out, q);
        reply::cap(out, q, limit);
    } else {
        cache::render(msg, pkt, q, Instant::now(), cfg.max_ttl, limit, out);
    }
}
