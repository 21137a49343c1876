//! Command-line dialects: the dnsmasq-nanny Go-flag dialect (`-configDir=… -- <dnsmasq args>`)
//! and bare dnsmasq options (getopt_long style), plus dnsmasq config-file syntax (`-C`).
//!
//! Pure: `split_dialects` separates nanny flags from dnsmasq arguments and
//! `parse_dnsmasq` turns dnsmasq arguments (and conf-file contents read through a callback)
//! into [`Options`]. Semantics of each option live in `config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use serverkit::flags::parse_go_duration;
use serverkit::flags::{GlogKind, glog_flag, go_flag_name, parse_go_bool};

/// Errors in arguments or config files; `main` exits with status 2 on any of them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlagError {
    #[error("unknown option `{0}`")]
    Unknown(String),
    #[error("option `{0}` requires a value")]
    MissingValue(String),
    #[error("option `{0}` does not take a value")]
    UnexpectedValue(String),
    #[error("invalid value `{value}` for option `{option}`: {reason}")]
    BadValue {
        option: String,
        value: String,
        reason: String,
    },
    #[error("cannot read config file {path}: {reason}")]
    ConfFile { path: String, reason: String },
    #[error("unexpected positional argument `{0}`")]
    Positional(String),
}

/// Flags of the dnsmasq-nanny (Go `flag` + glog) dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NannyFlags {
    pub config_dir: PathBuf,
    pub sync_interval: Duration,
    pub kubedns_server: String,
    pub log_interval: Duration,
    pub restart_dnsmasq: bool,
    pub verbosity: u32,
    pub dnsmasq_exec: String,
}

impl Default for NannyFlags {
    fn default() -> Self {
        NannyFlags {
            config_dir: PathBuf::from("/etc/k8s/dns/dnsmasq-nanny"),
            sync_interval: Duration::from_secs(10),
            kubedns_server: "127.0.0.1:10053".into(),
            log_interval: Duration::ZERO,
            restart_dnsmasq: false,
            verbosity: 0,
            dnsmasq_exec: "/usr/sbin/dnsmasq".into(),
        }
    }
}

/// Result of splitting argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `Some` in the nanny dialect (a ConfigMap directory is then watched).
    pub nanny: Option<NannyFlags>,
    /// dnsmasq options (everything after `--` in the nanny dialect).
    pub dnsmasq_args: Vec<String>,
}

/// The nanny's own flags that take a value; the glog/klog flags come from
/// [`serverkit::flags::GLOG_FLAGS`].
const NANNY_VALUE_FLAGS: &[&str] = &[
    "configDir",
    "syncInterval",
    "kubednsServer",
    "logInterval",
    "dnsmasqExec",
];
const NANNY_BOOL_FLAGS: &[&str] = &["restartDnsmasq"];

/// Whether `name` is a boolean nanny flag (its value is optional).
fn is_nanny_bool(name: &str) -> bool {
    NANNY_BOOL_FLAGS.contains(&name) || glog_flag(name).is_some_and(|g| g.kind == GlogKind::Bool)
}

fn is_nanny_flag(arg: &str) -> bool {
    go_flag_name(arg).is_some_and(|(n, _)| {
        NANNY_VALUE_FLAGS.contains(&n) || NANNY_BOOL_FLAGS.contains(&n) || glog_flag(n).is_some()
    })
}

/// Parses a duration given either in Go syntax (`5s`, `1m30s`, `500ms`) or as plain seconds
/// (`5`, `2.5`), as `--lame-duck` and `--drain-timeout` accept.
pub fn parse_duration_or_secs(s: &str) -> Option<Duration> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Duration::try_from_secs_f64(s.parse().ok()?).ok();
    }
    parse_go_duration(s).ok()
}

fn nanny_bool(name: &str, v: &str) -> Result<bool, FlagError> {
    parse_go_bool(v).ok_or_else(|| FlagError::BadValue {
        option: name.into(),
        value: v.into(),
        reason: "not a boolean".into(),
    })
}

/// Splits argv (without the program name) into the nanny flags and dnsmasq arguments.
///
/// The nanny dialect is chosen when argv contains a bare `--` or begins with a nanny/glog
/// flag; otherwise every argument is a dnsmasq option (1.3/1.4-era `kube-dnsmasq`).
pub fn split_dialects(args: &[String]) -> Result<Invocation, FlagError> {
    let nanny_dialect =
        args.iter().any(|a| a == "--") || args.first().is_some_and(|a| is_nanny_flag(a));
    if !nanny_dialect {
        return Ok(Invocation {
            nanny: None,
            dnsmasq_args: args.to_vec(),
        });
    }
    let mut f = NannyFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let (name, inline) = go_flag_name(arg).ok_or_else(|| FlagError::Positional(arg.clone()))?;
        if is_nanny_bool(name) {
            let v = nanny_bool(name, inline.unwrap_or("true"))?;
            if name == "restartDnsmasq" {
                f.restart_dnsmasq = v;
            }
            continue;
        }
        if !NANNY_VALUE_FLAGS.contains(&name) && glog_flag(name).is_none() {
            return Err(FlagError::Unknown(arg.clone()));
        }
        let value = match inline {
            Some(v) => v.to_string(),
            None => {
                let v = args
                    .get(i)
                    .ok_or_else(|| FlagError::MissingValue(name.into()))?;
                i += 1;
                v.clone()
            }
        };
        let bad = |reason: &str| FlagError::BadValue {
            option: name.into(),
            value: value.clone(),
            reason: reason.into(),
        };
        match name {
            "configDir" => f.config_dir = PathBuf::from(&value),
            "syncInterval" => f.sync_interval = parse_go_duration(&value).map_err(|e| bad(&e))?,
            "logInterval" => f.log_interval = parse_go_duration(&value).map_err(|e| bad(&e))?,
            "kubednsServer" => f.kubedns_server = value.clone(),
            "dnsmasqExec" => f.dnsmasq_exec = value.clone(),
            "v" => f.verbosity = value.parse().map_err(|_| bad("not an integer"))?,
            _ => {} // glog flags: accepted, logging is configured by tracing
        }
    }
    Ok(Invocation {
        nanny: Some(f),
        dnsmasq_args: args[i.min(args.len())..].to_vec(),
    })
}

/// Whether a dnsmasq option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    No,
    Required,
    Optional,
}

/// Honoured options: (long, short, arg kind).
const OPTIONS: &[(&str, Option<char>, Arg)] = &[
    ("keep-in-foreground", Some('k'), Arg::No),
    ("no-daemon", Some('d'), Arg::No),
    ("cache-size", Some('c'), Arg::Required),
    ("no-negcache", Some('N'), Arg::No),
    ("neg-ttl", None, Arg::Required),
    ("dns-loop-detect", None, Arg::No),
    ("log-facility", Some('8'), Arg::Required),
    ("log-queries", Some('q'), Arg::Optional),
    ("server", Some('S'), Arg::Required),
    ("local", None, Arg::Required),
    ("no-resolv", Some('R'), Arg::No),
    ("resolv-file", Some('r'), Arg::Optional),
    ("no-poll", Some('n'), Arg::No),
    ("no-hosts", Some('h'), Arg::No),
    ("addn-hosts", Some('H'), Arg::Required),
    ("address", Some('A'), Arg::Required),
    ("port", Some('p'), Arg::Required),
    ("listen-address", Some('a'), Arg::Required),
    ("bind-interfaces", Some('z'), Arg::No),
    ("dns-forward-max", Some('0'), Arg::Required),
    ("max-ttl", None, Arg::Required),
    ("min-cache-ttl", None, Arg::Required),
    ("max-cache-ttl", None, Arg::Required),
    ("local-ttl", Some('T'), Arg::Required),
    ("host-record", None, Arg::Required),
    ("strict-order", Some('o'), Arg::No),
    ("all-servers", None, Arg::No),
    ("user", Some('u'), Arg::Required),
    ("conf-file", Some('C'), Arg::Optional),
    // dnsmasq-rs extensions
    ("metrics-address", None, Arg::Required),
    ("workers", None, Arg::Required),
    ("tcp-max-connections", None, Arg::Required),
    ("lame-duck", None, Arg::Required),
    ("drain-timeout", None, Arg::Required),
    ("allow-from", None, Arg::Required),
    ("dns-0x20", None, Arg::Optional),
    ("minimal-any", None, Arg::No),
];

/// Real dnsmasq options that are harmless here: accepted with a warning and ignored.
pub const ACCEPTED_WITH_WARNING: &[(&str, Option<char>, Arg)] = &[
    ("log-async", None, Arg::Optional),
    ("group", Some('g'), Arg::Required),
    ("pid-file", Some('x'), Arg::Optional),
    ("interface", Some('i'), Arg::Required),
    ("except-interface", Some('I'), Arg::Required),
    ("bind-dynamic", None, Arg::No),
    ("localise-queries", Some('y'), Arg::No),
    ("bogus-priv", Some('b'), Arg::No),
    ("filterwin2k", Some('f'), Arg::No),
    ("clear-on-reload", None, Arg::No),
    ("no-ping", None, Arg::No),
    ("log-dhcp", None, Arg::No),
    ("query-port", Some('Q'), Arg::Required),
    ("edns-packet-max", Some('P'), Arg::Required),
    ("cache-rr", None, Arg::Required),
    ("stop-dns-rebind", None, Arg::No),
];

/// One parsed option: canonical long name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub name: &'static str,
    pub value: Option<String>,
}

/// Options after parsing (including every conf-file read), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub opts: Vec<Opt>,
    /// Warnings for accepted-but-ignored options (logged by the caller, once).
    pub warnings: Vec<String>,
}

impl Options {
    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|o| o.name == name)
    }
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_string();
        self.opts
            .iter()
            .filter(move |o| o.name == name)
            .filter_map(|o| o.value.as_deref())
    }
    pub fn last<'a>(&'a self, name: &str) -> Option<&'a str> {
        self.opts
            .iter()
            .rev()
            .find(|o| o.name == name)
            .and_then(|o| o.value.as_deref())
    }
}

fn lookup_long(name: &str) -> Option<(&'static str, Arg, bool)> {
    OPTIONS
        .iter()
        .map(|o| (o, false))
        .chain(ACCEPTED_WITH_WARNING.iter().map(|o| (o, true)))
        .find(|((l, _, _), _)| *l == name)
        .map(|((l, _, a), w)| (*l, *a, w))
}

fn lookup_short(c: char) -> Option<(&'static str, Arg, bool)> {
    OPTIONS
        .iter()
        .map(|o| (o, false))
        .chain(ACCEPTED_WITH_WARNING.iter().map(|o| (o, true)))
        .find(|((_, s, _), _)| *s == Some(c))
        .map(|((l, _, a), w)| (*l, *a, w))
}

/// File reader used for `-C`/`--conf-file` (injectable for tests).
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

const MAX_CONF_DEPTH: usize = 8;

/// Parses dnsmasq command-line arguments. `default_conf` (dnsmasq: `/etc/dnsmasq.conf`) is
/// read when it exists and no `-C` was given.
pub fn parse_dnsmasq(
    args: &[String],
    read: ReadFile<'_>,
    default_conf: Option<&Path>,
) -> Result<Options, FlagError> {
    let mut out = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let (long, kind, warn) =
                lookup_long(name).ok_or_else(|| FlagError::Unknown(arg.clone()))?;
            let value = match (kind, inline) {
                (Arg::No, Some(_)) => return Err(FlagError::UnexpectedValue(long.into())),
                (Arg::No, None) => None,
                (Arg::Optional, v) => v,
                (Arg::Required, Some(v)) => Some(v),
                (Arg::Required, None) => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| FlagError::MissingValue(long.into()))?;
                    i += 1;
                    Some(v.clone())
                }
            };
            push(&mut out, long, value, warn, read, 0)?;
        } else if let Some(body) = arg.strip_prefix('-').filter(|b| !b.is_empty()) {
            let chars: Vec<char> = body.chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                let (long, kind, warn) =
                    lookup_short(c).ok_or_else(|| FlagError::Unknown(format!("-{c}")))?;
                let rest: String = chars[j..].iter().collect();
                // getopt: short forms of optional-argument long options take a required
                // argument (`-C file`, `-r file`), except `-q` which takes none.
                let kind = match (kind, c) {
                    (Arg::Optional, 'q') => Arg::No,
                    (Arg::Optional, _) => Arg::Required,
                    (k, _) => k,
                };
                let value = match kind {
                    Arg::No | Arg::Optional => None,
                    Arg::Required => {
                        j = chars.len();
                        if rest.is_empty() {
                            let v = args
                                .get(i)
                                .ok_or_else(|| FlagError::MissingValue(long.into()))?;
                            i += 1;
                            Some(v.clone())
                        } else {
                            Some(rest)
                        }
                    }
                };
                push(&mut out, long, value, warn, read, 0)?;
            }
        } else {
            return Err(FlagError::Positional(arg.clone()));
        }
    }
    if !out.has("conf-file")
        && let Some(p) = default_conf
        && p.exists()
    {
        read_conf(&mut out, p, read, 1)?;
    }
    Ok(out)
}

fn push(
    out: &mut Options,
    long: &'static str,
    value: Option<String>,
    warn: bool,
    read: ReadFile<'_>,
    depth: usize,
) -> Result<(), FlagError> {
    if warn {
        out.warnings.push(format!(
            "dnsmasq option --{long} is accepted but has no effect in dnsmasq-rs"
        ));
        return Ok(());
    }
    let conf = (long == "conf-file").then(|| value.clone());
    out.opts.push(Opt { name: long, value });
    if let Some(v) = conf {
        // `--conf-file` without a value (or empty) disables the default file.
        if let Some(p) = v.filter(|p| !p.is_empty()) {
            read_conf(out, Path::new(&p), read, depth + 1)?;
        }
    }
    Ok(())
}

fn read_conf(
    out: &mut Options,
    path: &Path,
    read: ReadFile<'_>,
    depth: usize,
) -> Result<(), FlagError> {
    let err = |reason: String| FlagError::ConfFile {
        path: path.display().to_string(),
        reason,
    };
    if depth > MAX_CONF_DEPTH {
        return Err(err("conf-file nesting too deep".into()));
    }
    let text = read(path).map_err(|e| err(e.to_string()))?;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (line, None),
        };
        let (long, kind, warn) = lookup_long(name)
            .ok_or_else(|| err(format!("line {}: unknown option `{name}`", n + 1)))?;
        match (kind, &value) {
            (Arg::No, Some(_)) => {
                return Err(err(format!("line {}: `{name}` takes no value", n + 1)));
            }
            (Arg::Required, None) => {
                return Err(err(format!("line {}: `{name}` requires a value", n + 1)));
            }
            _ => {}
        }
        push(out, long, value, warn, read, depth)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn no_files(_: &Path) -> std::io::Result<String> {
        Err(std::io::Error::other("no files in this test"))
    }

    #[test]
    fn bare_dialect_13() {
        let inv = split_dialects(&argv(
            "--cache-size=1000 --no-resolv --server=127.0.0.1#10053",
        ))
        .unwrap();
        assert!(inv.nanny.is_none());
        let o = parse_dnsmasq(&inv.dnsmasq_args, &no_files, None).unwrap();
        assert_eq!(o.last("cache-size"), Some("1000"));
        assert!(o.has("no-resolv"));
        assert_eq!(o.values("server").collect::<Vec<_>>(), ["127.0.0.1#10053"]);
    }

    #[test]
    fn nanny_dialect_current_manifest() {
        let inv = split_dialects(&argv(
            "-v=2 -logtostderr -configDir=/etc/k8s/dns/dnsmasq-nanny -restartDnsmasq=true -- -k \
             --cache-size=1000 --no-negcache --dns-loop-detect --log-facility=- \
             --server=/cluster.local/127.0.0.1#10053 --server=/in-addr.arpa/127.0.0.1#10053 \
             --server=/ip6.arpa/127.0.0.1#10053",
        ))
        .unwrap();
        let n = inv.nanny.unwrap();
        assert_eq!(n.verbosity, 2);
        assert!(n.restart_dnsmasq);
        assert_eq!(n.config_dir, PathBuf::from("/etc/k8s/dns/dnsmasq-nanny"));
        assert_eq!(n.sync_interval, Duration::from_secs(10));
        let o = parse_dnsmasq(&inv.dnsmasq_args, &no_files, None).unwrap();
        assert!(o.has("keep-in-foreground"));
        assert!(o.has("no-negcache") && o.has("dns-loop-detect"));
        assert_eq!(o.last("log-facility"), Some("-"));
        assert_eq!(o.values("server").count(), 3);
    }

    #[test]
    fn go_flag_forms() {
        let inv = split_dialects(&argv(
            "--v 3 -syncInterval 1m30s --kubednsServer=10.0.0.1:53 -logInterval=5s -dnsmasqExec /x -alsologtostderr=false --",
        ))
        .unwrap();
        let n = inv.nanny.unwrap();
        assert_eq!(n.verbosity, 3);
        assert_eq!(n.sync_interval, Duration::from_secs(90));
        assert_eq!(n.kubedns_server, "10.0.0.1:53");
        assert_eq!(n.log_interval, Duration::from_secs(5));
        assert!(inv.dnsmasq_args.is_empty());
        assert!(matches!(
            split_dialects(&argv("-configDir=/x -bogus=1 --")),
            Err(FlagError::Unknown(_))
        ));
    }

    #[test]
    fn separate_argv_values_and_short_forms() {
        let o = parse_dnsmasq(
            &argv("--server /acme.local/1.1.1.1 -S 8.8.8.8 -c500 -kR -p 5353 -q"),
            &no_files,
            None,
        )
        .unwrap();
        assert_eq!(
            o.values("server").collect::<Vec<_>>(),
            ["/acme.local/1.1.1.1", "8.8.8.8"]
        );
        assert_eq!(o.last("cache-size"), Some("500"));
        assert!(o.has("no-resolv") && o.has("keep-in-foreground") && o.has("log-queries"));
        assert_eq!(o.last("port"), Some("5353"));
    }

    #[test]
    fn unknown_and_warned_options() {
        assert_eq!(
            parse_dnsmasq(&argv("--frobnicate"), &no_files, None),
            Err(FlagError::Unknown("--frobnicate".into()))
        );
        assert_eq!(
            parse_dnsmasq(&argv("-Z"), &no_files, None),
            Err(FlagError::Unknown("-Z".into()))
        );
        let o = parse_dnsmasq(&argv("--log-async --bind-dynamic"), &no_files, None).unwrap();
        assert_eq!(o.warnings.len(), 2);
        assert!(o.opts.is_empty());
        assert!(matches!(
            parse_dnsmasq(&argv("--cache-size"), &no_files, None),
            Err(FlagError::MissingValue(_))
        ));
    }

    #[test]
    fn conf_file_syntax() {
        let read = |p: &Path| -> std::io::Result<String> {
            match p.to_str() {
                Some("/etc/dnsmasq.conf") => Ok("user=root\n".into()),
                Some("/c") => Ok("# comment\n\nno-resolv\nserver = 1.2.3.4#53\nlog-async\n".into()),
                Some("/bad") => Ok("frob=1\n".into()),
                _ => Err(std::io::Error::other("missing")),
            }
        };
        let o = parse_dnsmasq(&argv("-C /c"), &read, None).unwrap();
        assert!(o.has("no-resolv"));
        assert_eq!(o.last("server"), Some("1.2.3.4#53"));
        assert_eq!(o.warnings.len(), 1);
        assert!(matches!(
            parse_dnsmasq(&argv("--conf-file=/bad"), &read, None),
            Err(FlagError::ConfFile { .. })
        ));
        assert!(matches!(
            parse_dnsmasq(&argv("--conf-file=/missing"), &read, None),
            Err(FlagError::ConfFile { .. })
        ));
    }

    #[test]
    fn durations_or_plain_seconds() {
        assert_eq!(parse_duration_or_secs("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration_or_secs("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration_or_secs("0"), Some(Duration::ZERO));
        assert_eq!(
            parse_duration_or_secs("2.5"),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            parse_duration_or_secs("1m30s"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration_or_secs("250ms"),
            Some(Duration::from_millis(250))
        );
        for bad in [
            "",
            "-5s",
            "-1",
            "five",
            "5 s",
            ".",
            "1e3",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_duration_or_secs(bad), None, "{bad}");
        }
    }
}
