//! exechealthz dialect options (kubernetes/contrib `exec-healthz`, images 1.0–1.2):
//! Go `flag` syntax, repeatable `-cmd`/`-url` paired by position, defaults
//! `-cmd="echo healthz"`, `-url=/healthz`, `-port=8080`, `-period=2s`, `-latency=30s`.

use std::time::Duration;

use super::command::{ProbeCommand, parse_command};
use crate::flags::{self, CliError, Command, Kind};
use crate::gotime::parse_go_duration;

/// Legacy default command.
pub const DEFAULT_CMD: &str = "echo healthz";
/// Legacy default URL.
pub const DEFAULT_URL: &str = "/healthz";
/// Default bound on one command run (extension flag `-timeout`).
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of this dialect (`timeout` and `allow-quit` are extensions).
pub const FLAGS: &[(&str, Kind)] = &[
    ("cmd", Kind::Value),
    ("url", Kind::Value),
    ("port", Kind::Value),
    ("period", Kind::Value),
    ("latency", Kind::Value),
    ("timeout", Kind::Value),
    ("quiet", Kind::Bool),
    ("verbose", Kind::Bool),
    ("output", Kind::Bool),
    ("allow-quit", Kind::Bool),
    ("version", Kind::Bool),
];

/// One health endpoint and the command behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecProbe {
    /// HTTP path.
    pub url: String,
    /// The command as given.
    pub raw: String,
    /// How it runs.
    pub command: ProbeCommand,
}

/// Complete exechealthz configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecConfig {
    /// Endpoints, in flag order.
    pub probes: Vec<ExecProbe>,
    /// Listen port on 0.0.0.0 (used by `main`).
    pub port: u16,
    /// Run period (first run one period after start).
    pub period: Duration,
    /// A result older than this is unhealthy.
    pub latency: Duration,
    /// Bound on one command run.
    pub timeout: Duration,
    /// Only log errors.
    pub quiet: bool,
    /// Return the command output instead of `ok`.
    pub output: bool,
    /// `-url` never given (1.0/1.1 style): error bodies use `Healthz probe error:`.
    pub legacy_single: bool,
    /// Serve `/quit` (legacy: always on).
    pub allow_quit: bool,
}

/// Parses exechealthz-dialect arguments.
pub fn parse(args: &[String]) -> Result<Command, CliError> {
    let mut cmds = Vec::new();
    let mut urls = Vec::new();
    let mut cfg = ExecConfig {
        probes: Vec::new(),
        port: 8080,
        period: Duration::from_secs(2),
        latency: Duration::from_secs(30),
        timeout: DEFAULT_EXEC_TIMEOUT,
        quiet: false,
        output: false,
        legacy_single: false,
        allow_quit: true,
    };
    let mut version = false;
    // glog flags are accepted and ignored (the legacy binary linked glog).
    let defs: Vec<(&'static str, Kind)> = FLAGS.iter().copied().chain(flags::glog_defs()).collect();
    for (flag, value) in flags::tokenize(args, &defs, true)? {
        let dur = |v: &str| {
            parse_go_duration(v)
                .map_err(|e| CliError(format!("invalid value {v:?} for flag -{flag}: {e}")))
        };
        match flag {
            "help" => return Ok(Command::Help(usage())),
            "cmd" => cmds.push(value),
            "url" => urls.push(value),
            "port" => cfg.port = flags::parse_port(flag, &value)?,
            "period" => cfg.period = dur(&value)?,
            "latency" => cfg.latency = dur(&value)?,
            "timeout" => cfg.timeout = dur(&value)?,
            "quiet" => cfg.quiet = flags::parse_bool(flag, &value)?,
            "verbose" => cfg.quiet = !flags::parse_bool(flag, &value)?,
            "output" => cfg.output = flags::parse_bool(flag, &value)?,
            "allow-quit" => cfg.allow_quit = flags::parse_bool(flag, &value)?,
            "version" => version = flags::parse_bool(flag, &value)?,
            _ => {}
        }
    }
    if version {
        return Ok(Command::Version);
    }
    if cfg.period.is_zero() {
        return Err(CliError(
            "invalid value for flag -period: must be positive".into(),
        ));
    }
    if cfg.timeout.is_zero() {
        return Err(CliError(
            "invalid value for flag -timeout: must be positive".into(),
        ));
    }
    cfg.legacy_single = urls.is_empty();
    if urls.is_empty() {
        urls.push(DEFAULT_URL.to_string());
    }
    if cmds.is_empty() {
        cmds.push(DEFAULT_CMD.to_string());
    }
    if cmds.len() != urls.len() {
        return Err(CliError(
            "failed to initialize flag, number of cmds and urls are different".into(),
        ));
    }
    for (raw, url) in cmds.into_iter().zip(urls) {
        if !url.starts_with('/') || url == "/" || url == "/quit" {
            return Err(CliError(format!(
                "invalid value {url:?} for flag -url: must start with / and not be / or /quit"
            )));
        }
        if cfg.probes.iter().any(|p| p.url == url) {
            return Err(CliError(format!("duplicate -url {url:?}")));
        }
        cfg.probes.push(ExecProbe {
            url,
            command: parse_command(&raw),
            raw,
        });
    }
    Ok(Command::Run(crate::Config::Exec(cfg)))
}

fn usage() -> String {
    "Usage of healthz (exechealthz dialect):
  -cmd value       command to run (repeatable, paired with -url; default \"echo healthz\");
                   `nslookup <name> <server>[:<port>] >/dev/null` (joined by &&) runs natively
  -url value       path to serve for the matching -cmd (repeatable; default /healthz)
  -port int        port to serve on, all addresses (default 8080)
  -period duration period of each command (default 2s)
  -latency duration result older than this is a 503 (default 30s)
  -timeout duration bound on one command run (default 10s)
  -quiet           only log errors
  -output          return the command output instead of \"ok\"
  -allow-quit      serve /quit, which shuts the process down with exit 0 (default true)
  -version         print the version and exit
"
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Result<ExecConfig, CliError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Run(crate::Config::Exec(c)) => Ok(c),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn era_invocations() {
        // k8s <= 1.2 (exechealthz:1.0).
        let c = cfg(&[
            "-cmd=nslookup kubernetes.default.svc.cluster.local 127.0.0.1 >/dev/null",
            "-port=8080",
        ])
        .unwrap();
        assert_eq!(c.probes.len(), 1);
        assert_eq!(c.probes[0].url, "/healthz");
        assert!(c.legacy_single);
        assert!(matches!(c.probes[0].command, ProbeCommand::Native(_)));
        // k8s 1.3 (exechealthz-amd64:1.1).
        let c = cfg(&[
            "-cmd=nslookup kubernetes.default.svc.cluster.local 127.0.0.1 >/dev/null && nslookup kubernetes.default.svc.cluster.local 127.0.0.1:10053 >/dev/null",
            "-port=8080",
            "-quiet",
        ])
        .unwrap();
        assert!(c.quiet);
        match &c.probes[0].command {
            ProbeCommand::Native(l) => assert_eq!(l.len(), 2),
            other => panic!("{other:?}"),
        }
        // k8s 1.4/1.5 (exechealthz-amd64:1.2), double dashes.
        let c = cfg(&[
            "--cmd=nslookup kubernetes.default.svc.cluster.local 127.0.0.1 >/dev/null",
            "--url=/healthz-dnsmasq",
            "--cmd=nslookup kubernetes.default.svc.cluster.local 127.0.0.1:10053 >/dev/null",
            "--url=/healthz-kubedns",
            "--port=8080",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(c.probes.len(), 2);
        assert_eq!(c.probes[1].url, "/healthz-kubedns");
        assert!(!c.legacy_single);
        assert_eq!(c.period, Duration::from_secs(2));
        assert_eq!(c.latency, Duration::from_secs(30));
    }

    #[test]
    fn defaults_and_errors() {
        let c = cfg(&["-port", "9000", "-period=1m", "-latency", "90s"]).unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.period, Duration::from_secs(60));
        assert_eq!(c.latency, Duration::from_secs(90));
        assert_eq!(c.probes[0].raw, DEFAULT_CMD);
        assert!(matches!(c.probes[0].command, ProbeCommand::Shell(_)));
        let e = cfg(&["-cmd=true", "-cmd=false"]).unwrap_err();
        assert_eq!(
            e.0,
            "failed to initialize flag, number of cmds and urls are different"
        );
        assert!(cfg(&["-cmd=true", "-url=/a", "-url=/b"]).is_err());
        assert!(cfg(&["-cmd=a", "-url=/x", "-cmd=b", "-url=/x"]).is_err());
        assert!(cfg(&["-cmd=a", "-url=quit"]).is_err());
        assert!(cfg(&["-period=2"]).is_err());
        assert!(cfg(&["-period=0s"]).is_err());
        assert!(cfg(&["-quiet=maybe"]).is_err());
        assert!(cfg(&["-bogus"]).is_err());
        assert!(cfg(&["-port=x"]).is_err());
        assert!(cfg(&["-verbose=false"]).unwrap().quiet);
        assert!(cfg(&["-cmd=true", "-v=2", "-logtostderr"]).is_ok());
        let args: Vec<String> = vec!["-version".into()];
        assert!(matches!(parse(&args), Ok(Command::Version)));
    }
}
