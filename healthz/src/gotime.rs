//! Go-compatible text formats used in legacy response bodies: `time.Time.String()`
//! (UTC only, without the monotonic-clock suffix), `time.ParseDuration`, and the
//! float formatting of `encoding/json` (so `LatencySeconds` reads exactly like Go's).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats a wall-clock time like Go's `time.Time.String()` for a UTC location:
/// `2006-01-02 15:04:05.999999999 +0000 UTC` (fraction trimmed of trailing zeros,
/// omitted when zero).
pub fn format_go_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let nanos = since.subsec_nanos();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm (public domain "days_from_civil" inverse).
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a Go duration string (`time.ParseDuration`): an optionally signed sequence of
/// decimal numbers with unit suffixes `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, e.g. `2s`,
/// `1m30s`, `1.5h`; `0` alone is allowed. Negative durations are rejected here because
/// no flag that uses this accepts them.
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration \"{input}\"");
    let mut s = input;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if s.starts_with('-') {
        return Err(format!("negative duration \"{input}\" is not allowed"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total_nanos: f64 = 0.0;
    while !s.is_empty() {
        let num_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let num = &s[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        s = &s[num_len..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{input}\"")),
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{input}\""
                ));
            }
        };
        total_nanos += value * scale;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// Formats an `f64` the way Go's `encoding/json` does: shortest round-trip decimal,
/// exponent form (`1e-07`, `1e+21`) outside `[1e-6, 1e21)`.
pub fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "0".to_string();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust gives e.g. "1e-7"; Go writes at least two exponent digits and a sign.
        let s = format!("{f:e}");
        if let Some((mantissa, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_string() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(format_go_time(t), "2023-11-14 22:13:20.12 +0000 UTC");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 0); // leap day 2000
        assert_eq!(format_go_time(t), "2000-02-29 00:00:00 +0000 UTC");
        assert_eq!(format_go_time(UNIX_EPOCH), "1970-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("2").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("s").is_err());
        assert!(parse_go_duration("2x").is_err());
        assert!(parse_go_duration("-2s").is_err());
        assert!(parse_go_duration("1..2s").is_err());
    }

    #[test]
    fn json_floats() {
        assert_eq!(go_json_float(0.0), "0");
        assert_eq!(go_json_float(0.001234), "0.001234");
        assert_eq!(go_json_float(1.5), "1.5");
        assert_eq!(go_json_float(1e-7), "1e-07");
        assert_eq!(go_json_float(2.5e21), "2.5e+21");
    }
}
