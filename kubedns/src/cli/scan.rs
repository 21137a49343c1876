//! First pass of the command line: the argument list split into (flag, value) pairs by pflag's
//! rules (long and shorthand forms, `_`/`-` in names, bare booleans, `--`), each value checked
//! against its flag's kind as pflag's `Set` did; typed getters over the result ([`Raw`]).

use std::collections::HashMap;
use std::time::Duration;

use serverkit::flags::{parse_go_bool, parse_go_duration, parse_go_int};

use super::flags::{Kind, Spec, lookup};
use super::options::CliError;

pub(super) fn invalid(flag: &str, value: &str, reason: impl Into<String>) -> CliError {
    CliError::InvalidValue {
        flag: format!("--{flag}"),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Check one value against its kind (pflag validates in `Set`, at parse time).
fn check_kind(spec: &Spec, value: &str) -> Result<(), CliError> {
    let ok = match spec.kind {
        Kind::Str => true,
        Kind::Int => parse_go_int(value).is_some(),
        Kind::Bool => parse_go_bool(value).is_some(),
        Kind::Version => value == "raw" || parse_go_bool(value).is_some(),
        Kind::Duration => {
            return parse_go_duration(value)
                .map(|_| ())
                .map_err(|e| invalid(spec.name, value, e));
        }
    };
    if ok {
        Ok(())
    } else {
        let what = match spec.kind {
            Kind::Int => "not an integer",
            Kind::Version => "must be true, false or raw",
            _ => "not a boolean",
        };
        Err(invalid(spec.name, value, what))
    }
}

/// Raw flag values after the first pass.
pub(super) struct Raw(HashMap<&'static str, String>);

impl Raw {
    pub(super) fn get(&self, name: &'static str) -> &str {
        match self.0.get(name) {
            Some(v) => v,
            None => lookup(name).map(|s| s.default).unwrap_or(""),
        }
    }
    pub(super) fn is_set(&self, name: &'static str) -> bool {
        self.0.contains_key(name)
    }
    pub(super) fn int<T: TryFrom<i64>>(&self, name: &'static str) -> Result<T, CliError> {
        let v = self.get(name);
        parse_go_int(v)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| invalid(name, v, "out of range"))
    }
    pub(super) fn opt_int<T: TryFrom<i64>>(
        &self,
        name: &'static str,
    ) -> Result<Option<T>, CliError> {
        if self.get(name).is_empty() {
            Ok(None)
        } else {
            self.int(name).map(Some)
        }
    }
    pub(super) fn duration(&self, name: &'static str) -> Result<Duration, CliError> {
        let v = self.get(name);
        parse_go_duration(v).map_err(|e| invalid(name, v, e))
    }
    pub(super) fn opt_duration(&self, name: &'static str) -> Result<Option<Duration>, CliError> {
        if self.get(name).is_empty() {
            Ok(None)
        } else {
            self.duration(name).map(Some)
        }
    }
    pub(super) fn bool(&self, name: &'static str) -> bool {
        parse_go_bool(self.get(name)).unwrap_or(false)
    }
    pub(super) fn opt_str(&self, name: &'static str) -> Option<String> {
        Some(self.get(name))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
}

/// First pass: split the argument list into (flag, value) pairs following pflag's rules.
pub(super) fn scan(args: &[String]) -> Result<(Raw, Vec<String>), CliError> {
    let mut values = HashMap::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        let (name, inline, shorthand) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.replace('_', "-"), Some(v.to_string()), false),
                None => (long.replace('_', "-"), None, false),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // pflag shorthand: only one-letter flags; `-v=2`, `-v 2`, `-v2`.
            let mut chars = short.chars();
            let c = chars.next().map(String::from).unwrap_or_default();
            let after = chars.as_str();
            if c == "h" && after.is_empty() {
                return Err(CliError::Help);
            }
            if lookup(&c).is_none() {
                return Err(CliError::UnknownFlag(format!(
                    "unknown shorthand flag: {c:?} in {arg}"
                )));
            }
            let inline = if after.is_empty() {
                None
            } else {
                Some(after.strip_prefix('=').unwrap_or(after).to_string())
            };
            (c, inline, true)
        } else {
            positional.push(arg.clone());
            continue;
        };
        if name == "help" && inline.is_none() {
            return Err(CliError::Help);
        }
        let Some(spec) = lookup(&name) else {
            return Err(CliError::UnknownFlag(format!("--{name}")));
        };
        let value = match (inline, spec.kind) {
            (Some(v), _) => v,
            (None, Kind::Bool | Kind::Version) => "true".to_string(),
            (None, _) => match args.get(i) {
                // pflag takes the next argument as the value, whatever it looks like, except
                // that a missing argument is an error.
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => {
                    let shown = if shorthand {
                        format!("-{name}")
                    } else {
                        format!("--{name}")
                    };
                    return Err(CliError::MissingValue(shown));
                }
            },
        };
        check_kind(spec, &value)?;
        values.insert(spec.name, value);
    }
    Ok((Raw(values), positional))
}
