//! Bloblang conformance: mapping + input → expected output (or error), as data files under
//! `tests/bloblang/`. Expected results follow Bento's documented behaviour.
//!
//! File format: cases separated by `### name` lines; sections start with `--- kind`:
//! `mapping`, `input` (one JSON document; default `{}`), `meta_in` (JSON object), and one
//! expectation: `output` (JSON), `deleted`, `unchanged`, `error` (text the runtime error must
//! contain), `parse_error` (text the compile error must contain); optionally `meta` (the
//! metadata after the mapping, JSON object). `--- mutation` instead of `--- mapping` runs the
//! mapping in place.

use std::path::Path;

use flexprice_collector::bloblang::{Mapping, MessageEnv, Outcome};
use flexprice_collector::document::{Map, Value};

/// One conformance case (also sent to Benthos by [`crate::bloblang_diff`]).
#[derive(Default, Debug)]
pub(crate) struct Case {
    pub(crate) file: String,
    pub(crate) name: String,
    pub(crate) mapping: String,
    pub(crate) mutation: bool,
    pub(crate) input: Option<String>,
    pub(crate) meta_in: Option<String>,
    expect: Option<(String, String)>,
    meta: Option<String>,
}

/// Every case of `tests/bloblang/*.txt`, files in name order, cases in file order.
pub(crate) fn all_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bloblang");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/bloblang exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable case file");
        let name = f
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        cases.extend(parse_cases(&name, &text));
    }
    cases
}

fn parse_cases(file: &str, text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    let mut section: Option<String> = None;
    let mut body = String::new();
    fn flush(case: &mut Case, section: &Option<String>, body: &mut String) {
        let Some(s) = section else {
            body.clear();
            return;
        };
        let text = body.trim_end_matches('\n').to_string();
        match s.as_str() {
            "mapping" => case.mapping = text,
            "mutation" => {
                case.mapping = text;
                case.mutation = true;
            }
            "input" => case.input = Some(text),
            "meta_in" => case.meta_in = Some(text),
            "meta" => case.meta = Some(text),
            kind => case.expect = Some((kind.to_string(), text)),
        }
        body.clear();
    }
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            if let Some(mut c) = cur.take() {
                flush(&mut c, &section, &mut body);
                cases.push(c);
            }
            section = None;
            cur = Some(Case {
                file: file.to_string(),
                name: name.trim().to_string(),
                ..Case::default()
            });
        } else if let Some(kind) = line.strip_prefix("--- ") {
            if let Some(c) = cur.as_mut() {
                flush(c, &section, &mut body);
            }
            section = Some(kind.trim().to_string());
        } else if section.is_some() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some(mut c) = cur.take() {
        flush(&mut c, &section, &mut body);
        cases.push(c);
    }
    cases
}

fn json(text: &str) -> Result<Value, String> {
    let mut b = text.as_bytes().to_vec();
    Value::from_json_slice(&mut b).map_err(|e| format!("bad JSON in test file `{text}`: {e}"))
}

fn run(case: &Case) -> Result<(), String> {
    let (kind, expected) = case
        .expect
        .clone()
        .ok_or("the case has no expectation section")?;
    let mapping = match Mapping::compile(&case.mapping) {
        Ok(m) => m,
        Err(e) => {
            let shown = e.to_string();
            return if kind == "parse_error" && shown.contains(&expected) {
                Ok(())
            } else {
                Err(format!("compile error: {shown}"))
            };
        }
    };
    if kind == "parse_error" {
        return Err(format!(
            "expected a parse error containing `{expected}`, it compiled"
        ));
    }
    let input_text = case.input.clone().unwrap_or_else(|| "{}".into());
    let input = json(&input_text)?;
    let mut meta = match &case.meta_in {
        Some(m) => match json(m)? {
            Value::Object(o) => o,
            _ => return Err("meta_in must be an object".into()),
        },
        None => Map::new(),
    };
    let env = |meta| MessageEnv {
        meta,
        origin: None,
        raw: input_text.as_bytes(),
        error: None,
    };
    let result = if case.mutation {
        let mut doc = input.clone();
        mapping.mutate(&mut doc, env(&mut meta)).map(|kept| {
            if kept {
                Outcome::Doc(doc)
            } else {
                Outcome::Deleted
            }
        })
    } else {
        // The `mapping` processor's path (the input given up, moved into `root` when the
        // mapping allows) must agree with the borrowing one on every case.
        let mut meta_owned = meta.clone();
        let owned = mapping.exec_owned(input.clone(), env(&mut meta_owned));
        let borrowed = mapping.exec(&input, env(&mut meta));
        let same = match (&borrowed, &owned) {
            (Ok(Outcome::Unchanged), Ok(Outcome::Doc(v))) => *v == input,
            (b, o) => b == o,
        };
        if !same || meta_owned != meta {
            return Err(format!(
                "exec and exec_owned disagree: {borrowed:?} vs {owned:?}"
            ));
        }
        borrowed
    };
    let got = match (&kind[..], result) {
        ("error", Err(e)) if e.0.contains(&expected) => return Ok(()),
        (_, Err(e)) => return Err(format!("runtime error: {}", e.0)),
        ("deleted", Ok(Outcome::Deleted)) => String::new(),
        ("unchanged", Ok(Outcome::Unchanged)) => String::new(),
        ("output", Ok(Outcome::Doc(v))) => {
            let want = json(&expected)?.to_json_string();
            let got = v.to_json_string();
            if want != got {
                return Err(format!("output\n  want: {want}\n  got:  {got}"));
            }
            String::new()
        }
        ("output", Ok(Outcome::Unchanged)) => {
            let want = json(&expected)?.to_json_string();
            if want != input.to_json_string() {
                return Err(format!("output\n  want: {want}\n  got the input unchanged"));
            }
            String::new()
        }
        (k, Ok(other)) => return Err(format!("expected {k}, got {other:?}")),
    };
    let _ = got;
    if let Some(m) = &case.meta {
        let want = json(m)?.to_json_string();
        let got = Value::Object(meta).to_json_string();
        if want != got {
            return Err(format!("metadata\n  want: {want}\n  got:  {got}"));
        }
    }
    Ok(())
}

/// The host's zone is Bento's `Local`: how unix numbers and `now()` are read and what
/// `tz: "Local"` means. The cases are written for UTC, so every test here pins it before
/// anything reads it (the crate looks the zone up once per process).
pub(crate) fn pin_host_zone_to_utc() {
    std::env::set_var("TZ", "UTC");
}

#[test]
fn bloblang_conformance() {
    pin_host_zone_to_utc();
    let cases = all_cases();
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run(c) {
            failures.push(format!(
                "{} / {}: {e}\n  mapping: {}",
                c.file, c.name, c.mapping
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    assert!(cases.len() >= 150, "only {} conformance cases", cases.len());
    eprintln!("{} Bloblang conformance cases passed", cases.len());
}

/// The mappings of the shipped example configs (`config/*.yaml`): each processor's mapping
/// must be one of the conformance cases, text for text, so what users copy is what is tested
/// against Bento's output. The generator's mapping is random, so it is run and its shape
/// checked instead.
#[test]
fn every_example_config_mapping_is_a_conformance_case() {
    pin_host_zone_to_utc();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases = Vec::new();
    for f in std::fs::read_dir(root.join("tests/bloblang")).expect("tests/bloblang") {
        let p = f.expect("entry").path();
        if p.extension().is_some_and(|x| x == "txt") {
            let text = std::fs::read_to_string(&p).expect("case file");
            cases.extend(parse_cases("", &text));
        }
    }
    let mut checked = 0;
    for f in std::fs::read_dir(root.join("config")).expect("config/") {
        let path = f.expect("entry").path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("config");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
        let procs = doc["pipeline"]["processors"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        for (i, p) in procs.iter().enumerate() {
            for kind in ["mapping", "mutation", "bloblang"] {
                let Some(m) = p[kind].as_str() else { continue };
                let found = cases
                    .iter()
                    .any(|c| c.mapping.trim() == m.trim() && c.mutation == (kind == "mutation"));
                assert!(
                    found,
                    "{}: pipeline.processors.{i}.{kind} has no conformance case with the same text",
                    path.display()
                );
                checked += 1;
            }
        }
        if let Some(m) = doc["input"]["generate"]["mapping"].as_str() {
            let mapping = Mapping::compile(m).expect("generator mapping compiles");
            for _ in 0..50 {
                let v = match mapping.exec_value(&Value::Null) {
                    Ok(Outcome::Doc(v)) => v,
                    other => panic!("{}: generator gave {other:?}", path.display()),
                };
                let o = v.as_object().expect("an object");
                assert_eq!(o.get("event_name"), Some(&Value::Str("api.request".into())));
                let id = o
                    .get("external_customer_id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                assert!(id.starts_with("cust_") && id.len() == 13, "{id}");
                let p = o
                    .get("properties")
                    .and_then(Value::as_object)
                    .expect("properties");
                let int = |k: &str| match p.get(k) {
                    Some(Value::Int(i)) => *i,
                    other => panic!("{k}: {other:?}"),
                };
                assert!((200..=204).contains(&int("status_code")));
                assert!((5..=500).contains(&int("response_time_ms")));
                let ep = p.get("endpoint").and_then(Value::as_str).unwrap_or("");
                assert!(ep.starts_with("/api/"), "{ep}");
                let ts = o.get("timestamp").and_then(Value::as_str).unwrap_or("");
                assert!(ts.len() >= 20 && ts.ends_with('Z'), "{ts}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} example mappings found");
}
