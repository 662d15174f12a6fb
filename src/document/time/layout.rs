//! Go reference layouts: a layout shows how Go's reference time, Mon Jan 2 15:04:05 MST 2006
//! (offset -0700), would be written, and that is the format (`2006-01-02T15:04:05Z07:00`).
//! Bento's `ts_format`/`ts_parse` take them, so their rules are Go's: which runs of characters
//! are elements, which digits a number element accepts, what `Z07:00` and `.999` print.
//!
//! The calendar work (day of week, day of year, month lengths, zones) is jiff's; this module
//! only walks the layout. Go's elements are not translated to jiff's strftime because too many
//! differ in ways that show: `Z07:00` prints `Z` for a zero offset, `.999` drops trailing
//! zeros and the fraction when zero, `01` parses exactly two digits while `15` takes one,
//! `05` accepts a fraction the layout does not have, and errors name the element.

use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, ZonedDateTime};

use super::{quote, Time};

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One layout element.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum El {
    LongMonth,          // January
    Month,              // Jan
    NumMonth,           // 1
    ZeroMonth,          // 01
    LongWeekDay,        // Monday
    WeekDay,            // Mon
    Day,                // 2
    UnderDay,           // _2
    ZeroDay,            // 02
    UnderYearDay,       // __2
    ZeroYearDay,        // 002
    Hour,               // 15
    Hour12,             // 3
    ZeroHour12,         // 03
    Minute,             // 4
    ZeroMinute,         // 04
    Second,             // 5
    ZeroSecond,         // 05
    LongYear,           // 2006
    Year,               // 06
    PmUpper,            // PM
    PmLower,            // pm
    ZoneName,           // MST
    Offset(OffsetForm), // -0700, Z07:00, ...
    /// `.000` (exactly that many digits) or `.999` (up to that many, trailing zeros dropped);
    /// the separator is `.` or `,`.
    Frac {
        digits: usize,
        trim: bool,
        sep: u8,
    },
}

/// How an offset element is written: `Z` variants print `Z` for a zero offset.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct OffsetForm {
    z: bool,
    colon: bool,
    minutes: bool,
    seconds: bool,
}

const OFFSETS: [(&str, OffsetForm); 10] = [
    ("Z070000", form(true, false, true, true)),
    ("Z07:00:00", form(true, true, true, true)),
    ("Z0700", form(true, false, true, false)),
    ("Z07:00", form(true, true, true, false)),
    ("Z07", form(true, false, false, false)),
    ("-070000", form(false, false, true, true)),
    ("-07:00:00", form(false, true, true, true)),
    ("-0700", form(false, false, true, false)),
    ("-07:00", form(false, true, true, false)),
    ("-07", form(false, false, false, false)),
];

/// RFC 3339's offset: `Z` or `±hh:mm`.
pub(super) const RFC3339_OFFSET: OffsetForm = form(true, true, true, false);

const fn form(z: bool, colon: bool, minutes: bool, seconds: bool) -> OffsetForm {
    OffsetForm {
        z,
        colon,
        minutes,
        seconds,
    }
}

/// The next element of `layout`: the literal text before it, the element and its text, and
/// what follows. `None` when only literal text is left.
fn next_element(layout: &str) -> (&str, Option<(El, &str)>, &str) {
    let b = layout.as_bytes();
    for i in 0..b.len() {
        let rest = &layout[i..];
        let found: Option<(El, usize)> = match b[i] {
            b'J' if rest.starts_with("January") => Some((El::LongMonth, 7)),
            // `Jan` and `Mon` followed by a lower-case letter are words (`Janet`, `Month`).
            b'J' if rest.starts_with("Jan") && !lower_at(b, i + 3) => Some((El::Month, 3)),
            b'M' if rest.starts_with("Monday") => Some((El::LongWeekDay, 6)),
            b'M' if rest.starts_with("Mon") && !lower_at(b, i + 3) => Some((El::WeekDay, 3)),
            b'M' if rest.starts_with("MST") => Some((El::ZoneName, 3)),
            b'0' => match b.get(i + 1) {
                Some(b'1') => Some((El::ZeroMonth, 2)),
                Some(b'2') => Some((El::ZeroDay, 2)),
                Some(b'3') => Some((El::ZeroHour12, 2)),
                Some(b'4') => Some((El::ZeroMinute, 2)),
                Some(b'5') => Some((El::ZeroSecond, 2)),
                Some(b'6') => Some((El::Year, 2)),
                Some(b'0') if b.get(i + 2) == Some(&b'2') => Some((El::ZeroYearDay, 3)),
                _ => None,
            },
            b'1' if b.get(i + 1) == Some(&b'5') => Some((El::Hour, 2)),
            b'1' => Some((El::NumMonth, 1)),
            b'2' if rest.starts_with("2006") => Some((El::LongYear, 4)),
            b'2' => Some((El::Day, 1)),
            // `_2006` is a literal `_` and then the year.
            b'_' if rest.starts_with("_2006") => {
                return (
                    &layout[..=i],
                    Some((El::LongYear, "2006")),
                    &layout[i + 5..],
                );
            }
            b'_' if rest.starts_with("_2") => Some((El::UnderDay, 2)),
            b'_' if rest.starts_with("__2") => Some((El::UnderYearDay, 3)),
            b'3' => Some((El::Hour12, 1)),
            b'4' => Some((El::Minute, 1)),
            b'5' => Some((El::Second, 1)),
            b'P' if rest.starts_with("PM") => Some((El::PmUpper, 2)),
            b'p' if rest.starts_with("pm") => Some((El::PmLower, 2)),
            b'-' | b'Z' => OFFSETS
                .iter()
                .find(|(text, _)| rest.starts_with(text))
                .map(|(text, f)| (El::Offset(*f), text.len())),
            sep @ (b'.' | b',') => match b.get(i + 1) {
                Some(&d @ (b'0' | b'9')) => {
                    let run = b[i + 1..].iter().take_while(|&&c| c == d).count();
                    // A fraction element ends the run: `.0001` is literal text.
                    if b.get(i + 1 + run).is_some_and(u8::is_ascii_digit) {
                        None
                    } else {
                        Some((
                            El::Frac {
                                digits: run,
                                trim: d == b'9',
                                sep,
                            },
                            run + 1,
                        ))
                    }
                }
                _ => None,
            },
            _ => None,
        };
        if let Some((el, n)) = found {
            return (
                &layout[..i],
                Some((el, &layout[i..i + n])),
                &layout[i + n..],
            );
        }
    }
    (layout, None, "")
}

fn lower_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_lowercase)
}

// ---------------------------------------------------------------------------------------------
// Formatting

/// Append `t` written with `layout` to `out`.
pub fn format(t: &ZonedDateTime, layout: &str, out: &mut String) {
    let mut rest = layout;
    loop {
        let (lit, el, after) = next_element(rest);
        out.push_str(lit);
        let Some((el, _)) = el else { return };
        rest = after;
        write_element(t, el, out);
    }
}

fn push_num(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n.unsigned_abs());
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

fn write_element(t: &ZonedDateTime, el: El, out: &mut String) {
    let hour12 = || match t.hour() % 12 {
        0 => 12,
        h => i64::from(h),
    };
    match el {
        El::LongYear => push_num(out, t.year().into(), 4),
        El::Year => push_num(out, i64::from(t.year()).abs() % 100, 2),
        El::LongMonth => out.push_str(LONG_MONTHS[t.month() as usize - 1]),
        El::Month => out.push_str(&LONG_MONTHS[t.month() as usize - 1][..3]),
        El::NumMonth => push_num(out, t.month().into(), 0),
        El::ZeroMonth => push_num(out, t.month().into(), 2),
        El::LongWeekDay => out.push_str(LONG_DAYS[t.weekday().to_sunday_zero_offset() as usize]),
        El::WeekDay => out.push_str(&LONG_DAYS[t.weekday().to_sunday_zero_offset() as usize][..3]),
        El::Day => push_num(out, t.day().into(), 0),
        El::UnderDay => {
            if t.day() < 10 {
                out.push(' ');
            }
            push_num(out, t.day().into(), 0)
        }
        El::ZeroDay => push_num(out, t.day().into(), 2),
        El::UnderYearDay => {
            let yd = t.day_of_year();
            for _ in 0..(3 - yd.to_string().len()) {
                out.push(' ');
            }
            push_num(out, yd.into(), 0)
        }
        El::ZeroYearDay => push_num(out, t.day_of_year().into(), 3),
        El::Hour => push_num(out, t.hour().into(), 2),
        El::Hour12 => push_num(out, hour12(), 0),
        El::ZeroHour12 => push_num(out, hour12(), 2),
        El::Minute => push_num(out, t.minute().into(), 0),
        El::ZeroMinute => push_num(out, t.minute().into(), 2),
        El::Second => push_num(out, t.second().into(), 0),
        El::ZeroSecond => push_num(out, t.second().into(), 2),
        El::PmUpper => out.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
        El::PmLower => out.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
        El::ZoneName => write_zone_name(t, out),
        El::Offset(f) => write_offset(t.offset().seconds(), f, out),
        El::Frac { digits, trim, sep } => {
            write_fraction(t.subsec_nanosecond(), digits, trim, sep, out)
        }
    }
}

/// `MST`: the zone's abbreviation (`EST`, `CEST`, `UTC`); a fixed offset has none, and Go
/// then writes the offset as `-0700`.
fn write_zone_name(t: &ZonedDateTime, out: &mut String) {
    let tz = t.time_zone();
    if *tz == TimeZone::UTC {
        out.push_str("UTC");
    } else if tz.to_fixed_offset().is_ok() {
        write_offset(t.offset().seconds(), form(false, false, true, false), out);
    } else {
        out.push_str(tz.to_offset_info(t.timestamp()).abbreviation());
    }
}

pub(super) fn write_offset(offset: i32, f: OffsetForm, out: &mut String) {
    if f.z && offset == 0 {
        out.push('Z');
        return;
    }
    out.push(if offset < 0 { '-' } else { '+' });
    let a = offset.unsigned_abs();
    push_num(out, (a / 3600).into(), 2);
    if f.minutes {
        if f.colon {
            out.push(':');
        }
        push_num(out, (a % 3600 / 60).into(), 2);
    }
    if f.seconds {
        if f.colon {
            out.push(':');
        }
        push_num(out, (a % 60).into(), 2);
    }
}

pub(super) fn write_fraction(nanos: i32, digits: usize, trim: bool, sep: u8, out: &mut String) {
    if trim && nanos == 0 {
        return;
    }
    let mut buf = [b'0'; 9];
    let mut n = nanos.unsigned_abs();
    for d in buf.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let mut end = digits.min(9);
    if trim {
        while end > 0 && buf[end - 1] == b'0' {
            end -= 1;
        }
        if end == 0 {
            return;
        }
    }
    out.push(sep as char);
    // ASCII digits only.
    out.extend(buf[..end].iter().map(|&c| c as char));
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Why a parse failed, in Go's words (`parsing time "x" as "2006-01-02": cannot parse "x" as
/// "2006"`), which Bento users see in their errors.
#[derive(Debug)]
pub struct ParseError {
    layout: String,
    value: String,
    kind: ParseErrorKind,
}

#[derive(Debug)]
enum ParseErrorKind {
    /// The rest of the value does not match this element or literal text.
    Cannot { rest: String, element: String },
    /// A value read but outside its range (`month`, `day`, `hour`, ...).
    Range(&'static str),
    /// Text left after the layout ended.
    Extra(String),
    /// A message of its own (day of year not matching the month, the year range).
    Other(String),
}

impl ParseError {
    /// The error naming the layout by what it is (`as RFC 3339 ("2006-…")`), in every case,
    /// with an example of the form.
    pub fn describe_as(&self, name: &str, example: &str) -> String {
        let shown = format!("{name} ({})", quote(&self.layout));
        let mut s = self.render(&shown, true);
        s.push_str("; expected e.g. ");
        s.push_str(example);
        s
    }

    /// Go's text: the layout is named where Go names it (a mismatch), or always (`always`).
    fn render(&self, layout_shown: &str, always: bool) -> String {
        let v = quote(&self.value);
        let as_layout = if always {
            format!(" as {layout_shown}")
        } else {
            String::new()
        };
        match &self.kind {
            ParseErrorKind::Cannot { rest, element } => format!(
                "parsing time {v} as {layout_shown}: cannot parse {} as {}",
                quote(rest),
                quote(element)
            ),
            ParseErrorKind::Range(what) => {
                format!("parsing time {v}{as_layout}: {what} out of range")
            }
            ParseErrorKind::Extra(rest) => {
                format!("parsing time {v}{as_layout}: extra text: {}", quote(rest))
            }
            ParseErrorKind::Other(msg) => format!("parsing time {v}{as_layout}: {msg}"),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(&quote(&self.layout), false))
    }
}

/// Literal layout text matched against the value: what is left of the value, or, when it
/// does not match, the value from where it stopped matching. A run of spaces in the layout
/// matches a run of spaces in the value (or its end), as Go does.
fn skip<'v>(mut value: &'v str, mut lit: &str) -> Result<&'v str, &'v str> {
    while let Some(c) = lit.chars().next() {
        if c == ' ' {
            if !value.is_empty() && !value.starts_with(' ') {
                return Err(value);
            }
            lit = lit.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        value = value.strip_prefix(c).ok_or(value)?;
        lit = &lit[c.len_utf8()..];
    }
    Ok(value)
}

/// One or two digits (`fixed`: exactly two).
fn getnum(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = v.as_bytes();
    let d = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let first = d(0)?;
    match d(1) {
        Some(second) => Some((first * 10 + second, &v[2..])),
        None if fixed => None,
        None => Some((first, &v[1..])),
    }
}

/// One to three digits (`fixed`: exactly three).
fn getnum3(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let n = v.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

/// A month or day name, ASCII case-insensitively; its index.
fn lookup(names: impl Iterator<Item = &'static str>, v: &str) -> Option<(usize, &str)> {
    names.enumerate().find_map(|(i, name)| {
        let head = v.get(..name.len())?;
        head.eq_ignore_ascii_case(name)
            .then(|| (i, &v[name.len()..]))
    })
}

/// The length of a zone abbreviation at the start of `v`, by Go's rules: three upper-case
/// letters, four or five ending in `T` (and `WITA`, `ChST`, `MeST`), `GMT` with an optional
/// signed hour, or a signed hour (`+07`).
fn zone_name_len(v: &str) -> Option<usize> {
    let b = v.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if v.starts_with("ChST") || v.starts_with("MeST") {
        return Some(4);
    }
    if let Some(hours) = v.strip_prefix("GMT") {
        return Some(3 + signed_hour_len(hours).unwrap_or(0));
    }
    if b[0] == b'+' || b[0] == b'-' {
        return signed_hour_len(v);
    }
    let upper = b
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if b[3] == b'T' || v.starts_with("WITA") => Some(4),
        5 if b[4] == b'T' => Some(5),
        _ => None,
    }
}

/// `+h`/`-hh` with the hour at most 23: its length.
fn signed_hour_len(v: &str) -> Option<usize> {
    let b = v.as_bytes();
    if !matches!(b.first(), Some(b'+' | b'-')) {
        return None;
    }
    let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let h: u64 = v.get(1..1 + n)?.parse().ok()?;
    (n > 0 && h <= 23).then_some(1 + n)
}

/// A fraction's digits as nanoseconds (digits past the ninth are dropped).
fn nanos_of(digits: &str) -> Option<i32> {
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let d = &digits[..digits.len().min(9)];
    let n: i32 = d.parse().ok()?;
    Some(n * 10i32.pow(9 - d.len() as u32))
}

/// Parse `value` with `layout`. Fields the layout does not have are those of Go's zero time
/// (year 0, January 1, midnight); the zone is the value's offset, else UTC.
pub fn parse(layout: &str, value: &str) -> Result<Time, ParseError> {
    let err = |kind| ParseError {
        layout: layout.to_string(),
        value: value.to_string(),
        kind,
    };
    let cannot = |rest: &str, element: &str| {
        err(ParseErrorKind::Cannot {
            rest: rest.to_string(),
            element: element.to_string(),
        })
    };
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nanos) = (0i64, 0i64, 0i64, 0i32);
    let (mut am, mut pm) = (false, false);
    // The zone, by Go's precedence: UTC by name (`Z`, `UTC`), else a numeric offset, else a
    // zone abbreviation's (which is zero unless `GMT+h`).
    let mut utc = false;
    let mut offset: Option<i32> = None;
    let mut named: Option<i32> = None;

    let mut lay = layout;
    let mut v = value;
    loop {
        let (lit, el, after) = next_element(lay);
        v = skip(v, lit).map_err(|at| cannot(at, lit))?;
        let Some((el, text)) = el else {
            if !v.is_empty() {
                return Err(err(ParseErrorKind::Extra(v.to_string())));
            }
            break;
        };
        lay = after;
        let hold = v;
        let bad = || cannot(hold, text);
        let mut range: Option<&'static str> = None;
        match el {
            El::Year => {
                let (y, r) = getnum(v, true).ok_or_else(bad)?;
                year = if y >= 69 { 1900 + y } else { 2000 + y };
                v = r;
            }
            El::LongYear => {
                let d = v.get(..4).filter(|d| d.bytes().all(|c| c.is_ascii_digit()));
                year = d.and_then(|d| d.parse().ok()).ok_or_else(bad)?;
                v = &v[4..];
            }
            El::Month | El::LongMonth => {
                let long = el == El::LongMonth;
                let names = LONG_MONTHS.iter().map(|m| if long { *m } else { &m[..3] });
                let (i, r) = lookup(names, v).ok_or_else(bad)?;
                month = i as i64 + 1;
                v = r;
            }
            El::NumMonth | El::ZeroMonth => {
                let (m, r) = getnum(v, el == El::ZeroMonth).ok_or_else(bad)?;
                if !(1..=12).contains(&m) {
                    range = Some("month");
                }
                month = m;
                v = r;
            }
            El::WeekDay | El::LongWeekDay => {
                let long = el == El::LongWeekDay;
                let names = LONG_DAYS.iter().map(|d| if long { *d } else { &d[..3] });
                v = lookup(names, v).ok_or_else(bad)?.1;
            }
            El::Day | El::UnderDay | El::ZeroDay => {
                if el == El::UnderDay {
                    v = v.strip_prefix(' ').unwrap_or(v);
                }
                let (d, r) = getnum(v, el == El::ZeroDay).ok_or_else(bad)?;
                day = d;
                v = r;
            }
            El::UnderYearDay | El::ZeroYearDay => {
                if el == El::UnderYearDay {
                    for _ in 0..2 {
                        v = v.strip_prefix(' ').unwrap_or(v);
                    }
                }
                let (d, r) = getnum3(v, el == El::ZeroYearDay).ok_or_else(bad)?;
                yday = d;
                v = r;
            }
            El::Hour => {
                let (h, r) = getnum(v, false).ok_or_else(bad)?;
                if h >= 24 {
                    range = Some("hour");
                }
                hour = h;
                v = r;
            }
            El::Hour12 | El::ZeroHour12 => {
                let (h, r) = getnum(v, el == El::ZeroHour12).ok_or_else(bad)?;
                if h > 12 {
                    range = Some("hour");
                }
                hour = h;
                v = r;
            }
            El::Minute | El::ZeroMinute => {
                let (m, r) = getnum(v, el == El::ZeroMinute).ok_or_else(bad)?;
                if m >= 60 {
                    range = Some("minute");
                }
                min = m;
                v = r;
            }
            El::Second | El::ZeroSecond => {
                let (s, r) = getnum(v, el == El::ZeroSecond).ok_or_else(bad)?;
                if s >= 60 {
                    range = Some("second");
                }
                sec = s;
                v = r;
                // A fraction in the value that the layout does not have is taken here.
                let b = v.as_bytes();
                let next_is_frac = matches!(next_element(lay).1, Some((El::Frac { .. }, _)));
                if range.is_none()
                    && !next_is_frac
                    && b.len() >= 2
                    && matches!(b[0], b'.' | b',')
                    && b[1].is_ascii_digit()
                {
                    let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nanos = nanos_of(&v[1..n]).ok_or_else(bad)?;
                    v = &v[n..];
                }
            }
            El::PmUpper | El::PmLower => {
                let p = v.get(..2).ok_or_else(bad)?;
                let (upper_pm, upper_am) = if el == El::PmUpper {
                    ("PM", "AM")
                } else {
                    ("pm", "am")
                };
                if p == upper_pm {
                    pm = true;
                } else if p == upper_am {
                    am = true;
                } else {
                    return Err(bad());
                }
                v = &v[2..];
            }
            El::Offset(f) => {
                if f.z && v.starts_with('Z') {
                    v = &v[1..];
                    utc = true;
                } else {
                    let b = v.as_bytes();
                    let width = |on: bool| if on { 2 + usize::from(f.colon) } else { 0 };
                    let need = 3 + width(f.minutes) + width(f.seconds);
                    if b.len() < need || !v.is_char_boundary(need) {
                        return Err(bad());
                    }
                    // Where Go reads the hours, minutes and seconds; a colon form must have
                    // its colons.
                    let (m_at, s_at) = if f.colon { (4, 7) } else { (3, 5) };
                    if f.colon && (b[3] != b':' || (f.seconds && b[6] != b':')) {
                        return Err(bad());
                    }
                    let two =
                        |i: usize| getnum(v.get(i..i + 2).unwrap_or(""), true).map(|(n, _)| n);
                    // Each part read only when the one before it was (Go stops at the first
                    // bad one, and the range checks see zeros after it).
                    let hh = two(1);
                    let mm = if !f.minutes {
                        Some(0)
                    } else {
                        hh.and_then(|_| two(m_at))
                    };
                    let ss = if !f.seconds {
                        Some(0)
                    } else {
                        mm.and_then(|_| two(s_at))
                    };
                    // Ranges first, as Go reports them before a malformed sign. Go allows
                    // 24 hours and 60 minutes or seconds: some write them.
                    if hh.unwrap_or(0) > 24 {
                        range = Some("time zone offset hour");
                    } else if mm.unwrap_or(0) > 60 {
                        range = Some("time zone offset minute");
                    } else if ss.unwrap_or(0) > 60 {
                        range = Some("time zone offset second");
                    }
                    if range.is_none() {
                        let sign = match b[0] {
                            b'+' => 1,
                            b'-' => -1,
                            _ => return Err(bad()),
                        };
                        let (Some(hh), Some(mm), Some(ss)) = (hh, mm, ss) else {
                            return Err(bad());
                        };
                        offset = Some(sign * (hh * 3600 + mm * 60 + ss) as i32);
                    }
                    v = &v[need..];
                }
            }
            El::ZoneName => {
                if let Some(r) = v.strip_prefix("UTC") {
                    utc = true;
                    v = r;
                } else {
                    let n = zone_name_len(v).ok_or_else(bad)?;
                    let name = &v[..n];
                    // An abbreviation says nothing reliable about its offset (`IST` is three
                    // zones), so Go records it at offset zero, except `GMT+h`.
                    let hours: i32 = name
                        .strip_prefix("GMT")
                        .filter(|h| !h.is_empty())
                        .and_then(|h| h.trim_start_matches('+').parse().ok())
                        .unwrap_or(0);
                    named = Some(hours * 3600);
                    v = &v[n..];
                }
            }
            El::Frac { digits, trim, .. } => {
                let b = v.as_bytes();
                if !trim {
                    // Exactly the layout's digits; past nine, the rest are read over (Go).
                    let n = 1 + digits;
                    if b.len() < n || !v.is_char_boundary(n) || !matches!(b[0], b'.' | b',') {
                        return Err(bad());
                    }
                    let d = &v[1..n.min(10)];
                    // Go reads them as an integer, which may have a sign.
                    let unsigned = d.strip_prefix(['+', '-']).unwrap_or(d);
                    if !unsigned.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(bad());
                    }
                    if d.starts_with('-') && unsigned.bytes().any(|c| c != b'0') {
                        range = Some("fractional second");
                    } else if unsigned.is_empty() {
                        nanos = 0;
                    } else {
                        let n = nanos_of(unsigned).ok_or_else(bad)?;
                        // Scaled by the digits the layout has, sign included.
                        nanos = n / 10i32.pow((d.len() - unsigned.len()) as u32);
                    }
                    v = &v[n..];
                } else if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                    // Any number of digits, as the seconds element would take them.
                    let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nanos = nanos_of(&v[1..n]).ok_or_else(bad)?;
                    v = &v[n..];
                }
            }
        }
        if let Some(what) = range {
            return Err(err(ParseErrorKind::Range(what)));
        }
    }

    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    let year16 = i16::try_from(year).map_err(|_| err(ParseErrorKind::Range("year")))?;
    if yday >= 0 {
        let days_in_year = if Date::new(year16, 12, 31).is_ok_and(|d| d.in_leap_year()) {
            366
        } else {
            365
        };
        if yday < 1 || yday > days_in_year {
            return Err(err(ParseErrorKind::Range("day-of-year")));
        }
        let date = Date::new(year16, 1, 1)
            .ok()
            .and_then(|d| d.checked_add(Span::new().days(yday - 1)).ok())
            .ok_or_else(|| err(ParseErrorKind::Range("day-of-year")))?;
        if month >= 0 && month != i64::from(date.month()) {
            return Err(err(ParseErrorKind::Other(
                "day-of-year does not match month".into(),
            )));
        }
        if day >= 0 && day != i64::from(date.day()) {
            return Err(err(ParseErrorKind::Other(
                "day-of-year does not match day".into(),
            )));
        }
        month = date.month().into();
        day = date.day().into();
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    let dt = DateTime::new(
        year16,
        month as i8,
        day as i8,
        hour as i8,
        min as i8,
        sec as i8,
        nanos,
    )
    .map_err(|_| err(ParseErrorKind::Range("day")))?;
    let zone = if utc { None } else { offset.or(named) };
    let tz = match zone {
        None | Some(0) => TimeZone::UTC,
        Some(secs) => {
            let off = Offset::from_seconds(secs)
                .map_err(|_| err(ParseErrorKind::Range("time zone offset")))?;
            TimeZone::fixed(off)
        }
    };
    let zdt = dt.to_zoned_datetime(tz).map_err(|_| {
        err(ParseErrorKind::Other(
            "outside the years -9999 to 9999".into(),
        ))
    })?;
    Ok(Time(zdt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(rfc: &str, layout: &str) -> String {
        let t = parse(super::super::RFC3339_NANO, rfc).expect("valid RFC 3339");
        t.format_layout(layout)
    }

    #[test]
    fn formats_every_element() {
        let t = "2009-11-10T23:04:05.012300Z";
        assert_eq!(
            fmt(t, "2006 06 01 1 Jan January"),
            "2009 09 11 11 Nov November"
        );
        assert_eq!(
            fmt(t, "Mon Monday 02 2 _2 002 __2"),
            "Tue Tuesday 10 10 10 314 314"
        );
        assert_eq!(
            fmt(t, "15 03 3 04 4 05 5 PM pm"),
            "23 11 11 04 4 05 5 PM pm"
        );
        // `.9` of 0.0123 s: its one digit is a zero, so nothing at all.
        assert_eq!(
            fmt(t, ".000 .999 ,000000 .999999999 .9|"),
            ".012 .012 ,012300 .0123 |"
        );
        assert_eq!(
            fmt("2009-01-05T03:00:00Z", "_2|__2|.999|3PM"),
            " 5|  5||3AM"
        );
        assert_eq!(fmt(t, "Z07:00 Z0700 Z07 MST"), "Z Z Z UTC");
        let off = "2009-11-10T23:04:05-03:30";
        assert_eq!(
            fmt(off, "Z07:00 -0700 -07 Z07:00:00 -070000 MST"),
            "-03:30 -0330 -03 -03:30:00 -033000 -0330"
        );
        // `.0001` is no fraction (the run must end the number), but its `01` is the month,
        // as in Go; a lone `Y` is text.
        assert_eq!(fmt(t, "x.0001 Y"), "x.0011 Y");
    }

    #[test]
    fn parses_as_go_does() {
        let p = |l: &str, v: &str| parse(l, v).map(|t| t.to_rfc3339_nano());
        assert_eq!(
            p("2006-Jan-02", "2020-Aug-14").ok().as_deref(),
            Some("2020-08-14T00:00:00Z")
        );
        // `15` takes one digit, `01` needs two; month names any case.
        assert_eq!(
            p("2006-01-02 15:04", "2020-08-14 7:05").ok().as_deref(),
            Some("2020-08-14T07:05:00Z")
        );
        assert!(p("2006-01-02", "2020-8-14").is_err());
        assert_eq!(
            p("Jan 2 2006", "AUG 4 2020").ok().as_deref(),
            Some("2020-08-04T00:00:00Z")
        );
        // A fraction after the seconds though the layout has none; `,` as its separator.
        assert_eq!(
            p("15:04:05", "10:20:30,25").ok().as_deref(),
            Some("0000-01-01T10:20:30.25Z")
        );
        assert_eq!(
            p("3:04PM", "12:30AM").ok().as_deref(),
            Some("0000-01-01T00:30:00Z")
        );
        assert_eq!(
            p("3:04pm", "1:30pm").ok().as_deref(),
            Some("0000-01-01T13:30:00Z")
        );
        assert_eq!(
            p("2006-01-02T15:04:05Z07:00", "2020-08-14T13:50:26+02:00")
                .ok()
                .as_deref(),
            Some("2020-08-14T13:50:26+02:00")
        );
        assert_eq!(
            p("2006 002", "2020 060").ok().as_deref(),
            Some("2020-02-29T00:00:00Z")
        );
        assert_eq!(
            p("06 MST", "20 PDT").ok().as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert_eq!(
            p("06 MST", "99 GMT+3").ok().as_deref(),
            Some("1999-01-01T00:00:00+03:00")
        );
        // Runs of spaces match each other.
        assert_eq!(
            p("Jan _2", "Feb  3").ok().as_deref(),
            Some("0000-02-03T00:00:00Z")
        );
    }

    #[test]
    fn errors_read_as_gos() {
        let e = |l: &str, v: &str| parse(l, v).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            e("2006-01-02", "14/08/2020"),
            r#"parsing time "14/08/2020" as "2006-01-02": cannot parse "14/08/2020" as "2006""#
        );
        assert_eq!(
            e("2006-01-02", "2020-13-01"),
            r#"parsing time "2020-13-01": month out of range"#
        );
        assert_eq!(
            e("2006-01-02", "2021-02-29"),
            r#"parsing time "2021-02-29": day out of range"#
        );
        assert_eq!(
            e("2006-01-02", "2021-02-28x"),
            r#"parsing time "2021-02-28x": extra text: "x""#
        );
        // A layout space matches the end of the value; the hour then finds nothing.
        assert_eq!(
            e("2006-01-02 15", "2021-02-28"),
            r#"parsing time "2021-02-28" as "2006-01-02 15": cannot parse "" as "15""#
        );
        assert_eq!(
            e("2006-01-02", "2021/02-28"),
            r#"parsing time "2021/02-28" as "2006-01-02": cannot parse "/02-28" as "-""#
        );
        assert_eq!(
            e("15:04", "24:00"),
            r#"parsing time "24:00": hour out of range"#
        );
        assert_eq!(e("05", "60"), r#"parsing time "60": second out of range"#);
    }
}
