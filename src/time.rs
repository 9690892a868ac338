//! Timestamps: the forms a sender's `occurred` may take, and the one form
//! intake answers with (RFC 3339, UTC).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, Timelike, Utc};
use serde_json::Value;

/// Epoch numbers at or above this are milliseconds (as seconds it would be the year 5138).
const MILLIS_THRESHOLD: f64 = 100_000_000_000.0;

/// Formats a stored (UTC) time as RFC 3339 with `Z`, with fractional seconds only when present.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time as SQLite stores diesel's `Timestamp`: chrono's `%F %T%.f` ("2026-11-23
/// 10:00:01.123", fractional digits in threes, none for whole seconds), written digit by
/// digit. The writer formats two a row, and chrono's format machinery is several times slower
/// than this (docs/decisions.md, "Timestamps formatted digit by digit").
/// Years outside 0-9999 and leap seconds go through chrono.
// Only ASCII digits and separators are pushed, so the final UTF-8 check cannot fail.
#[allow(clippy::expect_used)]
pub fn sqlite_text(t: NaiveDateTime) -> String {
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.format("%F %T%.f").to_string();
    }
    fn digits(out: &mut Vec<u8>, value: u32, width: u32) {
        for place in (0..width).rev() {
            out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
        }
    }
    let mut out = Vec::with_capacity(29);
    digits(&mut out, year as u32, 4);
    out.push(b'-');
    digits(&mut out, t.month(), 2);
    out.push(b'-');
    digits(&mut out, t.day(), 2);
    out.push(b' ');
    digits(&mut out, t.hour(), 2);
    out.push(b':');
    digits(&mut out, t.minute(), 2);
    out.push(b':');
    digits(&mut out, t.second(), 2);
    if nanos != 0 {
        out.push(b'.');
        match (nanos % 1_000_000, nanos % 1_000) {
            (0, _) => digits(&mut out, nanos / 1_000_000, 3),
            (_, 0) => digits(&mut out, nanos / 1_000, 6),
            _ => digits(&mut out, nanos, 9),
        }
    }
    String::from_utf8(out).expect("ASCII digits and separators")
}

/// Years a parsed timestamp may have: what RFC 3339 can write and both databases store.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Parses an `occurred` value: RFC 3339 / ISO 8601 with or without offset (none = UTC),
/// `YYYY-MM-DD HH:MM:SS[.f][ UTC]`, a bare date, or epoch seconds or milliseconds as a
/// number or numeric string. Returns UTC. A time outside the years 1-9999 is no timestamp
/// (PostgreSQL refuses some, and RFC 3339 cannot write them).
pub fn parse_timestamp(value: &Value) -> Option<NaiveDateTime> {
    let parsed = match value {
        Value::Number(n) => from_epoch(n.as_f64()?),
        Value::String(s) => parse_timestamp_str(s.trim()),
        _ => None,
    };
    parsed.filter(|t| YEARS.contains(&t.year()))
}

fn parse_timestamp_str(s: &str) -> Option<NaiveDateTime> {
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).naive_utc());
    }
    if s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && !s.contains("--")
    {
        if let Ok(n) = s.parse::<f64>() {
            return from_epoch(n);
        }
    }
    // "T" or space between date and time; an optional " UTC"/"Z" suffix means UTC.
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix("UTC"))
        .unwrap_or(s)
        .trim_end();
    const WITH_OFFSET: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f %z",
    ];
    for format in WITH_OFFSET {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc).naive_utc());
        }
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    const NO_OFFSET: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    for format in NO_OFFSET {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn from_epoch(n: f64) -> Option<NaiveDateTime> {
    if !n.is_finite() {
        return None;
    }
    let millis = if n.abs() >= MILLIS_THRESHOLD {
        n
    } else {
        n * 1000.0
    };
    DateTime::from_timestamp_millis(millis.round() as i64).map(|t| t.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqlite_text_is_what_diesel_would_store() {
        let base = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        let nanos = [
            0,
            1,
            999,
            1_000,
            7_000_000,
            123_000_000,
            123_456_000,
            123_456_789,
        ];
        let dates = [
            (0, 1, 1),
            (1999, 12, 31),
            (2026, 11, 23),
            (9999, 12, 31),
            (10000, 1, 1),
            (-1, 6, 15),
        ];
        for (y, m, d) in dates {
            for n in nanos {
                let t = NaiveDate::from_ymd_opt(y, m, d)
                    .unwrap()
                    .and_hms_nano_opt(23, 59, 58, n)
                    .unwrap();
                assert_eq!(sqlite_text(t), t.format("%F %T%.f").to_string(), "{t:?}");
            }
        }
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap();
        assert_eq!(sqlite_text(leap), leap.format("%F %T%.f").to_string());
        assert_eq!(sqlite_text(base), "2026-01-02 03:04:05");
    }

    #[test]
    fn every_accepted_form_parses_to_utc() {
        let expect = "2024-03-05T10:20:30Z";
        let cases = [
            json!("2024-03-05T10:20:30Z"),
            json!("2024-03-05T12:20:30+02:00"),
            json!("2024-03-05T12:20:30+0200"),
            json!("2024-03-05T10:20:30"),
            json!("2024-03-05 10:20:30"),
            json!("2024-03-05 10:20:30 UTC"),
            json!("2024-03-05 10:20:30Z"),
            json!(1709634030),
            json!(1709634030000_i64),
            json!("1709634030"),
            json!("1709634030000"),
            json!(1709634030.0),
        ];
        for case in cases {
            let parsed = parse_timestamp(&case).unwrap_or_else(|| panic!("{case} did not parse"));
            assert_eq!(rfc3339(parsed), expect, "for {case}");
        }
    }

    #[test]
    fn fractions_are_kept() {
        let t = parse_timestamp(&json!("2024-03-05 10:20:30.250 UTC")).unwrap();
        assert_eq!(rfc3339(t), "2024-03-05T10:20:30.250Z");
        let t = parse_timestamp(&json!(1709634030250_i64)).unwrap();
        assert_eq!(rfc3339(t), "2024-03-05T10:20:30.250Z");
    }

    #[test]
    fn the_first_and_last_writable_years_are_accepted() {
        for text in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
            let t = parse_timestamp(&json!(text)).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(rfc3339(t), text);
        }
    }

    #[test]
    fn a_bare_date_is_midnight_utc() {
        let t = parse_timestamp(&json!("2024-03-05")).unwrap();
        assert_eq!(rfc3339(t), "2024-03-05T00:00:00Z");
    }

    #[test]
    fn nonsense_is_refused() {
        for case in [
            json!("yesterday"),
            json!(""),
            json!(true),
            json!(null),
            json!({}),
            json!("2024-13-45T99:00:00Z"),
            json!("+12345-01-01T00:00:00"),
            json!("-0001-01-01T00:00:00"),
            json!("0000-12-31 23:59:59"),
            json!(253_402_300_800_000_i64),
            json!(-8_000_000_000_000_000_i64),
            json!(8_000_000_000_000_000_i64),
            json!(1e300),
            json!(i64::MIN),
            json!(u64::MAX),
        ] {
            assert_eq!(parse_timestamp(&case), None, "for {case}");
        }
    }
}
