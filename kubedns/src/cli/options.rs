//! The result of parsing the command line: the validated [`Options`] of one run with their
//! parts, the defaults every other `cli` module refers to, and [`CliError`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Default cluster domain (legacy `--domain`).
pub const DEFAULT_DOMAIN: &str = "cluster.local.";
/// Version string printed by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors from [`super::parse`]. Every variant renders as one line suitable for stderr.
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
