//! Time for every stage: Bloblang's `ts_*` methods and `now()`, the processors, and the
//! outputs' clock. One timestamp type ([`Time`]: an instant and the zone its wall clock is read
//! in, on `jiff`), read and printed the ways Bento does:
//!
//! - RFC 3339 ([`Time::parse_rfc3339`], [`Time::to_rfc3339_nano`]): what Bento accepts for a
//!   timestamp string and how it prints one (Go's `time.RFC3339Nano`).
//! - Go reference layouts (`2006-01-02T15:04:05Z07:00`, [`Time::parse_layout`],
//!   [`Time::format_layout`]) in `layout`.
//! - C-style `strftime`/`strptime` ([`Time::strftime`], [`Time::strptime`]) in `strtime`, on
//!   jiff's own implementation with Bento's differences (`%f` is microseconds, `%c` is C's).
//! - Time zones ([`zone`]): IANA names from the zone database compiled into the binary, `UTC`,
//!   `Local` (the host's zone, as Go's `time.Local`) and fixed offsets such as `+02:00`.
//! - Durations (`duration`): Go's `1h30m` ([`parse_go_duration`]) and ISO 8601's `P1DT2H`
//!   ([`Period`]).
//! - The output's needs (`rfc3339`): [`check_rfc3339`], the one strict RFC 3339 check of the
//!   crate (every event's timestamp goes through it), and [`format_ms`]/[`now_rfc3339_ms`].
//!
//! Bloblang keeps timestamps as RFC 3339 strings in its values for now, so a zone survives from
//! one method to the next only as the offset the string carries.

mod duration;
mod layout;
mod rfc3339;
mod strtime;

use std::fmt;
use std::sync::OnceLock;

use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, ZonedDateTime};

pub use duration::{parse_go_duration, Period};
pub use rfc3339::{check_rfc3339, format_ms, now_rfc3339_ms};

/// Go's `time.RFC3339Nano`: Bento's default for `ts_format` and how it prints a timestamp.
pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// Seconds from 0001-01-01T00:00:00Z, Go's zero time (and what `Round` counts multiples
/// from), to the Unix epoch.
const GO_ZERO_TO_UNIX_SECS: i128 = 62_135_596_800;

/// A point in time and the time zone its wall clock (and `Z07:00`, `MST`, `%Z`) is read in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Time(ZonedDateTime);

impl Time {
    pub fn new(at: Timestamp, tz: TimeZone) -> Time {
        Time(at.to_zoned_datetime(tz))
    }

    /// Now, in the host's zone: Bento's `now()`.
    pub fn now() -> Time {
        Time::new(Timestamp::now(), local_zone())
    }

    /// Nanoseconds since the Unix epoch, in the host's zone (Go's `time.Unix`, which is how
    /// Bento reads a number as a timestamp).
    pub fn from_unix_nanos(nanos: i128) -> Result<Time, String> {
        let at = Timestamp::from_nanosecond(nanos).map_err(|_| out_of_range(nanos))?;
        Ok(Time::new(at, local_zone()))
    }

    /// Unix seconds with a fraction, as Bento reads a float: the whole seconds, then the
    /// fraction's nanoseconds truncated (not rounded), both toward zero.
    pub fn from_unix_f64(secs: f64) -> Result<Time, String> {
        if !secs.is_finite() || secs.abs() > 1e15 {
            return Err(format!(
                "unix time {secs} is outside the years -9999 to 9999"
            ));
        }
        let whole = secs.trunc();
        let frac = ((secs - whole) * 1e9) as i128;
        Time::from_unix_nanos(whole as i128 * 1_000_000_000 + frac)
    }

    /// An RFC 3339 timestamp as Bento reads one (Go's `time.Parse(time.RFC3339Nano, s)`):
    /// fraction optional, `Z` or a `±hh:mm` offset. Go's parser is lenient in a few ways that
    /// are kept (a one-digit hour, a `,` before the fraction); [`check_rfc3339`] is the strict
    /// check.
    pub fn parse_rfc3339(s: &str) -> Result<Time, String> {
        layout::parse(RFC3339_NANO, s).map_err(|e| {
            e.describe_as(
                "RFC 3339",
                "2006-01-02T15:04:05Z or 2006-01-02T15:04:05.5+02:00",
            )
        })
    }

    /// Parse with a Go reference layout (`2006-01-02 15:04:05 -0700`); errors read as Go's.
    pub fn parse_layout(layout: &str, s: &str) -> Result<Time, String> {
        layout::parse(layout, s).map_err(|e| e.to_string())
    }

    /// Parse with a C `strptime` format (`%Y-%m-%d %H:%M:%S`), as Bento's `ts_strptime`.
    pub fn strptime(format: &str, s: &str) -> Result<Time, String> {
        strtime::parse(format, s)
    }

    /// Print with a Go reference layout.
    pub fn format_layout(&self, layout: &str) -> String {
        let mut out = String::with_capacity(layout.len() + 16);
        layout::format(&self.0, layout, &mut out);
        out
    }

    /// Print with a C `strftime` format, as Bento's `ts_strftime`.
    pub fn strftime(&self, format: &str) -> Result<String, String> {
        strtime::format(&self.0, format)
    }

    /// RFC 3339 with as many fraction digits as needed, `Z` for a zero offset: how Bento
    /// prints a timestamp (Go's `time.RFC3339Nano`).
    pub fn to_rfc3339_nano(&self) -> String {
        let mut out = String::with_capacity(35);
        rfc3339::write_nano(&self.0, &mut out);
        out
    }

    /// The same instant read in another zone.
    pub fn in_zone(&self, tz: &TimeZone) -> Time {
        Time(self.0.with_time_zone(tz.clone()))
    }

    pub fn timestamp(&self) -> Timestamp {
        self.0.timestamp()
    }

    pub fn zoned(&self) -> &ZonedDateTime {
        &self.0
    }

    pub fn unix_nanos(&self) -> i128 {
        self.0.timestamp().as_nanosecond()
    }

    /// The nearest multiple of `nanos` counted from Go's zero time (0001-01-01 UTC), halves
    /// rounding up, as Go's `Time.Round`; `nanos <= 0` leaves the time as it is. For units
    /// that divide a day this is the same as counting from the Unix epoch.
    pub fn round(&self, nanos: i64) -> Result<Time, String> {
        if nanos <= 0 {
            return Ok(self.clone());
        }
        let d = i128::from(nanos);
        let since_zero = self.unix_nanos() + GO_ZERO_TO_UNIX_SECS * 1_000_000_000;
        let r = since_zero.rem_euclid(d);
        let rounded = if r + r < d {
            self.unix_nanos() - r
        } else {
            self.unix_nanos() + (d - r)
        };
        let at = Timestamp::from_nanosecond(rounded).map_err(|_| out_of_range(rounded))?;
        Ok(Time::new(at, self.0.time_zone().clone()))
    }

    /// `self - other` in nanoseconds, held at the ends of an `i64` (about ±292 years), as Go's
    /// `Time.Sub`.
    pub fn sub(&self, other: &Time) -> i64 {
        let d = self.unix_nanos() - other.unix_nanos();
        d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// This time moved by `nanos`, in the same zone.
    pub fn add_nanos(&self, nanos: i128) -> Result<Time, String> {
        let n = self.unix_nanos() + nanos;
        let at = Timestamp::from_nanosecond(n).map_err(|_| out_of_range(n))?;
        Ok(Time::new(at, self.0.time_zone().clone()))
    }

    /// This time moved by an ISO 8601 period (Bento's `ts_add_iso8601`); see [`Period`].
    pub fn add_period(&self, p: &Period) -> Result<Time, String> {
        p.add_to(self)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nano())
    }
}

fn out_of_range(nanos: i128) -> String {
    format!(
        "unix time {}.{:09}s is outside the years -9999 to 9999",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    )
}

/// The host's zone, looked up once (as Go fixes `time.Local` at start-up): `TZ`, else
/// `/etc/localtime`, else UTC.
pub fn local_zone() -> TimeZone {
    static LOCAL: OnceLock<TimeZone> = OnceLock::new();
    LOCAL
        .get_or_init(|| TimeZone::try_system().unwrap_or(TimeZone::UTC))
        .clone()
}

/// A time zone by name, as Bento's `tz` arguments take it: `UTC` (or empty), `Local` (the
/// host's zone), an IANA name such as `America/New_York` (from the database compiled into the
/// binary, so it does not depend on the host), or, beyond what Bento takes, a fixed offset
/// such as `+02:00`, `-0700` or `+05`.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    match name {
        "" | "UTC" => return Ok(TimeZone::UTC),
        "Local" => return Ok(local_zone()),
        _ => {}
    }
    if let Some(offset) = fixed_offset(name) {
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(name).map_err(|_| {
        format!(
            "unknown time zone \"{name}\": give an IANA name such as America/New_York, \
             UTC, Local, or an offset such as +02:00"
        )
    })
}

/// `±hh:mm`, `±hhmm` or `±hh`.
fn fixed_offset(s: &str) -> Option<Offset> {
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        let d = b.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0, |n, c| n * 10 + i32::from(c - b'0')))
    };
    let h = digits(1..3)?;
    let m = match b.len() {
        3 => 0,
        5 => digits(3..5)?,
        6 if b[3] == b':' => digits(4..6)?,
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

/// A string quoted the way Go's `time` package quotes one in its errors.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || !c.is_ascii() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Time {
        Time::parse_rfc3339(s).expect("valid RFC 3339")
    }

    #[test]
    fn zones_by_name_offset_and_their_errors() {
        let t = utc("2020-03-08T12:00:00Z");
        let ny = zone("America/New_York").expect("IANA zone");
        assert_eq!(
            t.in_zone(&ny).to_rfc3339_nano(),
            "2020-03-08T08:00:00-04:00"
        );
        let fixed = zone("+05:30").expect("offset");
        assert_eq!(
            t.in_zone(&fixed).to_rfc3339_nano(),
            "2020-03-08T17:30:00+05:30"
        );
        assert_eq!(zone("-0700"), Ok(TimeZone::fixed(Offset::constant(-7))));
        assert_eq!(zone("+02"), Ok(TimeZone::fixed(Offset::constant(2))));
        assert_eq!(zone(""), Ok(TimeZone::UTC));
        let e = zone("America/New_Yrok").expect_err("typo");
        assert!(
            e.starts_with("unknown time zone \"America/New_Yrok\""),
            "{e}"
        );
        assert!(zone("+25:00").is_err());
    }

    #[test]
    fn round_counts_from_go_zero_time_and_rounds_halves_up() {
        let t = utc("2020-08-14T05:54:23Z");
        let hour = 3_600_000_000_000;
        assert_eq!(
            t.round(hour).map(|t| t.to_string()),
            Ok("2020-08-14T06:00:00Z".into())
        );
        let half = utc("2020-08-14T05:30:00Z");
        assert_eq!(
            half.round(hour).map(|t| t.to_string()),
            Ok("2020-08-14T06:00:00Z".into())
        );
        // A week: multiples from 0001-01-01 (a Monday), not from 1970-01-01 (a Thursday).
        let week = 7 * 24 * hour;
        assert_eq!(
            utc("2020-08-14T00:00:00Z")
                .round(week)
                .map(|t| t.to_string()),
            Ok("2020-08-17T00:00:00Z".into())
        );
        assert_eq!(t.round(0), Ok(t.clone()));
    }

    #[test]
    fn sub_is_nanoseconds_and_saturates() {
        let a = utc("2020-08-13T05:54:23Z");
        let b = utc("2020-08-14T05:54:23Z");
        assert_eq!(a.sub(&b), -86_400_000_000_000);
        let far = utc("9000-01-01T00:00:00Z");
        let old = utc("1000-01-01T00:00:00Z");
        assert_eq!(far.sub(&old), i64::MAX);
        assert_eq!(old.sub(&far), i64::MIN);
    }

    #[test]
    fn unix_floats_truncate_their_fraction() {
        let t = Time::from_unix_f64(1.5).expect("in range");
        assert_eq!(t.unix_nanos(), 1_500_000_000);
        let t = Time::from_unix_f64(-1.5).expect("in range");
        assert_eq!(t.unix_nanos(), -1_500_000_000);
        assert!(Time::from_unix_f64(f64::NAN).is_err());
        assert!(Time::from_unix_nanos(i128::MAX).is_err());
    }

    #[test]
    fn quote_escapes_as_go_does() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("é\n"), r#""\xc3\xa9\x0a""#);
    }
}
