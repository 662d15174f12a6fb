//! Durations: Go's (`1h30m`, `-1.5h`, `300ms`: Bento's `parse_duration`) and ISO 8601's
//! periods (`P1Y2M3DT4H5M6.5S`: `parse_duration_iso8601`, `ts_add_iso8601`).
//!
//! Bento reads periods with rickb777/date's `period` package, and its rules are kept because
//! they change results: each field keeps one decimal place (`PT0.25S` is 0.2 seconds, as
//! Bento's documentation says), whole years, months and days move the calendar (January 31
//! plus `P1M` is March 2 or 3, Go's `AddDate` overflowing into the next month) while any
//! fraction of them makes the whole period an approximate duration (a year 365.2425 days, a
//! month 30.436875). The package's limit of about ±3276 per field is not kept.

use jiff::civil::Date;
use jiff::Span;

use super::{quote, Time};

const NS_PER_US: u128 = 1_000;
const NS_PER_MS: u128 = 1_000_000;
const NS_PER_S: u128 = 1_000_000_000;

/// A Go duration string (`"1h30m"`, `"-1.5h"`, `"300ms"`, `"2h45m30.5s"`) in nanoseconds, as
/// Go's `time.ParseDuration`: a signed sequence of decimal numbers, each with an optional
/// fraction and a unit (`ns`, `us` or `µs`, `ms`, `s`, `m`, `h`); `"0"` alone needs no unit.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let units = "valid units are ns, us (or µs), ms, s, m and h";
    let invalid = || {
        format!(
            "invalid duration {}: expected numbers with units, such as \"300ms\", \"-1.5h\" or \
             \"2h45m\"",
            quote(s)
        )
    };
    let too_long = || {
        format!(
            "invalid duration {}: longer than the about 292 years a duration holds",
            quote(s)
        )
    };
    let mut rest = s;
    let neg = rest.starts_with('-');
    if neg || rest.starts_with('+') {
        rest = &rest[1..];
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let limit: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let n_int = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let whole: u128 = if n_int == 0 {
            0
        } else {
            match rest[..n_int].parse::<u128>() {
                Ok(v) if v <= limit => v,
                _ => return Err(too_long()),
            }
        };
        rest = &rest[n_int..];
        // The fraction as Go keeps it: digits until the value would pass 2^63, the rest
        // ignored, and `scale` the power of ten of the digits kept.
        let (mut frac, mut scale, mut n_frac) = (0u64, 1f64, 0usize);
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
            n_frac = rest.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for c in rest[..n_frac].bytes() {
                if overflow || frac > (i64::MAX as u64) / 10 {
                    overflow = true;
                    continue;
                }
                frac = frac * 10 + u64::from(c - b'0');
                scale *= 10.0;
            }
            rest = &rest[n_frac..];
        }
        if n_int == 0 && n_frac == 0 {
            return Err(invalid());
        }
        let n_unit = rest
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        if n_unit == 0 {
            return Err(format!(
                "invalid duration {}: a number without a unit; {units}",
                quote(s)
            ));
        }
        let unit_text = &rest[..n_unit];
        rest = &rest[n_unit..];
        let unit: u128 = match unit_text {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => NS_PER_US,
            "ms" => NS_PER_MS,
            "s" => NS_PER_S,
            "m" => 60 * NS_PER_S,
            "h" => 3600 * NS_PER_S,
            _ => {
                return Err(format!(
                    "invalid duration {}: unknown unit {}; {units}",
                    quote(s),
                    quote(unit_text)
                ))
            }
        };
        let mut v = whole * unit;
        if frac > 0 {
            // Go computes the fraction's nanoseconds in floating point; so does this.
            v += (frac as f64 * (unit as f64 / scale)) as u128;
        }
        total += v;
        if v > limit || total > limit {
            return Err(too_long());
        }
    }
    if neg {
        return Ok((-(total as i128)) as i64);
    }
    i64::try_from(total).map_err(|_| too_long())
}

/// An ISO 8601 period (`P1Y2M3DT4H5M6.5S`, `P2W`, `-P1D`, `PT36H`), each field in tenths as
/// Bento keeps them. Weeks are folded into days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    neg: bool,
    /// Magnitudes, in tenths of their unit.
    years: i64,
    months: i64,
    days: i64,
    hours: i64,
    minutes: i64,
    seconds: i64,
}

impl Period {
    /// `[+-]P[nY][nM][nW][nD][T[nH][nM][nS]]`, numbers with an optional fraction (`.` or
    /// `,`) of which only the first digit counts; `P0` is zero.
    pub fn parse(s: &str) -> Result<Period, String> {
        let fail = |why: &str| {
            format!(
                "invalid ISO 8601 duration {}: {why}; expected e.g. \"P1Y2M3DT4H5M6S\", \
                 \"PT1.5H\" or \"-P1W\"",
                quote(s)
            )
        };
        if matches!(s, "" | "-" | "+") {
            return Err(fail("it is empty"));
        }
        if s == "P0" {
            return Ok(Period::default());
        }
        let mut p = Period::default();
        let mut rest = s;
        if let Some(r) = rest.strip_prefix('-') {
            p.neg = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('+') {
            rest = r;
        }
        rest = rest
            .strip_prefix('P')
            .ok_or_else(|| fail("it must start with `P`"))?;
        let (mut weeks, mut in_time, mut fields) = (0i64, false, 0);
        let mut seen = [false; 7]; // Y M W D H M S
        let mut fraction_in: Option<char> = None;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('T') {
                if in_time {
                    return Err(fail("`T` appears twice"));
                }
                in_time = true;
                rest = r;
                continue;
            }
            let n = rest
                .bytes()
                .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b',')
                .count();
            let Some(designator) = rest[n..].chars().next() else {
                return Err(fail(
                    "the last number has no designator (Y, M, W, D, H, M or S)",
                ));
            };
            let tenths = tenths(&rest[..n])
                .ok_or_else(|| fail(&format!("expected a number before `{designator}`")))?;
            rest = &rest[n + designator.len_utf8()..];
            if tenths % 10 != 0 {
                if let Some(prev) = fraction_in {
                    return Err(fail(&format!(
                        "`{prev}` and `{designator}` both have a fraction; only the last \
                         field may"
                    )));
                }
                fraction_in = Some(designator);
            }
            let (slot, field) = match (designator, in_time) {
                ('Y', false) => (0, &mut p.years),
                ('M', false) => (1, &mut p.months),
                ('W', false) => (2, &mut weeks),
                ('D', false) => (3, &mut p.days),
                ('H', true) => (4, &mut p.hours),
                ('M', true) => (5, &mut p.minutes),
                ('S', true) => (6, &mut p.seconds),
                ('Y' | 'W' | 'D', true) => {
                    return Err(fail(&format!("`{designator}` cannot come after `T`")))
                }
                ('H' | 'S', false) => {
                    return Err(fail(&format!("`{designator}` must come after `T`")))
                }
                _ => {
                    return Err(fail(&format!(
                        "`{designator}` is not a designator (Y, M, W, D, H, M or S)"
                    )))
                }
            };
            if seen[slot] {
                return Err(fail(&format!("`{designator}` appears twice")));
            }
            seen[slot] = true;
            *field = tenths;
            fields += 1;
        }
        if fields == 0 {
            return Err(fail("it has no fields"));
        }
        p.days = weeks
            .checked_mul(7)
            .and_then(|w| w.checked_add(p.days))
            .ok_or_else(|| fail("a number is too large"))?;
        Ok(p)
    }

    pub fn negate(self) -> Period {
        Period {
            neg: !self.neg,
            ..self
        }
    }

    /// The fields with their sign, in tenths: years, months, days, hours, minutes, seconds.
    fn signed(&self) -> [i128; 6] {
        let s = if self.neg { -1 } else { 1 };
        [
            self.years,
            self.months,
            self.days,
            self.hours,
            self.minutes,
            self.seconds,
        ]
        .map(|v| s * i128::from(v))
    }

    /// The hours, minutes and seconds in nanoseconds (exact, to the tenth of a second).
    fn clock_nanos(&self) -> i128 {
        let [_, _, _, h, m, s] = self.signed();
        (h * 360_000 + m * 6_000 + s * 100) * NS_PER_MS as i128
    }

    /// The period in nanoseconds, a year taken as 365.2425 days and a month as 30.436875
    /// (Bento's `parse_duration_iso8601`).
    pub fn approx_nanos(&self) -> Result<i64, String> {
        let n = self.approx_nanos_wide();
        i64::try_from(n).map_err(|_| {
            "the ISO 8601 duration is longer than the about 292 years a duration holds".to_string()
        })
    }

    fn approx_nanos_wide(&self) -> i128 {
        let [y, mo, d, ..] = self.signed();
        // Days in units of 1e-7 (fields are tenths): 365.2425 and 30.436875 days exactly.
        let days_e7 = y * 365_242_500 + mo * 30_436_875 + d * 1_000_000;
        // 1e-7 days = 8.64 ms = 8_640_000 ns.
        days_e7 * 8_640_000 + self.clock_nanos()
    }

    /// A fraction of a larger field moved into the next smaller one when that one is set
    /// (`P1.5Y2D` is 1 year, 6 months and 2 days), as Bento's parser normalises before adding.
    fn fraction_moved_right(&self) -> Period {
        let mut p = *self;
        let y10 = p.years % 10;
        if y10 != 0 && (p.months | p.days | p.hours | p.minutes | p.seconds) != 0 {
            p.months += y10 * 12;
            p.years -= y10;
        }
        let m10 = p.months % 10;
        if m10 != 0 && (p.days | p.hours | p.minutes | p.seconds) != 0 {
            p.days += m10 * 30_436_875 / 1_000_000;
            p.months -= m10;
        }
        let d10 = p.days % 10;
        if d10 != 0 && (p.hours | p.minutes | p.seconds) != 0 {
            p.hours += d10 * 24;
            p.days -= d10;
        }
        let h10 = p.hours % 10;
        if h10 != 0 && (p.minutes | p.seconds) != 0 {
            p.minutes += h10 * 60;
            p.hours -= h10;
        }
        let mi10 = p.minutes % 10;
        if mi10 != 0 && p.seconds != 0 {
            p.seconds += mi10 * 60;
            p.minutes -= mi10;
        }
        p
    }

    /// `t` moved by this period (Bento's `ts_add_iso8601`): whole years, months and days on
    /// the calendar of `t`'s zone, with Go's overflow into the next month, then the clock
    /// part exactly; with a fraction of a year, month or day, the approximate duration.
    pub(super) fn add_to(&self, t: &Time) -> Result<Time, String> {
        let p = self.fraction_moved_right();
        let [y, mo, d, ..] = p.signed();
        if y % 10 != 0 || mo % 10 != 0 || d % 10 != 0 {
            return t.add_nanos(p.approx_nanos_wide());
        }
        let moved = if (y, mo, d) == (0, 0, 0) {
            t.clone()
        } else {
            add_date(t, y / 10, mo / 10, d / 10)?
        };
        moved.add_nanos(p.clock_nanos())
    }
}

/// One to three digits past a decimal point (`.` or `,`), of which the first is kept: the
/// number in tenths.
fn tenths(s: &str) -> Option<i64> {
    let (whole, frac) = match s.find(['.', ',']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let tenth = frac.bytes().next().map_or(0, |c| i64::from(c - b'0'));
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(10)?
        .checked_add(tenth)
}

/// Go's `Time.AddDate`: years and months added to the month count, days to the day, and
/// whatever overflows (February 30) carried into the next month, the clock kept, in `t`'s
/// zone.
fn add_date(t: &Time, years: i128, months: i128, days: i128) -> Result<Time, String> {
    let out = || format!("{t} moved by the ISO 8601 duration is outside the years -9999 to 9999");
    let dt = t.zoned().datetime();
    let month_count = i128::from(dt.year()) * 12 + i128::from(dt.month() - 1) + years * 12 + months;
    let year = i16::try_from(month_count.div_euclid(12)).map_err(|_| out())?;
    let month = (month_count.rem_euclid(12) + 1) as i8;
    let day_offset = i64::try_from(i128::from(dt.day() - 1) + days).map_err(|_| out())?;
    let date = Date::new(year, month, 1)
        .ok()
        .and_then(|first| Span::new().try_days(day_offset).ok().map(|s| (first, s)))
        .and_then(|(first, span)| first.checked_add(span).ok())
        .ok_or_else(out)?;
    let zdt = date
        .to_datetime(dt.time())
        .to_zoned_datetime(t.zoned().time_zone().clone())
        .map_err(|_| out())?;
    Ok(Time(zdt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let d = parse_go_duration;
        assert_eq!(d("300ms"), Ok(300_000_000));
        assert_eq!(d("-1.5h"), Ok(-5_400_000_000_000));
        assert_eq!(d("2h45m"), Ok(9_900_000_000_000));
        assert_eq!(d("1h30m10.5s"), Ok(5_410_500_000_000));
        assert_eq!(d("50us"), Ok(50_000));
        assert_eq!(d("50µs"), Ok(50_000));
        assert_eq!(d(".5s"), Ok(500_000_000));
        assert_eq!(d("0"), Ok(0));
        assert_eq!(d("+3ns"), Ok(3));
        assert_eq!(d("2562047h47m16.854775807s"), Ok(i64::MAX));
        assert_eq!(d("-2562047h47m16.854775808s"), Ok(i64::MIN));
        assert!(d("2562047h47m16.854775808s")
            .unwrap_err()
            .contains("292 years"));
        assert!(d("1").unwrap_err().contains("without a unit"));
        assert!(d("1d").unwrap_err().contains("unknown unit \"d\""));
        for bad in ["", "-", "h", ".s", "1.h2", "1h 30m"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn periods_parse_as_bento_reads_them() {
        let n = |s: &str| Period::parse(s).and_then(|p| p.approx_nanos());
        assert_eq!(n("P3Y6M4DT12H30M5S"), Ok(110_839_937_000_000_000));
        assert_eq!(n("PT2H"), Ok(7_200_000_000_000));
        assert_eq!(n("PT2.5S"), Ok(2_500_000_000));
        // One decimal place, the rest dropped.
        assert_eq!(n("PT0.25S"), Ok(200_000_000));
        assert_eq!(n("P1W"), Ok(604_800_000_000_000));
        assert_eq!(n("-P1D"), Ok(-86_400_000_000_000));
        assert_eq!(n("P0"), Ok(0));
        assert_eq!(n("PT1,5M"), Ok(90_000_000_000));
        for bad in [
            "",
            "P",
            "PT",
            "1D",
            "P1",
            "PT1D",
            "P1H",
            "P1D1D",
            "P1.5Y1.5M",
            "PTT1H",
            "P1X",
            "P.5D",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        let e = Period::parse("P1H").unwrap_err();
        assert!(e.contains("`H` must come after `T`"), "{e}");
    }

    #[test]
    fn adding_periods_follows_gos_calendar() {
        let add = |t: &str, p: &str| {
            let t = Time::parse_rfc3339(t).expect("valid");
            let p = Period::parse(p).expect("valid");
            t.add_period(&p).map(|t| t.to_rfc3339_nano())
        };
        assert_eq!(
            add("2020-01-01T00:00:00Z", "P1DT2H"),
            Ok("2020-01-02T02:00:00Z".into())
        );
        // January 31 plus a month overflows into March, as Go's AddDate.
        assert_eq!(
            add("2020-01-31T10:00:00Z", "P1M"),
            Ok("2020-03-02T10:00:00Z".into())
        );
        assert_eq!(
            add("2021-01-31T10:00:00Z", "P1M"),
            Ok("2021-03-03T10:00:00Z".into())
        );
        assert_eq!(
            add("2020-02-29T00:00:00Z", "P1Y"),
            Ok("2021-03-01T00:00:00Z".into())
        );
        assert_eq!(
            add("2020-03-01T00:00:00Z", "-P1D"),
            Ok("2020-02-29T00:00:00Z".into())
        );
        assert_eq!(
            add("2020-01-01T00:00:00+02:00", "P1Y2M3DT4H5M6.5S"),
            Ok("2021-03-04T04:05:06.5+02:00".into())
        );
        // A fractional day: the whole period becomes a duration.
        assert_eq!(
            add("2020-01-01T00:00:00Z", "P1.5D"),
            Ok("2020-01-02T12:00:00Z".into())
        );
        // A year's fraction moves into the months when another field is set.
        assert_eq!(
            add("2020-01-01T00:00:00Z", "P1.5Y1D"),
            Ok("2021-07-02T00:00:00Z".into())
        );
        assert!(add("9999-12-01T00:00:00Z", "P1M").is_err());
    }
}
