//! Command-line front end: picks the dialect (k8s-dns-sidecar or exechealthz) from the flags
//! present and hands the arguments to its parser ([`crate::sidecar::options`],
//! [`crate::exec::options`]); the tokenizer and types they share are [`crate::flags`]'s.

pub use crate::flags::{CliError, Command, Kind};
use crate::{exec, sidecar};

/// The two supported command-line dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// k8s-dns-sidecar / dnsmasq-metrics.
    Sidecar,
    /// kubernetes/contrib exechealthz.
    Exec,
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
}
