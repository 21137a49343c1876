//! Go-compatible text formats used in legacy response bodies: `time.Time.String()`
//! (UTC only, without the monotonic-clock suffix) and the float formatting of
//! `encoding/json` (so `LatencySeconds` reads exactly like Go's). `time.ParseDuration` is
//! shared: [`serverkit::flags::parse_go_duration`], re-exported here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use serverkit::flags::parse_go_duration;
use serverkit::time::civil_from_days;

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
    fn json_floats() {
        assert_eq!(go_json_float(0.0), "0");
        assert_eq!(go_json_float(0.001234), "0.001234");
        assert_eq!(go_json_float(1.5), "1.5");
        assert_eq!(go_json_float(1e-7), "1e-07");
        assert_eq!(go_json_float(2.5e21), "2.5e+21");
    }
}
