//! The request pipeline shared by the UDP and TCP servers.
//!
//! Owns: cheap rejections → `--allow-from` (REFUSED; malformed packets from outside are
//! dropped, B4 row 14) → FORMERR/NOTIMP/BADVERS → CHAOS stats → loop probes → hosts and
//! `--address`/local-only answers → cache hit (all synchronous, no allocation on a hit) →
//! on a miss: the pending table (identical questions coalesced into one upstream query,
//! CVE-2020-25686), the `--dns-forward-max` cap (REFUSED beyond, warned once), server
//! ordering (`--strict-order`, `--all-servers`, failed servers last), failover, SERVFAIL when
//! every server fails, caching, and atomic configuration swaps that keep the cache of names
//! whose servers did not change.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cache::{self, Cache, CachedMsg, TtlPolicy};
use crate::config::{Config, Route};
use crate::stats::Stats;
use crate::upstream::{self, CaseMode, Transport};
use crate::wire::{self, Parsed, QueryInfo};
use crate::{any, relay};

/// Per-try upstream timeout (B4 row 18).
pub const UPSTREAM_TRY_TIMEOUT: Duration = Duration::from_secs(2);
/// A server that failed is tried after the others for this long (unless `--strict-order`).
pub const FAILED_SERVER_PENALTY: Duration = Duration::from_secs(10);
/// Reported by `version.bind`.
pub const VERSION: &str = concat!("dnsmasq-rs-", env!("CARGO_PKG_VERSION"));

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

type Waiters = Vec<oneshot::Sender<Arc<CachedMsg>>>;

/// The forwarder state shared by every worker.
pub struct Engine {
    cfg: ArcSwap<Config>,
    cache: Cache,
    stats: Arc<Stats>,
    transport: Arc<dyn Transport>,
    pending: Mutex<HashMap<Box<[u8]>, Waiters>>,
    in_flight: AtomicUsize,
    forward_max_warned: AtomicBool,
    try_timeout: Duration,
    failed_at: Mutex<HashMap<SocketAddr, Instant>>,
    looped: Mutex<HashSet<SocketAddr>>,
    probes: Mutex<HashMap<Vec<u8>, SocketAddr>>,
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
            pending: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            forward_max_warned: AtomicBool::new(false),
            try_timeout,
            failed_at: Mutex::new(HashMap::new()),
            looped: Mutex::new(HashSet::new()),
            probes: Mutex::new(HashMap::new()),
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
            if let Ok(mut l) = self.looped.lock() {
                l.clear();
            }
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
            wire::error_response(out, pkt, &q, wire::RCODE_REFUSED);
            return Step::Reply;
        }
        self.stats.queries.inc();
        if cfg.log_queries {
            tracing::info!(qtype = q.qtype, name = %q.name_string(), %src, "query");
        }
        if let Some(e) = q.edns
            && e.version > 0
        {
            // RFC 6891 §6.1.3: BADVERS = extended rcode 16.
            wire::begin_response(out, pkt, &q, 0, false);
            wire::push_opt(out, e.dnssec_ok, wire::EXT_RCODE_BADVERS_HIGH);
            wire::bump_count(out, 10);
            return Step::Reply;
        }
        let limit = udp.then(|| q.udp_limit());
        if q.qclass == wire::CLASS_CH {
            self.chaos(pkt, &q, &cfg, out);
            cap(out, &q, limit);
            return Step::Reply;
        }
        if q.qtype == wire::TYPE_TXT && self.is_loop_probe(&q) {
            wire::error_response(out, pkt, &q, wire::RCODE_REFUSED);
            return Step::Reply;
        }
        if self.hosts_answer(pkt, &q, &cfg, out) {
            self.stats.hits.inc();
            cap(out, &q, limit);
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
            match cfg.route(name) {
                Route::Local => {
                    self.stats.hits.inc();
                    wire::begin_response(out, pkt, &q, wire::RCODE_NXDOMAIN, true);
                    add_opt(out, &q);
                    return Step::Reply;
                }
                Route::Address(ips) => {
                    self.stats.hits.inc();
                    wire::begin_response(out, pkt, &q, wire::RCODE_NOERROR, true);
                    for ip in ips {
                        let fits = matches!(
                            (ip, q.qtype),
                            (IpAddr::V4(_), wire::TYPE_A | wire::TYPE_ANY)
                                | (IpAddr::V6(_), wire::TYPE_AAAA | wire::TYPE_ANY)
                        );
                        if fits {
                            wire::push_ip(out, *ip, cfg.local_ttl);
                        }
                    }
                    add_opt(out, &q);
                    cap(out, &q, limit);
                    return Step::Reply;
                }
                Route::Forward(_) => {}
            }
        }
        if let Some(hit) = self.cache.get(q.key(), Instant::now()) {
            self.stats.hits.inc();
            serve(&hit, pkt, &q, &cfg, udp, out);
            return Step::Reply;
        }
        Step::Forward(q)
    }

    /// Answers from `/etc/hosts` / `--addn-hosts` (A, AAAA, PTR).
    fn hosts_answer(&self, pkt: &[u8], q: &QueryInfo, cfg: &Config, out: &mut Vec<u8>) -> bool {
        if cfg.hosts.by_name.is_empty() || q.qclass != wire::CLASS_IN {
            return false;
        }
        match q.qtype {
            wire::TYPE_A | wire::TYPE_AAAA => {
                let mut buf = [0u8; wire::MAX_NAME_LEN + 1];
                let Some(name) = wire::dotted_name(q.name_wire(), &mut buf) else {
                    return false;
                };
                let Some(ips) = cfg.hosts.by_name.get(name) else {
                    return false;
                };
                let want_v4 = q.qtype == wire::TYPE_A;
                if !ips.iter().any(|ip| ip.is_ipv4() == want_v4) {
                    return false;
                }
                wire::begin_response(out, pkt, q, wire::RCODE_NOERROR, true);
                for ip in ips.iter().filter(|ip| ip.is_ipv4() == want_v4) {
                    wire::push_ip(out, *ip, cfg.local_ttl);
                }
                add_opt(out, q);
                true
            }
            wire::TYPE_PTR => {
                let name = q.name_string();
                let Some(target) = cfg.hosts.reverse(&name) else {
                    return false;
                };
                let Some(rdata) = wire::string_to_wire_name(target) else {
                    return false;
                };
                wire::begin_response(out, pkt, q, wire::RCODE_NOERROR, true);
                wire::push_answer(out, wire::TYPE_PTR, wire::CLASS_IN, cfg.local_ttl, &rdata);
                add_opt(out, q);
                true
            }
            _ => false,
        }
    }

    /// CHAOS TXT statistics with dnsmasq's names and semantics.
    fn chaos(&self, pkt: &[u8], q: &QueryInfo, cfg: &Config, out: &mut Vec<u8>) {
        let s = &self.stats;
        let texts: Vec<String> = if q.qtype != wire::TYPE_TXT && q.qtype != wire::TYPE_ANY {
            Vec::new()
        } else {
            match q.name_string().as_str() {
                "cachesize.bind" => vec![self.cache.capacity().to_string()],
                "insertions.bind" => vec![s.insertions.get().to_string()],
                "evictions.bind" => vec![s.evictions.get().to_string()],
                "misses.bind" => vec![s.misses.get().to_string()],
                "hits.bind" => vec![s.hits.get().to_string()],
                "auth.bind" => vec!["0".into()],
                "servers.bind" => s.servers_bind(&cfg.all_upstreams()),
                "version.bind" => vec![VERSION.into()],
                "authors.bind" => vec!["kube-dns-rs authors".into()],
                "copyright.bind" => vec!["Apache-2.0".into()],
                _ => {
                    wire::error_response(out, pkt, q, wire::RCODE_REFUSED);
                    return;
                }
            }
        };
        wire::begin_response(out, pkt, q, wire::RCODE_NOERROR, true);
        for t in texts {
            wire::push_answer(out, wire::TYPE_TXT, wire::CLASS_CH, 0, &wire::txt_rdata(&t));
        }
        add_opt(out, q);
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
            Route::Forward(s) => match self.looped.lock() {
                Ok(looped) if !looped.is_empty() => {
                    s.iter().filter(|s| !looped.contains(s)).copied().collect()
                }
                _ => s.to_vec(),
            },
            _ => Vec::new(),
        };
        if servers.is_empty() {
            wire::error_response(out, pkt, &q, wire::RCODE_REFUSED);
            return;
        }
        let (tx, rx) = oneshot::channel();
        let lead = {
            let Ok(mut pending) = self.pending.lock() else {
                wire::error_response(out, pkt, &q, wire::RCODE_SERVFAIL);
                return;
            };
            if let Some(waiters) = pending.get_mut(q.key()) {
                self.stats.misses.inc();
                self.stats.coalesced.inc();
                waiters.push(tx);
                false
            } else if self.in_flight.load(Ordering::Relaxed) >= cfg.forward_max {
                drop(pending);
                self.stats.refused_forward_max.inc();
                if !self.forward_max_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        max = cfg.forward_max,
                        "Maximum number of concurrent DNS queries reached"
                    );
                }
                wire::error_response(out, pkt, &q, wire::RCODE_REFUSED);
                return;
            } else {
                self.stats.misses.inc();
                pending.insert(q.key().into(), vec![tx]);
                self.in_flight.fetch_add(1, Ordering::Relaxed);
                self.stats.in_flight.inc();
                true
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
            Err(_) => wire::error_response(out, pkt, &q, wire::RCODE_SERVFAIL),
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
        let waiters = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(q.key()))
            .unwrap_or_default();
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.stats.in_flight.dec();
        if self.in_flight.load(Ordering::Relaxed) < cfg.forward_max {
            self.forward_max_warned.store(false, Ordering::Relaxed);
        }
        for w in waiters {
            let _ = w.send(Arc::clone(&msg));
        }
    }

    fn order_servers(&self, servers: &[SocketAddr], cfg: &Config) -> Vec<SocketAddr> {
        let mut v = servers.to_vec();
        if !cfg.strict_order {
            let now = Instant::now();
            let failed = self.failed_at.lock().map(|f| f.clone()).unwrap_or_default();
            v.sort_by_key(|s| {
                failed
                    .get(s)
                    .is_some_and(|t| now.saturating_duration_since(*t) < FAILED_SERVER_PENALTY)
            });
        }
        v
    }

    /// Tries the servers; the first usable reply wins, else a SERVFAIL entry.
    async fn resolve(&self, q: &QueryInfo, servers: &[SocketAddr], cfg: &Config) -> CachedMsg {
        let order = self.order_servers(servers, cfg);
        let policy = TtlPolicy {
            no_negcache: cfg.no_negcache,
            neg_ttl: cfg.neg_ttl,
            min_cache_ttl: cfg.min_cache_ttl,
            max_cache_ttl: cfg.max_cache_ttl,
        };
        if cfg.all_servers && order.len() > 1 {
            let mut tries: FuturesUnordered<_> = order
                .iter()
                .map(|s| self.try_server(*s, q, &policy, cfg.dns_0x20))
                .collect();
            while let Some(r) = tries.next().await {
                if let Some(m) = r {
                    return m;
                }
            }
        } else {
            for s in &order {
                if let Some(m) = self.try_server(*s, q, &policy, cfg.dns_0x20).await {
                    return m;
                }
            }
        }
        self.stats.servfail_sent.inc();
        tracing::debug!(name = %q.name_string(), "every upstream failed; answering SERVFAIL");
        cache::servfail_entry(q, Instant::now())
    }

    async fn try_server(
        &self,
        server: SocketAddr,
        q: &QueryInfo,
        policy: &TtlPolicy,
        case: CaseMode,
    ) -> Option<CachedMsg> {
        self.stats.server_query(server);
        let result = upstream::exchange(
            &*self.transport,
            server,
            q,
            self.try_timeout,
            case,
            &self.stats,
        )
        .await;
        let failure = match result {
            Ok((reply, _tcp)) => match self.prepare_reply(&reply, q, policy) {
                Ok(m) if matches!(m.rcode(), wire::RCODE_SERVFAIL | wire::RCODE_REFUSED) => {
                    format!("rcode {}", m.rcode())
                }
                Ok(m) => {
                    if let Ok(mut f) = self.failed_at.lock() {
                        f.remove(&server);
                    }
                    return Some(m);
                }
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        tracing::debug!(%server, %failure, "upstream try failed");
        self.stats.server_failed(server);
        if let Ok(mut f) = self.failed_at.lock() {
            f.insert(server, Instant::now());
        }
        None
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

    fn is_loop_probe(&self, q: &QueryInfo) -> bool {
        let Ok(probes) = self.probes.lock() else {
            return false;
        };
        if probes.is_empty() {
            return false;
        }
        let Some(server) = probes.get(q.name_wire()).copied() else {
            return false;
        };
        drop(probes);
        if let Ok(mut l) = self.looped.lock()
            && l.insert(server)
        {
            tracing::error!(%server, "forwarding loop detected; server disabled");
        }
        true
    }

    /// `--dns-loop-detect`: sends `<random>.test TXT` to every upstream; a server whose probe
    /// comes back to us is disabled until the server set changes.
    pub fn start_loop_probes(self: &Arc<Self>) {
        let cfg = self.cfg.load_full();
        for server in cfg.all_upstreams() {
            let name = format!("{:016x}.test", rand::random::<u64>());
            let Some(wire_name) = wire::string_to_wire_name(&name) else {
                continue;
            };
            let mut pkt = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            pkt.extend_from_slice(&wire_name);
            pkt.extend_from_slice(&wire::TYPE_TXT.to_be_bytes());
            pkt.extend_from_slice(&wire::CLASS_IN.to_be_bytes());
            let Parsed::Query(q) = wire::parse_query(&pkt) else {
                continue;
            };
            if let Ok(mut p) = self.probes.lock() {
                p.insert(wire_name.clone(), server);
            }
            let me = Arc::clone(self);
            tokio::spawn(async move {
                let _ = upstream::exchange(
                    &*me.transport,
                    server,
                    &q,
                    me.try_timeout,
                    CaseMode::Off,
                    &me.stats,
                )
                .await;
                if let Ok(mut p) = me.probes.lock() {
                    p.remove(&wire_name);
                }
            });
        }
    }

    /// Servers disabled by loop detection.
    pub fn looped_servers(&self) -> Vec<SocketAddr> {
        self.looped
            .lock()
            .map(|l| l.iter().copied().collect())
            .unwrap_or_default()
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
        cap(out, q, limit);
    } else {
        cache::render(msg, pkt, q, Instant::now(), cfg.max_ttl, limit, out);
    }
}

fn add_opt(out: &mut Vec<u8>, q: &QueryInfo) {
    if let Some(e) = q.edns {
        wire::push_opt(out, e.dnssec_ok, 0);
        wire::bump_count(out, 10);
    }
}

fn cap(out: &mut Vec<u8>, q: &QueryInfo, limit: Option<usize>) {
    if let Some(l) = limit
        && out.len() > l
    {
        wire::truncate_to_question(out, q);
    }
}
