//! Number and boolean methods.

use std::borrow::Cow;

use super::expected;
use crate::bloblang::ast::Expr;
use crate::bloblang::eval::{value, Cx, Fail, Val, R};
use crate::document::Value;

type Args<'a> = &'a [Option<Expr>];

fn ok(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

/// A number from a string, the way Go's `strconv.ParseFloat` reads it (a float64, as Bento's
/// `.number()` gives; no surrounding space allowed).
fn parse_number(t: &str) -> Option<Value> {
    t.parse::<f64>().ok().map(Value::Float)
}

/// Run `f`, and on failure fall back to the method's `default` argument when one was given.
fn with_default<'a>(cx: &Cx<'a, '_>, args: Args<'a>, r: Result<Value, Fail>) -> R<'a> {
    match r {
        Ok(v) => ok(v),
        Err(e) => match args.first() {
            Some(Some(d)) => value(d, cx),
            _ => Err(e),
        },
    }
}

pub fn number<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let r = match &*v {
        // Always a float64 in Bento (`IToNumber`), so `.string()` of it prints as Go's %g.
        Value::Int(i) => return ok(Value::Float(*i as f64)),
        Value::Float(_) => return Ok(v),
        // Bento's `.number()` of a `json.Number` is its float64.
        Value::RawNumber(f, _) => return ok(Value::Float(*f)),
        Value::Str(t) => parse_number(t)
            .ok_or_else(|| Fail::msg(format!("strconv.ParseFloat: parsing {t:?}: invalid syntax"))),
        Value::Bytes(b) => parse_number(&String::from_utf8_lossy(b))
            .ok_or_else(|| Fail::msg("strconv.ParseFloat: invalid syntax")),
        other => Err(expected("number", other)),
    };
    with_default(cx, args, r)
}

pub fn float64<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    match number(cx, v, args)?.into_owned() {
        Value::Int(i) => ok(Value::Float(i as f64)),
        other => ok(other),
    }
}

pub fn int64<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match &*v {
        Value::Int(_) => Ok(v),
        // Bento converts an input number (a `json.Number`) by its text, as an integer
        // literal: `7.0`, `1e3` and integers beyond 64 bits are errors, not 7 and 1000.
        Value::RawNumber(_, text) => match text.parse::<i64>() {
            Ok(i) => ok(Value::Int(i)),
            Err(e) => Err(Fail::msg(format!(
                "number {text} (as written in the input) is not a 64-bit integer literal ({e}); \
                 use .number().round() first to convert it anyway"
            ))),
        },
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => ok(Value::Int(*f as i64)),
        Value::Float(f) => Err(Fail::msg(format!(
            "value {f} cannot be represented as an integer"
        ))),
        Value::Str(t) => match t.trim().parse::<i64>() {
            Ok(i) => ok(Value::Int(i)),
            Err(_) => Err(Fail::msg(format!(
                "strconv.ParseInt: parsing {t:?}: invalid syntax"
            ))),
        },
        other => Err(expected("number", other)),
    }
}

pub fn uint64<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    // A whole float from 2^63 to 2^64 is an unsigned integer Bento prints in full.
    if let Value::Float(f) = &*v {
        if f.fract() == 0.0 && (9.223_372_036_854_776e18..1.844_674_407_370_955_2e19).contains(f) {
            return ok(Value::RawNumber(*f, (*f as u64).to_string().into()));
        }
    }
    let r = int64(cx, v, args)?;
    match &*r {
        Value::Int(i) if *i < 0 => Err(Fail::msg(format!(
            "value {i} is negative and cannot be an unsigned integer"
        ))),
        _ => Ok(r),
    }
}

pub fn boolean<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let r = match &*v {
        Value::Bool(_) => return Ok(v),
        Value::Int(i) => Ok(Value::Bool(*i != 0)),
        Value::Float(f) | Value::RawNumber(f, _) => Ok(Value::Bool(*f != 0.0)),
        Value::Str(t) => match t.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Bool(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Bool(false)),
            _ => Err(Fail::msg(format!(
                "strconv.ParseBool: parsing {t:?}: invalid syntax"
            ))),
        },
        other => Err(expected("bool", other)),
    };
    with_default(cx, args, r)
}

fn float_op<'a>(v: Val<'a>, f: fn(f64) -> f64) -> R<'a> {
    match &*v {
        Value::Int(_) => Ok(v),
        Value::Float(x) | Value::RawNumber(x, _) => {
            let r = f(*x);
            if r.fract() == 0.0 && r.abs() < 9.2e18 {
                ok(Value::Int(r as i64))
            } else {
                ok(Value::Float(r))
            }
        }
        other => Err(expected("number", other)),
    }
}

pub fn abs<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match &*v {
        Value::Int(i) => ok(Value::Int(i.wrapping_abs())),
        Value::Float(f) | Value::RawNumber(f, _) => ok(Value::Float(f.abs())),
        other => Err(expected("number", other)),
    }
}

pub fn ceil<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    float_op(v, f64::ceil)
}

pub fn floor<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    float_op(v, f64::floor)
}

pub fn round<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    float_op(v, f64::round)
}

fn numbers(v: &Value) -> Result<Vec<&Value>, Fail> {
    match v {
        Value::Array(a) => {
            for x in a {
                if !matches!(x, Value::Int(_) | Value::Float(_) | Value::RawNumber(..)) {
                    return Err(expected("number", x));
                }
            }
            Ok(a.iter().collect())
        }
        other => Err(expected("array", other)),
    }
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn extreme<'a>(v: Val<'a>, want_max: bool) -> R<'a> {
    let nums = numbers(&v)?;
    let mut best: Option<&Value> = None;
    for n in nums {
        best = match best {
            None => Some(n),
            Some(b) => {
                let better = if want_max {
                    as_f64(n) > as_f64(b)
                } else {
                    as_f64(n) < as_f64(b)
                };
                Some(if better { n } else { b })
            }
        };
    }
    match best {
        Some(b) => ok(b.clone()),
        None => Err(Fail::msg("the array is empty")),
    }
}

pub fn max<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    extreme(v, true)
}

pub fn min<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    extreme(v, false)
}

/// Bento's `sum`: a number is its own sum; an array's is a float64 total.
pub fn sum<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    if matches!(&*v, Value::Int(_) | Value::Float(_) | Value::RawNumber(..)) {
        return Ok(v);
    }
    let nums = numbers(&v)?;
    // From +0 (Rust's float `sum()` starts at -0, so `[].sum()` would print -0).
    ok(Value::Float(
        nums.into_iter().map(as_f64).fold(0.0, |a, b| a + b),
    ))
}
