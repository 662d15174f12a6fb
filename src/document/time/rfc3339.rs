//! RFC 3339 for the output: "now" in UTC with milliseconds, the Kafka timestamp the same way,
//! and the strict syntax check of what mappings produce, which runs on every event and so is
//! hand-written digit checks rather than a general parser (the tests hold it to jiff's).

use jiff::tz::Offset;
use jiff::{Timestamp, ZonedDateTime};

use super::layout::{write_fraction, write_offset};

/// Now, UTC, millisecond precision: `2026-11-25T06:01:02.123Z`.
pub fn now_rfc3339_ms() -> String {
    format_ms(Timestamp::now().as_millisecond())
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC string with milliseconds. A count
/// beyond the years -9999..9999 (no broker sends one) is held at the nearest end.
pub fn format_ms(ms: i64) -> String {
    let at = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    let dt = Offset::UTC.to_datetime(at);
    let mut out = String::with_capacity(24);
    push_year(&mut out, dt.year());
    push2(&mut out, b'-', dt.month());
    push2(&mut out, b'-', dt.day());
    push2(&mut out, b'T', dt.hour());
    push2(&mut out, b':', dt.minute());
    push2(&mut out, b':', dt.second());
    let milli = dt.subsec_nanosecond() / 1_000_000;
    out.push('.');
    out.push(char::from(b'0' + (milli / 100) as u8));
    out.push(char::from(b'0' + (milli / 10 % 10) as u8));
    out.push(char::from(b'0' + (milli % 10) as u8));
    out.push('Z');
    out
}

fn push_year(out: &mut String, y: i16) {
    if y < 0 {
        out.push('-');
    }
    let y = y.unsigned_abs();
    for d in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10] {
        out.push(char::from(b'0' + d as u8));
    }
}

fn push2(out: &mut String, sep: u8, n: i8) {
    out.push(char::from(sep));
    out.push(char::from(b'0' + (n / 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// `t` as Go's `time.RFC3339Nano` prints it: the fraction without trailing zeros (none when
/// zero), `Z` for a zero offset, else `±hh:mm` (an offset's seconds are not printed).
pub(super) fn write_nano(t: &ZonedDateTime, out: &mut String) {
    push_year(out, t.year());
    push2(out, b'-', t.month());
    push2(out, b'-', t.day());
    push2(out, b'T', t.hour());
    push2(out, b':', t.minute());
    push2(out, b':', t.second());
    write_fraction(t.subsec_nanosecond(), 9, true, b'.', out);
    write_offset(t.offset().seconds(), super::layout::RFC3339_OFFSET, out);
}

/// Strict RFC 3339 date-time, as what the Flexprice API (Go, `time.Time` from JSON) accepts:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with the `T` and `Z` in upper case (RFC 3339
/// allows lower case, Go does not). Errors say what is wrong, because they end up in the
/// dead-letter record a user reads.
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
    if b[10] != b'T' {
        return bad(if b[10] == b't' {
            "the `T` between date and time must be upper case"
        } else {
            "date and time must be separated by `T`"
        });
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
        [b'Z'] => Ok(()),
        [b'z'] => bad("the zone `Z` must be upper case"),
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
    use crate::document::time::Time;

    #[test]
    fn formats_epoch_and_known_instants() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        // 2026-11-25T06:01:02.123Z
        assert_eq!(format_ms(1_795_586_462_123), "2026-11-25T06:01:02.123Z");
        // leap day
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
        // Beyond jiff's years: held at the end, still RFC 3339 shaped.
        assert!(format_ms(i64::MAX).starts_with("9999-12-"));
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
            // Lower case is RFC 3339, but the API's Go parser refuses it.
            "2026-01-02t15:04:05Z",
            "2026-01-02T15:04:05z",
        ] {
            assert!(check_rfc3339(bad).is_err(), "{bad} must be rejected");
        }
        let e = check_rfc3339("2026-01-02t15:04:05Z").unwrap_err();
        assert!(e.contains("upper case"), "{e}");
    }

    #[test]
    fn prints_as_go_rfc3339nano() {
        let t = |s: &str| Time::parse_rfc3339(s).expect("valid").to_rfc3339_nano();
        assert_eq!(t("2026-03-01T10:20:30.500Z"), "2026-03-01T10:20:30.5Z");
        assert_eq!(t("2026-03-01T10:20:30.000Z"), "2026-03-01T10:20:30Z");
        assert_eq!(
            t("2026-03-01T10:20:30.123456789-03:30"),
            "2026-03-01T10:20:30.123456789-03:30"
        );
        assert_eq!(t("0001-01-01T00:00:00+00:00"), "0001-01-01T00:00:00Z");
    }

    /// A small deterministic generator (xorshift), so the cases are the same on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A string of RFC 3339's shape with each field drawn from a range a little wider than
    /// valid (month 0–13, day 0–32, hour 0–24, minute 0–60, offsets to ±23:60), upper-case
    /// `T`/`Z`, fractions of 1–9 digits.
    fn shaped(r: &mut Rng) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            1000 + r.below(8999),
            r.below(14),
            r.below(33),
            r.below(25),
            r.below(61),
            r.below(60)
        );
        if r.below(2) == 0 {
            s.push('.');
            for _ in 0..1 + r.below(9) {
                s.push(char::from(b'0' + r.below(10) as u8));
            }
        }
        match r.below(3) {
            0 => s.push('Z'),
            n => s.push_str(&format!(
                "{}{:02}:{:02}",
                if n == 1 { '+' } else { '-' },
                r.below(24),
                r.below(61)
            )),
        }
        s
    }

    fn jiff_instant(s: &str) -> Option<i128> {
        s.parse::<Timestamp>().ok().map(|t| t.as_nanosecond())
    }

    /// The hand-written check against jiff's RFC 3339 (Temporal) parser: on strings of the
    /// right shape they must agree on every field range and on the instant; on mangled ones,
    /// whatever the check lets through jiff must read as the same instant, as must this
    /// module's own (Go-compatible) parser.
    #[test]
    fn check_rfc3339_agrees_with_jiff() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut rejected) = (0, 0);
        for _ in 0..4000 {
            let s = shaped(&mut r);
            let ours = check_rfc3339(&s).is_ok();
            let theirs = jiff_instant(&s);
            assert_eq!(
                ours,
                theirs.is_some(),
                "{s}: check says {ours}, jiff {theirs:?}"
            );
            if let Some(at) = theirs {
                let go = Time::parse_rfc3339(&s).map(|t| t.unix_nanos());
                assert_eq!(go, Ok(at), "{s}");
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
        assert!(
            accepted > 1000 && rejected > 1000,
            "{accepted} / {rejected}"
        );

        let alphabet = b"0123456789:-+TtZz., x";
        let mut through = 0;
        for _ in 0..4000 {
            let mut b = shaped(&mut r).into_bytes();
            for _ in 0..1 + r.below(2) {
                let i = r.below(b.len() as u64) as usize;
                let c = alphabet[r.below(alphabet.len() as u64) as usize];
                match r.below(3) {
                    0 => b[i] = c,
                    1 => b.insert(i, c),
                    _ => {
                        b.remove(i);
                    }
                }
            }
            let s = String::from_utf8(b).expect("ASCII");
            if check_rfc3339(&s).is_err() {
                continue;
            }
            through += 1;
            let go = Time::parse_rfc3339(&s).map(|t| t.unix_nanos());
            let frac_digits = s[19..]
                .bytes()
                .skip(1)
                .take_while(u8::is_ascii_digit)
                .count();
            // jiff reads at most 9 fraction digits; RFC 3339 and Go take any number.
            if frac_digits <= 9 {
                assert_eq!(jiff_instant(&s), go.clone().ok(), "{s}");
            }
            assert!(go.is_ok(), "{s}: {go:?}");
        }
        assert!(
            through > 100,
            "only {through} mangled strings passed the check"
        );

        // Where jiff is more lenient than RFC 3339 and the API: all refused here.
        for s in [
            "2026-01-02 15:04:05Z",
            "2026-01-02t15:04:05Z",
            "2026-01-02T15:04:05z",
            "2026-01-02T15:04:05+0530",
            "2026-01-02T15:04:05+05",
            "2026-01-02T15:04Z",
            "2026-01-02T15:04:05,5Z",
            "2026-01-02T23:59:60Z",
        ] {
            assert!(jiff_instant(s).is_some(), "jiff takes {s}");
            assert!(check_rfc3339(s).is_err(), "{s} must be refused");
        }
    }
}
