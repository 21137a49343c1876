//! The flag layer both dialects share: the command-line error and outcome types, the
//! tokenizer with the original parsers' rules (pflag with `_`≡`-` for the sidecar, Go `flag`
//! for exechealthz; `--flag=v`, `--flag v`, `-flag`, booleans only as `--flag` or
//! `--flag=bool`), the glog flags, and Go's bool and port parsing. [`crate::cli`] picks the
//! dialect; [`crate::sidecar::options`] and [`crate::exec::options`] build on this module.

use crate::Config;
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
