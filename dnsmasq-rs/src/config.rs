//! The immutable configuration snapshot and dnsmasq's server selection.
//!
//! Owns: the meaning of each dnsmasq option (`Config::build` from parsed [`Options`] plus the
//! contents of resolv.conf and hosts files, read through an injectable callback), the
//! `--server`/`--address` syntax, hosts-file parsing, and `Config::route` — the longest
//! matching `/domain/` wins, `/domain/` alone means "answer locally only" (NXDOMAIN) — and
//! the `--allow-from` client networks.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use serverkit::resolv::parse_resolv_conf;
pub use serverkit::reverse::parse_reverse_name as reverse_name_to_ip;

use crate::flags::{FlagError, Options};
use crate::upstream::CaseMode;

/// dnsmasq's default `--cache-size`.
pub const DEFAULT_CACHE_SIZE: usize = 150;
/// dnsmasq's default `--dns-forward-max`.
pub const DEFAULT_FORWARD_MAX: usize = 150;
/// Default DNS port.
pub const DEFAULT_PORT: u16 = 53;
/// Default cap on concurrent TCP client connections (dnsmasq: 20 TCP children).
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 100;
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

/// What a matching domain rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Forward to these servers.
    Forward(Vec<SocketAddr>),
    /// `--server=/dom/#`: use the default servers for this domain.
    UseDefault,
    /// `--server=/dom/`, `--local=/dom/`, `--address=/dom/`: answer locally (NXDOMAIN).
    Local,
    /// `--address=/dom/ip`: answer with these addresses.
    Address(Vec<IpAddr>),
}

/// Where a query name goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Forward(&'a [SocketAddr]),
    Local,
    Address(&'a [IpAddr]),
}

/// One `--allow-from` network: `ip/prefix`, or a bare address (a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`; host bits are ignored.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net: ip, prefix })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mask = |bits: u32, prefix: u8| -> u128 {
            if prefix == 0 {
                0
            } else {
                (u128::MAX << (bits - u32::from(prefix))) & (u128::MAX >> (128 - bits))
            }
        };
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = mask(32, self.prefix);
                (u128::from(u32::from(n)) & m) == (u128::from(u32::from(a)) & m)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask(128, self.prefix);
                (u128::from(n) & m) == (u128::from(a) & m)
            }
            _ => false,
        }
    }
}

/// Parsed hosts files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    pub by_name: HashMap<String, Vec<IpAddr>>,
    pub by_addr: HashMap<IpAddr, String>,
}

impl Hosts {
    /// Adds the contents of a hosts file (`ip name [aliases…]`, `#` comments).
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok()) else {
                continue;
            };
            for (i, name) in fields.enumerate() {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name.is_empty() {
                    continue;
                }
                let v = self.by_name.entry(name.clone()).or_default();
                if !v.contains(&ip) {
                    v.push(ip);
                }
                if i == 0 {
                    self.by_addr.entry(ip).or_insert(name);
                }
            }
        }
    }

    /// `--host-record=<name>[,<name>…],<ip>[,<ip>…][,<ttl>]` (the TTL is ignored: answers
    /// use `--local-ttl`).
    pub fn add_host_record(&mut self, v: &str) -> Result<(), &'static str> {
        let fields: Vec<&str> = v.split(',').map(str::trim).collect();
        let ips: Vec<IpAddr> = fields.iter().filter_map(|f| f.parse().ok()).collect();
        let names: Vec<String> = fields
            .iter()
            .filter(|f| f.parse::<IpAddr>().is_err() && f.parse::<u32>().is_err() && !f.is_empty())
            .map(|f| f.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        if ips.is_empty() || names.is_empty() {
            return Err("expected name[,name…],address[,address]");
        }
        for ip in &ips {
            let line = format!("{ip} {}", names.join(" "));
            self.add_text(&line);
        }
        Ok(())
    }

    /// PTR target for a reverse name (`4.3.2.1.in-addr.arpa` / nibble `ip6.arpa`).
    pub fn reverse(&self, qname: &str) -> Option<&str> {
        let ip = reverse_name_to_ip(qname)?;
        self.by_addr.get(&ip).map(String::as_str)
    }
}

/// Errors turning options into a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Flag(#[from] FlagError),
}

fn bad(option: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Flag(FlagError::BadValue {
        option: option.into(),
        value: value.into(),
        reason: reason.into(),
    })
}

/// Parses a server address: `ip`, `ip#port`, `[v6]`, `[v6]#port` (port default 53).
pub fn parse_server_addr(s: &str) -> Option<SocketAddr> {
    let (host, port) = match s.rsplit_once('#') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => (s, DEFAULT_PORT),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(SocketAddr::new(host.parse().ok()?, port))
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

/// Parses one `--server`/`--local`/`--address` value into the rule tables.
fn parse_rule(
    opt: &str,
    v: &str,
    domains: &mut HashMap<String, Action>,
    defaults: &mut Vec<SocketAddr>,
) -> Result<(), ConfigError> {
    let Some(rest) = v.strip_prefix('/') else {
        if opt == "address" {
            return Err(bad(opt, v, "expected /domain/[address]"));
        }
        let s = parse_server_addr(v).ok_or_else(|| bad(opt, v, "not ip[#port]"))?;
        if !defaults.contains(&s) {
            defaults.push(s);
        }
        return Ok(());
    };
    let Some((doms, target)) = rest.rsplit_once('/') else {
        return Err(bad(opt, v, "missing closing `/`"));
    };
    let action = match (opt, target) {
        (_, "") => Action::Local,
        ("address", t) => {
            let ip = t
                .parse::<IpAddr>()
                .map_err(|_| bad(opt, v, "not an IP address"))?;
            Action::Address(vec![ip])
        }
        (_, "#") => Action::UseDefault,
        (_, t) => Action::Forward(vec![
            parse_server_addr(t).ok_or_else(|| bad(opt, v, "not ip[#port]"))?,
        ]),
    };
    for d in doms.split('/') {
        let d = if d == "#" {
            String::new()
        } else {
            d.trim_end_matches('.').to_ascii_lowercase()
        };
        if d.is_empty() && opt != "address" && doms != "#" {
            // `--server=//ip` (unqualified names) is not supported: treat as an error.
            return Err(bad(opt, v, "empty domain"));
        }
        let entry = domains.entry(d).or_insert_with(|| match &action {
            Action::Forward(_) => Action::Forward(Vec::new()),
            Action::Address(_) => Action::Address(Vec::new()),
            other => other.clone(),
        });
        match (entry, &action) {
            (Action::Forward(list), Action::Forward(new)) => {
                for s in new {
                    if !list.contains(s) {
                        list.push(*s);
                    }
                }
            }
            (Action::Address(list), Action::Address(new)) => list.extend(new),
            (e @ Action::Forward(_), Action::Address(_)) => *e = action.clone(),
            (e, Action::Local) => *e = Action::Local,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{parse_dnsmasq, split_dialects};

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn fs(p: &Path) -> std::io::Result<String> {
        match p.to_str() {
            Some("/etc/resolv.conf") => {
                Ok("search x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n".into())
            }
            Some("/etc/hosts") => {
                Ok("127.0.0.1 localhost\n10.1.2.3 myhost.example alias # c\n".into())
            }
            Some("/extra") => Ok("10.9.9.9 extra.host\n".into()),
            _ => Err(std::io::Error::other("missing")),
        }
    }

    fn cfg(args: &str) -> Config {
        let inv = split_dialects(&argv(args)).unwrap();
        let o = parse_dnsmasq(&inv.dnsmasq_args, &fs, None).unwrap();
        Config::build(&o, &fs).unwrap().0
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn manifest_13() {
        let c = cfg("--cache-size=1000 --no-resolv --server=127.0.0.1#10053");
        assert_eq!(c.cache_size, 1000);
        assert!(c.no_resolv);
        assert_eq!(c.default_servers, vec![sa("127.0.0.1:10053")]);
        assert_eq!(c.log_facility, LogTarget::Stderr);
        assert!(c.hosts.by_name.contains_key("localhost"));
        assert_eq!(c.forward_max, 150);
        assert_eq!(c.port, 53);
        assert_eq!(c.lame_duck, DEFAULT_LAME_DUCK);
        assert_eq!(c.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    }

    #[test]
    fn allow_from_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let c = cfg("--no-resolv");
        assert!(c.client_allowed(ip("203.0.113.9")), "empty list: everyone");
        let c = cfg(
            "--no-resolv --allow-from=10.0.0.0/8,127.0.0.1 --allow-from fd00::/8 \
             --allow-from=192.168.1.77/24",
        );
        for ok in [
            "10.0.0.1",
            "10.255.255.255",
            "127.0.0.1",
            "fd12::1",
            "::ffff:10.1.2.3",
            "192.168.1.1",
        ] {
            assert!(c.client_allowed(ip(ok)), "{ok}");
        }
        for no in [
            "11.0.0.1",
            "127.0.0.2",
            "fe80::1",
            "::1",
            "192.168.2.1",
            "::a00:1",
        ] {
            assert!(!c.client_allowed(ip(no)), "{no}");
        }
        assert!(cfg("--no-resolv --allow-from=0.0.0.0/0").client_allowed(ip("1.2.3.4")));
        assert!(!cfg("--no-resolv --allow-from=0.0.0.0/0").client_allowed(ip("::2")));
        assert!(cfg("--no-resolv --allow-from=::/0").client_allowed(ip("2001:db8::1")));
        for bad in [
            "--allow-from=10.0.0.0/33",
            "--allow-from=fd00::/129",
            "--allow-from=10.0.0.0/",
            "--allow-from=example.com",
            "--allow-from=10.0.0.0/8,",
        ] {
            let o = parse_dnsmasq(&argv(bad), &fs, None).unwrap();
            assert!(Config::build(&o, &fs).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_0x20_and_minimal_any() {
        let c = cfg("--no-resolv");
        assert_eq!((c.dns_0x20, c.minimal_any), (CaseMode::Off, false));
        for (args, mode) in [
            ("--dns-0x20", CaseMode::Fallback),
            ("--dns-0x20=fallback", CaseMode::Fallback),
            ("--dns-0x20=strict", CaseMode::Strict),
            ("--dns-0x20=strict --dns-0x20=off", CaseMode::Off),
        ] {
            assert_eq!(cfg(&format!("--no-resolv {args}")).dns_0x20, mode, "{args}");
        }
        assert!(cfg("--no-resolv --minimal-any").minimal_any);
        let o = parse_dnsmasq(&argv("--dns-0x20=always"), &fs, None).unwrap();
        let e = Config::build(&o, &fs).unwrap_err().to_string();
        assert!(e.contains("dns-0x20") && e.contains("strict"), "{e}");
    }

    #[test]
    fn lame_duck_and_drain_timeout() {
        let c = cfg("--no-resolv --lame-duck=2s --drain-timeout 1.5");
        assert_eq!(c.lame_duck, Duration::from_secs(2));
        assert_eq!(c.drain_timeout, Duration::from_millis(1500));
        let c = cfg("--no-resolv --lame-duck=0 --drain-timeout=1m");
        assert_eq!(c.lame_duck, Duration::ZERO);
        assert_eq!(c.drain_timeout, Duration::from_secs(60));
        for bad in ["--lame-duck=soon", "--drain-timeout=-1s", "--lame-duck=5y"] {
            let o = parse_dnsmasq(&argv(bad), &fs, None).unwrap();
            let e = Config::build(&o, &fs).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Flag(FlagError::BadValue { .. })),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn manifest_14() {
        let c = cfg("--cache-size=1000 --no-resolv --server=127.0.0.1#10053 --log-facility=-");
        assert_eq!(c.log_facility, LogTarget::Stderr);
        assert_eq!(c.default_servers, vec![sa("127.0.0.1:10053")]);
    }

    fn nanny(extra: &str) -> Config {
        cfg(&format!(
            "-v=2 -logtostderr -configDir=/etc/k8s/dns/dnsmasq-nanny -restartDnsmasq=true -- -k \
             --cache-size=1000 {extra} --log-facility=- --server=/cluster.local/127.0.0.1#10053 \
             --server=/in-addr.arpa/127.0.0.1#10053 --server=/ip6.arpa/127.0.0.1#10053"
        ))
    }

    #[test]
    fn manifest_nanny_eras() {
        for (extra, negcache, loopd) in [
            ("", false, false),
            ("--no-negcache", true, false),
            ("--no-negcache --dns-loop-detect", true, true),
        ] {
            let c = nanny(extra);
            assert_eq!(c.no_negcache, negcache);
            assert_eq!(c.loop_detect, loopd);
            assert!(c.keep_in_foreground);
            assert_eq!(c.cache_size, 1000);
            let k = vec![sa("127.0.0.1:10053")];
            for d in ["cluster.local", "in-addr.arpa", "ip6.arpa"] {
                assert_eq!(c.domains.get(d), Some(&Action::Forward(k.clone())), "{d}");
            }
            // Not --no-resolv: the node's resolv.conf provides default servers.
            assert_eq!(
                c.default_servers,
                // `fe80::1%eth0`: a named zone cannot become a scope id; skipped, not
                // used with the wrong (zero) scope.
                vec![sa("10.0.0.2:53")]
            );
        }
    }

    #[test]
    fn server_selection_longest_match() {
        let c = cfg(
            "--no-resolv --server=1.1.1.1 --server=/cluster.local/127.0.0.1#10053 \
             --server=/svc.cluster.local/127.0.0.2#53 --server=/local.only/ \
             --address=/ads.example/0.0.0.0 --server=/a.local.only/# --server=/[v6].x/[::1]#5353",
        );
        assert_eq!(
            c.route("kubernetes.default.svc.cluster.local"),
            Route::Forward(&[sa("127.0.0.2:53")])
        );
        assert_eq!(
            c.route("pod.cluster.local"),
            Route::Forward(&[sa("127.0.0.1:10053")])
        );
        assert_eq!(
            c.route("cluster.local"),
            Route::Forward(&[sa("127.0.0.1:10053")])
        );
        assert_eq!(
            c.route("xcluster.local"),
            Route::Forward(&[sa("1.1.1.1:53")])
        );
        assert_eq!(c.route("example.com"), Route::Forward(&[sa("1.1.1.1:53")]));
        assert_eq!(c.route("foo.local.only"), Route::Local);
        assert_eq!(
            c.route("b.a.local.only"),
            Route::Forward(&[sa("1.1.1.1:53")])
        );
        assert_eq!(
            c.route("x.ads.example"),
            Route::Address(&["0.0.0.0".parse().unwrap()])
        );
        assert_eq!(c.route("q.[v6].x"), Route::Forward(&[sa("[::1]:5353")]));
    }

    #[test]
    fn server_forms() {
        assert_eq!(parse_server_addr("1.2.3.4"), Some(sa("1.2.3.4:53")));
        assert_eq!(
            parse_server_addr("1.2.3.4#10053"),
            Some(sa("1.2.3.4:10053"))
        );
        assert_eq!(
            parse_server_addr("[2001:db8::1]#53"),
            Some(sa("[2001:db8::1]:53"))
        );
        assert_eq!(
            parse_server_addr("[2001:db8::2]"),
            Some(sa("[2001:db8::2]:53"))
        );
        assert_eq!(
            parse_server_addr("2001:db8::3"),
            Some(sa("[2001:db8::3]:53"))
        );
        assert_eq!(parse_server_addr("host.example"), None);
        assert_eq!(parse_server_addr("1.2.3.4#0"), None);
        let o = parse_dnsmasq(&argv("--server=/x/notanip"), &fs, None).unwrap();
        assert!(Config::build(&o, &fs).is_err());
    }

    #[test]
    fn hosts_and_options() {
        let c = cfg(
            "-h -H /extra --max-ttl=30 --max-cache-ttl=30 --min-cache-ttl=5 --neg-ttl=7 \
                     -0 1500 --strict-order --all-servers -p 5353 -a 127.0.0.1,::1 -u nobody",
        );
        assert!(!c.hosts.by_name.contains_key("localhost"));
        assert_eq!(
            c.hosts.by_name["extra.host"],
            vec!["10.9.9.9".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(c.hosts.reverse("9.9.9.10.in-addr.arpa"), Some("extra.host"));
        assert_eq!(
            (c.max_ttl, c.max_cache_ttl, c.min_cache_ttl),
            (Some(30), Some(30), 5)
        );
        assert_eq!(c.neg_ttl, Some(7));
        assert_eq!(c.forward_max, 1500);
        assert!(c.strict_order && c.all_servers);
        assert_eq!(c.port, 5353);
        assert_eq!(c.listen_addresses.len(), 2);
        assert_eq!(c.user.as_deref(), Some("nobody"));
        let c =
            cfg("-h --host-record=h1.bench.test,10.0.0.1 --host-record=a.x,b.x,10.0.0.2,::2,3600");
        assert_eq!(
            c.hosts.by_name["h1.bench.test"],
            vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(c.hosts.by_name["b.x"].len(), 2);
        assert_eq!(c.hosts.reverse("2.0.0.10.in-addr.arpa"), Some("a.x"));
        let c = cfg("--log-facility=/var/log/x.log --log-queries");
        assert_eq!(c.log_facility, LogTarget::File("/var/log/x.log".into()));
        assert!(c.log_queries);
    }
}
