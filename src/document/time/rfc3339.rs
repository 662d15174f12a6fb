//! RFC 3339 timestamps without a date-time dependency: the output only needs "now" in UTC
//! (millisecond precision) and a strict syntax check of what mappings produce, both simple
//! enough to own here rather than pull a calendar library into the hot path.

use std::time::{SystemTime, UNIX_EPOCH};

use super::civil_from_days;

/// Now, UTC, millisecond precision: `2026-11-25T06:01:02.123Z`.
pub fn now_rfc3339_ms() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    format_ms(ms)
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC string with milliseconds.
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Strict RFC 3339 date-time as Go's `time.RFC3339` parser (what the Flexprice API uses)
/// accepts it: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. Errors say what is wrong, because
/// they end up in the dead-letter record a user reads.
pub fn check_rfc3339(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let bad = |why: &str| {
        Err(format!(
            "timestamp `{s}` is not RFC 3339 ({why}); expected e.g. `2026-01-02T15:04:05Z`"
        ))
    };
    if b.len() < 20 {
        return bad("too short");
    }
    // Digits straight to a number (at most 4 of them): no UTF-8 check and `parse` per field.
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return bad("date must be YYYY-MM-DD");
    };
    if b[4] != b'-' || b[7] != b'-' {
        return bad("date must be YYYY-MM-DD");
    }
    if !matches!(b[10], b'T' | b't') {
        return bad("date and time must be separated by `T`");
    }
    let (Some(hour), Some(min), Some(sec)) = (num(11..13), num(14..16), num(17..19)) else {
        return bad("time must be HH:MM:SS");
    };
    if b[13] != b':' || b[16] != b':' {
        return bad("time must be HH:MM:SS");
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let mdays = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return bad("month out of range"),
    };
    if day == 0 || day > mdays {
        return bad("day out of range");
    }
    if hour > 23 || min > 59 || sec > 59 {
        return bad("time out of range");
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return bad("empty fraction of a second");
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => Ok(()),
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            let oh = u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0');
            let om = u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0');
            if oh > 23 || om > 59 {
                bad("zone offset out of range")
            } else {
                Ok(())
            }
        }
        _ => bad("needs a zone: `Z` or `±HH:MM`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_known_instants() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        // 2026-11-25T06:01:02.123Z
        assert_eq!(format_ms(1_795_586_462_123), "2026-11-25T06:01:02.123Z");
        // leap day
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn now_is_valid_rfc3339_with_millis() {
        let n = now_rfc3339_ms();
        assert_eq!(n.len(), 24, "{n}");
        assert!(n.ends_with('Z'));
        check_rfc3339(&n).expect("now must be RFC 3339");
    }

    #[test]
    fn accepts_rfc3339_and_rejects_the_rest() {
        for ok in [
            "2026-01-02T15:04:05Z",
            "2026-01-02T15:04:05.123456789Z",
            "2026-01-02T15:04:05+05:30",
            "2024-02-29T00:00:00-00:00",
        ] {
            check_rfc3339(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "2026-01-02",
            "2026-01-02 15:04:05Z",
            "2026-01-02T15:04:05",
            "2026-13-02T15:04:05Z",
            "2025-02-29T15:04:05Z",
            "2026-01-02T24:00:00Z",
            "2026-01-02T15:04:05.Z",
            "2026-01-02T15:04:05+0530",
            "1700000000",
        ] {
            assert!(check_rfc3339(bad).is_err(), "{bad} must be rejected");
        }
    }
}
