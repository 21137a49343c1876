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

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::validate::{parse_federations, parse_nameserver};

mod flags;
mod go;
mod options;
mod scan;
mod values;

pub use flags::usage;
pub use go::expand_env;
pub use options::{
    CliError, ConfigSource, DEFAULT_DOMAIN, EndpointSourceMode, LimitOptions, Options,
    PrometheusOptions, VERSION, VersionMode,
};
use scan::{invalid, scan};
pub use serverkit::flags::{parse_go_bool, parse_go_duration, parse_go_int};
pub use values::{normalize_domain, validate_master_url};
use values::{prometheus_from_env, validation};

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
