//! The immutable configuration snapshot: the meaning of each dnsmasq option
//! (`Config::build` from parsed [`Options`] plus the contents of resolv.conf and hosts files,
//! read through an injectable callback) and `Config::route`.
//!
//! Parts: [`rules`] — the `--server`/`--local`/`--address` syntax and dnsmasq's server
//! selection (the longest matching `/domain/` wins; `/domain/` alone means "answer locally
//! only", NXDOMAIN); [`hosts`] — hosts files and `--host-record`; [`cidr`] — the
//! `--allow-from` client networks.

pub mod cidr;
pub mod hosts;
pub mod rules;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use serverkit::resolv::parse_resolv_conf;
pub use serverkit::reverse::parse_reverse_name as reverse_name_to_ip;

pub use self::cidr::Cidr;
pub use self::hosts::Hosts;
use self::rules::parse_rule;
pub use self::rules::{Action, Route, parse_server_addr};
use crate::flags::{FlagError, Options};
use serverkit::upstream::CaseMode;

/// dnsmasq's default `--cache-size`.
pub const DEFAULT_CACHE_SIZE: usize = 150;
/// dnsmasq's default `--dns-forward-max`.
pub const DEFAULT_FORWARD_MAX: usize = 150;
/// Default DNS port.
pub const DEFAULT_PORT: u16 = 53;
/// Default cap on concurrent TCP client connections (dnsmasq: 20 TCP children).
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = serverkit::serve::DEFAULT_TCP_MAX_CONNECTIONS;
/// Default `--lame-duck`: how long DNS keeps answering after SIGTERM/SIGINT (as kubedns).
pub const DEFAULT_LAME_DUCK: Duration = Duration::from_secs(5);
/// Default `--drain-timeout`: deadline for in-flight work once listeners have stopped.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest accepted `--cache-size` (entries).
pub const MAX_CACHE_SIZE: usize = 1_000_000;

/// Where logs go (`--log-facility`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
    /// A syslog facility name: not available, logged to stderr with a warning.
    Syslog(String),
}

/// Errors turning options into a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Flag(#[from] FlagError),
}

pub(super) fn bad(option: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Flag(FlagError::BadValue {
        option: option.into(),
        value: value.into(),
        reason: reason.into(),
    })
}

fn parse_number<T: std::str::FromStr>(opt: &str, v: &str) -> Result<T, ConfigError> {
    v.trim().parse().map_err(|_| bad(opt, v, "not a number"))
}

/// The whole immutable configuration; swapped atomically on change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub cache_size: usize,
    pub no_negcache: bool,
    pub neg_ttl: Option<u32>,
    pub loop_detect: bool,
    pub log_facility: LogTarget,
    pub log_queries: bool,
    /// Lowercased domain (no trailing dot; "" = every name) → action.
    pub domains: HashMap<String, Action>,
    /// `--server=ip` servers followed by resolv.conf servers (unless `--no-resolv`).
    pub default_servers: Vec<SocketAddr>,
    pub no_resolv: bool,
    pub resolv_file: PathBuf,
    pub poll_resolv: bool,
    pub hosts: Hosts,
    pub port: u16,
    pub listen_addresses: Vec<IpAddr>,
    pub bind_interfaces: bool,
    pub forward_max: usize,
    pub max_ttl: Option<u32>,
    pub min_cache_ttl: u32,
    pub max_cache_ttl: Option<u32>,
    pub local_ttl: u32,
    pub strict_order: bool,
    pub all_servers: bool,
    pub user: Option<String>,
    pub metrics_address: Option<SocketAddr>,
    pub workers: Option<usize>,
    pub tcp_max_connections: usize,
    pub keep_in_foreground: bool,
    /// `--lame-duck`: serving continues this long after SIGTERM/SIGINT.
    pub lame_duck: Duration,
    /// `--drain-timeout`: in-flight work gets this long after the listeners stop.
    pub drain_timeout: Duration,
    /// `--allow-from`: client networks answered; empty = every client (legacy behaviour).
    pub allow_from: Vec<Cidr>,
    /// `--dns-0x20[=fallback|strict]`: query-name case randomisation towards upstreams.
    pub dns_0x20: CaseMode,
    /// `--minimal-any`: RFC 8482 one-RRset answers to ANY over UDP.
    pub minimal_any: bool,
}

impl Config {
    /// Builds the configuration from options; `read` returns file contents
    /// (resolv.conf, hosts files).
    pub fn build(
        o: &Options,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut warnings = o.warnings.clone();
        let cache_size = match o.last("cache-size") {
            Some(v) => parse_number::<usize>("cache-size", v)?,
            None => DEFAULT_CACHE_SIZE,
        };
        if cache_size > MAX_CACHE_SIZE {
            return Err(bad("cache-size", &cache_size.to_string(), "too large"));
        }
        let opt_u32 = |name: &str| -> Result<Option<u32>, ConfigError> {
            o.last(name)
                .map(|v| parse_number::<u32>(name, v))
                .transpose()
        };
        let log_facility = match o.last("log-facility") {
            None | Some("-") => LogTarget::Stderr,
            Some(v) if v.contains('/') => LogTarget::File(PathBuf::from(v)),
            Some(v) => LogTarget::Syslog(v.to_string()),
        };
        let mut domains: HashMap<String, Action> = HashMap::new();
        let mut default_servers = Vec::new();
        for (opt, v) in o
            .opts
            .iter()
            .filter(|x| matches!(x.name, "server" | "local" | "address"))
            .filter_map(|x| x.value.as_deref().map(|v| (x.name, v)))
        {
            parse_rule(opt, v, &mut domains, &mut default_servers)?;
        }
        let no_resolv = o.has("no-resolv");
        let resolv_file = PathBuf::from(o.last("resolv-file").unwrap_or("/etc/resolv.conf"));
        if !no_resolv {
            match read(&resolv_file) {
                Ok(text) => {
                    for s in parse_resolv_conf(&text) {
                        if !default_servers.contains(&s) {
                            default_servers.push(s);
                        }
                    }
                }
                Err(e) => warnings.push(format!(
                    "cannot read resolv file {}: {e}",
                    resolv_file.display()
                )),
            }
        }
        let mut hosts = Hosts::default();
        if !o.has("no-hosts")
            && let Ok(text) = read(Path::new("/etc/hosts"))
        {
            hosts.add_text(&text);
        }
        for v in o.values("host-record") {
            hosts
                .add_host_record(v)
                .map_err(|r| bad("host-record", v, r))?;
        }
        for f in o.values("addn-hosts") {
            match read(Path::new(f)) {
                Ok(text) => hosts.add_text(&text),
                Err(e) => warnings.push(format!("cannot read addn-hosts file {f}: {e}")),
            }
        }
        let port = match o.last("port") {
            Some(v) => parse_number::<u16>("port", v)?,
            None => DEFAULT_PORT,
        };
        let mut listen_addresses = Vec::new();
        for v in o.values("listen-address") {
            for a in v.split(',') {
                listen_addresses.push(
                    a.trim()
                        .parse()
                        .map_err(|_| bad("listen-address", v, "not an IP address"))?,
                );
            }
        }
        let forward_max = match o.last("dns-forward-max") {
            Some(v) => parse_number::<usize>("dns-forward-max", v)?.max(1),
            None => DEFAULT_FORWARD_MAX,
        };
        let metrics_address = o
            .last("metrics-address")
            .map(|v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| bad("metrics-address", v, "expected ip:port"))
            })
            .transpose()?;
        let workers = o
            .last("workers")
            .map(|v| parse_number::<usize>("workers", v))
            .transpose()?
            .map(|w| w.max(1));
        let tcp_max_connections = match o.last("tcp-max-connections") {
            Some(v) => parse_number::<usize>("tcp-max-connections", v)?.max(1),
            None => DEFAULT_TCP_MAX_CONNECTIONS,
        };
        let duration = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            o.last(name).map_or(Ok(default), |v| {
                crate::flags::parse_duration_or_secs(v)
                    .ok_or_else(|| bad(name, v, "expected a duration such as 5s or 5"))
            })
        };
        let mut allow_from = Vec::new();
        for v in o.values("allow-from") {
            for c in v.split(',') {
                allow_from.push(Cidr::parse(c).ok_or_else(|| {
                    bad("allow-from", v, "expected ip/prefix or ip, comma-separated")
                })?);
            }
        }
        let dns_0x20 = match (o.has("dns-0x20"), o.last("dns-0x20")) {
            (false, _) | (true, Some("off")) => CaseMode::Off,
            (true, None | Some("fallback")) => CaseMode::Fallback,
            (true, Some("strict")) => CaseMode::Strict,
            (true, Some(v)) => {
                return Err(bad("dns-0x20", v, "expected fallback, strict or off"));
            }
        };
        let lame_duck = duration("lame-duck", DEFAULT_LAME_DUCK)?;
        let drain_timeout = duration("drain-timeout", DEFAULT_DRAIN_TIMEOUT)?;
        if let LogTarget::Syslog(f) = &log_facility {
            warnings.push(format!(
                "syslog facility `{f}` is not available; logging to stderr"
            ));
        }
        let cfg = Config {
            cache_size,
            no_negcache: o.has("no-negcache"),
            neg_ttl: opt_u32("neg-ttl")?,
            loop_detect: o.has("dns-loop-detect"),
            log_facility,
            log_queries: o.has("log-queries"),
            domains,
            default_servers,
            no_resolv,
            resolv_file,
            poll_resolv: !o.has("no-poll"),
            hosts,
            port,
            listen_addresses,
            bind_interfaces: o.has("bind-interfaces"),
            forward_max,
            max_ttl: opt_u32("max-ttl")?,
            min_cache_ttl: opt_u32("min-cache-ttl")?.unwrap_or(0),
            max_cache_ttl: opt_u32("max-cache-ttl")?,
            local_ttl: opt_u32("local-ttl")?.unwrap_or(0),
            strict_order: o.has("strict-order"),
            all_servers: o.has("all-servers"),
            user: o.last("user").map(String::from),
            metrics_address,
            workers,
            tcp_max_connections,
            keep_in_foreground: o.has("keep-in-foreground") || o.has("no-daemon"),
            lame_duck,
            drain_timeout,
            allow_from,
            dns_0x20,
            minimal_any: o.has("minimal-any"),
        };
        Ok((cfg, warnings))
    }

    /// Whether `--allow-from` lets this client be answered (no allocation: per-query path).
    pub fn client_allowed(&self, ip: IpAddr) -> bool {
        self.allow_from.is_empty() || self.allow_from.iter().any(|c| c.contains(ip))
    }

    /// dnsmasq server selection for a lowercased name without trailing dot.
    pub fn route(&self, qname: &str) -> Route<'_> {
        let mut best: Option<(&str, &Action)> = None;
        let mut suffix = qname;
        loop {
            if let Some(a) = self.domains.get(suffix) {
                best = Some((suffix, a));
                break;
            }
            if suffix.is_empty() {
                break;
            }
            suffix = suffix.split_once('.').map_or("", |(_, rest)| rest);
        }
        match best.map(|(_, a)| a) {
            Some(Action::Forward(s)) => Route::Forward(s),
            Some(Action::Local) => Route::Local,
            Some(Action::Address(ips)) => Route::Address(ips),
            Some(Action::UseDefault) | None => Route::Forward(&self.default_servers),
        }
    }

    /// Every upstream server named anywhere in the configuration (for stats and loop probes).
    pub fn all_upstreams(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.default_servers.clone();
        let mut doms: Vec<_> = self.domains.iter().collect();
        doms.sort_by(|a, b| a.0.cmp(b.0));
        for (_, a) in doms {
            if let Action::Forward(s) = a {
                for x in s {
                    if !v.contains(x) {
                        v.push(*x);
                    }
                }
            }
        }
        v
    }
}
