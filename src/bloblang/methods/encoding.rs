//! JSON and byte encodings: `parse_json`, `format_json`, `encode`/`decode`, `bytes`.

use std::borrow::Cow;

use base64::Engine;

use super::expected;
use crate::bloblang::ast::Expr;
use crate::bloblang::eval::{Cx, Fail, Val, R};
use crate::bloblang::functions::{arg, arg_str};
use crate::bloblang::value::Value;

type Args<'a> = &'a [Option<Expr>];

fn ok(v: Value) -> R<'static> {
    Ok(Cow::Owned(v))
}

fn raw(v: &Value) -> Result<&[u8], Fail> {
    match v {
        Value::Str(s) => Ok(s.as_bytes()),
        Value::Bytes(b) => Ok(b),
        other => Err(expected("string", other)),
    }
}

pub fn bytes<'a>(_: &Cx<'a, '_>, v: Val<'a>, _: Args<'a>) -> R<'a> {
    match &*v {
        Value::Bytes(_) => Ok(v),
        Value::Str(s) => ok(Value::Bytes(s.as_bytes().to_vec())),
        other => ok(Value::Bytes(other.to_text().into_bytes())),
    }
}

/// Like Bento: numbers are plain float64s unless `use_number: true` keeps them as written.
pub fn parse_json<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let use_number = matches!(arg(cx, args, 0)?.as_deref(), Some(Value::Bool(true)));
    let mut doc = Value::from_json_bytes(raw(&v)?)
        .map_err(|e| Fail::msg(format!("failed to parse value as JSON: {e}")))?;
    if !use_number {
        doc.forget_number_text();
    }
    ok(doc)
}

pub fn format_json<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let indent = arg_str(cx, args, 0, "indent")?.unwrap_or_else(|| "    ".into());
    let no_indent = matches!(arg(cx, args, 1)?.as_deref(), Some(Value::Bool(true)));
    let escape_html = !matches!(arg(cx, args, 2)?.as_deref(), Some(Value::Bool(false)));
    let mut out = Vec::new();
    if no_indent {
        v.write_json(&mut out);
    } else {
        v.write_json_pretty(&indent, 0, &mut out);
    }
    let mut s = String::from_utf8_lossy(&out).into_owned();
    if escape_html {
        s = s
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
    }
    ok(Value::Str(s))
}

pub fn encode<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let scheme = arg_str(cx, args, 0, "scheme")?.unwrap_or_default();
    let b = raw(&v)?;
    let out = match scheme.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD.encode(b),
        "base64url" => base64::engine::general_purpose::URL_SAFE.encode(b),
        "base64rawurl" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
        "hex" => b.iter().map(|x| format!("{x:02x}")).collect(),
        other => {
            return Err(Fail::msg(format!(
                "unrecognised encoding scheme `{other}`; use base64, base64url, base64rawurl or hex"
            )))
        }
    };
    ok(Value::Str(out))
}

pub fn decode<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let scheme = arg_str(cx, args, 0, "scheme")?.unwrap_or_default();
    let b = raw(&v)?;
    let out = match scheme.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| Fail::msg(e.to_string()))?,
        "base64url" => base64::engine::general_purpose::URL_SAFE
            .decode(b)
            .map_err(|e| Fail::msg(e.to_string()))?,
        "base64rawurl" => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b)
            .map_err(|e| Fail::msg(e.to_string()))?,
        "hex" => {
            if b.len() % 2 != 0 {
                return Err(Fail::msg("encoding/hex: odd length hex string"));
            }
            let mut out = Vec::with_capacity(b.len() / 2);
            for pair in b.chunks(2) {
                let t = std::str::from_utf8(pair).map_err(|e| Fail::msg(e.to_string()))?;
                out.push(
                    u8::from_str_radix(t, 16)
                        .map_err(|_| Fail::msg(format!("encoding/hex: invalid byte {t:?}")))?,
                );
            }
            out
        }
        other => {
            return Err(Fail::msg(format!(
                "unrecognised encoding scheme `{other}`; use base64, base64url, base64rawurl or hex"
            )))
        }
    };
    ok(Value::Bytes(out))
}
