//! Calendar arithmetic for the Go-compatible time texts (no time-zone database needed: every
//! text we produce is UTC).

/// Days since 1970-01-01 to a proleptic Gregorian `(year, month, day)`, for any `i64` day
/// count a `SystemTime` can produce (Howard Hinnant's public-domain `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // In range by construction: day 1..=31, month 1..=12.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        let cases = [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (19_675, (2023, 11, 14)),
            (-719_468, (0, 3, 1)),
        ];
        for (days, want) in cases {
            assert_eq!(civil_from_days(days), want, "day {days}");
        }
    }
}
