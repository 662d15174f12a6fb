//! The document model every pipeline stage shares.
//!
//! A message payload is parsed once (simd-json) into a [`Value`]; Bloblang mappings read and
//! build `Value`s; the output validates and encodes the final `Value` into JSON bytes once.
//!
//! Contract used outside `bloblang` (the output's event encoder, the stdout output, tests):
//! `Value::{Null, Bool, Int, Float, Str, Array, Object}`, [`Map`] with `get`, `iter`, `len`,
//! `insert`, `remove`, and [`Value::write_json`] / [`Value::from_json_slice`] / [`Value::kind`].
//! Other variants may be added; those listed stay.

use std::collections::BTreeMap;
use std::fmt;

/// Object map. Keys are kept sorted, which is also how Bento (Go's `encoding/json`) prints them.
pub type Map = BTreeMap<String, Value>;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Object(Map),
}

impl Value {
    /// Bento's type names, as `.type()` reports them.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Parse a JSON document. The buffer is used as scratch space by simd-json.
    ///
    /// Nesting is bounded by [`MAX_JSON_DEPTH`] (simd-json's limit, enforced while parsing,
    /// before any `Value` is built): every later step on a document (conversion, mapping,
    /// encoding, `Drop`) recurses once per level, so a payload 10 000 levels deep is refused
    /// here with a clear error instead of overflowing a processor thread's stack.
    pub fn from_json_slice(buf: &mut [u8]) -> Result<Value, String> {
        match simd_json::to_owned_value(buf) {
            Ok(v) => Ok(Value::from_simd(v)),
            // simd-json validates UTF-8 in bulk and reports byte 0; find the real spot (the
            // buffer is untouched when validation fails, it is only rewritten afterwards).
            Err(e) if matches!(e.error(), simd_json::ErrorType::InvalidUtf8) => {
                let at = std::str::from_utf8(buf)
                    .err()
                    .map_or(0, |u| u.valid_up_to());
                Err(format!("invalid UTF-8 at byte {at}"))
            }
            Err(e) => Err(json_error(e)),
        }
    }

    fn from_simd(v: simd_json::OwnedValue) -> Value {
        use simd_json::{OwnedValue as O, StaticNode as S};
        match v {
            O::Static(S::Null) => Value::Null,
            O::Static(S::Bool(b)) => Value::Bool(b),
            O::Static(S::I64(i)) => Value::Int(i),
            O::Static(S::U64(u)) => i64::try_from(u).map_or(Value::Float(u as f64), Value::Int),
            O::Static(S::F64(f)) => Value::Float(f),
            O::String(s) => Value::Str(s),
            O::Array(a) => Value::Array(a.into_iter().map(Value::from_simd).collect()),
            O::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_simd(v)))
                    .collect(),
            ),
        }
    }

    /// Append the compact JSON encoding of this value to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => out.extend_from_slice(itoa_buf(*i).as_bytes()),
            Value::Float(f) => write_float(*f, out),
            Value::Str(s) => write_json_str(s, out),
            Value::Bytes(b) => write_json_str(&String::from_utf8_lossy(b), out),
            Value::Array(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_json(out);
                }
                out.push(b']');
            }
            Value::Object(m) => {
                out.push(b'{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(k, out);
                    out.push(b':');
                    v.write_json(out);
                }
                out.push(b'}');
            }
        }
    }

    /// How `.string()` and string interpolation print a value (Bento's `IToString`): strings as
    /// they are, numbers in their shortest form, everything else as compact JSON.
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float_g(*f),
            other => other.to_json_string(),
        }
    }

    /// Indented JSON (Go's `json.MarshalIndent` layout).
    pub fn write_json_pretty(&self, indent: &str, depth: usize, out: &mut Vec<u8>) {
        let pad = |out: &mut Vec<u8>, d: usize| {
            out.push(b'\n');
            for _ in 0..d {
                out.extend_from_slice(indent.as_bytes());
            }
        };
        match self {
            Value::Array(a) if !a.is_empty() => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    pad(out, depth + 1);
                    v.write_json_pretty(indent, depth + 1, out);
                }
                pad(out, depth);
                out.push(b']');
            }
            Value::Object(m) if !m.is_empty() => {
                out.push(b'{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    pad(out, depth + 1);
                    write_json_str(k, out);
                    out.extend_from_slice(b": ");
                    v.write_json_pretty(indent, depth + 1, out);
                }
                pad(out, depth);
                out.push(b'}');
            }
            other => other.write_json(out),
        }
    }

    pub fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        // write_json only emits valid UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Deepest nesting of arrays and objects a parsed document may have (simd-json's default,
/// the same as simdjson's). The Flexprice API nests events at most a few levels.
pub const MAX_JSON_DEPTH: usize = simd_json::DEFAULT_MAX_DEPTH;

/// simd-json's errors read `InvalidUtf8 at character 7`; say what is wrong in words a user
/// reading the dead-letter file understands, keeping the byte offset.
fn json_error(e: simd_json::Error) -> String {
    use simd_json::ErrorType as E;
    let at = e.index();
    let what = match e.error() {
        E::DepthLimitExceeded => {
            return format!("nested deeper than {MAX_JSON_DEPTH} levels (at byte {at})")
        }
        E::InvalidUtf8 => "invalid UTF-8".to_string(),
        E::Eof => return "unexpected end of input (empty or truncated)".to_string(),
        E::TrailingData => "trailing data after the document".to_string(),
        E::InvalidNumber | E::InvalidExponent => "invalid number".to_string(),
        E::InvalidEscape | E::InvalidUnicodeEscape | E::InvalidUnicodeCodepoint => {
            "invalid escape in a string".to_string()
        }
        E::UnterminatedString => "unterminated string".to_string(),
        E::InputTooLarge => return "document larger than 4 GiB".to_string(),
        // simd-json reports most structural problems as a bare `Syntax` at byte 0, or an
        // `InternalError` on the first character that cannot start a value.
        _ if at == 0 && e.character().is_none() => {
            return "syntax error (malformed or truncated document)".to_string()
        }
        _ => "syntax error".to_string(),
    };
    match e.character() {
        Some(c) if !c.is_control() => format!("{what} at byte {at} ('{c}')"),
        _ => format!("{what} at byte {at}"),
    }
}

/// Shortest round-trip digits, exponent form only below 1e-7 or from 1e21 up. Bento prints
/// numbers read from the input as written; this engine keeps the parsed value, so the plain
/// decimal form (what input numbers are nearly always written as) is the closer match.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-7..21).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        f.to_string()
    }
}

fn itoa_buf(i: i64) -> String {
    i.to_string()
}

fn write_float(f: f64, out: &mut Vec<u8>) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
    } else if f.fract() == 0.0 && f.abs() < 1e15 {
        // Bento prints 4.0 as 4.
        out.extend_from_slice((f as i64).to_string().as_bytes());
    } else if f.abs() >= 1e18 || f.abs() < 1e-6 {
        // Exponent form, as Go's encoding/json writes it (`2.5e+115`, `1e-7`). Written out
        // in full, 2.5e115 is a 116-digit integer literal that simd-json (the sink, and
        // `parse_json` here) refuses as an invalid number, so an event carrying it was sent
        // as a body the API side could not parse. Go switches at 1e21, but simd-json takes a
        // number without a fraction as a 64-bit integer (-9.3e18 in digits is refused too),
        // so switch at 1e18, below both i64 limits.
        let e = format!("{f:e}");
        let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        out.extend_from_slice(format!("{mant}e{sign}{}", exp.abs()).as_bytes());
    } else {
        out.extend_from_slice(f.to_string().as_bytes());
    }
}

/// JSON string escaping (RFC 8259), with `<`, `>` and `&` left as they are.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{:04x}", b).as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_string())
    }
}
