//! String methods.

use std::borrow::Cow;

use super::expected;
use crate::bloblang::ast::Expr;
use crate::bloblang::eval::{Cx, Fail, Val, R};
use crate::bloblang::functions::{arg, arg_int, arg_str};
use crate::document::Value;

type Args<'a> = &'a [Option<Expr>];

fn s(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

/// The receiver as a string (bytes are read as UTF-8).
fn text<'v>(v: &'v Value) -> Result<Cow<'v, str>, Fail> {
    match v {
        Value::Str(s) => Ok(Cow::Borrowed(s)),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b)),
        other => Err(expected("string", other)),
    }
}

pub fn string<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match v {
        Cow::Owned(Value::Str(x)) => s(Value::Str(x)),
        Cow::Borrowed(Value::Str(_)) => Ok(v),
        other => s(Value::Str(other.to_text())),
    }
}

fn map_str<'a>(v: Val<'a>, f: impl Fn(&str) -> String) -> R<'a> {
    let t = text(&v)?;
    s(Value::Str(f(&t)))
}

/// [`map_str`] for the methods Bento applies to a byte array as bytes: bytes in, bytes out.
fn map_text<'a>(v: Val<'a>, f: impl Fn(&str) -> String) -> R<'a> {
    let out = f(&text(&v)?);
    s(match &*v {
        Value::Bytes(_) => Value::Bytes(out.into_bytes()),
        _ => Value::Str(out),
    })
}

/// Go's `unicode.ToUpper` per character (a simple mapping: `ß` and `ﬁ` stay as they are).
fn upper_simple(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Go's `unicode.ToLower` per character (`İ` is `i`; no final-sigma rule).
fn lower_simple(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

pub fn uppercase<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    map_text(v, |t| t.chars().map(upper_simple).collect())
}

pub fn lowercase<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    map_text(v, |t| t.chars().map(lower_simple).collect())
}

/// Title case as Bento's `capitalize` (`cases.Title`): in each word the first cased letter in
/// title case, the rest in lower case. A word runs over letters, digits, marks and `_`, and
/// over `'`, `.`, `:` and `’` between two of those (`o'neil`, `a.b`).
pub fn capitalize<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    map_text(v, |t| {
        let chars: Vec<char> = t.chars().collect();
        let in_word = |c: char| c.is_alphanumeric() || c == '_' || is_mark(c);
        let mut out = String::with_capacity(t.len());
        let mut cased_seen = false;
        for (i, &c) in chars.iter().enumerate() {
            let joins = matches!(c, '\'' | '.' | ':' | '\u{2019}')
                && i > 0
                && in_word(chars[i - 1])
                && chars.get(i + 1).is_some_and(|&n| in_word(n));
            if !(in_word(c) || joins) {
                cased_seen = false;
                out.push(c);
                continue;
            }
            // Cased: lower, upper or title case (`ǅ`), i.e. it has another case.
            let cased = c.is_lowercase()
                || c.is_uppercase()
                || c.to_lowercase().ne(std::iter::once(c))
                || c.to_uppercase().ne(std::iter::once(c));
            if cased && !cased_seen {
                out.push_str(&title_of(c));
                cased_seen = true;
            } else {
                out.extend(c.to_lowercase());
            }
        }
        out
    })
}

/// A combining mark (the ranges that occur in Latin, Greek and Cyrillic text).
fn is_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}' | '\u{483}'..='\u{489}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}')
}

/// The title case of a character: its upper case, but the first letter only of a multi-letter
/// one (`ﬁ` → `Fi`, `ß` → `Ss`), and the title-case forms of the Latin digraphs (`ǆ` → `ǅ`).
fn title_of(c: char) -> String {
    match c {
        '\u{1c4}'..='\u{1c6}' => '\u{1c5}'.to_string(),
        '\u{1c7}'..='\u{1c9}' => '\u{1c8}'.to_string(),
        '\u{1ca}'..='\u{1cc}' => '\u{1cb}'.to_string(),
        '\u{1f1}'..='\u{1f3}' => '\u{1f2}'.to_string(),
        c => {
            let mut up = c.to_uppercase();
            let mut out: String = up.next().into_iter().collect();
            out.extend(up.flat_map(char::to_lowercase));
            out
        }
    }
}

pub fn trim<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let cutset = arg_str(cx, args, 0, "cutset")?;
    let t = text(&v)?;
    let out = match cutset {
        Some(c) => t.trim_matches(|ch| c.contains(ch)).to_string(),
        None => t.trim().to_string(),
    };
    s(match &*v {
        Value::Bytes(_) => Value::Bytes(out.into_bytes()),
        _ => Value::Str(out),
    })
}

pub fn trim_prefix<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let p = arg_str(cx, args, 0, "prefix")?.unwrap_or_default();
    map_text(v, |t| t.strip_prefix(p.as_str()).unwrap_or(t).to_string())
}

pub fn trim_suffix<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let p = arg_str(cx, args, 0, "suffix")?.unwrap_or_default();
    map_text(v, |t| t.strip_suffix(p.as_str()).unwrap_or(t).to_string())
}

pub fn has_prefix<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let p = arg_str(cx, args, 0, "value")?.unwrap_or_default();
    s(Value::Bool(text(&v)?.starts_with(p.as_str())))
}

pub fn has_suffix<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let p = arg_str(cx, args, 0, "value")?.unwrap_or_default();
    s(Value::Bool(text(&v)?.ends_with(p.as_str())))
}

pub fn replace_all<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let old = arg_str(cx, args, 0, "old")?.unwrap_or_default();
    let new = arg_str(cx, args, 1, "new")?.unwrap_or_default();
    map_text(v, |t| t.replace(old.as_str(), &new))
}

pub fn replace_many<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let pairs = match arg(cx, args, 0)? {
        Some(p) => match p.into_owned() {
            Value::Array(a) if a.len() % 2 == 0 => a,
            _ => {
                return Err(Fail::msg(
                    "replace_many needs an array of old/new string pairs",
                ))
            }
        },
        None => Vec::new(),
    };
    let mut out = text(&v)?.into_owned();
    for pair in pairs.chunks(2) {
        let (Value::Str(o), Value::Str(n)) = (&pair[0], &pair[1]) else {
            return Err(Fail::msg("replace_many needs string pairs"));
        };
        out = out.replace(o.as_str(), n);
    }
    s(Value::Str(out))
}

pub fn split<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let d = arg_str(cx, args, 0, "delimiter")?.unwrap_or_default();
    let t = text(&v)?;
    // A byte array splits into byte arrays, as in Bento.
    let part = |p: &str| match &*v {
        Value::Bytes(_) => Value::Bytes(p.as_bytes().to_vec()),
        _ => Value::Str(p.to_string()),
    };
    let parts: Vec<Value> = if d.is_empty() {
        t.chars()
            .map(|c| part(c.encode_utf8(&mut [0; 4])))
            .collect()
    } else {
        t.split(d.as_str()).map(part).collect()
    };
    s(Value::Array(parts))
}

pub fn quote<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    map_str(v, |t| {
        // Go's strconv.Quote: its short escapes, `\xNN` for ASCII controls and DEL, `\uNNNN`
        // for other characters Go does not print (controls, separators, format characters).
        let mut out = String::from("\"");
        for ch in t.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{b}' => out.push_str("\\v"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if !go_prints(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    })
}

/// Whether Go's `unicode.IsPrint` holds, for the characters quote() meets in practice:
/// not a control, a separator other than the ASCII space, or a common format character.
fn go_prints(c: char) -> bool {
    !(c.is_control()
        || matches!(c, '\u{a0}' | '\u{ad}' | '\u{1680}' | '\u{2000}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}' | '\u{205f}'..='\u{2064}' | '\u{3000}' | '\u{feff}'))
}

pub fn unquote<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    let t = text(&v)?;
    let inner = t
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .ok_or_else(|| Fail::msg("invalid syntax: not a quoted string"))?;
    let mut buf = format!("\"{inner}\"").into_bytes();
    match Value::from_json_slice(&mut buf) {
        Ok(Value::Str(x)) => s(Value::Str(x)),
        _ => Err(Fail::msg("invalid syntax: not a quoted string")),
    }
}

pub fn index_of<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let needle = arg_str(cx, args, 0, "value")?.unwrap_or_default();
    let t = text(&v)?;
    s(Value::Int(t.find(needle.as_str()).map_or(-1, |i| i as i64)))
}

pub fn repeat<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    // A negative count is zero, as in Bento 1.5+ (Benthos rejects it).
    let n = arg_int(cx, args, 0, "count")?.unwrap_or(0).max(0);
    if n > 1_000_000 {
        return Err(Fail::msg(format!("invalid repeat count {n}")));
    }
    map_text(v, |t| t.repeat(n as usize))
}

pub fn escape_html<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    map_str(v, |t| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")
    })
}

pub fn unescape_html<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    map_str(v, |t| {
        t.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    })
}

pub fn escape_url_query<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    map_str(v, |t| {
        let mut out = String::new();
        for b in t.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    })
}

/// `"%s is %d".format(a, b)`: Go `fmt.Sprintf` verbs `%s %v %d %f %q %x %t %%`, with widths
/// and precisions.
pub fn format<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let layout = text(&v)?.into_owned();
    let mut vals = Vec::with_capacity(args.len());
    for i in 0..args.len() {
        vals.push(
            arg(cx, args, i)?
                .map(Cow::into_owned)
                .unwrap_or(Value::Null),
        );
    }
    s(Value::Str(sprintf(&layout, &vals)))
}

pub fn sprintf(layout: &str, vals: &[Value]) -> String {
    let mut out = String::new();
    let mut it = vals.iter();
    let mut chars = layout.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || matches!(n, '.' | '-' | '+' | ' ' | '#') {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = it.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let left = spec.starts_with('-');
        let spec_n = spec.trim_start_matches(['-', '+', ' ', '#']);
        let (width, prec) = match spec_n.split_once('.') {
            Some((w, p)) => (
                w.parse::<usize>().ok(),
                Some(p.parse::<usize>().unwrap_or(0)),
            ),
            None => (spec_n.parse::<usize>().ok(), None),
        };
        let zero = spec_n.starts_with('0') && !left;
        // A number as written in the input prints as written for `%v`/`%s`; the numeric
        // verbs take its value.
        let plain;
        let v = match v {
            Value::RawNumber(f, _) if !matches!(verb, 's' | 'v') => {
                plain = Value::Float(*f);
                &plain
            }
            other => other,
        };
        let body = match (verb, v) {
            ('d', Value::Int(i)) => i.to_string(),
            ('d', Value::Float(f)) if f.fract() == 0.0 => (*f as i64).to_string(),
            ('f' | 'F', Value::Int(i)) => format!("{:.*}", prec.unwrap_or(6), *i as f64),
            ('f' | 'F', Value::Float(f)) => format!("{:.*}", prec.unwrap_or(6), f),
            ('e', Value::Float(f)) => format!("{:.*e}", prec.unwrap_or(6), f),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::Str(t)) => t.bytes().map(|b| format!("{b:02x}")).collect(),
            ('q', Value::Str(t)) => {
                let mut b = Vec::new();
                crate::document::write_json_str(t, &mut b);
                String::from_utf8_lossy(&b).into_owned()
            }
            ('t', Value::Bool(b)) => b.to_string(),
            ('s' | 'v', Value::Str(t)) => match prec {
                Some(p) => t.chars().take(p).collect(),
                None => t.clone(),
            },
            ('s', Value::Null) => "%!s(<nil>)".into(),
            ('s' | 'v', other) => go_v(other, verb),
            (verb, other) => format!("%!{verb}({})", other.to_text()),
        };
        let body = match width {
            Some(w) if body.chars().count() < w => {
                let pad = w - body.chars().count();
                if left {
                    format!("{body}{}", " ".repeat(pad))
                } else if zero {
                    format!("{}{body}", "0".repeat(pad))
                } else {
                    format!("{}{body}", " ".repeat(pad))
                }
            }
            _ => body,
        };
        out.push_str(&body);
    }
    let extra: Vec<String> = it
        .map(|v| format!("{}={}", v.kind(), v.to_text()))
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// Go's `%v` or `%s` of a decoded JSON value, as `fmt` prints it in Bento: a bool under `%s`
/// is `%!s(bool=true)` (a bad verb), a byte array under `%v` its bytes (`[104 105]`), and a
/// null inside an array or object `<nil>`. Numbers print as their text under both verbs: an
/// input number is a `json.Number` (text) in Bento, which this engine cannot tell from a
/// computed one (`%!s(int64=5)` there).
fn go_v(v: &Value, verb: char) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) if verb == 's' => format!("%!s(bool={b})"),
        Value::Bytes(b) if verb == 'v' => format!(
            "[{}]",
            b.iter().map(u8::to_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| go_v(x, verb))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, x)| format!("{k}:{}", go_v(x, verb)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_text(),
    }
}
