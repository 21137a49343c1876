//! Command line of the `kubedns` binary: every legacy kube-dns flag with the exact names, forms
//! and defaults of the Go binary (spf13/pflag + glog/klog), plus the new flags of this
//! implementation (all with legacy-compatible defaults).
//!
//! The parser is a pure function ([`parse`]) over the argument list and an environment map, so it
//! is unit-tested without touching the process. It follows pflag rather than clap because a
//! drop-in must accept exactly what old manifests pass:
//!
//! * `--flag=value` and `--flag value`; `_` and `-` are interchangeable in names
//!   (pflag `WordSepNormalizeFunc`);
//! * boolean flags take no separate value: `--x` means true, `--x=true|false|1|0|t|f…`
//!   (Go `strconv.ParseBool`);
//! * one-letter glog flags also have a single-dash shorthand (`-v=2`, `-v 2`, `-v2`);
//! * durations use Go syntax (`10s`, `1m30s`, `500ms`);
//! * a bare `--` ends flag parsing; positional arguments are collected and ignored, as pflag did;
//! * an unknown or malformed flag is an error (the binary prints one line and exits 2).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::validate::{ValidationError, parse_federations, parse_nameserver};

mod flags;
mod go;

pub use flags::usage;
use flags::{Kind, Spec, lookup};
pub use go::expand_env;
pub use serverkit::flags::{parse_go_bool, parse_go_duration, parse_go_int};

/// Default cluster domain (legacy `--domain`).
pub const DEFAULT_DOMAIN: &str = "cluster.local.";
/// Version string printed by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors from [`parse`]. Every variant renders as one line suitable for stderr.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CliError {
    /// `--help` / `-h`: print usage and exit 0.
    #[error("help requested")]
    Help,
    /// A flag that kube-dns never had.
    #[error("unknown flag: {0}")]
    UnknownFlag(String),
    /// A flag that needs a value got none.
    #[error("flag needs an argument: {0}")]
    MissingValue(String),
    /// A value that does not parse or validate.
    #[error("invalid argument {value:?} for \"{flag}\" flag: {reason}")]
    InvalidValue {
        /// Normalised flag name with dashes (`--dns-port`).
        flag: String,
        /// The offending value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Two flags that cannot be combined.
    #[error("{0}")]
    Conflict(String),
    /// A malformed environment variable.
    #[error("invalid environment variable {name}={value:?}: {reason}")]
    InvalidEnv {
        /// Variable name.
        name: String,
        /// Its value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// What `--version` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionMode {
    /// `--version` / `--version=true`: one short line.
    Short,
    /// `--version=raw`: the full build information.
    Raw,
}

/// Where the ConfigMap data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Neither `--config-dir` nor `--config-map`: `--federations`/`--nameservers` apply.
    None,
    /// `--config-dir`, polled every `period`.
    Dir {
        /// Directory holding one file per ConfigMap key.
        path: PathBuf,
        /// `--config-period`.
        period: Duration,
    },
    /// `--config-map` read through the API.
    ConfigMap {
        /// ConfigMap name.
        name: String,
        /// `--config-map-namespace`.
        namespace: String,
    },
}

/// Which API resource supplies endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSourceMode {
    /// EndpointSlices, falling back to Endpoints when slices are forbidden (403) or absent (404).
    Auto,
    /// Only `discovery.k8s.io/v1` EndpointSlices.
    EndpointSlices,
    /// Only core/v1 Endpoints (what legacy kube-dns watched).
    Endpoints,
}

/// Prometheus listener settings from the legacy environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusOptions {
    /// `PROMETHEUS_PORT`.
    pub port: u16,
    /// `PROMETHEUS_PATH` (default `/metrics`).
    pub path: String,
    /// `PROMETHEUS_NAMESPACE` (default `skydns`).
    pub namespace: String,
    /// `PROMETHEUS_SUBSYSTEM` (default `skydns`).
    pub subsystem: String,
}

/// Resource limits of the DNS server (new flags; `None` = the server's built-in default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOptions {
    /// `--max-tcp-connections`.
    pub max_tcp_connections: Option<usize>,
    /// `--tcp-idle-timeout`.
    pub tcp_idle_timeout: Option<Duration>,
    /// `--max-tcp-queries`.
    pub max_queries_per_tcp_connection: Option<usize>,
    /// `--max-inflight-udp`.
    pub max_inflight_udp: Option<usize>,
    /// `--max-udp-payload`.
    pub max_udp_payload: Option<u16>,
    /// `--reply-cache-entries` (0 = reply caches off).
    pub reply_cache_entries: Option<usize>,
}

/// Fully validated options of one `kubedns` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--domain`, normalised to lowercase labels with one trailing dot.
    pub domain: String,
    /// `--dns-port`.
    pub dns_port: u16,
    /// `--dns-bind-address`.
    pub dns_bind_address: IpAddr,
    /// `--healthz-port`.
    pub healthz_port: u16,
    /// `--kubecfg-file`.
    pub kubecfg_file: Option<PathBuf>,
    /// `--kube-master-url` after `$VAR` expansion and validation.
    pub kube_master_url: Option<String>,
    /// `--config-dir` / `--config-map`.
    pub config_source: ConfigSource,
    /// `--federations` (only used when `config_source` is `None`).
    pub federations: BTreeMap<String, String>,
    /// `--nameservers` (only used when `config_source` is `None`).
    pub nameservers: Vec<SocketAddr>,
    /// `--initial-sync-timeout` (`None` when set to 0: wait forever).
    pub initial_sync_timeout: Option<Duration>,
    /// `--profiling` (accepted; pprof has no Rust equivalent, see docs).
    pub profiling: bool,
    /// `--version`.
    pub version: Option<VersionMode>,
    /// glog `--v` verbosity.
    pub verbosity: i32,
    /// Prometheus listener (only when `PROMETHEUS_PORT` is set).
    pub prometheus: Option<PrometheusOptions>,
    /// `--dns-ttl`: TTL of cluster records.
    pub dns_ttl: u32,
    /// `--lame-duck`: how long DNS keeps answering after SIGTERM while not ready.
    pub lame_duck: Duration,
    /// `--drain-timeout`: deadline for in-flight work after the lame-duck period.
    pub drain_timeout: Duration,
    /// `--endpoint-source`.
    pub endpoint_source: EndpointSourceMode,
    /// `--udp-sockets`: number of SO_REUSEPORT UDP sockets (0 = one per CPU).
    pub udp_sockets: usize,
    /// `--resolv-conf`: file read for fallback upstreams.
    pub resolv_conf: PathBuf,
    /// DNS server limits.
    pub limits: LimitOptions,
    /// Positional arguments pflag would have ignored (logged once at start).
    pub ignored_args: Vec<String>,
}

/// (Go `url.Parse` + `u.Scheme != "" && u.Host != ""`).
pub fn validate_master_url(raw: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let expanded = expand_env(raw, env);
    let Some((scheme, rest)) = expanded.split_once("://") else {
        return Err("URL must have scheme and host".into());
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if !scheme_ok || host.is_empty() || host == ":" {
        return Err("URL must have scheme and host".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("invalid character in host".into());
    }
    Ok(expanded)
}

/// Legacy `--domain` handling: strip one trailing dot, every label must be a lowercase DNS-1123
/// label, then append the dot.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let trimmed = raw.strip_suffix('.').unwrap_or(raw);
    if trimmed.is_empty() {
        return Err("domain must not be empty".into());
    }
    for label in trimmed.split('.') {
        if !crate::config::validate::is_dns1123_label(label) {
            return Err(format!("label {label:?} is not a valid DNS-1123 label"));
        }
    }
    Ok(format!("{trimmed}."))
}

fn invalid(flag: &str, value: &str, reason: impl Into<String>) -> CliError {
    CliError::InvalidValue {
        flag: format!("--{flag}"),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Check one value against its kind (pflag validates in `Set`, at parse time).
fn check_kind(spec: &Spec, value: &str) -> Result<(), CliError> {
    let ok = match spec.kind {
        Kind::Str => true,
        Kind::Int => parse_go_int(value).is_some(),
        Kind::Bool => parse_go_bool(value).is_some(),
        Kind::Version => value == "raw" || parse_go_bool(value).is_some(),
        Kind::Duration => {
            return parse_go_duration(value)
                .map(|_| ())
                .map_err(|e| invalid(spec.name, value, e));
        }
    };
    if ok {
        Ok(())
    } else {
        let what = match spec.kind {
            Kind::Int => "not an integer",
            Kind::Version => "must be true, false or raw",
            _ => "not a boolean",
        };
        Err(invalid(spec.name, value, what))
    }
}

/// Raw flag values after the first pass.
struct Raw(HashMap<&'static str, String>);

impl Raw {
    fn get(&self, name: &'static str) -> &str {
        match self.0.get(name) {
            Some(v) => v,
            None => lookup(name).map(|s| s.default).unwrap_or(""),
        }
    }
    fn is_set(&self, name: &'static str) -> bool {
        self.0.contains_key(name)
    }
    fn int<T: TryFrom<i64>>(&self, name: &'static str) -> Result<T, CliError> {
        let v = self.get(name);
        parse_go_int(v)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| invalid(name, v, "out of range"))
    }
    fn opt_int<T: TryFrom<i64>>(&self, name: &'static str) -> Result<Option<T>, CliError> {
        if self.get(name).is_empty() {
            Ok(None)
        } else {
            self.int(name).map(Some)
        }
    }
    fn duration(&self, name: &'static str) -> Result<Duration, CliError> {
        let v = self.get(name);
        parse_go_duration(v).map_err(|e| invalid(name, v, e))
    }
    fn opt_duration(&self, name: &'static str) -> Result<Option<Duration>, CliError> {
        if self.get(name).is_empty() {
            Ok(None)
        } else {
            self.duration(name).map(Some)
        }
    }
    fn bool(&self, name: &'static str) -> bool {
        parse_go_bool(self.get(name)).unwrap_or(false)
    }
    fn opt_str(&self, name: &'static str) -> Option<String> {
        Some(self.get(name))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
}

/// First pass: split the argument list into (flag, value) pairs following pflag's rules.
fn scan(args: &[String]) -> Result<(Raw, Vec<String>), CliError> {
    let mut values = HashMap::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        let (name, inline, shorthand) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.replace('_', "-"), Some(v.to_string()), false),
                None => (long.replace('_', "-"), None, false),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // pflag shorthand: only one-letter flags; `-v=2`, `-v 2`, `-v2`.
            let mut chars = short.chars();
            let c = chars.next().map(String::from).unwrap_or_default();
            let after = chars.as_str();
            if c == "h" && after.is_empty() {
                return Err(CliError::Help);
            }
            if lookup(&c).is_none() {
                return Err(CliError::UnknownFlag(format!(
                    "unknown shorthand flag: {c:?} in {arg}"
                )));
            }
            let inline = if after.is_empty() {
                None
            } else {
                Some(after.strip_prefix('=').unwrap_or(after).to_string())
            };
            (c, inline, true)
        } else {
            positional.push(arg.clone());
            continue;
        };
        if name == "help" && inline.is_none() {
            return Err(CliError::Help);
        }
        let Some(spec) = lookup(&name) else {
            return Err(CliError::UnknownFlag(format!("--{name}")));
        };
        let value = match (inline, spec.kind) {
            (Some(v), _) => v,
            (None, Kind::Bool | Kind::Version) => "true".to_string(),
            (None, _) => match args.get(i) {
                // pflag takes the next argument as the value, whatever it looks like, except
                // that a missing argument is an error.
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => {
                    let shown = if shorthand {
                        format!("-{name}")
                    } else {
                        format!("--{name}")
                    };
                    return Err(CliError::MissingValue(shown));
                }
            },
        };
        check_kind(spec, &value)?;
        values.insert(spec.name, value);
    }
    Ok((Raw(values), positional))
}

fn env_var<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn prometheus_from_env(
    env: &HashMap<String, String>,
) -> Result<Option<PrometheusOptions>, CliError> {
    let Some(port) = env_var(env, "PROMETHEUS_PORT") else {
        return Ok(None);
    };
    let port = port
        .trim()
        .parse::<u16>()
        .map_err(|e| CliError::InvalidEnv {
            name: "PROMETHEUS_PORT".into(),
            value: port.into(),
            reason: e.to_string(),
        })?;
    let mut path = env_var(env, "PROMETHEUS_PATH")
        .unwrap_or("/metrics")
        .to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    Ok(Some(PrometheusOptions {
        port,
        path,
        namespace: env_var(env, "PROMETHEUS_NAMESPACE")
            .unwrap_or("skydns")
            .to_string(),
        subsystem: env_var(env, "PROMETHEUS_SUBSYSTEM")
            .unwrap_or("skydns")
            .to_string(),
    }))
}

fn validation(flag: &'static str, value: &str) -> impl FnOnce(ValidationError) -> CliError {
    let value = value.to_string();
    move |e| invalid(flag, &value, e.to_string())
}

/// Parse the arguments (without the program name) and the environment into [`Options`].
pub fn parse(args: &[String], env: &HashMap<String, String>) -> Result<Options, CliError> {
    let (raw, ignored_args) = scan(args)?;

    let domain =
        normalize_domain(raw.get("domain")).map_err(|e| invalid("domain", raw.get("domain"), e))?;
    let dns_bind_address = raw.get("dns-bind-address").parse::<IpAddr>().map_err(|_| {
        invalid(
            "dns-bind-address",
            raw.get("dns-bind-address"),
            "not an IP address",
        )
    })?;
    let kube_master_url = match raw.opt_str("kube-master-url") {
        Some(u) => {
            Some(validate_master_url(&u, env).map_err(|e| invalid("kube-master-url", &u, e))?)
        }
        None => None,
    };

    let config_source = match (raw.opt_str("config-dir"), raw.opt_str("config-map")) {
        (Some(_), Some(_)) => {
            return Err(CliError::Conflict(
                "only one of --config-dir and --config-map may be set".into(),
            ));
        }
        (Some(dir), None) => {
            let period = raw.duration("config-period")?;
            if period.is_zero() {
                return Err(invalid(
                    "config-period",
                    raw.get("config-period"),
                    "must be positive",
                ));
            }
            ConfigSource::Dir {
                path: PathBuf::from(dir),
                period,
            }
        }
        (None, Some(name)) => {
            let namespace = raw.get("config-map-namespace").to_string();
            if namespace.is_empty() {
                return Err(invalid("config-map-namespace", "", "must not be empty"));
            }
            ConfigSource::ConfigMap { name, namespace }
        }
        (None, None) => ConfigSource::None,
    };

    let fed_raw = raw.get("federations");
    let federations = parse_federations(fed_raw).map_err(validation("federations", fed_raw))?;
    let ns_raw = raw.get("nameservers");
    let mut nameservers = Vec::new();
    for item in ns_raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        nameservers.push(parse_nameserver(item).map_err(validation("nameservers", ns_raw))?);
    }

    let initial_sync_timeout = Some(raw.duration("initial-sync-timeout")?).filter(|d| !d.is_zero());
    let version = if raw.is_set("version") {
        match raw.get("version") {
            "raw" => Some(VersionMode::Raw),
            v if parse_go_bool(v) == Some(true) => Some(VersionMode::Short),
            _ => None,
        }
    } else {
        None
    };

    let endpoint_source = match raw.get("endpoint-source") {
        "auto" => EndpointSourceMode::Auto,
        "endpointslices" => EndpointSourceMode::EndpointSlices,
        "endpoints" => EndpointSourceMode::Endpoints,
        other => {
            return Err(invalid(
                "endpoint-source",
                other,
                "must be auto, endpointslices or endpoints",
            ));
        }
    };

    let limits = LimitOptions {
        max_tcp_connections: raw.opt_int("max-tcp-connections")?,
        tcp_idle_timeout: raw.opt_duration("tcp-idle-timeout")?,
        max_queries_per_tcp_connection: raw.opt_int("max-tcp-queries")?,
        max_inflight_udp: raw.opt_int("max-inflight-udp")?,
        max_udp_payload: raw.opt_int("max-udp-payload")?,
        reply_cache_entries: raw.opt_int("reply-cache-entries")?,
    };
    if let Some(p) = limits.max_udp_payload
        && p < 512
    {
        return Err(invalid(
            "max-udp-payload",
            raw.get("max-udp-payload"),
            "must be at least 512",
        ));
    }
    for (name, zero) in [
        ("max-tcp-connections", limits.max_tcp_connections == Some(0)),
        (
            "max-tcp-queries",
            limits.max_queries_per_tcp_connection == Some(0),
        ),
        ("max-inflight-udp", limits.max_inflight_udp == Some(0)),
        (
            "tcp-idle-timeout",
            limits.tcp_idle_timeout == Some(Duration::ZERO),
        ),
    ] {
        if zero {
            return Err(invalid(name, raw.get(name), "must be positive"));
        }
    }

    Ok(Options {
        domain,
        dns_port: raw.int("dns-port")?,
        dns_bind_address,
        healthz_port: raw.int("healthz-port")?,
        kubecfg_file: raw.opt_str("kubecfg-file").map(PathBuf::from),
        kube_master_url,
        config_source,
        federations,
        nameservers,
        initial_sync_timeout,
        profiling: raw.bool("profiling"),
        version,
        verbosity: raw.int("v")?,
        prometheus: prometheus_from_env(env)?,
        dns_ttl: raw.int("dns-ttl")?,
        lame_duck: raw.duration("lame-duck")?,
        drain_timeout: raw.duration("drain-timeout")?,
        endpoint_source,
        udp_sockets: raw.int("udp-sockets")?,
        resolv_conf: PathBuf::from(raw.get("resolv-conf")),
        limits,
        ignored_args,
    })
}

/// The text printed by `--version` (`raw` mimics Go's `version.Info` dump).
pub fn version_text(mode: VersionMode) -> String {
    match mode {
        VersionMode::Short => format!("Kubernetes v{VERSION} (kube-dns-rs)"),
        VersionMode::Raw => format!(
            "version.Info{{Major:\"\", Minor:\"\", GitVersion:\"v{VERSION}\", GitCommit:\"\", \
             GitTreeState:\"\", BuildDate:\"\", GoVersion:\"\", Compiler:\"rustc\", \
             Platform:\"{}/{}\"}}",
            std::env::consts::OS,
            std::env::consts::ARCH
        ),
    }
}

/// Default tracing filter for a glog verbosity (`RUST_LOG` overrides it):
/// `--v` ≤ 2 (what manifests pass) → info; 3–5 → debug for kubedns without per-query lines;
/// 6–7 → also one debug line per query; ≥ 8 → trace. hickory is always held at warn.
pub fn tracing_filter_for(verbosity: i32) -> String {
    let level = match verbosity {
        i32::MIN..=2 => "info",
        3..=5 => "info,kubedns=debug,kubedns::dns::handler=info",
        6..=7 => "info,kubedns=debug",
        _ => "trace",
    };
    format!("{level},hickory_server=warn,hickory_proto=warn,hyper=info,h2=info")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracing_levels() {
        assert!(tracing_filter_for(0).starts_with("info,"));
        assert!(tracing_filter_for(2).starts_with("info,hickory"));
        assert!(tracing_filter_for(4).contains("kubedns::dns::handler=info"));
        assert!(tracing_filter_for(6).contains("kubedns=debug"));
        assert!(tracing_filter_for(9).starts_with("trace"));
        assert!(tracing_filter_for(2).contains("hickory_server=warn"));
    }
}
