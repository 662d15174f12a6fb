//! Timestamp methods. Timestamps are RFC 3339 strings (or unix seconds as numbers).

use std::borrow::Cow;

use super::expected;
use crate::bloblang::ast::Expr;
use crate::bloblang::eval::{Cx, Fail, Val, R};
use crate::bloblang::functions::arg_str;
use crate::document::time::{self as timefmt, Tm};
use crate::document::Value;

type Args<'a> = &'a [Option<Expr>];

fn ok(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

/// A timestamp from a value: an RFC 3339 string or unix seconds.
fn timestamp(v: &Value) -> Result<Tm, Fail> {
    match v {
        Value::Str(s) => timefmt::parse_rfc3339(s).map_err(Fail::msg),
        Value::Int(i) => Ok(Tm {
            secs: *i,
            nanos: 0,
            offset: 0,
        }),
        Value::Float(f) | Value::RawNumber(f, _) => Ok(Tm::from_unix_f64(*f)),
        other => Err(expected("timestamp", other)),
    }
}

/// Time zones without a database: UTC, `Local` (treated as UTC) and fixed offsets.
fn zone(tz: Option<&str>, t: Tm) -> Result<Tm, Fail> {
    let offset = match tz {
        None => return Ok(t),
        Some("UTC" | "Local" | "") => 0,
        Some(z) => {
            let probe = timefmt::parse("-07:00", z)
                .or_else(|_| timefmt::parse("-0700", z))
                .map_err(|_| {
                    Fail::msg(format!(
                        "unknown time zone `{z}`: only UTC, Local and offsets such as +02:00 are supported"
                    ))
                })?;
            probe.offset
        }
    };
    Ok(Tm { offset, ..t })
}

pub fn ts_parse<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let layout = arg_str(cx, args, 0, "format")?.unwrap_or_default();
    let Value::Str(s) = &*v else {
        return Err(expected("string", &v));
    };
    let t = timefmt::parse(&layout, s).map_err(Fail::msg)?;
    ok(Value::Str(timefmt::rfc3339_nano(&t)))
}

pub fn ts_format<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let layout = arg_str(cx, args, 0, "format")?.unwrap_or_else(|| timefmt::RFC3339_NANO.into());
    let tz = arg_str(cx, args, 1, "tz")?;
    let t = zone(tz.as_deref(), timestamp(&v)?)?;
    ok(Value::Str(timefmt::format(&t, &layout)))
}

fn unix<'a>(v: Val<'a>, div: i128) -> R<'a> {
    let t = timestamp(&v)?;
    ok(Value::Int(t.unix_nanos().div_euclid(div) as i64))
}

pub fn ts_unix<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    unix(v, 1_000_000_000)
}

pub fn ts_unix_milli<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    unix(v, 1_000_000)
}

pub fn ts_unix_micro<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    unix(v, 1_000)
}

pub fn ts_unix_nano<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    unix(v, 1)
}

/// An ISO 8601 duration (`P1DT2H`, `PT30S`) in seconds; years and months are not fixed lengths
/// and are refused.
fn iso8601_secs(d: &str) -> Result<i64, Fail> {
    let bad = || Fail::msg(format!("invalid ISO 8601 duration `{d}`"));
    let rest = d.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = 0i64;
    for (part, units) in [(date, "WD"), (time, "HMS")] {
        let mut n = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                n.push(c);
                continue;
            }
            if !units.contains(c) || n.is_empty() {
                return Err(bad());
            }
            let v: i64 = n.parse().map_err(|_| bad())?;
            n.clear();
            total += v * match (units, c) {
                ("WD", 'W') => 604_800,
                ("WD", 'D') => 86_400,
                (_, 'H') => 3600,
                (_, 'M') => 60,
                _ => 1,
            };
        }
        if !n.is_empty() {
            return Err(bad());
        }
    }
    Ok(total)
}

fn shift<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>, sign: i64) -> R<'a> {
    let d = arg_str(cx, args, 0, "duration")?.unwrap_or_default();
    let mut t = timestamp(&v)?;
    t.secs += sign * iso8601_secs(&d)?;
    ok(Value::Str(timefmt::rfc3339_nano(&t)))
}

pub fn ts_add_iso8601<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    shift(cx, v, args, 1)
}

pub fn ts_sub_iso8601<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    shift(cx, v, args, -1)
}
