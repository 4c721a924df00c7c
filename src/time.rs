//! Calendar arithmetic (proleptic Gregorian, UTC), written once for the
//! whole product: RFC 3339 for the records' `utc` (formatting and parsing),
//! dates, weekdays and hours for the report's keys. No time-zone database.

pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD` of days since 1970-01-01.
pub fn date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// 0 = Monday of days since 1970-01-01 (a Thursday).
pub fn weekday(days: i64) -> usize {
    (days + 3).rem_euclid(7) as usize
}

/// `YYYY-MM-DDTHH:MMZ` of Unix seconds.
pub fn minute(secs: i64) -> String {
    let sod = secs.rem_euclid(86_400);
    format!("{}T{:02}:{:02}Z", date(secs.div_euclid(86_400)), sod / 3600, sod / 60 % 60)
}

/// A Unix time in nanoseconds as RFC 3339 UTC with milliseconds,
/// e.g. `2024-05-01T12:00:00.123Z`: the one formatting of `utc` in records
/// and bus messages.
pub fn utc_rfc3339(unix_nanos: i128) -> String {
    let millis = unix_nanos.div_euclid(1_000_000);
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let sod = secs.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}.{ms:03}Z", date(secs.div_euclid(86_400) as i64), sod / 3600, sod / 60 % 60, sod % 60)
}

/// Unix seconds of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS[.fff]]Z` (UTC).
pub fn parse(s: &str) -> Option<f64> {
    parse_us(s).map(|us| us as f64 / 1e6)
}

/// Microseconds since the epoch of `YYYY-MM-DD` or
/// `YYYY-MM-DDTHH:MM[:SS[.ffffff]]Z` (UTC), exact in integers (digits
/// beyond the microsecond are cut), so sums of times are exact in any order.
pub fn parse_us(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = match s.split_once('T') {
        Some((d, r)) => (d, Some(r.strip_suffix('Z')?)),
        None => (s, None),
    };
    let number = |v: &str, digits: usize| -> Option<i64> {
        (v.len() == digits && v.bytes().all(|c| c.is_ascii_digit())).then(|| v.parse().ok()).flatten()
    };
    let mut dp = date.split('-');
    let (y, m, d) = (number(dp.next()?, 4)?, number(dp.next()?, 2)?, number(dp.next()?, 2)?);
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut us = days_from_civil(y, m as u32, d as u32) * 86_400_000_000;
    if let Some(t) = rest {
        let (hms, frac) = t.split_once('.').map_or((t, None), |(a, b)| (a, Some(b)));
        let mut tp = hms.split(':');
        let (h, mi) = (number(tp.next()?, 2)?, number(tp.next()?, 2)?);
        let sec = tp.next().map_or(Some(0), |v| number(v, 2))?;
        if tp.next().is_some() || h > 23 || mi > 59 || sec > 60 || (frac.is_some() && hms.len() != 8) {
            return None;
        }
        let frac_us = match frac {
            None => 0,
            Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => {
                f.bytes().chain(std::iter::repeat(b'0')).take(6).fold(0, |acc, c| acc * 10 + i64::from(c - b'0'))
            }
            Some(_) => return None,
        };
        us += (h * 3600 + mi * 60 + sec) * 1_000_000 + frac_us;
    }
    Some(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for z in [-800_000, -1, 0, 1, 19_000, 20_758, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(WEEKDAYS[weekday(0)], "Thu");
        assert_eq!(WEEKDAYS[weekday(days_from_civil(2026, 11, 2))], "Mon");
        assert_eq!(parse("2024-02-29T23:59:59.500Z"), Some(1_709_251_199.5));
        assert_eq!(parse("2026-11-01"), Some(days_from_civil(2026, 11, 1) as f64 * 86_400.0));
        assert_eq!(parse("2026-11-01T10:00Z"), Some(days_from_civil(2026, 11, 1) as f64 * 86_400.0 + 36_000.0));
        assert_eq!(parse("2026-13-01"), None);
        assert_eq!(parse("yesterday"), None);
        assert_eq!(minute(3600 * 25 + 60), "1970-01-02T01:01Z");
    }

    #[test]
    fn utc_formatting_round_trips_through_parse() {
        assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_rfc3339(1_709_251_199_999_000_000), "2024-02-29T23:59:59.999Z");
        assert_eq!(utc_rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse(&utc_rfc3339(1_709_251_199_500_000_000)), Some(1_709_251_199.5));
        assert_eq!(parse_us("2026-11-02T08:00:00.5Z"), Some(1_793_606_400_500_000));
        assert_eq!(parse_us("2026-11-02T08:00:00.1234567Z"), Some(1_793_606_400_123_456));
        for bad in
            ["2026-11-02T08:00:00.Z", "2026-11-02T08:00:00", "26-11-02", "2026-11-02T8:00Z", "2026-11-02T08:00.5Z"]
        {
            assert_eq!(parse_us(bad), None, "{bad}");
        }
    }
}
