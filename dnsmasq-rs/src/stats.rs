//! Counters with dnsmasq's CHAOS-stats semantics (kube-dns-compat §3.4), exposed as
//! CHAOS TXT answers, a SIGUSR1 log line and (optionally) Prometheus text.
//!
//! `hits` = answered locally (cache, hosts, `--address`); `misses` = client queries that had
//! to be forwarded; `insertions`/`evictions` = cache entries (evictions count only live
//! entries pushed out by capacity); per-server `queries`/`failed` feed `servers.bind`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Per-upstream counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub queries: u64,
    pub failed: u64,
}

/// All counters (cheap atomic increments on the hot path).
#[derive(Debug, Default)]
pub struct Stats {
    pub queries: Counter,
    pub hits: Counter,
    pub misses: Counter,
    pub insertions: Counter,
    pub evictions: Counter,
    pub upstream_queries: Counter,
    pub unwanted_replies: Counter,
    pub refused_forward_max: Counter,
    /// Queries refused because the client is outside `--allow-from`.
    pub refused_clients: Counter,
    pub servfail_sent: Counter,
    pub tcp_fallbacks: Counter,
    /// UDP replies that did not echo the `--dns-0x20` query-name case.
    pub case_mismatches: Counter,
    pub coalesced: Counter,
    pub in_flight: Gauge,
    servers: Mutex<BTreeMap<SocketAddr, ServerStats>>,
}

impl Stats {
    pub fn server_query(&self, s: SocketAddr) {
        if let Ok(mut m) = self.servers.lock() {
            m.entry(s).or_default().queries += 1;
        }
    }
    pub fn server_failed(&self, s: SocketAddr) {
        if let Ok(mut m) = self.servers.lock() {
            m.entry(s).or_default().failed += 1;
        }
    }
    /// Snapshot of per-server counters for the configured servers (in order).
    pub fn servers(&self, configured: &[SocketAddr]) -> Vec<(SocketAddr, ServerStats)> {
        let m = self.servers.lock().map(|m| m.clone()).unwrap_or_default();
        configured
            .iter()
            .map(|s| (*s, m.get(s).copied().unwrap_or_default()))
            .collect()
    }

    /// `servers.bind` strings: `ip#port queries failed`.
    pub fn servers_bind(&self, configured: &[SocketAddr]) -> Vec<String> {
        self.servers(configured)
            .into_iter()
            .map(|(s, st)| format!("{}#{} {} {}", s.ip(), s.port(), st.queries, st.failed))
            .collect()
    }

    /// One log line like dnsmasq's SIGUSR1 dump.
    pub fn log_line(&self, cache_size: usize, configured: &[SocketAddr]) -> String {
        let mut s = format!(
            "cache size {cache_size}, {} insertions, {} evictions (live entries); queries forwarded {}, queries answered locally {}",
            self.insertions.get(),
            self.evictions.get(),
            self.misses.get(),
            self.hits.get()
        );
        for line in self.servers_bind(configured) {
            s.push_str("; server ");
            s.push_str(&line);
        }
        s
    }

    /// Prometheus text exposition.
    pub fn prometheus(&self, cache_size: usize) -> String {
        let mut r = Registry::with_prefix("dnsmasq");
        r.register("queries", "Client queries received", self.queries.clone());
        r.register(
            "hits",
            "Queries answered locally (cache, hosts, --address)",
            self.hits.clone(),
        );
        r.register(
            "misses",
            "Client queries forwarded upstream",
            self.misses.clone(),
        );
        r.register("insertions", "Cache insertions", self.insertions.clone());
        r.register(
            "evictions",
            "Live cache entries evicted",
            self.evictions.clone(),
        );
        r.register(
            "upstream_queries",
            "Queries sent to upstream servers",
            self.upstream_queries.clone(),
        );
        r.register(
            "unwanted_replies",
            "Upstream replies rejected (spoofed or mismatched)",
            self.unwanted_replies.clone(),
        );
        r.register(
            "refused_forward_max",
            "Queries refused at the --dns-forward-max limit",
            self.refused_forward_max.clone(),
        );
        r.register(
            "refused_clients",
            "Queries refused because the client is outside --allow-from",
            self.refused_clients.clone(),
        );
        r.register(
            "servfail",
            "SERVFAIL answers sent because every upstream failed",
            self.servfail_sent.clone(),
        );
        r.register(
            "tcp_fallbacks",
            "Truncated upstream replies retried over TCP",
            self.tcp_fallbacks.clone(),
        );
        r.register(
            "case_mismatches",
            "Upstream UDP replies that did not echo the --dns-0x20 query-name case",
            self.case_mismatches.clone(),
        );
        r.register(
            "coalesced",
            "Client queries joined to an identical in-flight query",
            self.coalesced.clone(),
        );
        r.register(
            "forwards_in_flight",
            "Upstream resolutions in flight",
            self.in_flight.clone(),
        );
        let size: Gauge = Gauge::default();
        size.set(cache_size as i64);
        r.register("cachesize", "Configured cache size (entries)", size);
        let mut out = String::new();
        if encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_bind_format() {
        let s = Stats::default();
        let a: SocketAddr = "127.0.0.1:10053".parse().unwrap();
        let b: SocketAddr = "[::1]:53".parse().unwrap();
        s.server_query(a);
        s.server_query(a);
        s.server_failed(a);
        assert_eq!(
            s.servers_bind(&[a, b]),
            ["127.0.0.1#10053 2 1", "::1#53 0 0"]
        );
        s.hits.inc();
        assert!(s.prometheus(150).contains("dnsmasq_hits_total 1"));
        assert!(s.log_line(150, &[a]).contains("127.0.0.1#10053 2 1"));
    }
}
