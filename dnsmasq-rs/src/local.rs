//! Local answers — what dnsmasq-rs answers without an upstream: `/etc/hosts` and
//! `--addn-hosts`/`--host-record` (A, AAAA, PTR), `--address=/dom/ip` and local-only domains
//! (`--local`, `--server=/dom/`: NXDOMAIN), and dnsmasq's CHAOS TXT statistics names.
//! Every reply is written through the typed [`Reply`] builder.

use std::net::IpAddr;

use crate::cache::Cache;
use crate::config::{Config, Route};
use crate::reply::{self, Reply};
use crate::stats::Stats;
use crate::wire::{self, QueryInfo};

/// Reported by `version.bind`.
pub const VERSION: &str = concat!("dnsmasq-rs-", env!("CARGO_PKG_VERSION"));

/// Answers from the hosts data (A, AAAA, PTR); false when the name is not there.
pub fn hosts(
    pkt: &[u8],
    q: &QueryInfo,
    cfg: &Config,
    limit: Option<usize>,
    out: &mut Vec<u8>,
) -> bool {
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
            let mut r = Reply::start(out, pkt, q, wire::RCODE_NOERROR, true);
            for ip in ips.iter().filter(|ip| ip.is_ipv4() == want_v4) {
                r.address(*ip, cfg.local_ttl);
            }
            r.finish(limit);
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
            let mut r = Reply::start(out, pkt, q, wire::RCODE_NOERROR, true);
            r.answer(wire::TYPE_PTR, wire::CLASS_IN, cfg.local_ttl, &rdata);
            r.finish(limit);
            true
        }
        _ => false,
    }
}

/// `--address`/local-only routes for `name`: true when answered.
pub fn route(
    pkt: &[u8],
    q: &QueryInfo,
    route: Route<'_>,
    local_ttl: u32,
    limit: Option<usize>,
    out: &mut Vec<u8>,
) -> bool {
    match route {
        Route::Local => {
            Reply::start(out, pkt, q, wire::RCODE_NXDOMAIN, true).finish(limit);
            true
        }
        Route::Address(ips) => {
            let mut r = Reply::start(out, pkt, q, wire::RCODE_NOERROR, true);
            for ip in ips {
                let fits = matches!(
                    (ip, q.qtype),
                    (IpAddr::V4(_), wire::TYPE_A | wire::TYPE_ANY)
                        | (IpAddr::V6(_), wire::TYPE_AAAA | wire::TYPE_ANY)
                );
                if fits {
                    r.address(*ip, local_ttl);
                }
            }
            r.finish(limit);
            true
        }
        Route::Forward(_) => false,
    }
}

/// CHAOS TXT statistics with dnsmasq's names and semantics; other CHAOS names are REFUSED.
pub fn chaos(
    pkt: &[u8],
    q: &QueryInfo,
    cfg: &Config,
    cache: &Cache,
    s: &Stats,
    limit: Option<usize>,
    out: &mut Vec<u8>,
) {
    let texts: Vec<String> = if q.qtype != wire::TYPE_TXT && q.qtype != wire::TYPE_ANY {
        Vec::new()
    } else {
        match q.name_string().as_str() {
            "cachesize.bind" => vec![cache.capacity().to_string()],
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
                reply::error(out, pkt, q, wire::RCODE_REFUSED);
                reply::cap(out, q, limit);
                return;
            }
        }
    };
    let mut r = Reply::start(out, pkt, q, wire::RCODE_NOERROR, true);
    for t in texts {
        r.answer(wire::TYPE_TXT, wire::CLASS_CH, 0, &wire::txt_rdata(&t));
    }
    r.finish(limit);
}
