//! C-style `strftime`/`strptime` formats, as Bento's `ts_strftime`/`ts_strptime` take them
//! (through Go's itchyny/timefmt-go). jiff's own implementation does the work; a format is
//! first rewritten where timefmt-go means something else:
//!
//! - `%f` is six digits of microseconds (jiff: as many digits as needed).
//! - `%c`, `%+`, `%x`, `%X`, `%r`, `%v` are C's POSIX-locale forms (`%c` is
//!   `%a %b %e %H:%M:%S %Y`; jiff's default locale differs).
//! - `%Z` of a fixed offset prints the offset (`+0530`), as Go does for a zone without a name.
//! - `%Z` when parsing takes an abbreviation and, as Go, does not take an offset from it
//!   (jiff cannot parse `%Z` at all).
//! - Missing fields when parsing are timefmt-go's: year 1900, January 1, midnight, UTC.
//!
//! A specifier neither knows is written as it stands (timefmt-go and jiff's lenient mode).

use jiff::fmt::strtime::{BrokenDownTime, Config};
use jiff::tz::{Offset, TimeZone};
use jiff::ZonedDateTime;

use super::Time;

/// `format` in jiff's terms. Formatting (`at` is the time to format) writes a few
/// specifiers as text here, where jiff's output differs from Go's: the offsets (`%z`, `%:z`,
/// `%::z`, `%:::z`: Go never prints an offset's seconds unless asked, jiff does when they are
/// not zero, as in pre-1900 local mean times), `%Z` of a fixed offset, `%s` (whole seconds
/// rounded down, as Go's `Unix()`; jiff rounds toward zero) and `%C` (two digits). Parsing
/// keeps `%f` as jiff parses it (any number of digits).
fn translate(format: &str, at: Option<&ZonedDateTime>) -> String {
    let mut out = String::with_capacity(format.len() + 8);
    let mut rest = format;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        // Flags, width and colons, then the conversion.
        let spec_len = rest
            .bytes()
            .take_while(|c| matches!(c, b'-' | b'_' | b'0' | b'^' | b'#' | b':' | b'1'..=b'9'))
            .count();
        let modifiers = &rest[..spec_len];
        let Some(conv) = rest[spec_len..].chars().next() else {
            // A `%` ending the format is text.
            out.push_str("%%");
            out.push_str(modifiers);
            return out;
        };
        rest = &rest[spec_len + conv.len_utf8()..];
        let expansion = match conv {
            'c' => Some("%a %b %e %H:%M:%S %Y"),
            '+' => Some("%a %b %e %H:%M:%S %Z %Y"),
            'x' => Some("%m/%d/%y"),
            'X' => Some("%H:%M:%S"),
            'r' => Some("%I:%M:%S %p"),
            'v' => Some("%e-%b-%Y"),
            _ => None,
        };
        if let Some(e) = expansion {
            out.push_str(&translate(e, at));
            continue;
        }
        if let Some(t) = at {
            let colons = modifiers.bytes().filter(|&c| c == b':').count();
            let tz = t.time_zone();
            let fixed = *tz != TimeZone::UTC && tz.to_fixed_offset().is_ok();
            match conv {
                'f' if modifiers.is_empty() => {
                    out.push_str("%6f");
                    continue;
                }
                'z' if colons <= 3 => {
                    write_offset(t.offset().seconds(), colons, &mut out);
                    continue;
                }
                'Z' if fixed => {
                    write_offset(t.offset().seconds(), 0, &mut out);
                    continue;
                }
                's' if modifiers.is_empty() => {
                    let secs = t.timestamp().as_nanosecond().div_euclid(1_000_000_000);
                    let mut buf = itoa::Buffer::new();
                    out.push_str(buf.format(secs));
                    continue;
                }
                // Two digits, as C (jiff: no padding).
                'C' if modifiers.is_empty() => {
                    out.push_str("%02C");
                    continue;
                }
                _ => {}
            }
        }
        out.push('%');
        out.push_str(modifiers);
        out.push(conv);
    }
    out.push_str(rest);
    out
}

/// An offset as timefmt-go writes `%z` (`colons` 0: `+hhmm`), `%:z` (`+hh:mm`), `%::z`
/// (`+hh:mm:ss`) and `%:::z` (`+hh`, with `:mm` and `:ss` only when not zero).
fn write_offset(offset: i32, colons: usize, out: &mut String) {
    let a = offset.unsigned_abs();
    let (h, m, s) = (a / 3600, a % 3600 / 60, a % 60);
    out.push(if offset < 0 { '-' } else { '+' });
    let two = |out: &mut String, n: u32| {
        out.push(char::from(b'0' + (n / 10 % 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    };
    two(out, h);
    if colons == 3 && m == 0 && s == 0 {
        return;
    }
    if colons > 0 {
        out.push(':');
    }
    two(out, m);
    if colons == 2 || (colons == 3 && s != 0) {
        out.push(':');
        two(out, s);
    }
}

pub fn format(t: &ZonedDateTime, format: &str) -> Result<String, String> {
    let f = translate(format, Some(t));
    let config = Config::new().lenient(true);
    BrokenDownTime::from(t)
        .to_string_with_config(&config, &f)
        .map_err(|e| format!("formatting with strftime format \"{format}\" failed: {e}"))
}

/// Copy what `from` parsed into `into` (a format split at `%Z` is parsed in pieces).
fn merge(into: &mut BrokenDownTime, from: &BrokenDownTime) -> Result<(), jiff::Error> {
    macro_rules! take {
        ($($get:ident => $set:ident),*) => {
            $(if from.$get().is_some() { into.$set(from.$get())?; })*
        };
    }
    take!(
        year => set_year, month => set_month, day => set_day,
        day_of_year => set_day_of_year, iso_week_year => set_iso_week_year,
        iso_week => set_iso_week, sunday_based_week => set_sunday_based_week,
        monday_based_week => set_monday_based_week, hour => set_hour, minute => set_minute,
        second => set_second, subsec_nanosecond => set_subsec_nanosecond
    );
    if from.offset().is_some() {
        into.set_offset(from.offset());
    }
    if let Some(id) = from.iana_time_zone() {
        into.set_iana_time_zone(Some(id.to_string()));
    }
    if from.weekday().is_some() {
        into.set_weekday(from.weekday());
    }
    if from.meridiem().is_some() {
        into.set_meridiem(from.meridiem());
    }
    if from.timestamp().is_some() {
        into.set_timestamp(from.timestamp());
    }
    Ok(())
}

/// Go's rule for what a zone abbreviation looks like (see `layout`), on the upper-case
/// letters at the start of `s`: their length, when they are one.
fn zone_abbreviation_len(s: &str) -> Option<usize> {
    let n = s.bytes().take_while(u8::is_ascii_uppercase).count();
    let name = &s[..n];
    let ok = match n {
        3 => true,
        4 => name.ends_with('T') || matches!(name, "WITA" | "UTC"),
        5 => name.ends_with('T'),
        _ => false,
    };
    ok.then_some(n)
}

pub fn parse(format: &str, s: &str) -> Result<Time, String> {
    let fail = |why: &dyn std::fmt::Display| {
        format!("failed to parse \"{s}\" with strptime format \"{format}\": {why}")
    };
    let f = translate(format, None);
    let pieces: Vec<&str> = f.split("%Z").collect();
    let mut tm = if pieces.len() == 1 {
        BrokenDownTime::parse(&f, s).map_err(|e| fail(&e))?
    } else {
        let mut tm = BrokenDownTime::default();
        let mut rest = s;
        for (i, piece) in pieces.iter().enumerate() {
            let (part, used) = BrokenDownTime::parse_prefix(piece, rest).map_err(|e| fail(&e))?;
            merge(&mut tm, &part).map_err(|e| fail(&e))?;
            rest = &rest[used..];
            if i + 1 < pieces.len() {
                let n = zone_abbreviation_len(rest).ok_or_else(|| {
                    fail(&format!(
                        "expected a zone abbreviation for %Z at \"{rest}\""
                    ))
                })?;
                rest = &rest[n..];
            }
        }
        if !rest.is_empty() {
            return Err(fail(&format!("text left over: \"{rest}\"")));
        }
        tm
    };
    if tm.timestamp().is_none() {
        fill_defaults(&mut tm).map_err(|e| fail(&e))?;
    }
    // A weekday name is checked for being one, not against the date (timefmt-go); it only
    // matters when the date is given by week number.
    if tm.day().is_some() || tm.day_of_year().is_some() {
        tm.set_weekday(None);
    }
    let at = tm.to_timestamp();
    let time = match (tm.offset(), tm.iana_time_zone()) {
        (_, Some(id)) => {
            let tz = TimeZone::get(id).map_err(|e| fail(&e))?;
            let zdt = tm.to_zoned_datetime().map_err(|e| fail(&e))?;
            Time(zdt.with_time_zone(tz))
        }
        (Some(off), None) => Time::new(at.map_err(|e| fail(&e))?, TimeZone::fixed(off)),
        (None, None) => {
            tm.set_offset(Some(Offset::UTC));
            Time::new(tm.to_timestamp().map_err(|e| fail(&e))?, TimeZone::UTC)
        }
    };
    Ok(time)
}

/// What timefmt-go assumes for fields a format leaves out.
fn fill_defaults(tm: &mut BrokenDownTime) -> Result<(), jiff::Error> {
    if tm.year().is_none() && tm.iso_week_year().is_none() {
        tm.set_year(Some(1900))?;
    }
    let by_week = tm.iso_week().is_some()
        || tm.sunday_based_week().is_some()
        || tm.monday_based_week().is_some();
    if tm.day_of_year().is_none() && !by_week {
        if tm.month().is_none() {
            tm.set_month(Some(1))?;
        }
        if tm.day().is_none() {
            tm.set_day(Some(1))?;
        }
    }
    if tm.hour().is_none() {
        tm.set_hour(Some(if tm.meridiem().is_some() { 12 } else { 0 }))?;
    }
    if tm.minute().is_none() {
        tm.set_minute(Some(0))?;
    }
    if tm.second().is_none() {
        tm.set_second(Some(0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc: &str) -> Time {
        Time::parse_rfc3339(rfc).expect("valid RFC 3339")
    }

    #[test]
    fn formats_as_timefmt_go() {
        let t = at("2020-08-14T11:50:26.371Z");
        let f = |fmt: &str| t.strftime(fmt).expect("formats");
        assert_eq!(f("%Y-%b-%d %H:%M:%S"), "2020-Aug-14 11:50:26");
        assert_eq!(f("%Y-%b-%d %H:%M:%S.%f"), "2020-Aug-14 11:50:26.371000");
        assert_eq!(f("%c"), "Fri Aug 14 11:50:26 2020");
        assert_eq!(f("%x %X %r"), "08/14/20 11:50:26 11:50:26 AM");
        assert_eq!(
            f("%F %T %z %:z %Z %s %j %%"),
            "2020-08-14 11:50:26 +0000 +00:00 UTC 1597405826 227 %"
        );
        assert_eq!(
            f("%-d/%-m %e %k %l %p %P %A %a %B %h"),
            "14/8 14 11 11 AM am Friday Fri August Aug"
        );
        // A specifier neither knows stays as written.
        assert_eq!(f("%!"), "%!");
        let fixed = at("2020-08-14T11:50:26+05:30");
        assert_eq!(fixed.strftime("%Z|%z").expect("formats"), "+0530|+0530");
        let ny = t.in_zone(&super::super::zone("America/New_York").expect("zone"));
        assert_eq!(ny.strftime("%H:%M %Z").expect("formats"), "07:50 EDT");
    }

    #[test]
    fn parses_as_timefmt_go() {
        let p = |fmt: &str, s: &str| Time::strptime(fmt, s).map(|t| t.to_rfc3339_nano());
        assert_eq!(
            p("%Y-%b-%d", "2020-Aug-14"),
            Ok("2020-08-14T00:00:00Z".into())
        );
        assert_eq!(
            p("%Y-%b-%d %H:%M:%S.%f", "2020-Aug-14 11:50:26.371000"),
            Ok("2020-08-14T11:50:26.371Z".into())
        );
        assert_eq!(p("%H:%M", "10:30"), Ok("1900-01-01T10:30:00Z".into()));
        assert_eq!(
            p("%d/%m/%y %z", "14/08/20 +0200"),
            Ok("2020-08-14T00:00:00+02:00".into())
        );
        assert_eq!(p("%s", "1597405826"), Ok("2020-08-14T11:50:26Z".into()));
        assert_eq!(p("%I:%M %p", "12:15 AM"), Ok("1900-01-01T00:15:00Z".into()));
        assert_eq!(p("%Y-%j", "2020-060"), Ok("2020-02-29T00:00:00Z".into()));
        assert_eq!(
            p("%a %b %e %H:%M:%S %Z %Y", "Fri Aug 14 11:50:26 UTC 2020"),
            Ok("2020-08-14T11:50:26Z".into())
        );
        assert_eq!(
            p("%H:%M %Z", "10:30 EST"),
            Ok("1900-01-01T10:30:00Z".into())
        );
        let e = p("%Y-%m-%d", "2020-Aug-14").expect_err("month is not a number");
        assert!(
            e.starts_with("failed to parse \"2020-Aug-14\" with strptime format \"%Y-%m-%d\": "),
            "{e}"
        );
        assert!(p("%H:%M %Z", "10:30 nope").is_err());
    }
}
