//! Unit tests of the pure flag parser `kubedns::cli::parse`: legacy manifest argument lists of
//! every era, pflag forms, glog flags, validation and environment variables.

use std::collections::HashMap;
use std::time::Duration;

use kubedns::cli::{CliError, ConfigSource, EndpointSourceMode, Options, VersionMode, parse};

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(s: &str) -> Options {
    parse(&args(s), &HashMap::new()).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> CliError {
    match parse(&args(s), &HashMap::new()) {
        Ok(o) => panic!("{s:?} should fail, got {o:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_match_legacy() {
    let o = ok("");
    assert_eq!(o.domain, "cluster.local.");
    assert_eq!(o.dns_port, 53);
    assert_eq!(o.dns_bind_address.to_string(), "0.0.0.0");
    assert_eq!(o.healthz_port, 8081);
    assert_eq!(o.kubecfg_file, None);
    assert_eq!(o.kube_master_url, None);
    assert_eq!(o.config_source, ConfigSource::None);
    assert!(o.federations.is_empty());
    assert!(o.nameservers.is_empty());
    assert_eq!(o.initial_sync_timeout, Some(Duration::from_secs(60)));
    assert!(!o.profiling);
    assert_eq!(o.version, None);
    assert_eq!(o.verbosity, 0);
    assert_eq!(o.prometheus, None);
    assert_eq!(o.dns_ttl, 30);
    assert_eq!(o.lame_duck, Duration::from_secs(5));
    assert_eq!(o.endpoint_source, EndpointSourceMode::Auto);
    assert_eq!(o.resolv_conf.to_str(), Some("/etc/resolv.conf"));
}

#[test]
fn manifest_1_14_config_dir() {
    let o = ok("--domain=cluster.local. --dns-port=10053 --config-dir=/kube-dns-config --v=2");
    assert_eq!(o.dns_port, 10053);
    assert_eq!(o.verbosity, 2);
    assert_eq!(
        o.config_source,
        ConfigSource::Dir {
            path: "/kube-dns-config".into(),
            period: Duration::from_secs(10)
        }
    );
}

#[test]
fn manifest_1_5_config_map() {
    let o = ok("--domain=cluster.local. --dns-port=10053 --config-map=kube-dns --v=0");
    assert_eq!(
        o.config_source,
        ConfigSource::ConfigMap {
            name: "kube-dns".into(),
            namespace: "kube-system".into()
        }
    );
}

#[test]
fn early_manifests() {
    // Kubernetes 1.2–1.4 era: underscores, kubecfg file, federations flag.
    let o = ok(
        "--domain=cluster.local --dns-port=10053 --kubecfg_file=/x --federations=myfed=example.com",
    );
    assert_eq!(o.domain, "cluster.local.");
    assert_eq!(o.kubecfg_file.as_deref(), Some(std::path::Path::new("/x")));
    assert_eq!(
        o.federations.get("myfed").map(String::as_str),
        Some("example.com")
    );
    let o = ok(
        "--domain=cluster.local. --dns-port=10053 --kube-master-url=http://127.0.0.1:8080 --healthz-port=8081",
    );
    assert_eq!(o.kube_master_url.as_deref(), Some("http://127.0.0.1:8080"));
}

#[test]
fn space_separated_values_and_repeats() {
    let o = ok(
        "--dns-port 10053 --domain example.org --config-dir /cfg --config-period 1m30s --dns-port 5353",
    );
    assert_eq!(o.dns_port, 5353, "last occurrence wins");
    assert_eq!(o.domain, "example.org.");
    assert_eq!(
        o.config_source,
        ConfigSource::Dir {
            path: "/cfg".into(),
            period: Duration::from_secs(90)
        }
    );
}

#[test]
fn bool_forms() {
    assert!(ok("--profiling").profiling);
    assert!(ok("--profiling=true").profiling);
    assert!(!ok("--profiling=false").profiling);
    assert!(ok("--profiling=1").profiling);
    // pflag: a bool flag never consumes the next argument.
    let o = ok("--profiling false");
    assert!(o.profiling);
    assert_eq!(o.ignored_args, vec!["false"]);
    assert!(matches!(
        err("--profiling=maybe"),
        CliError::InvalidValue { .. }
    ));
}

#[test]
fn glog_and_klog_flags_accepted() {
    let o = ok(
        "--v=4 --vmodule=dns*=5 --logtostderr --alsologtostderr=false --log-dir=/tmp \
                --log_backtrace_at=foo.go:10 --stderrthreshold=ERROR --log-flush-frequency=5s \
                --log-file=/tmp/x --skip-headers --skip_log_headers=true --add-dir-header --one-output \
                --log-file-max-size=100",
    );
    assert_eq!(o.verbosity, 4);
    assert_eq!(ok("-v=3").verbosity, 3);
    assert_eq!(ok("-v 5").verbosity, 5);
    assert_eq!(ok("-v7").verbosity, 7);
    assert!(matches!(err("--v=high"), CliError::InvalidValue { .. }));
    assert!(matches!(
        err("--log-flush-frequency=soon"),
        CliError::InvalidValue { .. }
    ));
}

#[test]
fn version_forms() {
    assert_eq!(ok("--version").version, Some(VersionMode::Short));
    assert_eq!(ok("--version=true").version, Some(VersionMode::Short));
    assert_eq!(ok("--version=raw").version, Some(VersionMode::Raw));
    assert_eq!(ok("--version=false").version, None);
    assert!(matches!(
        err("--version=bogus"),
        CliError::InvalidValue { .. }
    ));
}

#[test]
fn unknown_and_malformed_flags() {
    assert!(matches!(err("--no-such-flag"), CliError::UnknownFlag(_)));
    assert!(matches!(err("-x"), CliError::UnknownFlag(_)));
    assert!(matches!(err("-domain=foo"), CliError::UnknownFlag(_)));
    assert!(matches!(err("--dns-port"), CliError::MissingValue(_)));
    assert!(matches!(
        err("--dns-port=abc"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("--dns-port=70000"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("--healthz-port=-1"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("--config-period=10"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("--initial-sync-timeout=1x"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("--dns-bind-address=localhost"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("--endpoint-source=pods"),
        CliError::InvalidValue { .. }
    ));
    assert_eq!(err("--help"), CliError::Help);
    assert_eq!(err("-h"), CliError::Help);
    // Every error renders as a single line.
    for e in [
        err("--nope"),
        err("--dns-port=x"),
        err("--config-dir=/a --config-map=b"),
    ] {
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

#[test]
fn domain_validation() {
    assert!(matches!(
        err("--domain=Example.local"),
        CliError::InvalidValue { .. }
    ));
    assert_eq!(ok("--domain=example.local").domain, "example.local.");
    assert!(matches!(
        err("--domain=bad_label.local"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(err("--domain=."), CliError::InvalidValue { .. }));
    assert!(matches!(
        err("--domain=a..b"),
        CliError::InvalidValue { .. }
    ));
}

#[test]
fn config_sources_conflict() {
    assert!(matches!(
        err("--config-dir=/a --config-map=kube-dns"),
        CliError::Conflict(_)
    ));
    let o = ok("--config-map=kube-dns --config-map-namespace=dns");
    assert_eq!(
        o.config_source,
        ConfigSource::ConfigMap {
            name: "kube-dns".into(),
            namespace: "dns".into()
        }
    );
    assert!(matches!(
        err("--config-dir=/a --config-period=0s"),
        CliError::InvalidValue { .. }
    ));
}

#[test]
fn federations_and_nameservers_flags() {
    assert_eq!(ok("--federations=a=b,cc=dd").federations.len(), 2);
    assert!(ok("--federations=").federations.is_empty());
    for bad in ["ccdd", "a=b,ccdd", "-", "a.b.c=d.e.f"] {
        assert!(
            matches!(
                err(&format!("--federations={bad}")),
                CliError::InvalidValue { .. }
            ),
            "{bad}"
        );
    }
    let o = ok("--nameservers=8.8.8.8,1.1.1.1:5353,[2001:db8::1]:53");
    let want: Vec<std::net::SocketAddr> = vec![
        "8.8.8.8:53".parse().unwrap(),
        "1.1.1.1:5353".parse().unwrap(),
        "[2001:db8::1]:53".parse().unwrap(),
    ];
    assert_eq!(o.nameservers, want);
    assert!(matches!(
        err("--nameservers=dns.google"),
        CliError::InvalidValue { .. }
    ));
}

#[test]
fn master_url_expansion_and_validation() {
    let e = env(&[
        ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
    ]);
    let o = parse(
        &args("--kube-master-url=https://${KUBERNETES_SERVICE_HOST}:$KUBERNETES_SERVICE_PORT"),
        &e,
    )
    .unwrap();
    assert_eq!(o.kube_master_url.as_deref(), Some("https://10.0.0.1:443"));
    for bad in [
        "10.0.0.1:8080",
        "http://",
        "localhost",
        "$UNSET",
        "http://:",
    ] {
        let r = parse(&args(&format!("--kube-master-url={bad}")), &e);
        assert!(
            matches!(r, Err(CliError::InvalidValue { .. })),
            "{bad} -> {r:?}"
        );
    }
}

#[test]
fn durations_and_new_flags() {
    let o = ok(
        "--initial-sync-timeout=500ms --lame-duck=0s --drain-timeout=1m --dns-ttl=5 \
                --endpoint-source=endpoints --udp-sockets=2 --max-tcp-connections=10 --tcp-idle-timeout=3s \
                --max-tcp-queries=50 --max-inflight-udp=100 --max-udp-payload=1400 --resolv-conf=/tmp/r",
    );
    assert_eq!(o.initial_sync_timeout, Some(Duration::from_millis(500)));
    assert_eq!(o.lame_duck, Duration::ZERO);
    assert_eq!(o.drain_timeout, Duration::from_secs(60));
    assert_eq!(o.dns_ttl, 5);
    assert_eq!(o.endpoint_source, EndpointSourceMode::Endpoints);
    assert_eq!(o.udp_sockets, 2);
    assert_eq!(o.limits.max_tcp_connections, Some(10));
    assert_eq!(o.limits.tcp_idle_timeout, Some(Duration::from_secs(3)));
    assert_eq!(o.limits.max_queries_per_tcp_connection, Some(50));
    assert_eq!(o.limits.max_inflight_udp, Some(100));
    assert_eq!(o.limits.max_udp_payload, Some(1400));
    assert_eq!(ok("--initial-sync-timeout=0").initial_sync_timeout, None);
    assert!(matches!(
        err("--max-udp-payload=100"),
        CliError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("--max-tcp-connections=0"),
        CliError::InvalidValue { .. }
    ));
}

#[test]
fn positional_and_double_dash() {
    let o = ok("--dns-port=10053 -- --not-a-flag extra");
    assert_eq!(o.ignored_args, vec!["--not-a-flag", "extra"]);
}

#[test]
fn prometheus_env() {
    let o = parse(&[], &env(&[("PROMETHEUS_PORT", "10055")])).unwrap();
    let p = o.prometheus.unwrap();
    assert_eq!(
        (
            p.port,
            p.path.as_str(),
            p.namespace.as_str(),
            p.subsystem.as_str()
        ),
        (10055, "/metrics", "skydns", "skydns")
    );
    let o = parse(
        &[],
        &env(&[
            ("PROMETHEUS_PORT", "9153"),
            ("PROMETHEUS_PATH", "/m"),
            ("PROMETHEUS_NAMESPACE", "ns"),
            ("PROMETHEUS_SUBSYSTEM", "sub"),
        ]),
    )
    .unwrap();
    let p = o.prometheus.unwrap();
    assert_eq!(
        (
            p.port,
            p.path.as_str(),
            p.namespace.as_str(),
            p.subsystem.as_str()
        ),
        (9153, "/m", "ns", "sub")
    );
    assert!(
        parse(&[], &env(&[("PROMETHEUS_PORT", "")]))
            .unwrap()
            .prometheus
            .is_none()
    );
    assert!(matches!(
        parse(&[], &env(&[("PROMETHEUS_PORT", "x")])),
        Err(CliError::InvalidEnv { .. })
    ));
}
