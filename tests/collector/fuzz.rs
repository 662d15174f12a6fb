//! Bounded fuzzing with `proptest`: the Bloblang parser and evaluator, the payload parser and
//! the event encoder (and the config loader) must never panic on any input, and JSON written by the engine must parse
//! back to the same document. Each property runs a fixed number of cases (seconds in total),
//! so it belongs in every CI run; a failure prints the minimal input that broke it.
//!
//! A longer, exploring run (new inputs each time):
//! `PROPTEST_RNG_SEED=$RANDOM PROPTEST_CASES=100000 cargo test --release --test collector fuzz::`.
//! Two bugs were found that way (floats written as integer literals simd-json refuses).

use std::sync::Arc;

use flexprice_collector::bloblang::Mapping;
use flexprice_collector::document::{Map, Value};
use flexprice_collector::output::flexprice::EventEncoder;
use flexprice_collector::pipeline::{Encoder, Origin, Position};
use proptest::prelude::*;

/// `n` cases from a fixed seed, so a CI run fails only for a change, never by the luck of
/// the draw; `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override both for exploring.
fn cases(n: u32) -> ProptestConfig {
    let defaults = ProptestConfig::default(); // reads the PROPTEST_* variables
    let env = |k: &str| std::env::var_os(k).is_some();
    ProptestConfig {
        cases: if env("PROPTEST_CASES") {
            defaults.cases
        } else {
            n
        },
        rng_seed: if env("PROPTEST_RNG_SEED") {
            defaults.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x5eed_f1e7)
        },
        // Failures are reported with their minimal input; no persistence files in the tree.
        failure_persistence: None,
        ..defaults
    }
}

/// Pieces of Bloblang, glued together at random: far likelier than random characters to get
/// past the lexer and reach the parser's and evaluator's deeper paths.
const BLOBLANG_TOKENS: &[&str] = &[
    "root",
    "this",
    "meta",
    "let",
    "$x",
    "$",
    "@",
    "=",
    " ",
    "\n",
    ".",
    ",",
    ":",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "->",
    "+",
    "-",
    "*",
    "/",
    "%",
    "|",
    "&&",
    "||",
    "!",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "if",
    "else",
    "match",
    "map",
    "_",
    "=>",
    "1",
    "0",
    "-1",
    "2.5",
    "1e3",
    "9223372036854775807",
    "\"s\"",
    "\"\"",
    "\"${! this }\"",
    "'q'",
    "true",
    "false",
    "null",
    "x",
    "a",
    "b",
    "deleted()",
    "throw(\"t\")",
    "now()",
    "uuid_v4()",
    "content()",
    "error()",
    "meta(\"k\")",
    "range(0, 3)",
    ".string()",
    ".number()",
    ".int64()",
    ".uppercase()",
    ".length()",
    ".keys()",
    ".map_each(e -> e)",
    ".filter(v -> v != null)",
    ".or(1)",
    ".catch(2)",
    ".not_null()",
    ".parse_json()",
    ".format_json()",
    ".split(\",\")",
    ".join(\"-\")",
    ".slice(1)",
    ".index(0)",
    ".type()",
    ".exists(\"a\")",
    ".merge({})",
    ".without(\"a\")",
    ".sum()",
    ".ts_parse(\"2006\")",
    ".format_timestamp()",
    ".apply(\"m\")",
    ".encode(\"base64\")",
    ".decode(\"base64\")",
    ".hash(\"sha256\")",
    "#",
    "\\",
    "\"",
    "`",
    "ü",
    "\u{0}",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(BLOBLANG_TOKENS), 0..40).prop_map(|t| t.concat())
}

/// A sample document for mappings to run on.
fn sample_doc() -> Value {
    let mut buf = br#"{"a":1,"b":"x,y","x":[1,2,null],"s":"aGk=","properties":{"n":2.5}}"#.to_vec();
    Value::from_json_slice(&mut buf).expect("sample parses")
}

/// Pieces of JSON, for payloads that are nearly valid far more often than random bytes.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\"event_name\"",
    "\"external_customer_id\"",
    "\"properties\"",
    "\"timestamp\"",
    "\"event_id\"",
    "\"2026-01-02T15:04:05Z\"",
    "\"2026-13-02T15:04:05+25:00\"",
    "\"c\"",
    "\"\"",
    "1",
    "-0",
    "1.5e308",
    "1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "true",
    "null",
    " ",
    "\\u0000",
    "\\ud800",
    "\\",
    "\u{7f}",
    "é",
];

fn json_soup() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(JSON_TOKENS), 0..40)
            .prop_map(|t| t.concat().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Documents the engine can hold (Bytes aside, which it writes as strings).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinities", |f| f.is_finite())
            .prop_map(Value::Float),
        ".{0,12}".prop_map(Value::Str),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map>())),
        ]
    })
}

/// Equality after a JSON round trip: a float with no fraction is written like an integer
/// (`4.0` prints as `4`, as Bento does), so numbers compare by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => *x as f64 == *y,
        (Value::Float(x), Value::Float(y)) => x == y,
        // A float read back keeps its text when that differs from our own formatting
        // (`1e+20`): it is still the same number.
        (Value::RawNumber(x, _), other) | (other, Value::RawNumber(x, _)) => {
            same(&Value::Float(*x), other)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a.0 == b.0 && same(a.1, b.1))
        }
        _ => a == b,
    }
}

fn origin() -> Origin {
    Origin::at(Position::Kafka {
        topic: Arc::from("fuzz"),
        partition: 0,
        offset: 1,
    })
}

/// A parse error must point inside the mapping: the line exists, the column is 1-based.
fn assert_located(src: &str, e: &flexprice_collector::bloblang::ParseError) {
    let lines = src.split('\n').count();
    assert!(
        e.line >= 1 && e.line <= lines && e.column >= 1,
        "error {}:{} outside a {lines}-line mapping: {}",
        e.line,
        e.column,
        e.message
    );
    assert!(!e.message.is_empty());
}

/// Pieces of collector configs, including env interpolation and Bloblang in mappings.
const CONFIG_TOKENS: &[&str] = &[
    "input:",
    "output:",
    "pipeline:",
    "processors:",
    "kafka:",
    "flexprice:",
    "stdin: {}",
    "  ",
    "\n",
    "- ",
    "mapping: ",
    "'root = this'",
    "api_key: ",
    "${K}",
    "${K:d}",
    "${",
    "}",
    "${!this}",
    "$${K}",
    "addresses: [a:1]",
    "topics: [t]",
    "batching: {count: 5}",
    "timeout: 5s",
    "timeout: 5x",
    "threads: -1",
    "http: {address: 127.0.0.1:0}",
    "#",
    ":",
    "{",
    "[",
    "]",
    "\"",
    "'",
    "|",
    "&a",
    "*a",
    "!!binary",
    "~",
    "null",
    "1e999",
    "\t",
];

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn config_loader_never_panics(parts in prop::collection::vec(prop::sample::select(CONFIG_TOKENS), 0..40)) {
        let text = parts.concat();
        let lookup = |k: &str| (k == "K").then(|| "v: ${K}\n".to_string());
        let _ = flexprice_collector::runtime::Plan::from_text("fuzz.yaml", &text, &lookup);
    }

    #[test]
    fn bloblang_parser_never_panics_on_arbitrary_text(src in "\\PC{0,80}") {
        if let Err(e) = Mapping::compile(&src) {
            assert_located(&src, &e);
        }
    }

    #[test]
    fn bloblang_token_soup_compiles_or_fails_located_and_runs_without_panic(src in token_soup()) {
        match Mapping::compile(&src) {
            Err(e) => assert_located(&src, &e),
            // A runtime error is an answer; a panic is the bug.
            Ok(m) => { let _ = m.exec_value(&sample_doc()); }
        }
    }

    #[test]
    fn payload_parser_and_encoder_never_panic(mut bytes in json_soup()) {
        let enc = EventEncoder::new();
        if let Ok(doc) = Value::from_json_slice(&mut bytes) {
            if let Ok(out) = enc.encode(&doc, &origin()) {
                // What the encoder emits is what the API receives: it must be JSON.
                let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&out);
                prop_assert!(parsed.is_ok(), "encoder wrote invalid JSON: {}", String::from_utf8_lossy(&out));
            }
        }
    }

    #[test]
    fn encoder_output_is_valid_json_for_any_properties(props in value(), name in ".{1,8}") {
        let mut m = Map::new();
        m.insert("event_name".into(), Value::Str(name));
        m.insert("external_customer_id".into(), Value::Str("c".into()));
        m.insert("properties".into(), Value::Object(match props {
            Value::Object(o) => o,
            other => [("v".to_string(), other)].into_iter().collect(),
        }));
        let out = EventEncoder::new().encode(&Value::Object(m), &origin()).expect("valid event");
        let mut again = out.clone();
        prop_assert!(Value::from_json_slice(&mut again).is_ok(), "{}", String::from_utf8_lossy(&out));
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    }

    #[test]
    fn write_json_parses_back_to_the_same_document(v in value()) {
        let mut out = Vec::new();
        v.write_json(&mut out);
        let text = String::from_utf8(out.clone()).expect("write_json emits UTF-8");
        let back = Value::from_json_slice(&mut out)
            .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert!(same(&v, &back), "{v:?}\n -> {text}\n -> {back:?}");
    }
}
