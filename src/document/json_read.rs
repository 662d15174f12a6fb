//! JSON read: a payload straight from simd-json's tape into a [`Value`], numbers kept as
//! written where their text differs from how they print.

#[cfg(test)]
use super::json_write::write_shortest;
use super::json_write::{format_float_g, write_float};
use super::Value;

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
        match self.parse_tape(raw) {
            Ok(v) => Ok(v),
            Err(e) => self.parse_failed(e, raw),
        }
    }

    /// A document simd-json refused. Go's `encoding/json` (Bento's) reads a `\u` escape of a
    /// lone UTF-16 surrogate as U+FFFD where simd-json fails: such escapes are rewritten to
    /// `\ufffd` (the same length, so number texts and error offsets stay where they were) in
    /// a copy that is parsed again. Only failed parses get here; valid documents never pay.
    #[cold]
    #[inline(never)]
    fn parse_failed(&mut self, e: simd_json::Error, raw: &[u8]) -> Result<Value, String> {
        if matches!(e.error(), simd_json::ErrorType::InvalidUnicodeCodepoint) {
            if let Some(fixed) = replace_lone_surrogates(raw) {
                return self.parse_tape(&fixed).map_err(|e| parse_error(e, &fixed));
            }
        }
        Err(parse_error(e, raw))
    }

    fn parse_tape(&mut self, raw: &[u8]) -> Result<Value, simd_json::Error> {
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
        result
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
/// - plain decimal, at most 15 digits, no trailing zero in the fraction, in [1e-4, 1e6) (`12.5`):
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
            // Both print it in this range (`.string()` switches to an exponent outside it).
            if digits <= 15 && (1e-4..1e6).contains(&f.abs()) {
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

impl Value {
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
    json_error(e, buf)
}

fn json_error(e: simd_json::Error, buf: &[u8]) -> String {
    use simd_json::ErrorType as E;
    let mut at = e.index();
    let what = match e.error() {
        E::DepthLimitExceeded => {
            return format!("nested deeper than {MAX_JSON_DEPTH} levels (at byte {at})")
        }
        E::InvalidUtf8 => "invalid UTF-8".to_string(),
        E::Eof => return "unexpected end of input (empty or truncated)".to_string(),
        E::TrailingData => "trailing data after the document".to_string(),
        E::InvalidNumber | E::InvalidExponent => "invalid number".to_string(),
        E::InvalidEscape | E::InvalidUnicodeEscape | E::InvalidUnicodeCodepoint => {
            // simd-json's vectorised string parsers give the offset inside the string, not
            // in the document: the escape is found here instead.
            if let Some(bad) = first_bad_escape(buf) {
                at = bad;
            }
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

/// A `\uXXXX` escape at `at`: its code unit, if the four digits are hex.
fn u_escape(buf: &[u8], at: usize) -> Option<u32> {
    let digits = buf.get(at..at + 6)?;
    if digits[0] != b'\\' || digits[1] != b'u' {
        return None;
    }
    let text = std::str::from_utf8(&digits[2..]).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

const HIGH_SURROGATES: std::ops::Range<u32> = 0xD800..0xDC00;
const LOW_SURROGATES: std::ops::Range<u32> = 0xDC00..0xE000;

/// What the escape starting at `buf[at] == '\\'` is.
enum Escape {
    /// Valid (a surrogate pair included), this many bytes long.
    Valid(usize),
    /// A `\uXXXX` of a UTF-16 surrogate without its other half.
    LoneSurrogate,
    /// Not a JSON escape.
    Invalid,
}

fn escape_at(buf: &[u8], at: usize) -> Escape {
    match buf.get(at + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Escape::Valid(2),
        Some(b'u') => match u_escape(buf, at) {
            None => Escape::Invalid,
            Some(hi) if HIGH_SURROGATES.contains(&hi) => match u_escape(buf, at + 6) {
                Some(lo) if LOW_SURROGATES.contains(&lo) => Escape::Valid(12),
                _ => Escape::LoneSurrogate,
            },
            Some(lo) if LOW_SURROGATES.contains(&lo) => Escape::LoneSurrogate,
            Some(_) => Escape::Valid(6),
        },
        _ => Escape::Invalid,
    }
}

/// `buf` with each escape of a lone surrogate replaced by `\ufffd`, as Go's `encoding/json`
/// decodes it (a high surrogate not followed by a `\u` low one, or a low one alone); `None`
/// when it has none. Escapes are only read, left to right, in pairs `\x`, so an escaped
/// backslash (`\\ud800`) is not taken for one; outside strings a JSON document has no
/// backslash, and one there stays a syntax error.
fn replace_lone_surrogates(buf: &[u8]) -> Option<Vec<u8>> {
    let mut fixed: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(off) = buf
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\\'))
    {
        i += off;
        match escape_at(buf, i) {
            Escape::Valid(n) => i += n,
            Escape::LoneSurrogate => {
                let copy = fixed.get_or_insert_with(|| buf.to_vec());
                if let Some(escape) = copy.get_mut(i..i + 6) {
                    escape.copy_from_slice(b"\\ufffd");
                }
                i += 6;
            }
            Escape::Invalid => i += 2,
        }
    }
    fixed
}

/// Byte offset of the first escape that is not valid JSON (lone surrogates count as valid,
/// see [`replace_lone_surrogates`]).
fn first_bad_escape(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\\'))
    {
        i += off;
        match escape_at(buf, i) {
            Escape::Valid(n) => i += n,
            Escape::LoneSurrogate => i += 6,
            Escape::Invalid => return Some(i),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_types_and_last_duplicate_key() {
        let mut buf =
            br#"{"a":1,"b":[true,null,2.5,"x\n"],"a":-3,"u":18446744073709551615,"o":{}}"#.to_vec();
        let v = Value::from_json_slice(&mut buf).expect("valid");
        assert_eq!(
            v.to_json_string(),
            r#"{"a":-3,"b":[true,null,2.5,"x\n"],"o":{},"u":18446744073709551615}"#
        );
        let mut bad = b"{\"a\":".to_vec();
        assert!(Value::from_json_slice(&mut bad).is_err());
    }

    fn parse(json: &str) -> Result<Value, String> {
        Value::from_json_bytes(json.as_bytes())
    }

    fn string_of(json: &str) -> String {
        match parse(json) {
            Ok(Value::Object(o)) => match o.get("a") {
                Some(Value::Str(s)) => s.clone(),
                other => panic!("{json}: `a` is {other:?}"),
            },
            other => panic!("{json}: {other:?}"),
        }
    }

    /// Go's `encoding/json` (what Bento parses payloads with) reads a `\u` escape of a lone
    /// UTF-16 surrogate as U+FFFD; simd-json refuses the document. They are read as Go does,
    /// pairs still decode, and what follows the surrogate is read as usual.
    #[test]
    fn lone_surrogate_escapes_read_as_replacement_characters() {
        let long = "x".repeat(40); // past one 32-byte block of the vectorised string parser
        for (json, want) in [
            (r#"{"a":"\ud800"}"#.to_string(), "\u{FFFD}".to_string()),
            (r#"{"a":"\udc00"}"#.into(), "\u{FFFD}".into()),
            (r#"{"a":"\uDBFF"}"#.into(), "\u{FFFD}".into()),
            (r#"{"a":"\ud800x"}"#.into(), "\u{FFFD}x".into()),
            (r#"{"a":"\ud800\u0041"}"#.into(), "\u{FFFD}A".into()),
            (r#"{"a":"x\ud800"}"#.into(), "x\u{FFFD}".into()),
            (r#"{"a":"\ud800\n"}"#.into(), "\u{FFFD}\n".into()),
            (r#"{"a":"\udc00\ud800"}"#.into(), "\u{FFFD}\u{FFFD}".into()),
            (
                r#"{"a":"\ud800\ud800\udc00"}"#.into(),
                "\u{FFFD}\u{10000}".into(),
            ),
            (
                r#"{"a":"\ud83d\ude00\ud800"}"#.into(),
                "\u{1F600}\u{FFFD}".into(),
            ),
            (
                format!(r#"{{"a":"{long}\ud800{long}"}}"#),
                format!("{long}\u{FFFD}{long}"),
            ),
            // An escaped backslash before `ud800` is no escape of a surrogate.
            (r#"{"a":"\\ud800"}"#.into(), r"\ud800".into()),
            (r#"{"a":"\\\ud800"}"#.into(), "\\\u{FFFD}".into()),
        ] {
            assert_eq!(string_of(&json), want, "{json}");
        }
        // Well-formed pairs as before.
        assert_eq!(string_of(r#"{"a":"\ud83d\ude00"}"#), "\u{1F600}");
        assert_eq!(string_of(r#"{"a":"\uD800\uDC00"}"#), "\u{10000}");
        // In keys too, and the rest of the document (numbers kept as written) is unchanged.
        let v = parse(r#"{"k\udfff":[1.50,"\ud800",-0.0,2],"n":1e3}"#).expect("parses");
        assert_eq!(
            v.to_json_string(),
            "{\"k\u{FFFD}\":[1.50,\"\u{FFFD}\",-0.0,2],\"n\":1e3}"
        );
    }

    /// A surrogate being repaired hides no other error, and escape errors give the offset of
    /// the escape in the document (simd-json's vectorised parsers gave it within the string).
    #[test]
    fn errors_around_surrogates_keep_their_place() {
        for (json, want) in [
            // After a lone surrogate: a bad escape, a bad `\u`, a syntax error.
            (
                r#"{"a":"\ud800\q"}"#,
                "invalid escape in a string at byte 12 ('q')",
            ),
            (
                r#"{"a":"\ud800\uZZZZ"}"#,
                "invalid escape in a string at byte 12 ('u')",
            ),
            (
                r#"{"a":"\ud800\u12"}"#,
                "invalid escape in a string at byte 12",
            ),
            // Before one.
            (
                r#"{"a":"abcdef\q\ud800"}"#,
                "invalid escape in a string at byte 12 ('q')",
            ),
            // Without one, deep in the document.
            (
                r#"{"a":1,"bb":"0123456789\x"}"#,
                "invalid escape in a string at byte 23 ('x')",
            ),
            (
                r#"{"a":1,"bb":"0123456789\u00g0"}"#,
                "invalid escape in a string at byte 23 ('u')",
            ),
        ] {
            let err = parse(json).expect_err(json);
            assert!(err.contains(want), "{json}: {err}");
        }
        // Structural errors after a lone surrogate are those of the same document with a
        // plain escape instead.
        for json in [
            r#"{"a":"\ud800" "b":1}"#,
            r#"{"a":"\ud800""#,
            r#"{"a":"\ud800",}"#,
            r#"["\ud800"]]"#,
            r#"{"a":"\ud800","b":1e999}"#,
        ] {
            let plain = json.replace(r"\ud800", r"\u0041");
            assert_eq!(
                parse(json).expect_err(json),
                parse(&plain).expect_err(&plain)
            );
        }
        // Invalid UTF-8 is still found where it is.
        let err = Value::from_json_bytes(b"{\"a\":\"\\ud800\xff\"}").expect_err("bad UTF-8");
        assert_eq!(err, "invalid UTF-8 at byte 12");
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
        // `.string()` of -0.000001 is Go's `-1e-06`, of 1234567.5 `1.2345675e+06`.
        for t in [
            "0.10",
            "1.0",
            "1e3",
            "1E+21",
            "-0.0",
            "2.50e-3",
            "-0.000001",
            "1234567.5",
        ] {
            let f: f64 = t.parse().expect("decimal");
            assert!(!prints_as_written(f, t), "{t}");
        }
        for t in ["0.1", "12.5", "1234.56", "-0.0001", "1e+21"] {
            let f: f64 = t.parse().expect("decimal");
            assert!(prints_as_written(f, t), "{t}");
        }
    }
}
