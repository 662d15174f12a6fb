//! Timestamp methods, Bento's `ts_*` family and their deprecated `*_timestamp*` names. A
//! timestamp is an RFC 3339 string or a unix number (seconds, with a fraction for less), read
//! as Bento does: a number is in the host's zone (`Local`), a string in its own offset. The
//! methods that produce a timestamp return it as an RFC 3339 string with nanoseconds, which is
//! how Bento prints its timestamp values.

use std::borrow::Cow;

use super::expected;
use crate::bloblang::ast::Expr;
use crate::bloblang::eval::{kind_with_value, Cx, Fail, Val, R};
use crate::bloblang::functions::{arg, arg_int, arg_str};
use crate::document::time::{self as clock, Period, Time, RFC3339_NANO};
use crate::document::Value;

type Args<'a> = &'a [Option<Expr>];

fn ok(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

fn ok_time(t: Time) -> R<'static> {
    ok(Value::Str(t.to_rfc3339_nano()))
}

/// A timestamp from a value, as Bento coerces one: an RFC 3339 string (or bytes), or a unix
/// number of seconds (a float's fraction to the nanosecond).
pub fn timestamp(v: &Value) -> Result<Time, Fail> {
    read_timestamp(v).map_err(Fail::msg)
}

fn read_timestamp(v: &Value) -> Result<Time, String> {
    match v {
        Value::Str(s) => Time::parse_rfc3339(s),
        Value::Bytes(b) => Time::parse_rfc3339(&String::from_utf8_lossy(b)),
        Value::Int(i) => unix_secs(*i),
        // Written as an integer (`1e3` is not): read as one, exactly.
        Value::RawNumber(f, text) => match text.parse::<i64>() {
            Ok(i) => unix_secs(i),
            Err(_) => Time::from_unix_f64(*f),
        },
        Value::Float(f) => Time::from_unix_f64(*f),
        other => Err(format!(
            "expected number or string value, got {}",
            kind_with_value(other)
        )),
    }
}

fn unix_secs(s: i64) -> Result<Time, String> {
    Time::from_unix_nanos(i128::from(s) * 1_000_000_000)
}

fn zone_arg<'a>(
    cx: &Cx<'a, '_>,
    args: Args<'a>,
    i: usize,
) -> Result<Option<jiff::tz::TimeZone>, Fail> {
    match arg_str(cx, args, i, "tz")? {
        Some(name) => clock::zone(&name).map(Some).map_err(Fail::msg),
        None => Ok(None),
    }
}

fn in_zone(t: Time, tz: Option<jiff::tz::TimeZone>) -> Time {
    match tz {
        Some(tz) => t.in_zone(&tz),
        None => t,
    }
}

/// `ts_parse(format)`, `parse_timestamp(format)`: a string read with a Go reference layout.
pub fn ts_parse<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let layout = arg_str(cx, args, 0, "format")?.unwrap_or_default();
    let s = subject_str(&v)?;
    ok_time(Time::parse_layout(&layout, &s).map_err(Fail::msg)?)
}

/// `ts_strptime(format)`, `parse_timestamp_strptime(format)`: a string read with a C
/// `strptime` format.
pub fn ts_strptime<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let format = arg_str(cx, args, 0, "format")?.unwrap_or_default();
    let s = subject_str(&v)?;
    ok_time(Time::strptime(&format, &s).map_err(Fail::msg)?)
}

/// `ts_format(format = RFC 3339 with nanoseconds, tz)`, `format_timestamp`: a Go layout.
pub fn ts_format<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let layout = arg_str(cx, args, 0, "format")?;
    let tz = zone_arg(cx, args, 1)?;
    let t = in_zone(timestamp(&v)?, tz);
    ok(Value::Str(
        t.format_layout(layout.as_deref().unwrap_or(RFC3339_NANO)),
    ))
}

/// `ts_strftime(format, tz)`, `format_timestamp_strftime`: a C `strftime` format.
pub fn ts_strftime<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let format = arg_str(cx, args, 0, "format")?.unwrap_or_default();
    let tz = zone_arg(cx, args, 1)?;
    let t = in_zone(timestamp(&v)?, tz);
    ok(Value::Str(t.strftime(&format).map_err(Fail::msg)?))
}

/// `ts_tz(tz)`: the same instant in another zone.
pub fn ts_tz<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let tz = zone_arg(cx, args, 0)?;
    ok_time(in_zone(timestamp(&v)?, tz))
}

/// `ts_round(duration)`: to the nearest multiple of `duration` nanoseconds, halves up.
pub fn ts_round<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let d = arg_int(cx, args, 0, "duration")?.unwrap_or_default();
    ok_time(timestamp(&v)?.round(d).map_err(Fail::msg)?)
}

/// `ts_sub(t2)`: this timestamp minus `t2`, in nanoseconds.
pub fn ts_sub<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let t1 = timestamp(&v)?;
    let t2 = match arg(cx, args, 0)? {
        Some(t2) => read_timestamp(&t2).map_err(|e| Fail::msg(format!("argument `t2`: {e}")))?,
        None => return Err(Fail::msg("argument `t2` is required")),
    };
    ok(Value::Int(t1.sub(&t2)))
}

fn unix<'a>(v: Val<'a>, div: i128) -> R<'a> {
    let n = timestamp(&v)?.unix_nanos().div_euclid(div);
    i64::try_from(n)
        .map(|n| Cow::Owned(Value::Int(n)))
        .map_err(|_| Fail::msg("the timestamp in unix nanoseconds does not fit a 64-bit integer (years 1678 to 2262 do)"))
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

fn period_arg<'a>(cx: &Cx<'a, '_>, args: Args<'a>) -> Result<Period, Fail> {
    let d = arg_str(cx, args, 0, "duration")?.unwrap_or_default();
    Period::parse(&d).map_err(Fail::msg)
}

/// `ts_add_iso8601(duration)`: see [`Period`] for how years, months and fractions add.
pub fn ts_add_iso8601<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let p = period_arg(cx, args)?;
    ok_time(timestamp(&v)?.add_period(&p).map_err(Fail::msg)?)
}

pub fn ts_sub_iso8601<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let p = period_arg(cx, args)?.negate();
    ok_time(timestamp(&v)?.add_period(&p).map_err(Fail::msg)?)
}

/// `parse_duration()`: a Go duration string (`"1h30m"`) in nanoseconds.
pub fn parse_duration<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    let s = subject_str(&v)?;
    ok(Value::Int(clock::parse_go_duration(&s).map_err(Fail::msg)?))
}

/// `parse_duration_iso8601()`: an ISO 8601 duration in nanoseconds, years and months
/// approximated.
pub fn parse_duration_iso8601<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    let s = subject_str(&v)?;
    let p = Period::parse(&s).map_err(Fail::msg)?;
    ok(Value::Int(p.approx_nanos().map_err(Fail::msg)?))
}

/// The subject as a string (bytes read as UTF-8, lossily).
fn subject_str<'v>(v: &'v Value) -> Result<Cow<'v, str>, Fail> {
    match v {
        Value::Str(s) => Ok(Cow::Borrowed(s)),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b)),
        other => Err(expected("string", other)),
    }
}

// Compile-time checks of literal arguments: a misspelt zone or duration is a mapping error
// with its place, at start-up and in `lint`, as in Bento, not a failure of every message.

fn literal(args: &[Option<Expr>], i: usize) -> Option<&Value> {
    match args.get(i) {
        Some(Some(Expr::Lit(v))) => Some(v),
        _ => None,
    }
}

fn check_zone(args: &[Option<Expr>], i: usize) -> Result<(), (usize, String)> {
    if let Some(Value::Str(name)) = literal(args, i) {
        clock::zone(name).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// `ts_format`, `ts_strftime` and their old names: `tz` is the second argument.
pub fn prepare_tz_second(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    check_zone(args, 1)
}

/// `ts_tz`: `tz` is the first argument.
pub fn prepare_tz_first(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    check_zone(args, 0)
}

/// `ts_add_iso8601`, `ts_sub_iso8601`.
pub fn prepare_period(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    if let Some(Value::Str(d)) = literal(args, 0) {
        Period::parse(d).map_err(|e| (0, e))?;
    }
    Ok(())
}

/// `ts_sub`: a literal `t2` must be a timestamp.
pub fn prepare_t2(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    if let Some(v) = literal(args, 0) {
        read_timestamp(v).map_err(|e| (0, format!("argument `t2`: {e}")))?;
    }
    Ok(())
}
