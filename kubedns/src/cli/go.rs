//! Go standard-library value syntax used by the legacy flags: `strconv.ParseBool`,
//! `time.ParseDuration`, `strconv.ParseInt(s, 0, 64)` and `os.ExpandEnv`.

use std::collections::HashMap;
use std::time::Duration;

/// Go `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go `time.ParseDuration` restricted to non-negative values: a sequence of decimal numbers with
/// optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `1m30s`, `1.5h`;
/// `0` alone is allowed.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err("negative durations are not allowed".into());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(format!("invalid duration {s:?}"));
        }
        let value: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("missing unit in duration {s:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    // Go limits durations to ~292 years; anything beyond is malformed here too.
    if !total.is_finite() || total > 9.2e9 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Go `strconv.ParseInt(s, 0, 64)`: decimal, `0x` hex, `0o`/leading-`0` octal, `0b` binary.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Go `os.ExpandEnv`: `$VAR` and `${VAR}` replaced by their value (unset = empty).
pub fn expand_env(s: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            out.push_str(&s[last..i]);
            let rest = &s[i + 1..];
            let (name, consumed) = if let Some(inner) = rest.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) if end > 0 => (Some(&inner[..end]), end + 2),
                    // `${}` or unterminated: invalid syntax, eaten like Go does.
                    Some(end) => (None, end + 2),
                    None => (None, 1),
                }
            } else if rest.starts_with(|c: char| "*#$@!?-".contains(c) || c.is_ascii_digit()) {
                (Some(&rest[..1]), 1)
            } else {
                let n = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if n == 0 {
                    // `$` not followed by a name: keep the dollar.
                    out.push('$');
                    (None, 0)
                } else {
                    (Some(&rest[..n]), n)
                }
            };
            if let Some(name) = name {
                out.push_str(env.get(name).map(String::as_str).unwrap_or(""));
            }
            i += 1 + consumed;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last.min(s.len())..]);
    out
}

/// Validate `--kube-master-url` like legacy: expand `$VARS`, then require a scheme and a host
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_go_duration("2h45m0.5s").unwrap(),
            Duration::from_millis(9_900_500)
        );
        for bad in ["", "10", "s", "1x", "-1s", "1..2s", ".s", "1s2"] {
            assert!(parse_go_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn go_ints_and_bools() {
        assert_eq!(parse_go_int("10053"), Some(10053));
        assert_eq!(parse_go_int("0x10"), Some(16));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("-2"), Some(-2));
        assert_eq!(parse_go_int("12a"), None);
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("yes"), None);
    }

    #[test]
    fn env_expansion() {
        let env: HashMap<String, String> = [
            ("HOST".to_string(), "10.0.0.1".to_string()),
            ("PORT".to_string(), "6443".to_string()),
        ]
        .into();
        assert_eq!(
            expand_env("https://$HOST:${PORT}/", &env),
            "https://10.0.0.1:6443/"
        );
        assert_eq!(expand_env("a$UNSET-b", &env), "a-b");
        assert_eq!(expand_env("cost$", &env), "cost$");
        assert_eq!(expand_env("x$ y", &env), "x$ y");
    }
}
