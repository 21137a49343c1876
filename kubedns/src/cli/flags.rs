//! The flag table of `kubedns`: every accepted flag with its kind, default and help text, and
//! the `--help` text. Names use dashes; `_` is normalised to `-` before lookup.

use serverkit::flags::{GLOG_FLAGS, GlogKind};

use super::options::DEFAULT_DOMAIN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    Int,
    Bool,
    Duration,
    /// `--version`: bool-like with the extra value `raw`.
    Version,
}

/// One flag of the table.
#[derive(Clone, Copy)]
pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) default: &'static str,
    pub(super) help: &'static str,
    /// Accepted for compatibility and otherwise ignored (glog/klog knobs).
    pub(super) logging: bool,
}

const fn flag(name: &'static str, kind: Kind, default: &'static str, help: &'static str) -> Spec {
    Spec {
        name,
        kind,
        default,
        help,
        logging: false,
    }
}

/// The glog/klog flags ([`serverkit::flags::GLOG_FLAGS`]) as entries of this table: accepted;
/// only `--v` has an effect.
static LOG_FLAGS: [Spec; GLOG_FLAGS.len()] = {
    let mut out = [flag("", Kind::Str, "", ""); GLOG_FLAGS.len()];
    let mut i = 0;
    while i < GLOG_FLAGS.len() {
        let g = &GLOG_FLAGS[i];
        let kind = match g.kind {
            GlogKind::Bool => Kind::Bool,
            GlogKind::Int => Kind::Int,
            GlogKind::Str => Kind::Str,
            GlogKind::Duration => Kind::Duration,
        };
        out[i] = Spec {
            name: g.name,
            kind,
            default: g.default,
            help: g.help,
            logging: true,
        };
        i += 1;
    }
    out
};

/// Every accepted flag but the logging ones ([`LOG_FLAGS`]). Names use dashes; `_` is
/// normalised to `-` before lookup.
pub(super) const FLAGS: &[Spec] = &[
    // Legacy kube-dns flags (kubernetes/dns cmd/kube-dns/app/options).
    flag(
        "domain",
        Kind::Str,
        DEFAULT_DOMAIN,
        "domain to serve, e.g. cluster.local.",
    ),
    flag(
        "dns-port",
        Kind::Int,
        "53",
        "port on which to serve DNS requests (UDP and TCP)",
    ),
    flag(
        "dns-bind-address",
        Kind::Str,
        "0.0.0.0",
        "address on which to serve DNS requests",
    ),
    flag(
        "healthz-port",
        Kind::Int,
        "8081",
        "port for /readiness, /cache and /healthz",
    ),
    flag(
        "kubecfg-file",
        Kind::Str,
        "",
        "kubeconfig file for API access",
    ),
    flag(
        "kube-master-url",
        Kind::Str,
        "",
        "URL of the API server ($VARS expanded)",
    ),
    flag(
        "config-dir",
        Kind::Str,
        "",
        "directory holding the kube-dns ConfigMap keys as files",
    ),
    flag(
        "config-period",
        Kind::Duration,
        "10s",
        "poll period of --config-dir",
    ),
    flag(
        "config-map",
        Kind::Str,
        "",
        "ConfigMap read through the API (mutually exclusive with --config-dir)",
    ),
    flag(
        "config-map-namespace",
        Kind::Str,
        "kube-system",
        "namespace of --config-map",
    ),
    flag(
        "federations",
        Kind::Str,
        "",
        "deprecated: name=domain[,name=domain] (only without a config source)",
    ),
    flag(
        "nameservers",
        Kind::Str,
        "",
        "comma list of ip[:port] upstreams (only without a config source)",
    ),
    flag(
        "initial-sync-timeout",
        Kind::Duration,
        "60s",
        "exit if Services/Endpoints are not synced in time (0 = wait forever)",
    ),
    flag(
        "profiling",
        Kind::Bool,
        "false",
        "accepted for compatibility; pprof is not available",
    ),
    flag(
        "version",
        Kind::Version,
        "false",
        "print version information and quit (true|false|raw)",
    ),
    // New flags (defaults keep legacy behaviour).
    flag(
        "dns-ttl",
        Kind::Int,
        "30",
        "TTL of records served from cluster data",
    ),
    flag(
        "lame-duck",
        Kind::Duration,
        "5s",
        "after SIGTERM: keep answering DNS (not ready) this long",
    ),
    flag(
        "drain-timeout",
        Kind::Duration,
        "5s",
        "after the lame-duck period: deadline for in-flight work",
    ),
    flag(
        "endpoint-source",
        Kind::Str,
        "auto",
        "auto|endpointslices|endpoints",
    ),
    flag(
        "udp-sockets",
        Kind::Int,
        "0",
        "number of SO_REUSEPORT UDP sockets (0 = one per CPU)",
    ),
    flag(
        "resolv-conf",
        Kind::Str,
        "/etc/resolv.conf",
        "resolv.conf read for fallback upstreams",
    ),
    flag(
        "max-tcp-connections",
        Kind::Int,
        "",
        "cap on concurrent DNS TCP connections (default: built-in, 1024)",
    ),
    flag(
        "tcp-idle-timeout",
        Kind::Duration,
        "",
        "idle timeout of a DNS TCP connection (default: built-in, 10s)",
    ),
    flag(
        "max-tcp-queries",
        Kind::Int,
        "",
        "queries served per DNS TCP connection (default: built-in, 100)",
    ),
    flag(
        "max-inflight-udp",
        Kind::Int,
        "",
        "cap on UDP queries waiting on an upstream (default: built-in, 1024)",
    ),
    flag(
        "max-udp-payload",
        Kind::Int,
        "",
        "largest UDP answer with EDNS (default: built-in, 1232)",
    ),
    flag(
        "reply-cache-entries",
        Kind::Int,
        "",
        "entries of each UDP loop's reply cache; 0 turns the reply caches off (default: built-in, 8192)",
    ),
];

pub(super) fn lookup(name: &str) -> Option<&'static Spec> {
    FLAGS.iter().chain(&LOG_FLAGS).find(|s| s.name == name)
}

/// Usage text printed for `--help`.
pub fn usage() -> String {
    let mut out = String::from("Usage of kubedns:\n");
    let mut in_logging = false;
    for s in FLAGS.iter().chain(&LOG_FLAGS) {
        if s.logging && !in_logging {
            in_logging = true;
            out.push_str("Logging flags (glog/klog, accepted for compatibility):\n");
        }
        let ty = match s.kind {
            Kind::Str => " string",
            Kind::Int => " int",
            Kind::Bool | Kind::Version => "",
            Kind::Duration => " duration",
        };
        let short = if s.name.len() == 1 {
            format!("-{}, ", s.name)
        } else {
            "    ".into()
        };
        let default = if s.default.is_empty() || s.default == "false" {
            String::new()
        } else {
            format!(" (default {:?})", s.default)
        };
        out.push_str(&format!(
            "  {short}--{}{ty}\n        {}{default}\n",
            s.name, s.help
        ));
    }
    out
}
