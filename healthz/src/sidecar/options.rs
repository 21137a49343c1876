//! Sidecar dialect options: the flag table, `--probe` parsing with the legacy
//! validation rules and messages (kubernetes/dns `cmd/sidecar/main.go`), and
//! [`SidecarConfig`].

use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};

use crate::dns::ServerAddr;
use crate::flags::{self, CliError, Command, Kind};
use crate::metrics::valid_namespace;

/// Default probe interval when the fourth field is absent.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Sidecar-specific flags (glog flags are in [`flags::glog_defs`]).
pub const FLAGS: &[(&str, Kind)] = &[
    ("probe", Kind::Value),
    ("dnsmasq-addr", Kind::Value),
    ("dnsmasq-port", Kind::Value),
    ("dnsmasq-poll-interval-ms", Kind::Value),
    ("prometheus-addr", Kind::Value),
    ("prometheus-port", Kind::Value),
    ("prometheus-path", Kind::Value),
    ("prometheus-namespace", Kind::Value),
    ("version", Kind::Bool),
];

/// One `--probe=<label>,<server>,<name>[,<interval>][,<type>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// `^[a-zA-Z0-9_]+$`; names the endpoint and the metrics.
    pub label: String,
    /// Server as given (`:53` appended when it has no `:`).
    pub server: String,
    /// Parsed server address.
    pub server_addr: ServerAddr,
    /// Query name, fully qualified (trailing `.`).
    pub name: String,
    /// Parsed query name.
    pub qname: Name,
    /// Probe period.
    pub interval: Duration,
    /// Query type (`A`, `AAAA`, `ANY`, `SRV`; default `ANY`).
    pub qtype: RecordType,
}

fn label_ok(label: &str) -> bool {
    !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one `--probe` value. Error texts contain the legacy substrings
/// (`invalid format to --probe`, `label must be of format`, `invalid syntax`,
/// `invalid type for DNS`).
pub fn parse_probe(value: &str) -> Result<ProbeSpec, String> {
    let splits: Vec<&str> = value.split(',').collect();
    if !(3..=5).contains(&splits.len()) {
        return Err("invalid format to --probe".into());
    }
    let label = splits[0].to_string();
    if !label_ok(&label) {
        return Err("label must be of format ^[a-zA-Z0-9_]+$".into());
    }
    let mut server = splits[1].to_string();
    if !server.contains(':') {
        server.push_str(":53");
    }
    let server_addr =
        ServerAddr::parse(&server).map_err(|e| format!("invalid server in --probe: {e}"))?;
    let mut name = splits[2].to_string();
    if !name.ends_with('.') {
        name.push('.');
    }
    let qname = Name::from_ascii(&name)
        .map_err(|e| format!("invalid DNS name {name:?} in --probe: {e}"))?;
    let mut interval = DEFAULT_PROBE_INTERVAL;
    if let Some(field) = splits.get(3) {
        // Go strconv.Atoi: optional sign, decimal digits.
        let secs: i64 = field
            .parse()
            .map_err(|_| format!("strconv.Atoi: parsing {field:?}: invalid syntax"))?;
        if secs <= 0 {
            return Err(format!(
                "invalid interval {field:?} in --probe: must be a positive number of seconds"
            ));
        }
        interval = Duration::from_secs(secs.unsigned_abs());
    }
    let mut qtype = RecordType::ANY;
    if let Some(t) = splits.get(4) {
        qtype = match *t {
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "ANY" => RecordType::ANY,
            "SRV" => RecordType::SRV,
            other => return Err(format!("invalid type for DNS: {other}")),
        };
    }
    Ok(ProbeSpec {
        label,
        server,
        server_addr,
        name,
        qname,
        interval,
        qtype,
    })
}

/// Complete sidecar configuration.
#[derive(Clone, Debug)]
pub struct SidecarConfig {
    /// dnsmasq address for statistics.
    pub dnsmasq_addr: String,
    /// dnsmasq port for statistics.
    pub dnsmasq_port: u16,
    /// Statistics poll period.
    pub dnsmasq_poll_interval: Duration,
    /// Probes, in flag order; labels are unique.
    pub probes: Vec<ProbeSpec>,
    /// HTTP bind address (used by `main`).
    pub prometheus_addr: String,
    /// HTTP port (used by `main`).
    pub prometheus_port: u16,
    /// Metrics path.
    pub prometheus_path: String,
    /// Metric name prefix.
    pub prometheus_namespace: String,
    /// glog `--v` level (mapped onto tracing levels by `main`).
    pub verbosity: u32,
}

impl Default for SidecarConfig {
    fn default() -> Self {
        Self {
            dnsmasq_addr: "127.0.0.1".into(),
            dnsmasq_port: 53,
            dnsmasq_poll_interval: Duration::from_millis(5000),
            probes: Vec::new(),
            prometheus_addr: "0.0.0.0".into(),
            prometheus_port: 10054,
            prometheus_path: "/metrics".into(),
            prometheus_namespace: "kubedns".into(),
            verbosity: 0,
        }
    }
}

impl SidecarConfig {
    /// The dnsmasq statistics target.
    pub fn dnsmasq_server(&self) -> ServerAddr {
        ServerAddr {
            host: self
                .dnsmasq_addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: self.dnsmasq_port,
        }
    }
}

/// Parses sidecar-dialect arguments.
pub fn parse(args: &[String]) -> Result<Command, CliError> {
    let defs: Vec<(&'static str, Kind)> = FLAGS.iter().copied().chain(flags::glog_defs()).collect();
    let mut cfg = SidecarConfig::default();
    let mut version = false;
    for (flag, value) in flags::tokenize(args, &defs, true)? {
        let bad = |e: String| CliError(format!("invalid argument {value:?} for --{flag}: {e}"));
        match flag {
            "help" => return Ok(Command::Help(usage())),
            "version" => version = flags::parse_bool(flag, &value)?,
            "probe" => {
                let p = parse_probe(&value).map_err(bad)?;
                if cfg.probes.iter().any(|q| q.label == p.label) {
                    return Err(bad(format!("duplicate probe label {:?}", p.label)));
                }
                cfg.probes.push(p);
            }
            "dnsmasq-addr" => cfg.dnsmasq_addr = value,
            "dnsmasq-port" => cfg.dnsmasq_port = flags::parse_port(flag, &value)?,
            "dnsmasq-poll-interval-ms" => {
                let ms: u64 = value
                    .parse()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| bad("must be a positive integer".into()))?;
                cfg.dnsmasq_poll_interval = Duration::from_millis(ms);
            }
            "prometheus-addr" => cfg.prometheus_addr = value,
            "prometheus-port" => cfg.prometheus_port = flags::parse_port(flag, &value)?,
            "prometheus-path" => {
                if !value.starts_with('/') || value.starts_with("/healthcheck/") {
                    return Err(bad(
                        "must start with / and not be under /healthcheck/".into()
                    ));
                }
                if value == "/healthz" {
                    return Err(bad("/healthz is reserved".into()));
                }
                cfg.prometheus_path = value;
            }
            "prometheus-namespace" => {
                if !valid_namespace(&value) {
                    return Err(bad("must match [a-zA-Z_:][a-zA-Z0-9_:]*".into()));
                }
                cfg.prometheus_namespace = value;
            }
            "v" => cfg.verbosity = value.parse().map_err(|_| bad("not a number".into()))?,
            // Remaining glog/klog flags are accepted for compatibility and ignored.
            _ => {}
        }
    }
    if version {
        return Ok(Command::Version);
    }
    Ok(Command::Run(crate::Config::Sidecar(cfg)))
}

fn usage() -> String {
    "Usage of healthz (k8s-dns-sidecar dialect):
      --dnsmasq-addr string              address that the dnsmasq server is listening on (default \"127.0.0.1\")
      --dnsmasq-port int                 port that the dnsmasq server is listening on (default 53)
      --dnsmasq-poll-interval-ms int     interval with which to poll dnsmasq for stats (default 5000)
      --probe <label>,<server>,<dns name>[,<interval_seconds>][,<type>]
                                         probe a DNS server; repeatable; health at /healthcheck/<label>;
                                         <type> is one of ANY, A, AAAA, SRV (default ANY)
      --prometheus-addr string           http addr to bind metrics server to (default \"0.0.0.0\")
      --prometheus-port int              http port to use to export prometheus metrics (default 10054)
      --prometheus-path string           http path used to export metrics (default \"/metrics\")
      --prometheus-namespace string      prometheus metric namespace (default \"kubedns\")
      --v int                            log verbosity (glog/klog flags are accepted)
      --version                          print the version and exit
The exechealthz dialect (-cmd, -url, -port, -period, -latency, -quiet) is selected by its flags.
"
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The legacy `TestProbeOptionsSet` table (kubernetes/dns `cmd/sidecar/probeoptions_test.go`).
    #[test]
    fn legacy_probe_option_cases() {
        const OK: &str = "";
        let cases = [
            (
                "kubedns,[127.0.0.1]:10053,kubernetes.default.svc.cluster.local,5,SRV",
                OK,
            ),
            (
                "dnsmasq,[127.0.0.1]:53,kubernetes.default.svc.cluster.local,5,SRV",
                OK,
            ),
            (
                "dnsmasq,[127.0.0.1]:53,kubernetes.default.svc.cluster.local,5,ANY",
                OK,
            ),
            (
                "dnsmasq,[127.0.0.1]:53,kubernetes.default.svc.cluster.local,5,A",
                OK,
            ),
            (
                "dnsmasq,[::1]:53,kubernetes.default.svc.cluster.local,5,AAAA",
                OK,
            ),
            (
                "dnsmasq,[::1]:53,kubernetes.default.svc.cluster.local,5,SRV",
                OK,
            ),
            (
                "dnsmasq,[::1]:53,kubernetes.default.svc.cluster.local,5",
                OK,
            ),
            ("dnsmasq,[::1]:53", "invalid format to --probe"),
            (
                "dnsmasq,[::1]:53,kubernetes.default.svc.cluster.local,5,SRV,BogusField",
                "invalid format to --probe",
            ),
            (
                "dn$m@s#,[::1]:53,kubernetes.default.svc.cluster.local,5,SRV",
                "label must be of format",
            ),
            (
                "dnsmasq,[::1]:53,kubernetes.default.svc.cluster.local,0.5,SRV",
                "invalid syntax",
            ),
            (
                "dnsmasq,[::1]:53,kubernetes.default.svc.cluster.local,5,BogusType",
                "invalid type for DNS",
            ),
        ];
        for (input, want) in cases {
            let got = parse_probe(input);
            if want.is_empty() {
                let p = got.unwrap_or_else(|e| panic!("{input}: unexpected error {e}"));
                let splits: Vec<&str> = input.split(',').collect();
                assert_eq!(p.label, splits[0]);
                assert_eq!(p.server, splits[1]);
                assert_eq!(p.name, format!("{}.", splits[2]));
                assert_eq!(p.interval, Duration::from_secs(5));
                let want_type = match splits.get(4).copied() {
                    Some("A") => RecordType::A,
                    Some("AAAA") => RecordType::AAAA,
                    Some("SRV") => RecordType::SRV,
                    _ => RecordType::ANY,
                };
                assert_eq!(p.qtype, want_type, "{input}");
            } else {
                let e = got.expect_err(input);
                assert!(e.contains(want), "{input}: {e} does not contain {want}");
            }
        }
    }

    #[test]
    fn probe_defaults_and_extras() {
        let p = parse_probe("kubedns,127.0.0.1,kubernetes.default.svc.cluster.local.").unwrap();
        assert_eq!(p.server, "127.0.0.1:53");
        assert_eq!(p.name, "kubernetes.default.svc.cluster.local.");
        assert_eq!(p.interval, DEFAULT_PROBE_INTERVAL);
        assert_eq!(p.qtype, RecordType::ANY);
        assert!(parse_probe("a,127.0.0.1:53,x,0").is_err());
        assert!(parse_probe("a,127.0.0.1:53,x,-5").is_err());
        assert!(parse_probe(",127.0.0.1:53,x").is_err());
        assert!(parse_probe("a,127.0.0.1:53,x,5,srv").is_err());
    }

    fn run_cfg(args: &[&str]) -> Result<SidecarConfig, CliError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Run(crate::Config::Sidecar(c)) => Ok(c),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn manifest_invocations() {
        // Current reference manifest (kube-dns.yaml.base).
        let c = run_cfg(&[
            "--v=2",
            "--logtostderr",
            "--probe=kubedns,127.0.0.1:10053,kubernetes.default.svc.cluster.local,5,SRV",
            "--probe=dnsmasq,127.0.0.1:53,kubernetes.default.svc.cluster.local,5,SRV",
        ])
        .unwrap();
        assert_eq!(c.probes.len(), 2);
        assert_eq!(c.prometheus_port, 10054);
        assert_eq!(c.verbosity, 2);
        // e2e style: space-separated values, underscores.
        let c = run_cfg(&[
            "--dnsmasq_addr",
            "127.0.0.2",
            "--dnsmasq-port",
            "5353",
            "--dnsmasq-poll-interval-ms",
            "100",
            "--prometheus_port=9999",
            "--prometheus-namespace=x",
            "--probe",
            "ok,127.0.0.1:53,localhost,1,A",
        ])
        .unwrap();
        assert_eq!(c.dnsmasq_addr, "127.0.0.2");
        assert_eq!(c.dnsmasq_port, 5353);
        assert_eq!(c.dnsmasq_poll_interval, Duration::from_millis(100));
        assert_eq!(c.prometheus_port, 9999);
        assert_eq!(c.prometheus_namespace, "x");
        // dnsmasq-metrics 1.0 invocation.
        assert!(run_cfg(&["--v=2", "--logtostderr"]).is_ok());
        assert!(run_cfg(&["--bogus"]).is_err());
        assert!(run_cfg(&["--probe=a,1.2.3.4:53,x", "--probe=a,1.2.3.4:53,y"]).is_err());
        assert!(run_cfg(&["--dnsmasq-poll-interval-ms=0"]).is_err());
        assert!(run_cfg(&["--prometheus-namespace=kube-dns"]).is_err());
        let args: Vec<String> = vec!["--version".into()];
        assert!(matches!(parse(&args), Ok(Command::Version)));
    }
}
