//! JSON write: compact and indented encodings of a [`Value`], string escaping, and numbers in
//! the forms Bento prints them.

use crate::document::Value;

impl Value {
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
            // Go's encoding/json writes a byte array as a base64 string, so Bento does (its
            // docs for `content()`, `decode()`, `hash()`: "otherwise it will be base64
            // encoded by default").
            Value::Bytes(b) => {
                use base64::Engine;
                out.push(b'"');
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(b)
                        .as_bytes(),
                );
                out.push(b'"');
            }
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

    /// Compact JSON as Go's `json.Marshal` writes it, which is what Bento's `.string()` of
    /// an object or array gives: `<`, `>`, `&`, U+2028 and U+2029 escaped (`\u003c`, …).
    pub fn to_json_string_escaped(&self) -> String {
        escape_html(&self.to_json_string(), true)
    }

    pub fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        // write_json only emits valid UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// How Bento prints a float as text (`.string()`, interpolation, metadata): Go's
/// `strconv.FormatFloat(f, 'g', -1, 64)`, shortest round-trip digits, in exponent form when
/// the decimal exponent is below -4 or from 6 up (`1.5e+06`, `1e-05`, `4.5e+06`). Numbers read
/// from the input keep their text ([`Value::RawNumber`](crate::document::Value)); this is for
/// computed ones (arithmetic, `.number()`, `parse_json`).
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
    // The exponent of the shortest digits is in -4..6 exactly when the value is in
    // [1e-4, 1e6) (both bounds are their own shortest forms, and rounding keeps the order).
    if (1e-4..1e6).contains(&f.abs()) {
        return match shortest(f, &mut ryu::Buffer::new()) {
            Some(s) => s.to_owned(),
            None => f.to_string(),
        };
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
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
pub(super) fn write_shortest(f: f64, out: &mut Vec<u8>) {
    match shortest(f, &mut ryu::Buffer::new()) {
        Some(s) => out.extend_from_slice(s.as_bytes()),
        None => out.extend_from_slice(f.to_string().as_bytes()),
    }
}

pub(super) fn write_float(f: f64, out: &mut Vec<u8>) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
    } else if f.fract() == 0.0 && f.abs() < 1e15 {
        // Bento prints 4.0 as 4, and -0.0 as -0 (Go keeps the sign).
        if f == 0.0 && f.is_sign_negative() {
            out.push(b'-');
        }
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

/// Escape U+2028 and U+2029 in JSON text, and with `html` also `<`, `>` and `&`, as Go's
/// encoding/json does (they can only occur inside strings there, so it stays the same JSON).
pub fn escape_html(json: &str, html: bool) -> String {
    let special =
        |c: char| matches!(c, '\u{2028}' | '\u{2029}') || (html && matches!(c, '<' | '>' | '&'));
    if !json.contains(special) {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' if html => out.push_str("\\u003c"),
            '>' if html => out.push_str("\\u003e"),
            '&' if html => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
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
    fn float_text_is_gos_shortest_g_format() {
        // strconv.FormatFloat(f, 'g', -1, 64), from Go 1.26.
        for (f, go) in [
            (1234567.5, "1.2345675e+06"),
            (1e6, "1e+06"),
            (999999.5, "999999.5"),
            (100000.0, "100000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (4.5e6, "4.5e+06"),
            (1e21, "1e+21"),
            (1e-7, "1e-07"),
            (1.5e300, "1.5e+300"),
            (123456789012.0, "1.23456789012e+11"),
            (0.1, "0.1"),
            (-2.5e-5, "-2.5e-05"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(format_float_g(f), go, "{f:e}");
        }
    }

    #[test]
    fn float_text_is_the_same_on_both_sides_of_the_fast_path() {
        // The general path (format with an exponent, switch on it) is the reference.
        let slow = |f: f64| {
            let e = format!("{f:e}");
            let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            if (-4..6).contains(&exp) {
                f.to_string()
            } else {
                let sign = if exp < 0 { '-' } else { '+' };
                format!("{mant}e{sign}{:02}", exp.abs())
            }
        };
        let mut cases = vec![1e-4, 1e6, 1e5, 0.1, 1.5, 1234.56, 1e-5, 123e-9];
        for edge in [1e-4f64, 1e6] {
            cases.push(f64::from_bits(edge.to_bits() - 1));
            cases.push(f64::from_bits(edge.to_bits() + 1));
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() && f != 0.0 {
                cases.push(f);
            }
            cases.push((x % 100_000_000) as f64 / 100.0);
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
}
