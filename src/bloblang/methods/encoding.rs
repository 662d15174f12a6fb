//! JSON and byte encodings: `parse_json`, `format_json`, `encode`/`decode`, `bytes`.

use std::borrow::Cow;

use base64::Engine;

use super::expected;
use crate::bloblang::ast::Expr;
use crate::bloblang::eval::{Cx, Fail, Val, R};
use crate::bloblang::functions::{arg, arg_str};
use crate::document::Value;

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
    let text = raw(&v)?;
    // Bento reads the first JSON value and ignores what follows it (Go's json.Decoder):
    // `{"a":1} trailing` is {"a":1}, `2023-06-01` is 2023.
    let first = first_value_len(text).and_then(|end| Value::from_json_bytes(&text[..end]).ok());
    let mut doc = match first {
        Some(doc) => doc,
        None => Value::from_json_bytes(text)
            .map_err(|e| Fail::msg(format!("failed to parse value as JSON: {e}")))?,
    };
    if !use_number {
        doc.forget_number_text();
    }
    ok(doc)
}

/// The length of the first JSON value in `b` (leading white space included), by the JSON
/// grammar; `None` when it does not start with one (the parser then reports why).
fn first_value_len(b: &[u8]) -> Option<usize> {
    let start = b.iter().position(|c| !c.is_ascii_whitespace())?;
    let digits = |mut i: usize| {
        let from = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > from).then_some(i)
    };
    let end = match b[start] {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut in_str = false;
            let mut i = start;
            loop {
                let c = *b.get(i)?;
                if in_str {
                    match c {
                        b'\\' => i += 1,
                        b'"' => in_str = false,
                        _ => {}
                    }
                } else {
                    match c {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break i + 1;
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
        }
        b'"' => {
            let mut i = start + 1;
            loop {
                match *b.get(i)? {
                    b'\\' => i += 2,
                    b'"' => break i + 1,
                    _ => i += 1,
                }
            }
        }
        b'-' | b'0'..=b'9' => {
            let mut i = start + usize::from(b[start] == b'-');
            i = if b.get(i) == Some(&b'0') {
                i + 1
            } else {
                digits(i)?
            };
            if b.get(i) == Some(&b'.') {
                i = digits(i + 1)?;
            }
            if matches!(b.get(i), Some(b'e' | b'E')) {
                let j = i + 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
                i = digits(j)?;
            }
            i
        }
        _ => ["true", "false", "null"]
            .iter()
            .find(|w| b[start..].starts_with(w.as_bytes()))
            .map(|w| start + w.len())?,
    };
    Some(end)
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
    let s = crate::document::escape_html(&String::from_utf8_lossy(&out), escape_html);
    // A byte array, as in Bento: `.string()` makes it text; left as it is inside a document
    // it is written as base64.
    ok(Value::Bytes(s.into_bytes()))
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

/// Go's `encoding/base64` wording, with the offset of the bad input.
fn base64_error(e: base64::DecodeError) -> Fail {
    use base64::DecodeError as D;
    Fail::msg(match e {
        D::InvalidByte(at, _) | D::InvalidLastSymbol { offset: at, .. } => {
            format!("illegal base64 data at input byte {at}")
        }
        D::InvalidLength(n) => format!("illegal base64 data at input byte {n}"),
        D::InvalidPadding => "illegal base64 data (bad padding)".to_string(),
    })
}

pub fn decode<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let scheme = arg_str(cx, args, 0, "scheme")?.unwrap_or_default();
    let b = raw(&v)?;
    let out = match scheme.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(base64_error)?,
        "base64url" => base64::engine::general_purpose::URL_SAFE
            .decode(b)
            .map_err(base64_error)?,
        "base64rawurl" => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b)
            .map_err(base64_error)?,
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

/// The algorithms of Bento's `hash`, by name (both spellings of the HMAC ones).
const HASHES: &[&str] = &[
    "hmac_sha1",
    "hmac-sha1",
    "hmac_sha256",
    "hmac-sha256",
    "hmac_sha512",
    "hmac-sha512",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "xxhash64",
    "crc32",
];

fn needs_key(algorithm: &str) -> bool {
    algorithm.starts_with("hmac")
}

fn lit_str(e: Option<&Option<Expr>>) -> Option<&str> {
    match e {
        Some(Some(Expr::Lit(Value::Str(s)))) => Some(s),
        _ => None,
    }
}

/// The schemes `encode` and `decode` know here.
const SCHEMES: &[&str] = &["base64", "base64url", "base64rawurl", "hex"];
/// Schemes of Bento's catalogue this engine does not provide.
const SCHEMES_ELSEWHERE: &[&str] = &["ascii85", "z85"];

/// A literal scheme of `encode`/`decode` is checked while parsing, as Bento does.
pub fn prepare_scheme(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    match lit_str(args.first()) {
        Some(s) if SCHEMES_ELSEWHERE.contains(&s) => Err((
            0,
            format!(
                "encoding scheme {s} is not available in this collector; available: {}",
                SCHEMES.join(", ")
            ),
        )),
        Some(s) if !SCHEMES.contains(&s) => Err((
            0,
            format!(
                "unrecognized encoding type: {s} (available: {})",
                SCHEMES.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// Compile-time checks of `hash` with literal arguments, with Bento's texts.
pub fn prepare_hash(args: &mut [Option<Expr>]) -> Result<(), (usize, String)> {
    let Some(algorithm) = lit_str(args.first()) else {
        return Ok(());
    };
    if !HASHES.contains(&algorithm) {
        return Err((0, format!("unrecognized hash type: {algorithm}")));
    }
    let key_missing = match args.get(1) {
        None | Some(None) => true,
        Some(Some(Expr::Lit(Value::Str(k)))) => k.is_empty(),
        Some(Some(_)) => false,
    };
    if needs_key(algorithm) && key_missing {
        return Err((
            0,
            format!("hash algorithm {algorithm} requires a key argument"),
        ));
    }
    if let Some(p) = lit_str(args.get(2)) {
        if algorithm == "crc32" && crc32_poly(p).is_none() {
            return Err((2, format!("unsupported crc32 hash key {p:?}")));
        }
    }
    Ok(())
}

/// Reflected CRC-32 polynomials Go's `hash/crc32` names.
fn crc32_poly(name: &str) -> Option<u32> {
    match name {
        "IEEE" => Some(0xEDB8_8320),
        "Castagnoli" => Some(0x82F6_3B78),
        "Koopman" => Some(0xEB31_D82E),
        _ => None,
    }
}

fn crc32(poly: u32, data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ poly
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn digest(algorithm: &str, key: &[u8], poly: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    use ring::{digest as d, hmac};
    let mac = |alg: hmac::Algorithm| -> Result<Vec<u8>, String> {
        if key.is_empty() {
            return Err(format!(
                "hash algorithm {algorithm} requires a key argument"
            ));
        }
        Ok(hmac::sign(&hmac::Key::new(alg, key), data)
            .as_ref()
            .to_vec())
    };
    Ok(match algorithm {
        "hmac_sha1" | "hmac-sha1" => mac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY)?,
        "hmac_sha256" | "hmac-sha256" => mac(hmac::HMAC_SHA256)?,
        "hmac_sha512" | "hmac-sha512" => mac(hmac::HMAC_SHA512)?,
        "md5" => {
            use md5::Digest;
            md5::Md5::digest(data).to_vec()
        }
        "sha1" => d::digest(&d::SHA1_FOR_LEGACY_USE_ONLY, data)
            .as_ref()
            .to_vec(),
        "sha256" => d::digest(&d::SHA256, data).as_ref().to_vec(),
        "sha512" => d::digest(&d::SHA512, data).as_ref().to_vec(),
        // Bento returns the decimal digits of the 64-bit hash.
        "xxhash64" => xxhash_rust::xxh64::xxh64(data, 0).to_string().into_bytes(),
        "crc32" => {
            let p =
                crc32_poly(poly).ok_or_else(|| format!("unsupported crc32 hash key {poly:?}"))?;
            crc32(p, data).to_be_bytes().to_vec()
        }
        other => return Err(format!("unrecognized hash type: {other}")),
    })
}

/// `hash(algorithm, key, polynomial)`: the digest as bytes (`.encode("hex")` to print it).
pub fn hash<'a>(cx: &Cx<'a, '_>, v: Val<'a>, args: Args<'a>) -> R<'a> {
    let data = raw(&v)?;
    let algorithm = arg_str(cx, args, 0, "algorithm")?.unwrap_or_default();
    let key = arg_str(cx, args, 1, "key")?.unwrap_or_default();
    let poly = arg_str(cx, args, 2, "polynomial")?.unwrap_or_else(|| "IEEE".into());
    digest(&algorithm, key.as_bytes(), &poly, data)
        .map(|b| Cow::Owned(Value::Bytes(b)))
        .map_err(Fail::msg)
}
