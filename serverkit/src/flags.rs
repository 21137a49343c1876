//! Go standard-library value syntax the legacy flags used, written once for every binary:
//! `strconv.ParseBool`, `time.ParseDuration` (exact integer nanoseconds, as Go computes it),
//! `strconv.ParseInt(s, 0, 64)`, the `-name[=value]` shape of a Go flag, and the glog/klog
//! logging flags every legacy binary linked ([`GLOG_FLAGS`]).

use std::time::Duration;

/// Go `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's largest duration: `math.MaxInt64` nanoseconds (about 292 years).
pub const MAX_GO_DURATION_NANOS: u64 = i64::MAX as u64;

/// Go `time.ParseDuration` restricted to non-negative values: a sequence of decimal numbers,
/// each with an optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g.
/// `1m30s`, `1.5h`, `+2s`; `0` alone is allowed. Computed in integer nanoseconds like Go
/// (a fraction is truncated at nanosecond precision), so no value is rounded through a float;
/// more than [`MAX_GO_DURATION_NANOS`] is an error, as in Go. Error texts are Go's.
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration \"{input}\"");
    let mut s = match input.strip_prefix('+') {
        Some(rest) => rest,
        None if input.starts_with('-') => {
            return Err(format!("negative duration \"{input}\" is not allowed"));
        }
        None => input,
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        // Integer part, then an optional fraction; at least one digit overall.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, rest) = s.split_at(int_len);
        s = rest;
        let mut frac_digits = "";
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            (frac_digits, s) = rest.split_at(n);
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let scale: u64 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration \"{input}\"")),
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{input}\""
                ));
            }
        };
        let mut whole: u64 = 0;
        for d in int_digits.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(d - b'0')))
                .filter(|w| *w <= MAX_GO_DURATION_NANOS)
                .ok_or_else(invalid)?;
        }
        let mut nanos = whole
            .checked_mul(scale)
            .filter(|n| *n <= MAX_GO_DURATION_NANOS)
            .ok_or_else(invalid)?;
        // Fraction: digits beyond what the unit can resolve to a nanosecond are dropped.
        let mut place = scale;
        for d in frac_digits.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            nanos += u64::from(d - b'0') * place;
        }
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= MAX_GO_DURATION_NANOS)
            .ok_or_else(invalid)?;
    }
    Ok(Duration::from_nanos(total))
}

/// Go `strconv.ParseInt(s, 0, 64)`: decimal, `0x` hex, `0o`/leading-`0` octal, `0b` binary,
/// `_` separators.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let (digits, radix) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (h, 16)
        } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (b, 2)
        } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (o, 8)
        } else if body.len() > 1 && body.starts_with('0') {
            (&body[1..], 8)
        } else {
            (body.as_str(), 10)
        };
    // `from_str_radix` would accept a second sign; Go does not.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Splits a Go-style flag argument `-name`, `--name`, `-name=value` into its name and inline
/// value; `None` for a positional argument, `-`, `--` or `---x`.
pub fn go_flag_name(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if body.is_empty() || body.starts_with('-') {
        return None;
    }
    Some(match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    })
}

/// The value a glog/klog flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlogKind {
    /// `--name` alone means true; `--name=false` is accepted.
    Bool,
    /// An integer (`--v=2`).
    Int,
    /// A string.
    Str,
    /// A Go duration.
    Duration,
}

/// One glog/klog flag: name (dashed; `_` spellings are normalised by [`glog_flag`]), value
/// kind, Go default and help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlogFlag {
    pub name: &'static str,
    pub kind: GlogKind,
    pub default: &'static str,
    pub help: &'static str,
}

const fn glog(
    name: &'static str,
    kind: GlogKind,
    default: &'static str,
    help: &'static str,
) -> GlogFlag {
    GlogFlag {
        name,
        kind,
        default,
        help,
    }
}

/// The glog (≤1.15 images) and klog (HEAD) logging flags the legacy binaries registered.
/// Every binary accepts them for compatibility; only `--v` has an effect (it picks the
/// default tracing level, see [`crate::logging`]).
pub const GLOG_FLAGS: &[GlogFlag] = &[
    glog(
        "v",
        GlogKind::Int,
        "0",
        "log level for V logs (maps to the tracing level)",
    ),
    glog(
        "vmodule",
        GlogKind::Str,
        "",
        "comma-separated pattern=N settings (ignored)",
    ),
    glog(
        "logtostderr",
        GlogKind::Bool,
        "true",
        "log to standard error (always)",
    ),
    glog("alsologtostderr", GlogKind::Bool, "false", "ignored"),
    glog("log-dir", GlogKind::Str, "", "ignored"),
    glog("log-file", GlogKind::Str, "", "ignored"),
    glog("log-file-max-size", GlogKind::Int, "1800", "ignored"),
    glog("log-backtrace-at", GlogKind::Str, ":0", "ignored"),
    glog("stderrthreshold", GlogKind::Str, "2", "ignored"),
    glog("log-flush-frequency", GlogKind::Duration, "5s", "ignored"),
    glog("skip-headers", GlogKind::Bool, "false", "ignored"),
    glog("skip-log-headers", GlogKind::Bool, "false", "ignored"),
    glog("add-dir-header", GlogKind::Bool, "false", "ignored"),
    glog("one-output", GlogKind::Bool, "false", "ignored"),
    glog("log-json-info-buffer-size", GlogKind::Str, "0", "ignored"),
    glog("log-json-split-stream", GlogKind::Bool, "false", "ignored"),
    glog("logging-format", GlogKind::Str, "text", "ignored"),
];

/// The glog/klog flag called `name` (either spelling: `log_dir` or `log-dir`).
pub fn glog_flag(name: &str) -> Option<&'static GlogFlag> {
    GLOG_FLAGS.iter().find(|f| {
        f.name.len() == name.len()
            && f.name
                .bytes()
                .zip(name.bytes())
                .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = [
            ("10s", Duration::from_secs(10)),
            ("1m30s", Duration::from_secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("1.5h", Duration::from_secs(5400)),
            ("+2s", Duration::from_secs(2)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("2h45m0.5s", Duration::from_millis(9_900_500)),
            // Exact: 0.1 + 0.2 through floats would not be 300 ms to the nanosecond.
            ("0.1s0.2s", Duration::from_millis(300)),
            ("1.000000001s", Duration::new(1, 1)),
            // Beyond nanosecond precision: truncated, as in Go.
            ("1.0000000019s", Duration::new(1, 1)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
            (
                "9223372036854775807ns",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (text, want) in ok {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
        let bad = [
            "",
            "10",
            "s",
            "1x",
            "-1s",
            "1..2s",
            ".s",
            "1s2",
            "5 s",
            "1e3s",
            "9223372036854775808ns",
            "2562048h",
            "99999999999999999999999h",
            "007440s0888888888888888888888888888888888888888888888888888888888888888888888s",
        ];
        for text in bad {
            assert!(
                parse_go_duration(text).is_err(),
                "{text} should be rejected"
            );
        }
        assert_eq!(
            parse_go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".into())
        );
        assert_eq!(
            parse_go_duration("10"),
            Err("time: missing unit in duration \"10\"".into())
        );
    }

    #[test]
    fn go_ints_and_bools() {
        assert_eq!(parse_go_int("10053"), Some(10053));
        assert_eq!(parse_go_int("0x10"), Some(16));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("1_000"), Some(1000));
        assert_eq!(parse_go_int("-2"), Some(-2));
        assert_eq!(parse_go_int("0"), Some(0));
        for bad in ["12a", "", "0x", "--1", "0x+1", "+-1", "09"] {
            assert_eq!(parse_go_int(bad), None, "{bad}");
        }
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("False"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }

    #[test]
    fn flag_shapes() {
        assert_eq!(go_flag_name("-v=2"), Some(("v", Some("2"))));
        assert_eq!(go_flag_name("--configDir"), Some(("configDir", None)));
        for not_a_flag in ["x", "-", "--", "---v"] {
            assert_eq!(go_flag_name(not_a_flag), None, "{not_a_flag}");
        }
    }

    #[test]
    fn glog_names_in_both_spellings() {
        assert_eq!(glog_flag("log_dir").map(|f| f.name), Some("log-dir"));
        assert_eq!(glog_flag("log-dir").map(|f| f.name), Some("log-dir"));
        assert_eq!(glog_flag("v").map(|f| f.kind), Some(GlogKind::Int));
        assert_eq!(
            glog_flag("logtostderr").map(|f| f.kind),
            Some(GlogKind::Bool)
        );
        assert_eq!(glog_flag("log-dirx"), None);
        assert_eq!(glog_flag("configDir"), None);
    }
}
