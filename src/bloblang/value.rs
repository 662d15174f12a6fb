//! The document model every pipeline stage shares.
//!
//! A message payload is parsed once (simd-json) into a [`Value`]; Bloblang mappings read and
//! build `Value`s; the output validates and encodes the final `Value` into JSON bytes once.
//!
//! Contract used outside `bloblang` (the output's event encoder, the stdout output, tests):
//! `Value::{Null, Bool, Int, Float, Str, Array, Object}`, [`Map`] with `get`, `iter`, `len`,
//! `insert`, `remove`, and [`Value::write_json`] / [`Value::from_json_slice`] / [`Value::kind`].
//! Other variants may be added; those listed stay. One has been: [`Value::RawNumber`], a
//! number from the input kept with its text (`0.10`); `write_json` prints that text, and
//! [`Value::as_f64`] reads any number. [`Value::from_json_bytes`] parses without a `&mut`.

use std::fmt;

/// simd-json's reusable parse state, one per thread (see [`Value::from_json_bytes`]).
struct ParserState {
    buffers: simd_json::Buffers,
    /// Empty between parses; `reset` gives it the next input's lifetime.
    tape: Option<simd_json::Tape<'static>>,
    /// The padded copy simd-json parses (and unescapes strings in). The input itself stays
    /// untouched, so number literals can be read back from it.
    scratch: Vec<u8>,
}

impl Default for ParserState {
    fn default() -> Self {
        ParserState {
            buffers: simd_json::Buffers::new(4096),
            tape: None,
            scratch: Vec::new(),
        }
    }
}

/// Buffers grown past this by one huge document are dropped after it, so a thread keeps at
/// most this much parser memory between messages.
const KEEP_PARSER_BYTES: usize = 1 << 20;

impl ParserState {
    fn parse(&mut self, raw: &[u8]) -> Result<Value, String> {
        let big = raw.len() > KEEP_PARSER_BYTES;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(raw);
        scratch.resize(raw.len() + simd_json::INPUT_PADDING, b' ');
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(|| simd_json::Tape(Vec::new()))
            .reset();
        let result = match simd_json::fill_tape_padded(
            &mut scratch,
            raw.len(),
            &mut self.buffers,
            &mut tape,
        ) {
            Ok(()) => {
                let mut b = TapeReader {
                    nodes: &tape.0,
                    at: 0,
                    numbers: 0,
                    structural: 0,
                    literals: Literals {
                        raw,
                        structurals: self.buffers.structural_indexes(),
                        next: 0,
                        seen: 0,
                    },
                };
                Ok(b.value())
            }
            Err(e) => Err(e),
        };
        // Resetting the tape ends its borrow of `scratch`.
        let tape = tape.reset();
        if big {
            *self = ParserState::default();
        } else {
            self.tape = Some(tape);
            self.scratch = scratch;
        }
        result.map_err(|e| parse_error(e, raw))
    }
}

/// Builds a [`Value`] from simd-json's tape (document order).
struct TapeReader<'t, 'de, 'r> {
    nodes: &'t [simd_json::Node<'de>],
    at: usize,
    /// Number nodes read so far: the next number is the `numbers`-th of the document.
    numbers: usize,
    /// The structural (stage 1 index) of the next node: simd-json marks `{ } [ ] : ,` and the
    /// first byte of every scalar, so walking the tape in order counts them exactly, and a
    /// number's text starts at its structural.
    structural: usize,
    literals: Literals<'r>,
}

impl TapeReader<'_, '_, '_> {
    fn value(&mut self) -> Value {
        use simd_json::{Node as N, StaticNode as S};
        let Some(node) = self.nodes.get(self.at) else {
            return Value::Null;
        };
        self.at += 1;
        let here = self.structural;
        self.structural += 1;
        match *node {
            N::Static(S::Null) => Value::Null,
            N::Static(S::Bool(b)) => Value::Bool(b),
            // `-0` is read as 0: its text tells (a lookup only ever made for a zero).
            N::Static(S::I64(0)) => {
                let k = self.numbers;
                self.numbers += 1;
                match self.number_text(here, k) {
                    Some(text) if text.starts_with('-') => Value::RawNumber(-0.0, text.into()),
                    _ => Value::Int(0),
                }
            }
            N::Static(S::I64(i)) => {
                self.numbers += 1;
                Value::Int(i)
            }
            N::Static(S::U64(u)) => match i64::try_from(u) {
                Ok(i) => {
                    self.numbers += 1;
                    Value::Int(i)
                }
                Err(_) => self.float(u as f64, here),
            },
            N::Static(S::F64(f)) => self.float(f, here),
            N::String(s) => Value::Str(s.to_owned()),
            N::Array { len, .. } => {
                let mut a = Vec::with_capacity(len);
                for i in 0..len {
                    self.structural += usize::from(i > 0); // `,`
                    a.push(self.value());
                }
                self.structural += 1; // `]`
                Value::Array(a)
            }
            N::Object { len, .. } => {
                // Collected, then sorted once (a duplicate key keeps its last value, as
                // repeated inserts would).
                let entries: Vec<(String, Value)> = (0..len)
                    .map(|i| {
                        let key = match self.nodes.get(self.at) {
                            Some(N::String(k)) => *k,
                            _ => "",
                        };
                        self.at += 1;
                        // `,` before all but the first, the key, `:`.
                        self.structural += usize::from(i > 0) + 2;
                        (key.to_owned(), self.value())
                    })
                    .collect();
                self.structural += 1; // `}`
                Value::Object(entries.into_iter().collect())
            }
        }
    }

    /// A non-integer number (or one beyond `i64`) whose structural is `here`: a
    /// [`Value::RawNumber`] when the input wrote it differently from how this engine prints
    /// `f`, else a plain float.
    fn float(&mut self, f: f64, here: usize) -> Value {
        let k = self.numbers;
        self.numbers += 1;
        match self.number_text(here, k) {
            Some(text) if !prints_as_written(f, text) => Value::RawNumber(f, text.into()),
            _ => Value::Float(f),
        }
    }

    /// The text of the `k`-th number of the document, expected at structural `here`. Should
    /// the count ever not land on a number, the structurals are scanned for it instead.
    fn number_text(&mut self, here: usize, k: usize) -> Option<&'_ str> {
        let found = self.literals.at(here);
        // Test builds check the count against a scan for every number parsed (the parser's
        // unit, conformance and fuzz tests).
        debug_assert_eq!(
            found,
            Literals {
                next: 0,
                seen: 0,
                ..self.literals
            }
            .nth(k),
            "structural count off at number {k}"
        );
        match found {
            Some(text) => Some(text),
            None => self.literals.nth(k),
        }
    }
}

/// The text of the input's numbers, found lazily in document order: simd-json's stage 1
/// marks the first byte of every scalar, and outside strings a scalar starting with `-` or a
/// digit is a number. Only documents with a float pay for this, and only up to their last one.
#[derive(Clone, Copy)]
struct Literals<'r> {
    raw: &'r [u8],
    structurals: &'r [u32],
    /// Next structural index to look at.
    next: usize,
    /// Numbers passed so far.
    seen: usize,
}

impl<'r> Literals<'r> {
    /// The number whose first byte is the `i`-th structural, if one starts there.
    fn at(&self, i: usize) -> Option<&'r str> {
        let at = *self.structurals.get(i)? as usize;
        let rest = self.raw.get(at..)?;
        match rest.first() {
            Some(c) if *c == b'-' || c.is_ascii_digit() => Some(number_prefix(rest)),
            _ => None,
        }
    }

    /// The `k`-th number of the document (counting from 0); `k` never goes backwards.
    fn nth(&mut self, k: usize) -> Option<&'r str> {
        while let Some(&at) = self.structurals.get(self.next) {
            self.next += 1;
            let at = at as usize;
            let c = *self.raw.get(at)?;
            if c != b'-' && !c.is_ascii_digit() {
                continue;
            }
            let n = self.seen;
            self.seen += 1;
            if n < k {
                continue;
            }
            return Some(number_prefix(self.raw.get(at..)?));
        }
        None
    }
}

/// The number literal at the start of `rest` (its characters are all ASCII).
fn number_prefix(rest: &[u8]) -> &str {
    let len = rest
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..len]).unwrap_or("")
}

/// Whether both [`Value::to_text`] and [`Value::write_json`] print `f` exactly as `text`.
/// Decided from the text alone in the common cases, without formatting `f`:
/// - plain decimal, at most 15 digits, no trailing zero in the fraction, not tiny (`12.5`):
///   yes — a decimal of at most 15 significant digits is the shortest round-trip form of the
///   f64 it parses to, which is what both print;
/// - a fraction ending in `0` (`0.10`, `1.0`), an `E`, or an exponent without a sign (`1e3`):
///   no — neither ever prints those.
fn prints_as_written(f: f64, text: &str) -> bool {
    let b = text.as_bytes();
    let mut digits = 0;
    let mut point = false;
    let mut exp_at = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' => point = true,
            b'e' | b'E' => {
                exp_at = Some(i);
                break;
            }
            _ => {}
        }
    }
    match exp_at {
        None if point => {
            if b.last() == Some(&b'0') {
                return false;
            }
            if digits <= 15 && f.abs() >= 1e-6 {
                return true;
            }
        }
        None => {}
        Some(i) if b[i] == b'E' || !matches!(b.get(i + 1), Some(b'+' | b'-')) => return false,
        Some(_) => {}
    }
    let mut out = Vec::new();
    write_float(f, &mut out);
    out == b && format_float_g(f) == text
}

thread_local! {
    static PARSER: std::cell::RefCell<ParserState> = std::cell::RefCell::new(ParserState::default());
}

/// Object map. Keys are kept sorted, which is also how Bento (Go's `encoding/json`) prints them.
pub use super::map::Map;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A number read from JSON input whose text there differs from how this engine prints
    /// its value (`0.10`, `1e3`, `-0.0`, an integer beyond `i64`). It prints as written
    /// (`.string()`, encoded JSON: billing values are never reformatted), as Bento's
    /// `json.Number` does, and is the number `.0` everywhere else (equality, arithmetic,
    /// comparison, `.number()`, `.type()`).
    RawNumber(f64, Box<str>),
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
            Value::Int(_) | Value::Float(_) | Value::RawNumber(..) => "number",
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

    /// The value of a number (`Int`, `Float` or `RawNumber`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) | Value::RawNumber(f, _) => Some(*f),
            _ => None,
        }
    }

    /// Every [`Value::RawNumber`] inside, as the plain float it stands for.
    pub fn forget_number_text(&mut self) {
        match self {
            Value::RawNumber(f, _) => *self = Value::Float(*f),
            Value::Array(a) => a.iter_mut().for_each(Value::forget_number_text),
            Value::Object(m) => m.values_mut().for_each(Value::forget_number_text),
            _ => {}
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Parse a JSON document. The buffer is left as it is (kept `&mut` for callers written
    /// when simd-json used it as scratch space); see [`Value::from_json_bytes`].
    pub fn from_json_slice(buf: &mut [u8]) -> Result<Value, String> {
        Value::from_json_bytes(buf)
    }

    /// Parse a JSON document.
    ///
    /// Nesting is bounded by [`MAX_JSON_DEPTH`] (simd-json's limit, enforced while parsing,
    /// before any `Value` is built): every later step on a document (conversion, mapping,
    /// encoding, `Drop`) recurses once per level, so a payload 10 000 levels deep is refused
    /// here with a clear error instead of overflowing a processor thread's stack.
    ///
    /// Straight from simd-json's tape into [`Value`], with the parser's buffers and the tape
    /// kept per thread: one allocation per string and per map node, nothing else. (Going
    /// through `simd_json::OwnedValue` built a hash map per object only to move it into a
    /// `BTreeMap`, and allocated fresh parser buffers on every call.)
    ///
    /// Numbers keep their text where it matters: one written differently from how this
    /// engine prints its value (`0.10`, `1e3`, `-0.0`, an integer beyond `i64`) becomes a
    /// [`Value::RawNumber`], as Bento keeps input numbers as Go `json.Number`s. Documents
    /// without such numbers cost nothing extra.
    pub fn from_json_bytes(raw: &[u8]) -> Result<Value, String> {
        PARSER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut st) => st.parse(raw),
            // Re-entered on this thread (cannot happen today): parse with fresh buffers.
            Err(_) => ParserState::default().parse(raw),
        })
    }

    /// Append the compact JSON encoding of this value to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Value::Float(f) => write_float(*f, out),
            Value::RawNumber(_, text) => out.extend_from_slice(text.as_bytes()),
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
            // `itoa`: no formatting machinery, one exact-size allocation (`.string()` of
            // integer properties is on the seed mapping's hot path).
            Value::Int(i) => itoa::Buffer::new().format(*i).to_owned(),
            Value::Float(f) => format_float_g(*f),
            Value::RawNumber(_, text) => text.to_string(),
            Value::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
            Value::Null => "null".to_owned(),
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
/// A parse failure in words: simd-json validates UTF-8 in bulk and reports byte 0, so the real
/// spot is found here (the buffer is untouched when validation fails).
fn parse_error(e: simd_json::Error, buf: &[u8]) -> String {
    if matches!(e.error(), simd_json::ErrorType::InvalidUtf8) {
        let at = std::str::from_utf8(buf)
            .err()
            .map_or(0, |u| u.valid_up_to());
        return format!("invalid UTF-8 at byte {at}");
    }
    json_error(e)
}

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
    // The common case, without formatting twice: `1e-7 <= |f| < 1e21` is exactly the range
    // where the shortest form's decimal exponent is in -7..21.
    let a = f.abs();
    if (1e-7..1e21).contains(&a) {
        return match shortest(f, &mut ryu::Buffer::new()) {
            Some(s) => s.to_owned(),
            None => f.to_string(),
        };
    }
    format_float_by_exponent(f)
}

/// `f` as Rust's `Display` prints it (shortest round-trip digits, never an exponent), via
/// `ryu` when its form is the same (a quarter of the cost; `.string()` of a float property is
/// on the hot path of the docs' seed mapping), else `None`. `f` is finite.
fn shortest(f: f64, buf: &mut ryu::Buffer) -> Option<&str> {
    let s = buf.format_finite(f);
    // Up to 15 significant digits the shortest form is the only one (two such decimals are
    // never the same double), so both print it; at 16–17 they may break a tie differently.
    // Exponent forms (very large or small magnitudes) are where `Display` writes every digit.
    let significant = s
        .bytes()
        .skip_while(|&c| matches!(c, b'-' | b'0' | b'.'))
        .filter(u8::is_ascii_digit)
        .count();
    // ryu writes integral values as `4.0`, `Display` as `4`.
    (!s.contains('e') && significant <= 15).then(|| s.strip_suffix(".0").unwrap_or(s))
}

/// Append `f` as `Display` prints it (see [`shortest`]).
fn write_shortest(f: f64, out: &mut Vec<u8>) {
    match shortest(f, &mut ryu::Buffer::new()) {
        Some(s) => out.extend_from_slice(s.as_bytes()),
        None => out.extend_from_slice(f.to_string().as_bytes()),
    }
}

/// The general path of [`format_float_g`]: format with an exponent, then choose the form by it.
fn format_float_by_exponent(f: f64) -> String {
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
        write_shortest(f, out);
    }
}

/// JSON string escaping (RFC 8259), with `<`, `>` and `&` left as they are.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Nearly every string an event carries is plain: one check, one copy.
    let Some(first) = find_escape(bytes) else {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    };
    // Runs of plain bytes are copied whole (this loop was the encoder's biggest cost).
    let (mut start, mut next) = (0, Some(first));
    while let Some(i) = next {
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        start = i + 1;
        next = find_escape(&bytes[start..]).map(|off| start + off);
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A word of 8 string bytes holds one a JSON string must escape: a byte below 0x20, `"` or
/// `\` (SWAR: each is the classic "has a zero byte" test on the word, or on the word XOR the
/// byte repeated).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let q = w ^ (ONES * b'"' as u64);
    let quote = q.wrapping_sub(ONES) & !q;
    let bs = w ^ (ONES * b'\\' as u64);
    let backslash = bs.wrapping_sub(ONES) & !bs;
    (below_space | quote | backslash) & HIGH != 0
}

/// Position of the first byte a JSON string must escape: eight bytes per step while no word
/// has one, the last partial word padded with spaces (which never need escaping), so a plain
/// string (nearly every string an event carries) is never looked at byte by byte; then the
/// table for the word that has one.
#[inline]
fn find_escape(bytes: &[u8]) -> Option<usize> {
    let first_from = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| NEEDS_ESCAPE[b as usize])
            .map(|p| from + p)
    };
    let mut words = bytes.chunks_exact(8);
    for (n, w) in (&mut words).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        if word_needs_escape(u64::from_le_bytes(word)) {
            return first_from(n * 8);
        }
    }
    let tail = words.remainder();
    let mut word = [b' '; 8];
    word[..tail.len()].copy_from_slice(tail);
    if word_needs_escape(u64::from_le_bytes(word)) {
        first_from(bytes.len() - tail.len())
    } else {
        None
    }
}

/// Bytes a JSON string must escape: control characters, `"` and `\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_string())
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;

    fn json(v: &Value) -> String {
        let mut out = Vec::new();
        v.write_json(&mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn every_string_round_trips_whatever_the_escape_position() {
        // Each special byte at every offset around the 8-byte steps of `find_escape`.
        let specials = [
            '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{8}', 'é', '€', '\u{7f}',
        ];
        for len in 0..20 {
            for at in 0..=len {
                for &c in &specials {
                    let mut s: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
                    s.insert(at.min(s.len()), c);
                    let mut out = Vec::new();
                    write_json_str(&s, &mut out);
                    let back: String = serde_json::from_slice(&out).unwrap_or_else(|e| {
                        panic!("{s:?} -> {:?}: {e}", String::from_utf8_lossy(&out))
                    });
                    assert_eq!(back, s);
                }
            }
        }
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut out = Vec::new();
        write_json_str(&all, &mut out);
        assert_eq!(serde_json::from_slice::<String>(&out).ok(), Some(all));
    }

    #[test]
    fn the_word_check_agrees_with_the_table_for_every_byte_at_every_offset() {
        for len in 1..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(
                        find_escape(&bytes),
                        NEEDS_ESCAPE[b as usize].then_some(at),
                        "byte {b:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert_eq!(find_escape(b""), None);
    }

    #[test]
    fn float_text_is_the_same_on_both_sides_of_the_fast_path() {
        // The general path (format with an exponent, switch on it) is the reference.
        let slow = format_float_by_exponent;
        let mut cases = vec![1e-7, 1e21, 1e20, 0.1, 1.5, 1234.56, 1e-8, 123e-9];
        cases.push(f64::from_bits(1e-7f64.to_bits() - 1));
        cases.push(f64::from_bits(1e-7f64.to_bits() + 1));
        cases.push(f64::from_bits(1e21f64.to_bits() - 1));
        cases.push(f64::from_bits(1e21f64.to_bits() + 1));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() && f != 0.0 {
                cases.push(f);
            }
        }
        for f in cases {
            for v in [f, -f] {
                assert_eq!(format_float_g(v), slow(v), "{v:e}");
            }
        }
    }

    #[test]
    fn numbers_print_as_before() {
        for i in [0, 7, -7, 10, 1_000_000, i64::MAX, i64::MIN] {
            assert_eq!(json(&Value::Int(i)), i.to_string());
        }
        for (f, want) in [
            (4.0, "4"),
            (-2.0, "-2"),
            (1234.56, "1234.56"),
            // From 1e18 up, exponent form: digits would read back as an out-of-range integer.
            (1e20, "1e+20"),
            (0.1, "0.1"),
        ] {
            assert_eq!(json(&Value::Float(f)), want);
        }
        assert_eq!(json(&Value::Float(f64::NAN)), "null");
    }

    /// The shortcut in `prints_as_written` agrees with formatting for real: random decimals
    /// (up to 17 digits, with and without trailing zeros and exponents) against the slow check.
    #[test]
    fn shortest_form_is_display() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let check = |f: f64| {
            if f.is_finite() {
                let mut out = Vec::new();
                write_shortest(f, &mut out);
                assert_eq!(
                    String::from_utf8(out).expect("ascii"),
                    f.to_string(),
                    "{f:e}"
                );
            }
        };
        for f in [
            0.0, -0.0, 4.0, -4.0, 0.1, 1234.56, 1e-7, 1e-5, 1e15, 1e16, 1e20, 1e21, 5e-324,
        ] {
            check(f);
        }
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(f64::from_bits(x)); // any bit pattern: every magnitude
            check((x % 10_000_000) as f64 / 100.0); // prices and durations
        }
    }

    #[test]
    fn prints_as_written_shortcut_matches_formatting() {
        let slow = |f: f64, t: &str| {
            let mut out = Vec::new();
            write_float(f, &mut out);
            out == t.as_bytes() && format_float_g(f) == t
        };
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let r = next();
            let int = (r % 1_000_000) as i64 * if r & 1 == 0 { 1 } else { -1 };
            let frac_digits = (next() % 12) as usize;
            let frac = next() % 10u64.pow(frac_digits as u32);
            let mut t = format!("{int}");
            if frac_digits > 0 {
                t.push_str(&format!(".{frac:0frac_digits$}"));
            }
            match next() % 6 {
                0 => t.push_str(&format!("e{}", next() % 30)),
                1 => t.push_str(&format!("e-{}", next() % 30)),
                2 => t.push_str(&format!("e+{}", next() % 30)),
                _ => {}
            }
            let f: f64 = t.parse().expect("decimal");
            assert_eq!(prints_as_written(f, &t), slow(f, &t), "{t}");
        }
        for t in ["0.10", "1.0", "1e3", "1E+21", "-0.0", "2.50e-3"] {
            let f: f64 = t.parse().expect("decimal");
            assert!(!prints_as_written(f, t), "{t}");
        }
        for t in ["0.1", "12.5", "1234.56", "-0.000001", "1e+21"] {
            let f: f64 = t.parse().expect("decimal");
            assert!(prints_as_written(f, t), "{t}");
        }
    }

    #[test]
    fn parse_keeps_types_and_last_duplicate_key() {
        let mut buf =
            br#"{"a":1,"b":[true,null,2.5,"x\n"],"a":-3,"u":18446744073709551615,"o":{}}"#.to_vec();
        let v = Value::from_json_slice(&mut buf).expect("valid");
        assert_eq!(
            json(&v),
            r#"{"a":-3,"b":[true,null,2.5,"x\n"],"o":{},"u":18446744073709551615}"#
        );
        let mut bad = b"{\"a\":".to_vec();
        assert!(Value::from_json_slice(&mut bad).is_err());
    }
}
