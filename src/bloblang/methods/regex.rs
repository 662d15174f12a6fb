//! Regular expression methods: `re_match`, `re_find_all`, `re_find_all_submatch`,
//! `re_find_object`, `re_find_all_object`, `re_replace_all` (and its alias `re_replace`).
//!
//! Patterns use the `regex` crate, whose syntax is RE2's (Go's `regexp`, what Bento uses): no
//! look-around or back-references, `(?P<name>…)` groups, `(?m)`-style flags. One difference:
//! `\w`, `\d`, `\s` and `\b` are Unicode-aware here and ASCII-only in Go. Replacements expand
//! `$1`, `${name}` and `$$` the way Go's `ReplaceAllString` does.
//!
//! A pattern given as a string literal is compiled once with the mapping (a bad one is a
//! compile error pointing at it); a pattern computed per message is compiled on use, through
//! a small per-thread cache.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

use super::expected;
use crate::bloblang::ast::Expr;
use crate::bloblang::eval::{Cx, Fail, Val, R};
use crate::bloblang::functions::arg_str;
use crate::document::{Map, Value};

type Args<'a> = &'a [Option<Expr>];

fn ok(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

/// Compile `pattern`, with the regex crate's one-line reason (`unclosed group`).
pub fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let why = match &e {
            regex::Error::Syntax(s) => s
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(s)
                .to_string(),
            other => other.to_string(),
        };
        format!("invalid regular expression `{pattern}`: {why}")
    })
}

/// Parse-time step of every regex method: a literal pattern is compiled now.
pub fn prepare(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    if let Some(slot @ Some(Expr::Lit(Value::Str(_)))) = args.first_mut() {
        if let Some(Expr::Lit(lit @ Value::Str(_))) = slot.take() {
            let Value::Str(p) = &lit else {
                return Ok(());
            };
            let re = compile(p).map_err(|e| (0, e))?;
            *slot = Some(Expr::Regex(Box::new(re), lit));
        }
    }
    Ok(())
}

/// Dynamic patterns compiled per thread; cleared when full, so a pattern that changes with
/// every message costs a compile each time but no unbounded memory.
const CACHE_ENTRIES: usize = 64;

thread_local! {
    static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

fn pattern<'a>(cx: &Cx<'a, '_>, args: Args<'a>) -> Result<Cow<'a, Regex>, Fail> {
    if let Some(Some(Expr::Regex(re, _))) = args.first() {
        return Ok(Cow::Borrowed(re));
    }
    let p = arg_str(cx, args, 0, "pattern")?.unwrap_or_default();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(re) = c.get(&p) {
            return Ok(Cow::Owned(re.clone()));
        }
        let re = compile(&p).map_err(Fail::msg)?;
        if c.len() >= CACHE_ENTRIES {
            c.clear();
        }
        c.insert(p, re.clone());
        Ok(Cow::Owned(re))
    })
}

/// The subject: a string, or bytes read as UTF-8 (lossily).
fn subject<'v>(v: &'v Value) -> Result<Cow<'v, str>, Fail> {
    match v {
        Value::Str(s) => Ok(Cow::Borrowed(s)),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b)),
        other => Err(expected("string", other)),
    }
}

/// Group names as Bento keys them: the name, or the group's index when unnamed.
fn group_keys(re: &Regex) -> Vec<String> {
    re.capture_names()
        .enumerate()
        .map(|(i, n)| n.map_or_else(|| i.to_string(), str::to_string))
        .collect()
}

fn group_text(m: Option<regex::Match<'_>>) -> Value {
    Value::Str(m.map_or("", |m| m.as_str()).to_string())
}

pub fn re_match<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let s = subject(&v)?;
    let re = pattern(cx, args)?;
    ok(Value::Bool(re.is_match(&s)))
}

pub fn re_find_all<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let s = subject(&v)?;
    let re = pattern(cx, args)?;
    ok(Value::Array(
        re.find_iter(&s)
            .map(|m| Value::Str(m.as_str().to_string()))
            .collect(),
    ))
}

pub fn re_find_all_submatch<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let s = subject(&v)?;
    let re = pattern(cx, args)?;
    ok(Value::Array(
        re.captures_iter(&s)
            .map(|c| Value::Array(c.iter().map(group_text).collect()))
            .collect(),
    ))
}

fn captures_object(keys: &[String], c: &regex::Captures<'_>) -> Value {
    let mut m = Map::new();
    for (k, g) in keys.iter().zip(c.iter()) {
        m.insert(k.clone(), group_text(g));
    }
    Value::Object(m)
}

pub fn re_find_object<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let s = subject(&v)?;
    let re = pattern(cx, args)?;
    let keys = group_keys(&re);
    ok(match re.captures(&s) {
        Some(c) => captures_object(&keys, &c),
        None => Value::Object(Map::new()),
    })
}

pub fn re_find_all_object<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let s = subject(&v)?;
    let re = pattern(cx, args)?;
    let keys = group_keys(&re);
    ok(Value::Array(
        re.captures_iter(&s)
            .map(|c| captures_object(&keys, &c))
            .collect(),
    ))
}

pub fn re_replace_all<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let s = subject(&v)?;
    let re = pattern(cx, args)?;
    let with = arg_str(cx, args, 1, "value")?.unwrap_or_default();
    ok(Value::Str(re.replace_all(&s, with.as_str()).into_owned()))
}
