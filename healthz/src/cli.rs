//! Command-line front end: picks the dialect (k8s-dns-sidecar or exechealthz) and
//! tokenizes arguments with the rules of the original parser (pflag with `_`≡`-` for
//! the sidecar, Go `flag` for exechealthz; `--flag=v`, `--flag v`, `-flag`, booleans only
//! as `--flag` or `--flag=bool`). Dialect-specific validation lives in
//! [`crate::sidecar::options`] and [`crate::exec::options`].

use crate::{Config, exec, sidecar};
use serverkit::flags::{GLOG_FLAGS, GlogKind};

/// A command-line error; `main` prints it on one line and exits 2.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

/// What the process should do.
#[derive(Debug)]
pub enum Command {
    /// Serve with this configuration.
    Run(Config),
    /// Print the version and exit 0.
    Version,
    /// Print this usage text and exit 0.
    Help(String),
}

/// Whether a flag takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--x` (true) or `--x=<bool>`; never consumes the next argument.
    Bool,
    /// `--x=v` or `--x v`.
    Value,
}

/// The two supported command-line dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// k8s-dns-sidecar / dnsmasq-metrics.
    Sidecar,
    /// kubernetes/contrib exechealthz.
    Exec,
}

/// The glog/klog flags ([`serverkit::flags::GLOG_FLAGS`]) as flag definitions: accepted by
/// both dialects and, except `v`, ignored.
pub fn glog_defs() -> impl Iterator<Item = (&'static str, Kind)> {
    GLOG_FLAGS.iter().map(|g| {
        let kind = match g.kind {
            GlogKind::Bool => Kind::Bool,
            GlogKind::Int | GlogKind::Str | GlogKind::Duration => Kind::Value,
        };
        (g.name, kind)
    })
}

/// Parses the process arguments (`argv0` is used only as a dialect hint: a binary or
/// symlink named `exechealthz*` defaults to the exechealthz dialect).
pub fn parse_args(argv0: &str, args: &[String]) -> Result<Command, CliError> {
    match detect_dialect(argv0, args)? {
        Dialect::Sidecar => sidecar::options::parse(args),
        Dialect::Exec => exec::options::parse(args),
    }
}

fn flag_name(arg: &str) -> Option<String> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if body.is_empty() {
        return None;
    }
    let name = body.split_once('=').map_or(body, |(n, _)| n);
    Some(name.replace('_', "-"))
}

/// Chooses the dialect from the flags present (flags unique to one dialect decide; both
/// → error; glog/klog flags are neutral), falling back to the `argv0` hint, then to the
/// sidecar.
pub fn detect_dialect(argv0: &str, args: &[String]) -> Result<Dialect, CliError> {
    let mut exec_flag = None;
    let mut sidecar_flag = None;
    for arg in args {
        if arg == "--" {
            break;
        }
        let Some(name) = flag_name(arg) else { continue };
        if exec::options::FLAGS.iter().any(|(n, _)| *n == name) && name != "version" {
            exec_flag.get_or_insert(name.clone());
        }
        // glog/klog flags are neutral: both legacy binaries had them registered.
        if sidecar::options::FLAGS.iter().any(|(n, _)| *n == name) && name != "version" {
            sidecar_flag.get_or_insert(name);
        }
    }
    match (exec_flag, sidecar_flag) {
        (Some(e), Some(s)) => Err(CliError(format!(
            "flags from both dialects: -{e} (exechealthz) and --{s} (sidecar)"
        ))),
        (Some(_), None) => Ok(Dialect::Exec),
        (None, Some(_)) => Ok(Dialect::Sidecar),
        (None, None) => {
            let base = argv0.rsplit('/').next().unwrap_or(argv0);
            if base.contains("exechealthz") || base.contains("exec-healthz") {
                Ok(Dialect::Exec)
            } else {
                Ok(Dialect::Sidecar)
            }
        }
    }
}

/// Splits `args` into `(flag, value)` pairs using `defs`. Boolean flags get `"true"`
/// when no `=value` is given. `normalize` maps `_` to `-` in names (pflag
/// `WordSepNormalizeFunc`). `-h`/`--help` yields `("help", "true")`.
pub fn tokenize(
    args: &[String],
    defs: &[(&'static str, Kind)],
    normalize: bool,
) -> Result<Vec<(&'static str, String)>, CliError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            if let Some(extra) = args.get(i) {
                return Err(CliError(format!("unexpected argument: {extra}")));
            }
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(CliError(format!("unexpected argument: {arg}")));
        };
        if body.is_empty() || body.starts_with('-') {
            return Err(CliError(format!("bad flag syntax: {arg}")));
        }
        let (raw_name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let name = if normalize {
            raw_name.replace('_', "-")
        } else {
            raw_name.to_string()
        };
        if name == "h" || name == "help" {
            out.push(("help", "true".to_string()));
            continue;
        }
        let Some((def_name, kind)) = defs.iter().find(|(n, _)| *n == name) else {
            return Err(CliError(format!("unknown flag: {arg}")));
        };
        let value = match (kind, inline) {
            (_, Some(v)) => v,
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Value, None) => {
                let Some(v) = args.get(i) else {
                    return Err(CliError(format!("flag needs an argument: {arg}")));
                };
                i += 1;
                v.clone()
            }
        };
        out.push((*def_name, value));
    }
    Ok(out)
}

/// Go `strconv.ParseBool`.
pub fn parse_bool(flag: &str, v: &str) -> Result<bool, CliError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(CliError(format!(
            "invalid boolean value \"{v}\" for -{flag}: parse error"
        ))),
    }
}

/// Decimal port `0..=65535`.
pub fn parse_port(flag: &str, v: &str) -> Result<u16, CliError> {
    v.parse::<u16>().map_err(|_| {
        CliError(format!(
            "invalid value \"{v}\" for -{flag}: not a port number"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn dialect_detection() {
        let d = |a: &[&str]| detect_dialect("/healthz", &s(a));
        assert_eq!(d(&["--probe=a,b:1,c"]), Ok(Dialect::Sidecar));
        assert_eq!(d(&["--v=2", "--logtostderr"]), Ok(Dialect::Sidecar));
        assert_eq!(d(&["-cmd=true", "-port=8080"]), Ok(Dialect::Exec));
        assert_eq!(d(&["-v=2", "-logtostderr", "-cmd=true"]), Ok(Dialect::Exec));
        assert_eq!(d(&["--cmd", "true", "--url=/x"]), Ok(Dialect::Exec));
        assert_eq!(d(&[]), Ok(Dialect::Sidecar));
        assert_eq!(d(&["--version"]), Ok(Dialect::Sidecar));
        assert_eq!(
            detect_dialect("/usr/bin/exechealthz", &s(&[])),
            Ok(Dialect::Exec)
        );
        assert!(d(&["-cmd=true", "--probe=a,b:1,c"]).is_err());
    }

    #[test]
    fn tokenizer_forms() {
        let defs = [("port", Kind::Value), ("quiet", Kind::Bool)];
        let t = tokenize(&s(&["-port=1", "--port", "2", "-quiet"]), &defs, false).unwrap();
        assert_eq!(
            t,
            vec![
                ("port", "1".into()),
                ("port", "2".into()),
                ("quiet", "true".into())
            ]
        );
        assert_eq!(
            tokenize(&s(&["--quiet=false"]), &defs, false).unwrap(),
            vec![("quiet", "false".into())]
        );
        assert!(tokenize(&s(&["--port"]), &defs, false).is_err());
        assert_eq!(
            tokenize(&s(&["--bogus=1"]), &defs, false).unwrap_err().0,
            "unknown flag: --bogus=1"
        );
        assert!(tokenize(&s(&["stray"]), &defs, false).is_err());
        assert!(tokenize(&s(&["---port=1"]), &defs, false).is_err());
        let defs = [("dnsmasq-port", Kind::Value)];
        assert_eq!(
            tokenize(&s(&["--dnsmasq_port=5"]), &defs, true).unwrap(),
            vec![("dnsmasq-port", "5".into())]
        );
        assert!(parse_bool("q", "yes").is_err());
        assert!(parse_port("p", "70000").is_err());
    }
}
