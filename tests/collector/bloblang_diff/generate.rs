//! Generated cases for the differential check: seeded, bounded mappings over generated JSON
//! documents, built only from constructs and methods both engines document.
//!
//! The document is generated first (as text, so numbers keep the forms a producer writes them
//! in: `0.10`, `1e3`, `-0.0`, integers beyond 64 bits; strings carry escapes, non-ASCII and
//! astral characters), together with a model of it; the mapping then reads paths that exist
//! in the model (and some that do not) and applies methods that fit the type found there, so
//! most cases produce a document rather than the same type error on both sides. A share of
//! ill-typed calls is kept on purpose: both engines must then fail.

use std::fmt::Write as _;

/// SplitMix64: tiny, deterministic, good enough to pick grammar productions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// One generated case: the message and the mapping.
pub struct Generated {
    pub mapping: String,
    pub input: String,
    /// Input metadata as a JSON object's text, if any.
    pub meta: Option<String>,
    pub mutation: bool,
}

/// The model of a generated document: what the mapping generator may read.
#[derive(Clone, Debug)]
enum Node {
    Null,
    Bool(bool),
    /// The number's text as written in the document.
    Num(String),
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

/// What an expression is expected to give (a guess: a method may fail).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    Str,
    Num,
    Bool,
    Null,
    Arr,
    Obj,
    Any,
}

impl Node {
    fn ty(&self) -> Ty {
        match self {
            Node::Null => Ty::Null,
            Node::Bool(_) => Ty::Bool,
            Node::Num(_) => Ty::Num,
            Node::Str(_) => Ty::Str,
            Node::Arr(_) => Ty::Arr,
            Node::Obj(_) => Ty::Obj,
        }
    }
}

/// Numbers as producers write them: the forms "numbers as written" is about, integers at and
/// beyond the 53- and 64-bit limits, and exponents in both cases and signs.
const NUMBERS: &[&str] = &[
    "0",
    "7",
    "-3",
    "42",
    "1500",
    "-0",
    "0.10",
    "1.50",
    "2.5",
    "-0.0",
    "1.0",
    "100.0",
    "1e3",
    "1E3",
    "1e+3",
    "2.50e-3",
    "1.5E-7",
    "0.000001",
    "1e-7",
    "12345.678",
    "3.14159",
    "0.1",
    "6.02e23",
    "1e21",
    "9007199254740993",
    "228930314431312345",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "123456789012345678901234567890",
];

/// Strings: plain, padded, non-ASCII (including case mappings that differ between Unicode
/// implementations), astral, with characters JSON must escape, and texts that look like
/// numbers, booleans and timestamps.
const STRINGS: &[&str] = &[
    "",
    "a",
    "hello",
    "Hello World",
    "  padded  ",
    "héllo",
    "日本語",
    "😀 smile",
    "a\"b",
    "line\nbreak",
    "tab\there",
    "back\\slash",
    "<tag>&amp;",
    "UPPER",
    "snake_case_key",
    "123",
    "1.5",
    "-0.0",
    "true",
    "null",
    "2024-01-15T10:30:00Z",
    "2023-06-01T12:00:00.123456789+02:00",
    "a,b,c",
    "x-y-z",
    "cust_001",
    "api.request",
    "straße",
    "ǅemal",
    "ﬁne",
    "İstanbul",
    "ΣΑΣ",
    "e\u{301}",
    "\u{7f}\u{1}",
    "mañana, señor",
];

/// Object keys of generated documents (unquoted, quoted and non-ASCII path segments).
const KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "id",
    "name",
    "value",
    "amount",
    "tokens",
    "n",
    "items",
    "tags",
    "props",
    "x",
    "y",
    "日付",
    "key with space",
    "Ünï",
    "_u",
    "a.b",
    "CamelCase",
];

/// Metadata keys (inputs set some, mappings read and write these).
const META_KEYS: &[&str] = &["k", "topic", "num", "empty", "ünï"];

/// A string as a JSON literal, escaping some characters JSON does not require escaped (`é`
/// as `\u00e9`, astral characters as surrogate pairs, `/` as `\/`) so both parsers decode
/// escapes.
fn json_str<S: AsRef<str> + ?Sized>(rng: &mut Rng, s: &S) -> String {
    let s = s.as_ref();
    let mut out = String::from("\"");
    let escape_extra = rng.chance(30);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '/' if escape_extra => out.push_str("\\/"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if escape_extra && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn gen_number(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => rng.below(2000).to_string(),
        1 => format!("-{}.{:02}", rng.below(100), rng.below(100)),
        _ => rng.pick(NUMBERS).to_string(),
    }
}

fn gen_node(rng: &mut Rng, depth: usize) -> Node {
    let containers = depth < 3;
    match rng.below(if containers { 10 } else { 7 }) {
        0 => Node::Null,
        1 => Node::Bool(rng.chance(50)),
        2 | 3 => Node::Num(gen_number(rng)),
        4..=6 => Node::Str(rng.pick(STRINGS).to_string()),
        7 | 8 => {
            let n = rng.below(5);
            // Arrays are often of one type (what map_each, sum and join are used on).
            let same = rng.chance(60);
            let first = gen_node(rng, depth + 1);
            let mut items = vec![first.clone()];
            for _ in 1..n.max(1) {
                items.push(if same {
                    same_type(rng, &first, depth + 1)
                } else {
                    gen_node(rng, depth + 1)
                });
            }
            if n == 0 {
                items.clear();
            }
            Node::Arr(items)
        }
        _ => gen_object(rng, depth + 1, 4),
    }
}

fn same_type(rng: &mut Rng, like: &Node, depth: usize) -> Node {
    match like {
        Node::Num(_) => Node::Num(gen_number(rng)),
        Node::Str(_) => Node::Str(rng.pick(STRINGS).to_string()),
        Node::Bool(_) => Node::Bool(rng.chance(50)),
        _ => gen_node(rng, depth),
    }
}

fn gen_object(rng: &mut Rng, depth: usize, max: usize) -> Node {
    let n = rng.below(max + 1);
    let mut fields: Vec<(String, Node)> = Vec::new();
    for _ in 0..n {
        let k = rng.pick(KEYS).to_string();
        if fields.iter().all(|(have, _)| *have != k) {
            let v = gen_node(rng, depth);
            fields.push((k, v));
        }
    }
    Node::Obj(fields)
}

fn write_node(rng: &mut Rng, n: &Node, out: &mut String) {
    let space = |rng: &mut Rng, out: &mut String| {
        if rng.chance(10) {
            out.push(' ');
        }
    };
    match n {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Num(t) => out.push_str(t),
        Node::Str(s) => out.push_str(&json_str(rng, s)),
        Node::Arr(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    space(rng, out);
                }
                write_node(rng, v, out);
            }
            out.push(']');
        }
        Node::Obj(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    space(rng, out);
                }
                out.push_str(&json_str(rng, k));
                out.push(':');
                space(rng, out);
                write_node(rng, v, out);
            }
            out.push('}');
        }
    }
}

/// A Bloblang string literal.
fn lit_str<S: AsRef<str> + ?Sized>(s: &S) -> String {
    let s = s.as_ref();
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A path segment: bare when it is a plain identifier, quoted otherwise.
fn segment(k: &str) -> String {
    let plain = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        k.to_string()
    } else {
        lit_str(k)
    }
}

/// Every path into the document (`this.a.b`, `this.items.0`) with the node there.
fn paths<'a>(n: &'a Node, prefix: String, out: &mut Vec<(String, &'a Node)>) {
    match n {
        Node::Arr(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{prefix}.{i}");
                out.push((p.clone(), v));
                paths(v, p, out);
            }
        }
        Node::Obj(fields) => {
            for (k, v) in fields {
                let p = format!("{prefix}.{}", segment(k));
                out.push((p.clone(), v));
                paths(v, p, out);
            }
        }
        _ => {}
    }
}

struct MappingGen<'a> {
    rng: &'a mut Rng,
    paths: Vec<(String, &'a Node)>,
    /// Variables assigned so far (`let`), with what they hold.
    vars: Vec<(String, Ty)>,
    /// Metadata keys the input has.
    meta_keys: Vec<&'static str>,
    /// Named maps defined so far (each needs its own name).
    maps: usize,
}

impl MappingGen<'_> {
    fn literal(&mut self, ty: Ty) -> String {
        match ty {
            Ty::Str => lit_str(self.rng.pick(STRINGS)),
            Ty::Num => match self.rng.below(5) {
                0 => format!("{}.5", self.rng.below(10)),
                1 => format!("-{}", self.rng.below(10)),
                // A negative literal as written in a mapping is a unary minus.
                _ => self.rng.below(100).to_string(),
            },
            Ty::Bool => self.rng.pick(&["true", "false"]).to_string(),
            Ty::Null => "null".into(),
            Ty::Arr => {
                let n = self.rng.below(4);
                let ty = *self.rng.pick(&[Ty::Num, Ty::Str, Ty::Bool]);
                let items: Vec<String> = (0..n).map(|_| self.literal(ty)).collect();
                format!("[{}]", items.join(", "))
            }
            Ty::Obj => {
                let n = self.rng.below(3);
                let items: Vec<String> = (0..n)
                    .map(|i| {
                        let ty = *self.rng.pick(&[Ty::Num, Ty::Str, Ty::Bool, Ty::Null]);
                        format!("{}: {}", lit_str(["z", "a", "日"][i]), self.literal(ty))
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            Ty::Any => {
                let ty = *self
                    .rng
                    .pick(&[Ty::Str, Ty::Num, Ty::Bool, Ty::Null, Ty::Arr, Ty::Obj]);
                self.literal(ty)
            }
        }
    }

    /// A path of the document of type `want` (any when `Ty::Any`), or none.
    fn path_of(&mut self, want: Ty) -> Option<(String, Ty)> {
        let fits: Vec<(String, Ty)> = self
            .paths
            .iter()
            .filter(|(_, n)| want == Ty::Any || n.ty() == want)
            .map(|(p, n)| (p.clone(), n.ty()))
            .collect();
        (!fits.is_empty()).then(|| self.rng.pick(&fits).clone())
    }

    /// A value to start an expression from.
    fn base(&mut self, depth: usize) -> (String, Ty) {
        match self.rng.below(20) {
            0..=8 => self
                .path_of(Ty::Any)
                .unwrap_or_else(|| ("this".into(), Ty::Any)),
            9 => (
                format!("this.{}", self.rng.pick(&["nope", "a.nope.z", "items.9"])),
                Ty::Null,
            ),
            10 => ("this".into(), Ty::Any),
            11..=13 => {
                let ty = *self
                    .rng
                    .pick(&[Ty::Str, Ty::Num, Ty::Bool, Ty::Arr, Ty::Obj]);
                (self.literal(ty), ty)
            }
            14 if !self.vars.is_empty() => {
                let (v, ty) = self.rng.pick(&self.vars).clone();
                (format!("${v}"), ty)
            }
            15 => {
                let k = *self.rng.pick(META_KEYS);
                let read = if self.rng.chance(50) {
                    format!("@{}", segment(k))
                } else {
                    format!("meta({})", lit_str(k))
                };
                let ty = if self.meta_keys.contains(&k) {
                    Ty::Str
                } else {
                    Ty::Null
                };
                (read, ty)
            }
            16 if depth < 2 => self.binary(depth + 1),
            17 if depth < 2 => self.conditional(depth + 1),
            18 => (
                format!(
                    "{}.format({}, {})",
                    lit_str(self.rng.pick(&["%v-%v", "%s/%s", "[%v] %v", "%v%v"])),
                    self.expr(depth + 1).0,
                    self.expr(depth + 1).0
                ),
                Ty::Str,
            ),
            _ => {
                let ty = *self.rng.pick(&[Ty::Num, Ty::Str, Ty::Arr, Ty::Obj]);
                self.path_of(ty).unwrap_or_else(|| ("this".into(), Ty::Any))
            }
        }
    }

    fn binary(&mut self, depth: usize) -> (String, Ty) {
        let (a, ta) = self.expr(depth);
        match self.rng.below(6) {
            // Arithmetic on numbers (or a number and something else: both must fail).
            0 | 1 => {
                let op = *self.rng.pick(&["+", "-", "*", "/", "%"]);
                let b = if ta == Ty::Num || self.rng.chance(70) {
                    self.numeric()
                } else {
                    self.expr(depth).0
                };
                (format!("({a} {op} {b})"), Ty::Num)
            }
            2 => {
                let op = *self.rng.pick(&["==", "!=", "<", ">", "<=", ">="]);
                let b = if self.rng.chance(60) {
                    self.literal(if ta == Ty::Any { Ty::Num } else { ta })
                } else {
                    self.expr(depth).0
                };
                (format!("({a} {op} {b})"), Ty::Bool)
            }
            3 => {
                let (b, _) = self.expr(depth);
                let op = *self.rng.pick(&["&&", "||"]);
                (
                    format!("({a}.type() == \"string\" {op} {b} != null)"),
                    Ty::Bool,
                )
            }
            4 => {
                // String concatenation.
                let b = self.typed(Ty::Str);
                (format!("({a}.string() + {b})"), Ty::Str)
            }
            _ => (format!("!({a} == null)"), Ty::Bool),
        }
    }

    fn numeric(&mut self) -> String {
        match self.path_of(Ty::Num) {
            Some((p, _)) if self.rng.chance(50) => p,
            _ => self.literal(Ty::Num),
        }
    }

    /// An expression expected to be of type `ty`.
    fn typed(&mut self, ty: Ty) -> String {
        match self.path_of(ty) {
            Some((p, _)) if self.rng.chance(60) => self.methods(p, ty, 1).0,
            _ => self.literal(ty),
        }
    }

    fn conditional(&mut self, depth: usize) -> (String, Ty) {
        let (c, _) = self.condition(depth);
        let (a, ta) = self.expr(depth);
        let (b, _) = self.expr(depth);
        match self.rng.below(3) {
            0 => (format!("if {c} {{ {a} }} else {{ {b} }}"), ta),
            1 => {
                let (subject, ty) = self.expr(depth);
                let l1 = self.literal(if ty == Ty::Any { Ty::Str } else { ty });
                let l2 = self.literal(Ty::Num);
                (
                    format!("match {subject} {{ {l1} => {a}, {l2} => \"num\", _ => {b} }}"),
                    Ty::Any,
                )
            }
            _ => (format!("match {{ {c} => {a}, _ => {b} }}"), Ty::Any),
        }
    }

    fn condition(&mut self, depth: usize) -> (String, Ty) {
        match self.rng.below(4) {
            0 => {
                let n = self.numeric();
                let lit = self.literal(Ty::Num);
                (format!("{n} > {lit}"), Ty::Bool)
            }
            1 => {
                let (e, _) = self.expr(depth + 1);
                (format!("{e}.type() == \"string\""), Ty::Bool)
            }
            2 => match self.path_of(Ty::Bool) {
                Some((p, _)) => (p, Ty::Bool),
                None => ("this.nope == null".into(), Ty::Bool),
            },
            _ => {
                let (e, _) = self.expr(depth + 1);
                (format!("{e} != null"), Ty::Bool)
            }
        }
    }

    fn expr(&mut self, depth: usize) -> (String, Ty) {
        let (e, ty) = self.base(depth);
        let n = if depth > 1 {
            self.rng.below(2)
        } else {
            self.rng.below(3)
        };
        self.methods(e, ty, n)
    }

    /// `e` followed by `n` method calls fitting its (expected) type.
    fn methods(&mut self, mut e: String, mut ty: Ty, n: usize) -> (String, Ty) {
        for _ in 0..n {
            // A literal number or a binary expression needs parentheses before a method.
            if e.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '!')
                || e.starts_with("if ")
                || e.starts_with("match ")
            {
                e = format!("({e})");
            }
            // Now and then, a method that may not fit: both engines must fail alike.
            let as_ty = if self.rng.chance(8) { Ty::Any } else { ty };
            let (call, out) = self.method(as_ty);
            e = format!("{e}.{call}");
            ty = out;
        }
        (e, ty)
    }

    fn method(&mut self, ty: Ty) -> (String, Ty) {
        let r = &mut *self.rng;
        let s = |x: &str| x.to_string();
        match ty {
            Ty::Str => match r.below(34) {
                0 => (s("uppercase()"), Ty::Str),
                1 => (s("lowercase()"), Ty::Str),
                2 => (s("capitalize()"), Ty::Str),
                3 => (s("trim()"), Ty::Str),
                4 => (s("trim(\" ab\")"), Ty::Str),
                5 => (
                    format!("trim_prefix({})", lit_str(r.pick(&["a", "he", "日", "  "]))),
                    Ty::Str,
                ),
                6 => (
                    format!("trim_suffix({})", lit_str(r.pick(&["o", "z", "語", "  "]))),
                    Ty::Str,
                ),
                7 => (
                    format!("has_prefix({})", lit_str(r.pick(&["a", "h", "日", ""]))),
                    Ty::Bool,
                ),
                8 => (
                    format!("has_suffix({})", lit_str(r.pick(&["o", "d", "語"]))),
                    Ty::Bool,
                ),
                9 => (
                    format!(
                        "replace_all({}, {})",
                        lit_str(r.pick(&["l", "a", "", "é", "\""])),
                        lit_str(r.pick(&["L", "", "__", "ü"]))
                    ),
                    Ty::Str,
                ),
                10 => (
                    format!("split({})", lit_str(r.pick(&[",", "", " ", "-", "é"]))),
                    Ty::Arr,
                ),
                11 => (s("length()"), Ty::Num),
                12 => (
                    format!("contains({})", lit_str(r.pick(&["a", "l", "語", ""]))),
                    Ty::Bool,
                ),
                13 => (
                    format!("index_of({})", lit_str(r.pick(&["l", "b", "語", "z"]))),
                    Ty::Num,
                ),
                14 => (
                    format!("slice({}, {})", r.below(3), 2 + r.below(4)),
                    Ty::Str,
                ),
                15 => (format!("slice({})", r.pick(&["1", "-2", "0"])), Ty::Str),
                16 => (format!("repeat({})", r.below(3)), Ty::Str),
                17 => (s("quote()"), Ty::Str),
                18 => (s("unquote()"), Ty::Str),
                19 => (s("escape_html()"), Ty::Str),
                20 => (s("unescape_html()"), Ty::Str),
                21 => (s("escape_url_query()"), Ty::Str),
                22 => (
                    format!(
                        "re_match({})",
                        lit_str(r.pick(&["^[a-z]+$", "[0-9]", "(?i)hello", "\\\\s"]))
                    ),
                    Ty::Bool,
                ),
                23 => (
                    format!(
                        "re_replace_all({}, {})",
                        lit_str(r.pick(&["[aeiou]", "(l+)", "\\\\s+", "^"])),
                        lit_str(r.pick(&["_", "<$1>", "", "${1}x"]))
                    ),
                    Ty::Str,
                ),
                24 => (
                    format!(
                        "re_find_all({})",
                        lit_str(r.pick(&["[0-9]+", "[a-z]", "."]))
                    ),
                    Ty::Arr,
                ),
                25 => (s("number()"), Ty::Num),
                26 => (s("bool()"), Ty::Bool),
                27 => (
                    format!(
                        "encode({})",
                        lit_str(r.pick(&["base64", "hex", "base64url", "base64rawurl"]))
                    ),
                    Ty::Str,
                ),
                28 => (
                    format!(
                        "hash({}).encode(\"hex\")",
                        lit_str(r.pick(&["sha256", "sha1", "md5", "sha512"]))
                    ),
                    Ty::Str,
                ),
                29 => (s("parse_json()"), Ty::Any),
                30 => (s("string()"), Ty::Str),
                31 => (s("type()"), Ty::Str),
                32 => (s("bytes().string()"), Ty::Str),
                _ => (s("number(0)"), Ty::Num),
            },
            Ty::Num => match r.below(14) {
                0 => (s("abs()"), Ty::Num),
                1 => (s("ceil()"), Ty::Num),
                2 => (s("floor()"), Ty::Num),
                3 => (s("round()"), Ty::Num),
                4 | 5 => (s("string()"), Ty::Str),
                6 => (s("number()"), Ty::Num),
                7 => (s("int64()"), Ty::Num),
                8 => (s("uint64()"), Ty::Num),
                9 => (s("float64()"), Ty::Num),
                10 => (s("type()"), Ty::Str),
                11 => (s("format_json()"), Ty::Str),
                12 => (s("bool()"), Ty::Bool),
                _ => (s("int32()"), Ty::Num),
            },
            Ty::Bool => match r.below(4) {
                0 => (s("string()"), Ty::Str),
                1 => (s("type()"), Ty::Str),
                2 => (s("bool()"), Ty::Bool),
                _ => (s("number()"), Ty::Num),
            },
            Ty::Null => match r.below(5) {
                0 | 1 => {
                    let ty = *r.pick(&[Ty::Str, Ty::Num, Ty::Obj]);
                    (format!("or({})", self.literal(ty)), ty)
                }
                2 => (s("type()"), Ty::Str),
                3 => (s("string()"), Ty::Str),
                _ => (s("not_null()"), Ty::Null),
            },
            Ty::Arr => match r.below(30) {
                0 | 1 => (s("length()"), Ty::Num),
                2 | 3 => (format!("map_each(x -> {})", self.lambda_body("x")), Ty::Arr),
                4 => (
                    format!(
                        "filter(x -> x.type() == {})",
                        lit_str(r.pick(&["number", "string", "object", "null"]))
                    ),
                    Ty::Arr,
                ),
                5 => (s("filter(x -> x != null)"), Ty::Arr),
                6 => (s("any(x -> x.type() == \"string\")"), Ty::Bool),
                7 => (s("all(x -> x.type() == \"number\")"), Ty::Bool),
                8 => (s("fold(0, item -> item.tally + item.value)"), Ty::Num),
                9 => (
                    s("fold(\"\", item -> item.tally + item.value.string())"),
                    Ty::Str,
                ),
                10 => (s("sort()"), Ty::Arr),
                11 => (s("sort_by(x -> x.string())"), Ty::Arr),
                12 => (
                    format!("join({})", lit_str(r.pick(&[",", "", " | "]))),
                    Ty::Str,
                ),
                13 => {
                    let l = self.literal(Ty::Any);
                    (format!("contains({l})"), Ty::Bool)
                }
                14 => (format!("index({})", r.pick(&["0", "-1", "1"])), Ty::Any),
                15 => (
                    format!("slice({}, {})", r.below(2), 1 + r.below(3)),
                    Ty::Arr,
                ),
                16 => (s("reverse()"), Ty::Arr),
                17 => (s("unique()"), Ty::Arr),
                18 => (s("flatten()"), Ty::Arr),
                19 => (s("enumerated()"), Ty::Arr),
                20 => (s("sum()"), Ty::Num),
                21 => (s("min()"), Ty::Num),
                22 => (s("max()"), Ty::Num),
                23 => {
                    let l = self.literal(Ty::Any);
                    (format!("append({l})"), Ty::Arr)
                }
                24 => (s("concat([1, \"x\"])"), Ty::Arr),
                25 => (s("format_json(no_indent: true)"), Ty::Str),
                26 => (s("string()"), Ty::Str),
                27 => (s("collapse()"), Ty::Obj),
                28 => (s("type()"), Ty::Str),
                _ => (
                    s("sort(left, right -> left.string() > right.string())"),
                    Ty::Arr,
                ),
            },
            Ty::Obj => match r.below(22) {
                0 => (s("keys()"), Ty::Arr),
                1 => (s("values()"), Ty::Arr),
                2 => (s("key_values()"), Ty::Arr),
                3 => (s("length()"), Ty::Num),
                4 => (s("map_each(kv -> kv.value.type())"), Ty::Obj),
                5 => (s("map_each(kv -> kv.value.string())"), Ty::Obj),
                6 => (s("map_each(kv -> kv.key.uppercase())"), Ty::Obj),
                7 => (s("map_each_key(k -> k.uppercase())"), Ty::Obj),
                8 => (s("filter(kv -> kv.value != null)"), Ty::Obj),
                9 => (
                    format!("without({}, \"b\")", lit_str(r.pick(KEYS))),
                    Ty::Obj,
                ),
                10 => {
                    let other = match self.path_of(Ty::Obj) {
                        Some((p, _)) if self.rng.chance(50) => p,
                        _ => self.literal(Ty::Obj),
                    };
                    (format!("merge({other})"), Ty::Obj)
                }
                11 => (
                    format!("exists({})", lit_str(self.rng.pick(KEYS))),
                    Ty::Bool,
                ),
                12 => (
                    format!(
                        "get({})",
                        lit_str(self.rng.pick(&["a", "a.b", "items.0", "nope"]))
                    ),
                    Ty::Any,
                ),
                13 => (s("collapse()"), Ty::Obj),
                14 => (s("format_json()"), Ty::Str),
                15 => (s("format_json(no_indent: true)"), Ty::Str),
                16 => (s("format_json(indent: \"\\t\")"), Ty::Str),
                17 => (s("string()"), Ty::Str),
                18 => (s("type()"), Ty::Str),
                19 => (format!("assign({})", self.literal(Ty::Obj)), Ty::Obj),
                20 => (s("values().sort_by(v -> v.string())"), Ty::Arr),
                _ => (s("keys().sort().join(\",\")"), Ty::Str),
            },
            Ty::Any => match r.below(10) {
                0 | 1 => (s("type()"), Ty::Str),
                2 | 3 => (s("string()"), Ty::Str),
                4 => {
                    let ty = *r.pick(&[Ty::Str, Ty::Num]);
                    (format!("or({})", self.literal(ty)), Ty::Any)
                }
                5 => {
                    let ty = *r.pick(&[Ty::Str, Ty::Num]);
                    (format!("catch({})", self.literal(ty)), Ty::Any)
                }
                6 => (s("not_null()"), Ty::Any),
                7 => (s("format_json(no_indent: true)"), Ty::Str),
                8 => (s("length()"), Ty::Num),
                _ => {
                    // Any method at all, on whatever it is.
                    let ty = *r.pick(&[Ty::Str, Ty::Num, Ty::Arr, Ty::Obj]);
                    self.method(ty)
                }
            },
        }
    }

    fn lambda_body(&mut self, x: &str) -> String {
        match self.rng.below(8) {
            0 => format!("{x}.string()"),
            1 => format!("{x}.type()"),
            2 => format!("{x} * 2"),
            3 => format!("{x} + 1"),
            4 => format!("{x}.uppercase()"),
            5 => format!("{x}.length()"),
            6 => format!("if {x}.type() == \"number\" {{ {x} * 10 }} else {{ {x} }}"),
            _ => format!("{x}.string().catch(\"?\")"),
        }
    }

    fn target(&mut self) -> String {
        let k = *self
            .rng
            .pick(&["out", "r", "日", "with space", "n.x", "deep.a.b"]);
        k.split('.').map(segment).collect::<Vec<_>>().join(".")
    }

    fn statement(&mut self, in_place: bool) -> String {
        match self.rng.below(16) {
            0..=5 => {
                let t = self.target();
                format!("root.{t} = {}", self.expr(0).0)
            }
            6 if in_place => match self.path_of(Ty::Any) {
                Some((p, _)) => format!("root{} = deleted()", &p["this".len()..]),
                None => "root.nope = deleted()".into(),
            },
            7 => {
                let name = format!("v{}", self.vars.len());
                let (e, ty) = self.expr(0);
                self.vars.push((name.clone(), ty));
                let t = self.target();
                format!("let {name} = {e}\nroot.{t} = ${name}")
            }
            8 => {
                let k = *self.rng.pick(META_KEYS);
                let (e, _) = self.expr(1);
                if self.rng.chance(70) {
                    format!("meta {} = {e}", segment(k))
                } else {
                    format!("meta {} = deleted()", segment(k))
                }
            }
            9 => {
                let t = self.target();
                match self.rng.below(3) {
                    0 => format!("root.{t} = @"),
                    1 => format!("root.{t} = metadata()"),
                    _ => format!("root.{t} = meta({})", lit_str(self.rng.pick(META_KEYS))),
                }
            }
            10 => {
                let (c, _) = self.condition(0);
                let t = self.target();
                let (a, _) = self.expr(1);
                let (b, _) = self.expr(1);
                format!("if {c} {{\n  root.{t} = {a}\n}} else {{\n  root.{t} = {b}\n}}")
            }
            11 => {
                let t = self.target();
                format!("root.{t} = {}", self.conditional(1).0)
            }
            12 => {
                let (c, _) = self.condition(0);
                format!("if {c} {{\n  root = deleted()\n}}")
            }
            13 => {
                let t = self.target();
                let (e, _) = self.expr(1);
                self.maps += 1;
                let m = self.maps;
                format!(
                    "map tagged{m} {{\n  root.v = this\n  root.t = this.type()\n}}\nroot.{t} = ({e}).apply(\"tagged{m}\")"
                )
            }
            14 => {
                let t = self.target();
                let (e, _) = self.expr(1);
                let l = self.literal(Ty::Any);
                format!("root.{t} = ({e}).catch({l})")
            }
            _ => {
                let t = self.target();
                let (e, _) = self.binary(0);
                format!("root.{t} = {e}")
            }
        }
    }
}

/// The `n`-th generated case for `seed`: the same pair always gives the same case.
pub fn case(seed: u64, n: u64) -> Generated {
    let mut rng = Rng::new(seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407));
    // Documents are mostly objects, as events are; now and then another JSON value.
    let doc = if rng.chance(92) {
        gen_object(&mut rng, 0, 6)
    } else {
        gen_node(&mut rng, 1)
    };
    let mut input = String::new();
    write_node(&mut rng, &doc, &mut input);
    if rng.chance(5) {
        input = format!(" {input}\n");
    }
    let meta_keys: Vec<&'static str> = if rng.chance(40) {
        META_KEYS
            .iter()
            .copied()
            .filter(|_| rng.chance(50))
            .collect()
    } else {
        Vec::new()
    };
    let meta = (!meta_keys.is_empty()).then(|| {
        let fields: Vec<String> = meta_keys
            .iter()
            .map(|k| {
                let v = match *k {
                    "num" => "\"5\"".to_string(),
                    "empty" => "\"\"".to_string(),
                    _ => {
                        let s = STRINGS[rng.below(STRINGS.len())];
                        json_str(&mut rng, s)
                    }
                };
                format!("{}:{v}", json_str(&mut rng, k))
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    });
    let mutation = rng.chance(12);
    let mut all = Vec::new();
    paths(&doc, "this".into(), &mut all);
    let mut g = MappingGen {
        rng: &mut rng,
        paths: all,
        vars: Vec::new(),
        meta_keys,
        maps: 0,
    };
    let in_place = mutation || g.rng.chance(35);
    let mut stmts = Vec::new();
    if in_place && !mutation {
        stmts.push("root = this".to_string());
    }
    for _ in 0..1 + g.rng.below(4) {
        stmts.push(g.statement(in_place));
    }
    // Now and then the whole document is one value (a string root is the raw content).
    if g.rng.chance(8) {
        stmts.push(format!("root = {}", g.expr(0).0));
    }
    Generated {
        mapping: stmts.join("\n"),
        input,
        meta,
        mutation,
    }
}
