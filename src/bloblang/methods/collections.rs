//! Methods on arrays and objects, including the ones taking a query (`map_each`, `filter`, ...).
//!
//! Queries run once per element with `this` (or the lambda parameter) bound to it. Over an owned
//! collection the elements are moved in and, when a query returns its input unchanged, moved
//! back out: no clone per element.

use std::borrow::Cow;
use std::collections::HashSet;

use super::expected;
use crate::bloblang::ast::{Expr, Seg};
use crate::bloblang::eval::{call, equal, lookup, Cx, Fail, Subj, Val, NULL, R};
use crate::bloblang::functions::{arg, arg_int, arg_str};
use crate::document::{Map, Value};

type Args<'a> = &'a [Option<Expr>];

fn ok(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

fn query<'a>(args: Args<'a>, i: usize) -> &'a Expr {
    static NULL_EXPR: Expr = Expr::Lit(Value::Null);
    args.get(i).and_then(Option::as_ref).unwrap_or(&NULL_EXPR)
}

/// Result of a query for an element: kept, replaced, or removed.
enum Step {
    Same,
    New(Value),
    Remove,
}

fn apply_one<'a>(
    cx: &Cx<'a, '_>,
    f: &'a Expr,
    subj: Subj<'_>,
    current: &Value,
) -> Result<Step, Fail> {
    match call(cx, f, subj) {
        Ok(Cow::Borrowed(r)) if std::ptr::eq(r, current) => Ok(Step::Same),
        Ok(v) => Ok(Step::New(v.into_owned())),
        Err(Fail::Deleted) => Ok(Step::Remove),
        Err(Fail::Nothing) => Ok(Step::Same),
        Err(e) => Err(e),
    }
}

/// Where `map_each` over an owned collection puts an element's result: replaced or kept
/// (true), or removed (false). The first failure is kept for the caller to return.
fn settle(step: Result<Step, Fail>, item: &mut Value, failed: &mut Option<Fail>) -> bool {
    match step {
        Ok(Step::Same) => true,
        Ok(Step::New(n)) => {
            *item = n;
            true
        }
        Ok(Step::Remove) => false,
        Err(e) => {
            *failed = Some(e);
            true
        }
    }
}

pub fn map_each<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let f = query(args, 0);
    let mut failed = None;
    let out = match v {
        // An owned collection is rewritten where it is: no second vector, and an object's
        // keys stay in place (already sorted), so nothing is rebuilt.
        Cow::Owned(Value::Array(mut items)) => {
            items.retain_mut(|item| {
                // After a failure the rest is kept untouched (and then dropped).
                failed.is_some() || settle(apply_one(cx, f, Subj::V(item), item), item, &mut failed)
            });
            Value::Array(items)
        }
        Cow::Owned(Value::Object(mut m)) => {
            m.retain(|k, item| {
                failed.is_some()
                    || settle(apply_one(cx, f, Subj::Kv(k, item), item), item, &mut failed)
            });
            Value::Object(m)
        }
        Cow::Borrowed(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match apply_one(cx, f, Subj::V(item), item)? {
                    Step::Same => out.push(item.clone()),
                    Step::New(n) => out.push(n),
                    Step::Remove => {}
                }
            }
            Value::Array(out)
        }
        // Entries come out of a map in key order, so the new map is bulk-built from a sorted
        // run (`FromIterator`) instead of searched and split key by key.
        Cow::Borrowed(Value::Object(m)) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, item) in m {
                match apply_one(cx, f, Subj::Kv(k, item), item)? {
                    Step::Same => out.push((k.clone(), item.clone())),
                    Step::New(n) => out.push((k.clone(), n)),
                    Step::Remove => {}
                }
            }
            Value::Object(out.into_iter().collect())
        }
        other => return Err(expected("object or array", &other)),
    };
    match failed {
        Some(e) => Err(e),
        None => ok(out),
    }
}

pub fn map_each_key<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let f = query(args, 0);
    let m = match v.into_owned() {
        Value::Object(m) => m,
        other => return Err(expected("object", &other)),
    };
    let mut out = Map::new();
    for (k, item) in m {
        let key = Value::Str(k);
        match call(cx, f, Subj::V(&key)) {
            Ok(nk) => match nk.into_owned() {
                Value::Str(s) => {
                    out.insert(s, item);
                }
                other => {
                    return Err(Fail::msg(format!(
                        "map_each_key: the query must return a string, got {}",
                        other.kind()
                    )))
                }
            },
            Err(Fail::Deleted) => {}
            Err(Fail::Nothing) => {
                if let Value::Str(s) = key {
                    out.insert(s, item);
                }
            }
            Err(e) => return Err(e),
        }
    }
    ok(Value::Object(out))
}

fn test<'a>(cx: &Cx<'a, '_>, f: &'a Expr, subj: Subj<'_>) -> Result<bool, Fail> {
    match &*call(cx, f, subj)? {
        Value::Bool(b) => Ok(*b),
        other => Err(Fail::msg(format!(
            "the query must return a boolean, got {}",
            other.kind()
        ))),
    }
}

pub fn filter<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let f = query(args, 0);
    match v.into_owned() {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if test(cx, f, Subj::V(&item))? {
                    out.push(item);
                }
            }
            ok(Value::Array(out))
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, item) in m {
                if test(cx, f, Subj::Kv(&k, &item))? {
                    out.insert(k, item);
                }
            }
            ok(Value::Object(out))
        }
        other => Err(expected("object or array", &other)),
    }
}

fn quantify<'a>(cx: &Cx<'a, '_>, v: &Value, args: Args<'a>, want: bool) -> Result<bool, Fail> {
    let f = query(args, 0);
    let Value::Array(items) = v else {
        return Err(expected("array", v));
    };
    for item in items {
        if test(cx, f, Subj::V(item))? == want {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn any<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    ok(Value::Bool(quantify(cx, &v, args, true)?))
}

pub fn all<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let found_false = quantify(cx, &v, args, false)?;
    ok(Value::Bool(!found_false))
}

pub fn fold<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let mut tally = arg(cx, args, 0)?
        .map(Cow::into_owned)
        .unwrap_or(Value::Null);
    let f = query(args, 1);
    let Value::Array(items) = v.into_owned() else {
        return Err(Fail::msg("fold needs an array"));
    };
    for item in items {
        let mut ctx = Map::new();
        ctx.insert("tally".into(), tally);
        ctx.insert("value".into(), item);
        let ctx = Value::Object(ctx);
        tally = call(cx, f, Subj::V(&ctx))?.into_owned();
    }
    ok(tally)
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, Fail> {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (
            Value::Int(_) | Value::Float(_) | Value::RawNumber(..),
            Value::Int(_) | Value::Float(_) | Value::RawNumber(..),
        ) => {
            let f = |v: &Value| v.as_f64().unwrap_or(0.0);
            Ok(f(a).partial_cmp(&f(b)).unwrap_or(Ordering::Equal))
        }
        _ => Err(Fail::msg(format!(
            "cannot compare {} with {}",
            a.kind(),
            b.kind()
        ))),
    }
}

pub fn sort<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let Value::Array(mut items) = v.into_owned() else {
        return Err(Fail::msg("sort needs an array"));
    };
    let mut err = None;
    match args.first().and_then(Option::as_ref) {
        None => items.sort_by(|a, b| {
            compare(a, b).unwrap_or_else(|e| {
                err.get_or_insert(e);
                std::cmp::Ordering::Equal
            })
        }),
        Some(f) => items.sort_by(|a, b| {
            let mut ctx = Map::new();
            ctx.insert("left".into(), a.clone());
            ctx.insert("right".into(), b.clone());
            let ctx = Value::Object(ctx);
            match call(cx, f, Subj::V(&ctx)).as_deref() {
                Ok(Value::Bool(true)) => std::cmp::Ordering::Less,
                Ok(Value::Bool(false)) => std::cmp::Ordering::Greater,
                Ok(_) => {
                    err.get_or_insert(Fail::msg("the sort query must return a boolean"));
                    std::cmp::Ordering::Equal
                }
                Err(e) => {
                    err.get_or_insert(e.clone());
                    std::cmp::Ordering::Equal
                }
            }
        }),
    }
    match err {
        Some(e) => Err(e),
        None => ok(Value::Array(items)),
    }
}

pub fn sort_by<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let f = query(args, 0);
    let Value::Array(items) = v.into_owned() else {
        return Err(Fail::msg("sort_by needs an array"));
    };
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        let k = call(cx, f, Subj::V(&item))?.into_owned();
        keyed.push((k, item));
    }
    let mut err = None;
    keyed.sort_by(|a, b| {
        compare(&a.0, &b.0).unwrap_or_else(|e| {
            err.get_or_insert(e);
            std::cmp::Ordering::Equal
        })
    });
    match err {
        Some(e) => Err(e),
        None => ok(Value::Array(keyed.into_iter().map(|(_, v)| v).collect())),
    }
}

pub fn keys<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match &*v {
        Value::Object(m) => ok(Value::Array(
            m.keys().map(|k| Value::Str(k.clone())).collect(),
        )),
        other => Err(expected("object", other)),
    }
}

pub fn values<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match v.into_owned() {
        Value::Object(m) => ok(Value::Array(m.into_values().collect())),
        other => Err(expected("object", &other)),
    }
}

pub fn key_values<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match v.into_owned() {
        Value::Object(m) => ok(Value::Array(
            m.into_iter()
                .map(|(k, v)| {
                    let mut o = Map::new();
                    o.insert("key".into(), Value::Str(k));
                    o.insert("value".into(), v);
                    Value::Object(o)
                })
                .collect(),
        )),
        other => Err(expected("object", &other)),
    }
}

pub fn length<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    let n = match &*v {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        other => return Err(expected("string, array or object", other)),
    };
    ok(Value::Int(n as i64))
}

pub fn contains<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let needle = arg(cx, args, 0)?
        .map(Cow::into_owned)
        .unwrap_or(Value::Null);
    let found = match (&*v, &needle) {
        (Value::Str(s), Value::Str(n)) => s.contains(n.as_str()),
        (Value::Str(s), other) => s.contains(other.to_text().as_str()),
        (Value::Bytes(b), other) => {
            let n = match other {
                Value::Bytes(n) => n.clone(),
                other => other.to_text().into_bytes(),
            };
            n.is_empty() || b.windows(n.len()).any(|w| w == n.as_slice())
        }
        // The needle on the left, as Bento compares (`[0].contains(false)` is true).
        (Value::Array(a), n) => a.iter().any(|x| equal(n, x)),
        (Value::Object(m), n) => m.values().any(|x| equal(n, x)),
        (other, _) => return Err(expected("string, array or object", other)),
    };
    ok(Value::Bool(found))
}

fn bounds(len: usize, low: i64, high: Option<i64>) -> Result<(usize, usize), Fail> {
    let fix = |i: i64| -> usize {
        if i < 0 {
            (len as i64 + i).max(0) as usize
        } else {
            (i as usize).min(len)
        }
    };
    let lo = fix(low);
    let hi = high.map_or(len, fix);
    if lo > hi {
        return Err(Fail::msg(format!(
            "lower slice bound {low} must be lower than or equal to upper bound {}",
            high.unwrap_or(len as i64)
        )));
    }
    Ok((lo, hi))
}

/// Bento refuses a positive upper bound not above the lower one (`slice(2, 2)`), whatever the
/// value's length: while parsing when both are literals (see [`prepare_slice`]), else here.
fn check_slice_bounds(low: i64, high: Option<i64>) -> Result<(), String> {
    match high {
        Some(h) if h > 0 && low >= h => Err(format!(
            "lower slice bound {low} must be lower than upper ({h})"
        )),
        _ => Ok(()),
    }
}

pub fn prepare_slice(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    let lit = |i: usize| match args.get(i) {
        Some(Some(Expr::Lit(Value::Int(n)))) => Some(*n),
        _ => None,
    };
    match (lit(0), lit(1)) {
        (Some(low), Some(high)) => check_slice_bounds(low, Some(high)).map_err(|e| (1, e)),
        _ => Ok(()),
    }
}

pub fn slice<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let low = arg_int(cx, args, 0, "low")?.unwrap_or(0);
    let high = arg_int(cx, args, 1, "high")?;
    check_slice_bounds(low, high).map_err(Fail::msg)?;
    match v.into_owned() {
        Value::Str(s) => {
            let (lo, hi) = bounds(s.len(), low, high)?;
            match s.get(lo..hi) {
                Some(sub) => ok(Value::Str(sub.to_string())),
                None => ok(Value::Str(
                    String::from_utf8_lossy(&s.as_bytes()[lo..hi]).into_owned(),
                )),
            }
        }
        Value::Bytes(b) => {
            let (lo, hi) = bounds(b.len(), low, high)?;
            ok(Value::Bytes(b[lo..hi].to_vec()))
        }
        Value::Array(mut a) => {
            let (lo, hi) = bounds(a.len(), low, high)?;
            a.truncate(hi);
            a.drain(..lo);
            ok(Value::Array(a))
        }
        other => Err(expected("string or array", &other)),
    }
}

pub fn index<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let i = arg_int(cx, args, 0, "index")?.unwrap_or(0);
    let len = match &*v {
        Value::Array(a) => a.len(),
        other => return Err(expected("array", other)),
    };
    let Some(k) = crate::bloblang::eval::index_of(len, i) else {
        return Err(Fail::msg(format!(
            "index {i} is out of bounds for an array of length {len}"
        )));
    };
    Ok(match v {
        Cow::Borrowed(Value::Array(a)) => Cow::Borrowed(&a[k]),
        Cow::Owned(Value::Array(mut a)) => Cow::Owned(a.swap_remove(k)),
        _ => Cow::Borrowed(&NULL),
    })
}

fn dotted(path: &str) -> Vec<Seg> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('.').map(Seg::key).collect()
}

pub fn exists<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let path = dotted(&arg_str(cx, args, 0, "path")?.unwrap_or_default());
    let mut cur: &Value = &v;
    for s in &path {
        cur = match cur {
            Value::Object(m) => match m.get(&s.key) {
                Some(x) => x,
                None => return ok(Value::Bool(false)),
            },
            Value::Array(a) => match s
                .index
                .and_then(|i| crate::bloblang::eval::index_of(a.len(), i))
            {
                Some(i) => &a[i],
                None => return ok(Value::Bool(false)),
            },
            _ => return ok(Value::Bool(false)),
        };
    }
    ok(Value::Bool(true))
}

pub fn get<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let path = dotted(&arg_str(cx, args, 0, "path")?.unwrap_or_default());
    Ok(match v {
        Cow::Borrowed(r) => Cow::Borrowed(lookup(r, &path)),
        Cow::Owned(o) => Cow::Owned(crate::bloblang::eval::take_path(o, &path)),
    })
}

pub fn join<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let d = arg_str(cx, args, 0, "delimiter")?.unwrap_or_default();
    let Value::Array(items) = &*v else {
        return Err(expected("array", &v));
    };
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&d);
        }
        match item {
            Value::Str(s) => out.push_str(s),
            Value::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
            other => return Err(expected("string", other)),
        }
    }
    ok(Value::Str(out))
}

/// Bento's merge: objects merge recursively; where both sides hold a non-object value the
/// result is an array of both.
fn merge_into(dst: Value, src: Value) -> Value {
    match (dst, src) {
        (Value::Object(mut d), Value::Object(s)) => {
            for (k, v) in s {
                let merged = match d.remove(&k) {
                    Some(existing) => merge_into(existing, v),
                    None => v,
                };
                d.insert(k, merged);
            }
            Value::Object(d)
        }
        (Value::Array(mut d), Value::Array(s)) => {
            d.extend(s);
            Value::Array(d)
        }
        (Value::Array(mut d), s) => {
            d.push(s);
            Value::Array(d)
        }
        (d, Value::Array(s)) => {
            let mut out = vec![d];
            out.extend(s);
            Value::Array(out)
        }
        (d, s) => Value::Array(vec![d, s]),
    }
}

pub fn merge<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let with = arg(cx, args, 0)?
        .map(Cow::into_owned)
        .unwrap_or(Value::Null);
    ok(merge_into(v.into_owned(), with))
}

/// `assign`: like `merge`, but on a collision of two non-objects the source wins (Bento's
/// `assign`); an array target gets the source appended.
pub fn assign<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let with = arg(cx, args, 0)?
        .map(Cow::into_owned)
        .unwrap_or(Value::Null);
    match (v.into_owned(), with) {
        (Value::Array(mut d), Value::Array(s)) => {
            d.extend(s);
            ok(Value::Array(d))
        }
        (Value::Array(mut d), s) => {
            d.push(s);
            ok(Value::Array(d))
        }
        (d @ Value::Object(_), s @ Value::Object(_)) => ok(assign_into(d, s)),
        // Bento merges nothing from a source that is not an object.
        (d @ Value::Object(_), _) => ok(d),
        (other, _) => Err(expected("object or array", &other)),
    }
}

fn assign_into(dst: Value, src: Value) -> Value {
    match (dst, src) {
        (Value::Object(mut d), Value::Object(s)) => {
            for (k, v) in s {
                let assigned = match d.remove(&k) {
                    Some(existing) => assign_into(existing, v),
                    None => v,
                };
                d.insert(k, assigned);
            }
            Value::Object(d)
        }
        (_, s) => s,
    }
}

fn remove_path(v: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Value::Object(m) = v {
        if rest.is_empty() {
            m.remove(first);
        } else if let Some(child) = m.get_mut(first) {
            remove_path(child, rest);
        }
    }
}

pub fn without<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let mut out = v.into_owned();
    if !matches!(out, Value::Object(_)) {
        return Err(expected("object", &out));
    }
    for i in 0..args.len() {
        let p = arg_str(cx, args, i, "path")?.unwrap_or_default();
        let parts: Vec<&str> = p.split('.').collect();
        remove_path(&mut out, &parts);
    }
    ok(out)
}

pub fn append<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let Value::Array(mut a) = v.into_owned() else {
        return Err(Fail::msg("append needs an array"));
    };
    for i in 0..args.len() {
        a.push(
            arg(cx, args, i)?
                .map(Cow::into_owned)
                .unwrap_or(Value::Null),
        );
    }
    ok(Value::Array(a))
}

pub fn concat<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let Value::Array(mut a) = v.into_owned() else {
        return Err(Fail::msg("concat needs an array"));
    };
    for i in 0..args.len() {
        match arg(cx, args, i)?.map(Cow::into_owned) {
            Some(Value::Array(b)) => a.extend(b),
            Some(other) => return Err(expected("array", &other)),
            None => {}
        }
    }
    ok(Value::Array(a))
}

/// As Bento's: strings (and bytes) and numbers are told apart by value, each in their own set
/// (`"1"` and `1` are both kept); any other element (or `emit` result) is an error.
pub fn unique<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let emit = args.first().and_then(Option::as_ref);
    let Value::Array(a) = v.into_owned() else {
        return Err(Fail::msg("unique needs an array"));
    };
    let mut texts: HashSet<Vec<u8>> = HashSet::new();
    // By their bits, -0 as 0; NaN is never equal to one seen (as a Go map key).
    let mut numbers: HashSet<u64> = HashSet::new();
    let mut out: Vec<Value> = Vec::with_capacity(a.len());
    for (i, item) in a.into_iter().enumerate() {
        let key = match emit {
            Some(f) => call(cx, f, Subj::V(&item))
                .map_err(|e| at_index(i, e))?
                .into_owned(),
            None => item.clone(),
        };
        let fresh = match &key {
            Value::Str(s) => texts.insert(s.as_bytes().to_vec()),
            Value::Bytes(b) => texts.insert(b.clone()),
            Value::Int(_) | Value::Float(_) | Value::RawNumber(..) => {
                let n = key.as_f64().unwrap_or(f64::NAN);
                n.is_nan() || numbers.insert(if n == 0.0 { 0 } else { n.to_bits() })
            }
            other => return Err(at_index(i, expected("string or number", other))),
        };
        if fresh {
            out.push(item);
        }
    }
    ok(Value::Array(out))
}

pub fn flatten<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    let Value::Array(a) = v.into_owned() else {
        return Err(Fail::msg("flatten needs an array"));
    };
    let mut out = Vec::with_capacity(a.len());
    for item in a {
        match item {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    ok(Value::Array(out))
}

/// An element's error, saying which element: "index 3: …".
fn at_index(i: usize, e: Fail) -> Fail {
    match e {
        Fail::Error(m) => Fail::Error(format!("index {i}: {m}")),
        other => other,
    }
}

/// A string's characters (or a byte array's bytes) in reverse order. Only those, as in Bento
/// 1.12 (an array is an error there).
pub fn reverse<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match v.into_owned() {
        Value::Str(s) => ok(Value::Str(s.chars().rev().collect())),
        Value::Bytes(mut b) => {
            b.reverse();
            ok(Value::Bytes(b))
        }
        other => Err(expected("string", &other)),
    }
}

pub fn enumerated<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    let Value::Array(a) = v.into_owned() else {
        return Err(Fail::msg("enumerated needs an array"));
    };
    ok(Value::Array(
        a.into_iter()
            .enumerate()
            .map(|(i, v)| {
                let mut o = Map::new();
                o.insert("index".into(), Value::Int(i as i64));
                o.insert("value".into(), v);
                Value::Object(o)
            })
            .collect(),
    ))
}

pub fn identity<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    Ok(v)
}

fn collapse_into(prefix: &str, v: Value, include_empty: bool, out: &mut Map) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                collapse_into(&key(&k), v, include_empty, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.into_iter().enumerate() {
                collapse_into(&key(&i.to_string()), v, include_empty, out);
            }
        }
        Value::Object(_) | Value::Array(_) if !include_empty => {}
        other => {
            out.insert(prefix.to_string(), other);
        }
    }
}

pub fn collapse<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let include_empty = matches!(arg(cx, args, 0)?.as_deref(), Some(Value::Bool(true)));
    if !matches!(&*v, Value::Object(_) | Value::Array(_)) {
        return Err(expected("object or array", &v));
    }
    let mut out = Map::new();
    collapse_into("", v.into_owned(), include_empty, &mut out);
    ok(Value::Object(out))
}

pub fn explode<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let path = arg_str(cx, args, 0, "path")?.unwrap_or_default();
    let segs = dotted(&path);
    let doc = v.into_owned();
    let target = lookup(&doc, &segs).clone();
    let set = |val: Value| -> Value {
        let mut d = doc.clone();
        let mut cur = &mut d;
        for s in &segs {
            match cur {
                Value::Object(m) => {
                    cur = m.entry(s.key.clone()).or_insert(Value::Null);
                }
                _ => break,
            }
        }
        *cur = val;
        d
    };
    match target {
        Value::Array(a) => ok(Value::Array(a.into_iter().map(set).collect())),
        Value::Object(m) => ok(Value::Object(
            m.into_iter().map(|(k, v)| (k, set(v))).collect(),
        )),
        other => Err(expected("array or object", &other)),
    }
}

pub fn type_of<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    ok(Value::Str(v.kind().to_string()))
}

pub fn not_null<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    if matches!(*v, Value::Null) {
        return Err(Fail::msg("value is null"));
    }
    Ok(v)
}

pub fn not_empty<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    let empty = match &*v {
        Value::Str(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        other => return Err(expected("string, array or object", other)),
    };
    if empty {
        return Err(Fail::msg(format!("{} value is empty", v.kind())));
    }
    Ok(v)
}
