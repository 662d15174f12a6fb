//! Timestamps without a time-zone database: parse and print RFC 3339 and Go reference layouts
//! (`2006-01-02T15:04:05Z07:00`), in UTC or a fixed offset. Bloblang keeps timestamps as
//! RFC 3339 strings; Bento prints them the same way when they reach JSON.

mod rfc3339;

pub use rfc3339::{check_rfc3339, format_ms, now_rfc3339_ms};

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time with the offset it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tm {
    /// Seconds since the Unix epoch (UTC).
    pub secs: i64,
    pub nanos: u32,
    /// Offset from UTC of the wall-clock fields, in seconds.
    pub offset: i32,
}

impl Tm {
    pub fn now() -> Tm {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Tm {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
            offset: 0,
        }
    }

    pub fn from_unix_f64(f: f64) -> Tm {
        let secs = f.floor();
        Tm {
            secs: secs as i64,
            nanos: ((f - secs) * 1e9).round().min(999_999_999.0) as u32,
            offset: 0,
        }
    }

    pub fn unix_nanos(&self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
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
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// The layout elements of Go's `time` package, longest first where one is a prefix of another.
const ELEMENTS: [&str; 37] = [
    "January",
    "Monday",
    "2006",
    "Jan",
    "Mon",
    "MST",
    "Z07:00:00",
    "-07:00:00",
    "Z07:00",
    "-07:00",
    "Z0700",
    "-0700",
    "Z07",
    "-07",
    "01",
    "02",
    "_2",
    "03",
    "04",
    "05",
    "06",
    "15",
    "PM",
    "pm",
    ".000000000",
    ".999999999",
    ".000000",
    ".999999",
    ".000",
    ".999",
    ",000",
    ",999",
    "002",
    "1",
    "2",
    "3",
    "4",
];

fn next_element(layout: &str) -> Option<&'static str> {
    // "5" (second) is handled here too, but must not shadow "05"/"15".
    ELEMENTS
        .iter()
        .copied()
        .chain(["5"])
        .find(|e| layout.starts_with(e))
}

/// Format `t` with a Go reference layout.
pub fn format(t: &Tm, layout: &str) -> String {
    let local = t.secs + t.offset as i64;
    let days = local.div_euclid(86400);
    let sod = local.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    let wd = (days + 4).rem_euclid(7) as usize;
    let yday = days - days_from_civil(y, 1, 1) + 1;
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout;
    while !rest.is_empty() {
        let Some(el) = next_element(rest) else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
            continue;
        };
        rest = &rest[el.len()..];
        match el {
            "2006" => out.push_str(&format!("{y:04}")),
            "06" => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            "January" => out.push_str(MONTHS[mo as usize - 1]),
            "Jan" => out.push_str(&MONTHS[mo as usize - 1][..3]),
            "01" => out.push_str(&format!("{mo:02}")),
            "1" => out.push_str(&mo.to_string()),
            "Monday" => out.push_str(DAYS[wd]),
            "Mon" => out.push_str(&DAYS[wd][..3]),
            "02" => out.push_str(&format!("{d:02}")),
            "_2" => out.push_str(&format!("{d:>2}")),
            "2" => out.push_str(&d.to_string()),
            "002" => out.push_str(&format!("{yday:03}")),
            "15" => out.push_str(&format!("{h:02}")),
            "03" => out.push_str(&format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 })),
            "3" => out.push_str(&(if h % 12 == 0 { 12 } else { h % 12 }).to_string()),
            "04" => out.push_str(&format!("{mi:02}")),
            "4" => out.push_str(&mi.to_string()),
            "05" => out.push_str(&format!("{s:02}")),
            "5" => out.push_str(&s.to_string()),
            "PM" => out.push_str(if h >= 12 { "PM" } else { "AM" }),
            "pm" => out.push_str(if h >= 12 { "pm" } else { "am" }),
            "MST" => {
                if t.offset == 0 {
                    out.push_str("UTC")
                } else {
                    out.push_str(&offset_text(t.offset, "-0700", false))
                }
            }
            e if e.starts_with('Z') || e.starts_with('-') => {
                if e.starts_with('Z') && t.offset == 0 {
                    out.push('Z');
                } else {
                    out.push_str(&offset_text(t.offset, e, true));
                }
            }
            e if e.starts_with('.') || e.starts_with(',') => {
                let digits = e.len() - 1;
                let frac = format!("{:09}", t.nanos);
                let frac = &frac[..digits];
                if e.as_bytes()[1] == b'9' {
                    let trimmed = frac.trim_end_matches('0');
                    if !trimmed.is_empty() {
                        out.push(e.as_bytes()[0] as char);
                        out.push_str(trimmed);
                    }
                } else {
                    out.push(e.as_bytes()[0] as char);
                    out.push_str(frac);
                }
            }
            other => out.push_str(other),
        }
    }
    out
}

fn offset_text(offset: i32, el: &str, _z: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    let body = el.trim_start_matches(['Z', '-']);
    match body {
        "07:00:00" => format!("{sign}{h:02}:{m:02}:{s:02}"),
        "07:00" => format!("{sign}{h:02}:{m:02}"),
        "0700" => format!("{sign}{h:02}{m:02}"),
        _ => format!("{sign}{h:02}"),
    }
}

/// Parse `s` with a Go reference layout.
pub fn parse(layout: &str, s: &str) -> Result<Tm, String> {
    let bad = || format!("parsing time \"{s}\" as \"{layout}\": cannot parse");
    let (mut y, mut mo, mut d, mut h, mut mi, mut sec, mut nanos, mut off) =
        (1i64, 1u32, 1u32, 0i64, 0i64, 0i64, 0u32, 0i32);
    let mut pm: Option<bool> = None;
    let mut rest_l = layout;
    let mut rest = s;
    fn num(rest: &mut &str, min: usize, max: usize) -> Option<i64> {
        let n = rest
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if n < min {
            return None;
        }
        let v = rest[..n].parse().ok()?;
        *rest = &rest[n..];
        Some(v)
    }
    while !rest_l.is_empty() {
        let Some(el) = next_element(rest_l) else {
            let ch = rest_l.chars().next().unwrap_or(' ');
            rest_l = &rest_l[ch.len_utf8()..];
            rest = rest.strip_prefix(ch).ok_or_else(bad)?;
            continue;
        };
        rest_l = &rest_l[el.len()..];
        match el {
            "2006" => {
                let neg = rest.starts_with('-');
                if neg {
                    rest = &rest[1..];
                }
                let v = num(&mut rest, 4, 4).ok_or_else(bad)?;
                y = if neg { -v } else { v };
            }
            "06" => y = 2000 + num(&mut rest, 2, 2).ok_or_else(bad)?,
            "01" => mo = num(&mut rest, 2, 2).ok_or_else(bad)? as u32,
            "1" => mo = num(&mut rest, 1, 2).ok_or_else(bad)? as u32,
            "January" | "Jan" => {
                let (i, name) = MONTHS
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (i, if el == "Jan" { &m[..3] } else { m }))
                    .find(|(_, m)| rest.starts_with(m))
                    .ok_or_else(bad)?;
                mo = i as u32 + 1;
                rest = &rest[name.len()..];
            }
            "Monday" | "Mon" => {
                let name = DAYS
                    .iter()
                    .map(|m| if el == "Mon" { &m[..3] } else { m })
                    .find(|m| rest.starts_with(m))
                    .ok_or_else(bad)?;
                rest = &rest[name.len()..];
            }
            "02" => d = num(&mut rest, 2, 2).ok_or_else(bad)? as u32,
            "_2" => {
                rest = rest.strip_prefix(' ').unwrap_or(rest);
                d = num(&mut rest, 1, 2).ok_or_else(bad)? as u32
            }
            "2" => d = num(&mut rest, 1, 2).ok_or_else(bad)? as u32,
            "002" => {
                num(&mut rest, 3, 3).ok_or_else(bad)?;
            }
            "15" => h = num(&mut rest, 1, 2).ok_or_else(bad)?,
            "03" => h = num(&mut rest, 2, 2).ok_or_else(bad)?,
            "3" => h = num(&mut rest, 1, 2).ok_or_else(bad)?,
            "04" => mi = num(&mut rest, 2, 2).ok_or_else(bad)?,
            "4" => mi = num(&mut rest, 1, 2).ok_or_else(bad)?,
            "05" => sec = num(&mut rest, 2, 2).ok_or_else(bad)?,
            "5" => sec = num(&mut rest, 1, 2).ok_or_else(bad)?,
            "PM" | "pm" => {
                let up = rest.get(..2).unwrap_or("").to_ascii_uppercase();
                pm = Some(match up.as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return Err(bad()),
                });
                rest = &rest[2..];
            }
            "MST" => {
                let n = rest.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return Err(bad());
                }
                rest = &rest[n..];
            }
            e if e.starts_with('Z') || e.starts_with('-') => {
                if e.starts_with('Z') && rest.starts_with('Z') {
                    rest = &rest[1..];
                    off = 0;
                } else {
                    let sign = match rest.as_bytes().first() {
                        Some(b'+') => 1,
                        Some(b'-') => -1,
                        _ => return Err(bad()),
                    };
                    rest = &rest[1..];
                    let oh = num(&mut rest, 2, 2).ok_or_else(bad)?;
                    let mut om = 0;
                    let mut os = 0;
                    if e.contains("07:00") {
                        rest = rest.strip_prefix(':').ok_or_else(bad)?;
                        om = num(&mut rest, 2, 2).ok_or_else(bad)?;
                        if e.ends_with(":00:00") {
                            rest = rest.strip_prefix(':').ok_or_else(bad)?;
                            os = num(&mut rest, 2, 2).ok_or_else(bad)?;
                        }
                    } else if e.contains("0700") {
                        om = num(&mut rest, 2, 2).ok_or_else(bad)?;
                    }
                    off = sign * (oh * 3600 + om * 60 + os) as i32;
                }
            }
            e if e.starts_with('.') || e.starts_with(',') => {
                // Fractions are optional for `.999`; required digits for `.000`.
                if rest.starts_with(['.', ',']) {
                    let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
                    let frac = &rest[1..1 + digits];
                    let padded = format!("{:0<9}", &frac[..frac.len().min(9)]);
                    nanos = padded.parse().map_err(|_| bad())?;
                    rest = &rest[1 + digits..];
                } else if e.as_bytes()[1] == b'0' {
                    return Err(bad());
                }
            }
            _ => return Err(bad()),
        }
        // A seconds element may be followed by a fraction the layout does not mention.
        if (el == "05" || el == "5")
            && !rest_l.starts_with(['.', ','])
            && rest.starts_with('.')
            && rest[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            let frac = &rest[1..1 + digits];
            let padded = format!("{:0<9}", &frac[..frac.len().min(9)]);
            nanos = padded.parse().map_err(|_| bad())?;
            rest = &rest[1 + digits..];
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time \"{s}\" as \"{layout}\": extra text \"{rest}\""
        ));
    }
    if let Some(pm) = pm {
        if h == 12 {
            h = 0;
        }
        if pm {
            h += 12;
        }
    }
    if !(1..=12).contains(&mo) || d == 0 || d > 31 || h > 23 || mi > 59 || sec > 60 {
        return Err(format!(
            "parsing time \"{s}\" as \"{layout}\": value out of range"
        ));
    }
    let days = days_from_civil(y, mo, d);
    Ok(Tm {
        secs: days * 86400 + h * 3600 + mi * 60 + sec - off as i64,
        nanos,
        offset: off,
    })
}

/// Parse an RFC 3339 timestamp (fractions and offsets optional as Go accepts them).
pub fn parse_rfc3339(s: &str) -> Result<Tm, String> {
    parse("2006-01-02T15:04:05Z07:00", s)
        .map_err(|_| format!("parsing time \"{s}\" as RFC 3339 failed"))
}

pub fn rfc3339_nano(t: &Tm) -> String {
    format(t, RFC3339_NANO)
}
