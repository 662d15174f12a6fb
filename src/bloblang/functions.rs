//! Bloblang functions (`uuid_v4()`, `now()`, `meta("x")`, ...): the table the parser resolves
//! names against, and their implementations.

use std::borrow::Cow;

use super::ast::{Expr, FuncFn};
use super::eval::{value, Cx, Fail, Val, NULL, R};
use crate::document::time::Time;
use crate::document::{Map, Value};
use crate::pipeline::Position;

pub struct FuncSpec {
    pub name: &'static str,
    pub params: &'static [&'static str],
    /// How many leading parameters must be given.
    pub required: usize,
    pub f: FuncFn,
}

macro_rules! funcs {
    ($($name:literal [$($p:literal),*] $req:literal => $f:path),* $(,)?) => {
        static FUNCS: &[FuncSpec] = &[
            $(FuncSpec { name: $name, params: &[$($p),*], required: $req, f: $f }),*
        ];
    };
}

funcs! {
    "deleted" [] 0 => deleted,
    "nothing" [] 0 => nothing,
    "throw" ["why"] 1 => throw,
    "meta" ["key"] 0 => meta,
    "metadata" ["key"] 0 => metadata,
    "root_meta" ["key"] 0 => meta,
    "now" [] 0 => now,
    "timestamp_unix" [] 0 => timestamp_unix,
    "timestamp_unix_milli" [] 0 => timestamp_unix_milli,
    "timestamp_unix_micro" [] 0 => timestamp_unix_micro,
    "timestamp_unix_nano" [] 0 => timestamp_unix_nano,
    "uuid_v4" [] 0 => uuid_v4,
    "random_int" ["seed", "min", "max"] 0 => random_int,
    "env" ["name", "no_cache"] 1 => env,
    "content" [] 0 => content,
    "error" [] 0 => error,
    "errored" [] 0 => errored,
    "range" ["start", "stop", "step"] 2 => range,
    "hostname" [] 0 => hostname,
    "batch_index" [] 0 => batch_index,
    "batch_size" [] 0 => batch_size,
    "json" ["path"] 0 => json,
}

pub fn lookup(name: &str) -> Option<&'static FuncSpec> {
    FUNCS.iter().find(|f| f.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCS.iter().map(|f| f.name)
}

fn owned(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

/// Evaluate argument `i` if given.
pub fn arg<'a>(
    cx: &Cx<'a, '_>,
    args: &'a [Option<Expr>],
    i: usize,
) -> Result<Option<Val<'a>>, Fail> {
    match args.get(i) {
        Some(Some(e)) => value(e, cx).map(Some),
        _ => Ok(None),
    }
}

pub fn arg_str<'a>(
    cx: &Cx<'a, '_>,
    args: &'a [Option<Expr>],
    i: usize,
    what: &str,
) -> Result<Option<String>, Fail> {
    match arg(cx, args, i)? {
        None => Ok(None),
        Some(v) => match v.into_owned() {
            Value::Str(s) => Ok(Some(s)),
            other => Err(Fail::msg(format!(
                "expected string argument `{what}`, got {}",
                other.kind()
            ))),
        },
    }
}

pub fn arg_int<'a>(
    cx: &Cx<'a, '_>,
    args: &'a [Option<Expr>],
    i: usize,
    what: &str,
) -> Result<Option<i64>, Fail> {
    match arg(cx, args, i)? {
        None => Ok(None),
        Some(v) => match &*v {
            Value::Int(n) => Ok(Some(*n)),
            Value::Float(f) | Value::RawNumber(f, _) if f.fract() == 0.0 => Ok(Some(*f as i64)),
            other => Err(Fail::msg(format!(
                "expected integer argument `{what}`, got {}",
                other.kind()
            ))),
        },
    }
}

fn deleted<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    Err(Fail::Deleted)
}

fn nothing<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    Err(Fail::Nothing)
}

fn throw<'a>(cx: &Cx<'a, '_>, args: &'a [Option<Expr>]) -> R<'a> {
    let why = arg_str(cx, args, 0, "why")?.unwrap_or_default();
    Err(Fail::Error(why))
}

/// Source metadata computed from the message origin, only when a mapping reads it.
fn origin_meta(cx: &Cx<'_, '_>, key: &str, typed: bool) -> Option<Value> {
    let o = cx.env.origin?;
    let Position::Kafka {
        topic,
        partition,
        offset,
    } = &o.position
    else {
        return None;
    };
    let int = |i: i64| {
        if typed {
            Value::Int(i)
        } else {
            Value::Str(i.to_string())
        }
    };
    Some(match key {
        "kafka_topic" => Value::Str(topic.to_string()),
        "kafka_partition" => int(i64::from(*partition)),
        "kafka_offset" => int(*offset),
        "kafka_key" => Value::Str(String::from_utf8_lossy(o.key.as_deref()?).into_owned()),
        "kafka_timestamp_unix" => int(o.timestamp_ms? / 1000),
        "kafka_timestamp_ms" => int(o.timestamp_ms?),
        "kafka_timestamp" => {
            let at = jiff::Timestamp::from_millisecond(o.timestamp_ms?).ok()?;
            Value::Str(Time::new(at, jiff::tz::TimeZone::UTC).to_rfc3339_nano())
        }
        "kafka_tombstone_message" => Value::Str("false".into()),
        other => {
            let (_, v) = o.headers.iter().rev().find(|(k, _)| k == other)?;
            Value::Str(String::from_utf8_lossy(v).into_owned())
        }
    })
}

fn all_origin_keys(cx: &Cx<'_, '_>) -> Vec<String> {
    let Some(o) = cx.env.origin else {
        return Vec::new();
    };
    if o.kafka().is_none() {
        return Vec::new();
    }
    let mut keys: Vec<String> = [
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_key",
        "kafka_timestamp_unix",
        "kafka_timestamp_ms",
        "kafka_timestamp",
        "kafka_tombstone_message",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    keys.extend(o.headers.iter().map(|(k, _)| k.clone()));
    keys
}

/// A metadata value: set by a mapping (`meta x = ...`) first, then the source's.
/// `output` selects the metadata as the mapping has changed it (`@x`) instead of as it was.
pub fn meta_value<'a>(cx: &Cx<'a, '_>, key: Option<&str>, output: bool) -> Val<'a> {
    let m = if output {
        cx.env.meta_out
    } else {
        cx.env.meta_in
    };
    match key {
        Some(k) => match m.get(k) {
            Some(v) => Cow::Borrowed(v),
            None => origin_meta(cx, k, output).map_or(Cow::Borrowed(&NULL), Cow::Owned),
        },
        None => {
            let mut all = Map::new();
            for k in all_origin_keys(cx) {
                if let Some(v) = origin_meta(cx, &k, output) {
                    all.insert(k, v);
                }
            }
            for (k, v) in m.iter() {
                all.insert(k.clone(), v.clone());
            }
            Cow::Owned(Value::Object(all))
        }
    }
}

/// `meta("x")`: the value as a string (Bento's older, string-only metadata), or null.
fn meta<'a>(cx: &Cx<'a, '_>, args: &'a [Option<Expr>]) -> R<'a> {
    let key = arg_str(cx, args, 0, "key")?;
    let v = meta_value(cx, key.as_deref(), false);
    // Bento's `meta("k")` gives null for a key set to "" (it cannot tell the two apart).
    if key.is_some() && matches!(&*v, Value::Str(s) if s.is_empty()) {
        return Ok(Cow::Owned(Value::Null));
    }
    Ok(match v {
        Cow::Borrowed(Value::Str(_)) | Cow::Borrowed(Value::Null) => v,
        Cow::Owned(Value::Object(m)) => Cow::Owned(Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, Value::Str(v.to_meta_text())))
                .collect(),
        )),
        Cow::Owned(Value::Str(_)) | Cow::Owned(Value::Null) => v,
        other => Cow::Owned(Value::Str(other.to_meta_text())),
    })
}

/// `metadata("x")`: the value with its type.
fn metadata<'a>(cx: &Cx<'a, '_>, args: &'a [Option<Expr>]) -> R<'a> {
    let key = arg_str(cx, args, 0, "key")?;
    Ok(meta_value(cx, key.as_deref(), false))
}

/// `now()`: the current time in RFC 3339 with nanoseconds, in the host's zone (Bento's
/// `now()` uses Go's `time.Local`).
fn now<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(Value::Str(Time::now().to_rfc3339_nano()))
}

fn unix_now(div: i128) -> Value {
    Value::Int((jiff::Timestamp::now().as_nanosecond() / div) as i64)
}

fn timestamp_unix<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(unix_now(1_000_000_000))
}

fn timestamp_unix_milli<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(unix_now(1_000_000))
}

fn timestamp_unix_micro<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(unix_now(1_000))
}

fn timestamp_unix_nano<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(unix_now(1))
}

fn uuid_v4<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(Value::Str(super::random::uuid_v4()))
}

fn random_int<'a>(cx: &Cx<'a, '_>, args: &'a [Option<Expr>]) -> R<'a> {
    let seed = arg_int(cx, args, 0, "seed")?;
    let min = arg_int(cx, args, 1, "min")?.unwrap_or(0);
    let max = arg_int(cx, args, 2, "max")?.unwrap_or(i64::MAX - 1);
    if min > max {
        return Err(Fail::msg(format!(
            "min ({min}) must be less than or equal to max ({max})"
        )));
    }
    let bits = match seed {
        Some(s) => super::random::seeded(s),
        None => super::random::next_u64(),
    };
    let span = (max as i128 - min as i128 + 1) as u128;
    let n = min as i128 + (bits as u128 % span) as i128;
    owned(Value::Int(n as i64))
}

fn env<'a>(cx: &Cx<'a, '_>, args: &'a [Option<Expr>]) -> R<'a> {
    let name = arg_str(cx, args, 0, "name")?.unwrap_or_default();
    owned(std::env::var(&name).map_or(Value::Null, Value::Str))
}

fn content<'a>(cx: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(Value::Bytes(cx.env.raw.to_vec()))
}

/// `error()`: the error an earlier processor flagged the message with, or null.
fn error<'a>(cx: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(
        cx.env
            .error
            .map_or(Value::Null, |e| Value::Str(e.to_string())),
    )
}

/// `errored()`: whether an earlier processor failed the message (and no `catch` cleared it).
fn errored<'a>(cx: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(Value::Bool(cx.env.error.is_some()))
}

fn batch_index<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(Value::Int(0))
}

fn batch_size<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    owned(Value::Int(1))
}

fn hostname<'a>(_: &Cx<'a, '_>, _: &'a [Option<Expr>]) -> R<'a> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    owned(Value::Str(h))
}

fn range<'a>(cx: &Cx<'a, '_>, args: &'a [Option<Expr>]) -> R<'a> {
    let start = arg_int(cx, args, 0, "start")?.unwrap_or(0);
    let stop = arg_int(cx, args, 1, "stop")?.unwrap_or(0);
    let step = arg_int(cx, args, 2, "step")?.unwrap_or(1);
    if step == 0 {
        return Err(Fail::msg("step must not be zero"));
    }
    if step < 0 && stop > start {
        return Err(Fail::msg(format!(
            "with a negative step, stop ({stop}) must be at most start ({start})"
        )));
    }
    if step > 0 && start >= stop {
        return Err(Fail::msg(format!(
            "with a positive step, start ({start}) must be below stop ({stop})"
        )));
    }
    // Bento's length: (stop - start) / step, truncated (`range(0, 10, 3)` is [0, 3, 6]).
    let len = stop.saturating_sub(start) / step;
    if len > 10_000_000 {
        return Err(Fail::msg("range is too large"));
    }
    let out: Vec<Value> = (0..len).map(|i| Value::Int(start + step * i)).collect();
    owned(Value::Array(out))
}

/// `json("a.b")`: a field of the message (the interpolation function `${! json("x") }`).
fn json<'a>(cx: &Cx<'a, '_>, args: &'a [Option<Expr>]) -> R<'a> {
    let path = arg_str(cx, args, 0, "path")?.unwrap_or_default();
    let segs: Vec<super::ast::Seg> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').map(super::ast::Seg::key).collect()
    };
    Ok(cx.this.path(&segs))
}
