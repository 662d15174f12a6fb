//! Differential check of the Bloblang engine against Benthos v4.60.0's (Go): the same cases
//! through both, every divergence printed, and the check passes only when each one is an
//! accepted difference listed in `tests/bloblang/known-differences.md` (see [`known`]).
//!
//! Cases: every conformance case (`tests/bloblang/*.txt`, parsed by [`crate::bloblang`]) and
//! generated mappings over generated documents ([`generate`]; `BLOBL_DIFF_SEED` and
//! `BLOBL_DIFF_CASES` explore other seeds and counts, `BLOBL_DIFF_DUMP=FILE` writes every case
//! with both answers as JSON lines).
//!
//! Both sides answer in `perf/peers/blobl-diff`'s protocol: a parse error, a run-time error,
//! deleted, or the message's content (a string root is the raw content, anything else JSON)
//! with its metadata as strings. What is compared:
//! - the kind of answer; error texts are not compared (the wording is ours);
//! - JSON content as values: key order and string escapes are form (Go escapes `<>&`), but a
//!   number's text is compared exactly, since keeping input numbers as written is documented
//!   behaviour. A number whose text differs while its value is the same is its own category
//!   (`number-form`), so a printing difference is told apart from a wrong value;
//! - metadata, as strings;
//! - mappings that call `now()`, `uuid_v4()`, `random_int()` and the like: only the shape
//!   (kinds and keys) of the result.
//!
//! Needs Go (the peer is built by `perf/peers/build`, cached outside the cargo target);
//! without `go` the check prints `SKIPPED` with the reason and returns (Rust's test harness
//! has no skipped state; the line is in the test's output, `--nocapture` shows it).
//!
//! Run: `cargo test --test collector -- bloblang_diff --nocapture`.

mod generate;
mod known;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use flexprice_collector::bloblang::{Mapping, MessageEnv, Outcome};
use flexprice_collector::document::{Map, Value};
use regex::Regex;
use serde_json::json;

/// The accepted differences between Benthos 4.60 and Bento 1.12 (see [`known`]).
const KNOWN: &str = "tests/bloblang/known-differences.md";
/// This engine's divergences from Bento not fixed yet (see [`known`]).
const OPEN: &str = "tests/bloblang/open-divergences.md";

/// Generated cases by default; with the conformance cases, about 20 s of the test binary.
const GENERATED: u64 = 3000;
const SEED: u64 = 0x5EED_B10B;

/// The categories a divergence falls in.
const CATEGORIES: &[&str] = &[
    // One side gives a result, deletes, or fails where the other does something else.
    "outcome",
    // Both fail, one when compiling, the other when running.
    "phase",
    // Both give a document, and they differ (other than in a number's text).
    "value",
    // The same documents but for a number written differently.
    "number-form",
    // The same document, different metadata.
    "meta",
    // A side panicked or crashed.
    "crash",
    // Our two ways of running a mapping (`exec`, `exec_owned`) disagree.
    "internal",
];

/// One case sent to both engines.
struct DiffCase {
    id: String,
    mapping: String,
    input: String,
    /// A JSON object's text.
    meta: Option<String>,
    mutation: bool,
}

impl DiffCase {
    fn request(&self) -> serde_json::Value {
        let meta: serde_json::Value = self
            .meta
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_else(|| json!({}));
        json!({
            "id": self.id,
            "mapping": self.mapping,
            "input": self.input,
            "meta": meta,
            "mutation": self.mutation,
        })
    }
}

/// An engine's answer to a case.
#[derive(Debug, Clone)]
enum Answer {
    ParseError(String),
    Error(String),
    Deleted,
    Content {
        content: String,
        /// The content parsed, when it is JSON.
        json: Option<Value>,
        meta: BTreeMap<String, String>,
    },
    Crash(String),
    /// Ours only: `exec` and `exec_owned` disagree.
    Internal(String),
}

impl Answer {
    fn kind(&self) -> &'static str {
        match self {
            Answer::ParseError(_) => "parse_error",
            Answer::Error(_) => "error",
            Answer::Deleted => "deleted",
            Answer::Content { .. } => "content",
            Answer::Crash(_) => "crash",
            Answer::Internal(_) => "internal",
        }
    }

    /// The answer in the peer's protocol (for the report).
    fn to_line(&self) -> String {
        let v = match self {
            Answer::ParseError(e) => json!({ "parse_error": e }),
            Answer::Error(e) => json!({ "error": e }),
            Answer::Deleted => json!({ "deleted": true }),
            Answer::Content { content, meta, .. } => json!({ "content": content, "meta": meta }),
            Answer::Crash(e) => json!({ "crash": e }),
            Answer::Internal(e) => json!({ "internal": e }),
        };
        v.to_string()
    }

    /// Read the peer's answer line.
    fn from_peer(v: &serde_json::Value) -> Answer {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        if let Some(e) = s("parse_error") {
            Answer::ParseError(e)
        } else if let Some(e) = s("error") {
            if e.starts_with("crash: ") || e.starts_with("panic: ") {
                Answer::Crash(e)
            } else {
                Answer::Error(e)
            }
        } else if let Some(e) = s("request_error") {
            panic!("blobl-diff refused a request (a bug of this test): {e}\n{v}");
        } else if v.get("deleted").and_then(serde_json::Value::as_bool) == Some(true) {
            Answer::Deleted
        } else {
            let content = s("content").unwrap_or_default();
            let meta = v
                .get("meta")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            Answer::Content {
                json: Value::from_json_bytes(content.as_bytes()).ok(),
                content,
                meta,
            }
        }
    }
}

/// What the `mapping` processor's message content is for a document: a string (or bytes) root
/// is the raw content, anything else its JSON.
fn content_of(v: &Value) -> Vec<u8> {
    match v {
        Value::Str(s) => s.clone().into_bytes(),
        Value::Bytes(b) => b.clone(),
        other => {
            let mut out = Vec::new();
            other.write_json(&mut out);
            out
        }
    }
}

fn meta_map(text: Option<&str>) -> Map {
    match text.map(|t| Value::from_json_bytes(t.as_bytes())) {
        Some(Ok(Value::Object(m))) => m,
        None => Map::new(),
        Some(other) => panic!("case metadata is not a JSON object: {other:?}"),
    }
}

/// Run a case on this engine the way the `mapping` (or `mutation`) processor does: the
/// payload parsed as the document, `content()` the payload as received, metadata in and out.
fn ours(case: &DiffCase) -> Answer {
    let mapping = match Mapping::compile(&case.mapping) {
        Ok(m) => m,
        Err(e) => return Answer::ParseError(e.to_string()),
    };
    let raw = case.input.as_bytes();
    let input = match Value::from_json_bytes(raw) {
        Ok(v) => v,
        Err(e) => return Answer::Error(format!("payload is not valid JSON: {e}")),
    };
    let mut meta = meta_map(case.meta.as_deref());
    let env = |meta| MessageEnv {
        meta,
        origin: None,
        raw,
        error: None,
    };
    let outcome = if case.mutation {
        let mut doc = input.clone();
        mapping.mutate(&mut doc, env(&mut meta)).map(|kept| {
            if kept {
                Outcome::Doc(doc)
            } else {
                Outcome::Deleted
            }
        })
    } else {
        // The processor's path (`exec_replace`, through `exec_owned`) must agree with the
        // borrowing one, which alone tells "root never assigned" apart.
        let mut meta_owned = meta.clone();
        let owned = mapping.exec_owned(input.clone(), env(&mut meta_owned));
        let borrowed = mapping.exec(&input, env(&mut meta));
        let same = match (&borrowed, &owned) {
            (Ok(Outcome::Unchanged), Ok(Outcome::Doc(v))) => *v == input,
            (Err(_), Err(_)) => true,
            (b, o) => b == o,
        };
        if !same || meta_owned != meta {
            return Answer::Internal(format!("exec: {borrowed:?}, exec_owned: {owned:?}"));
        }
        borrowed
    };
    let content = match outcome {
        Err(e) => return Answer::Error(e.0),
        Ok(Outcome::Deleted) => return Answer::Deleted,
        Ok(Outcome::Unchanged) => raw.to_vec(),
        Ok(Outcome::Doc(v)) => content_of(&v),
    };
    Answer::Content {
        json: Value::from_json_bytes(&content).ok(),
        content: String::from_utf8_lossy(&content).into_owned(),
        meta: meta
            .iter()
            .map(|(k, v)| (k.clone(), v.to_meta_text()))
            .collect(),
    }
}

/// How two answers differ, if they do: the category and what differs.
/// How strictly two documents are compared.
#[derive(Clone, Copy, PartialEq)]
enum Strictness {
    /// Value for value, numbers by their text.
    Exact,
    /// As `Exact`, but arrays in any order, and strings as the same characters in any order:
    /// `values()` and `key_values()` follow Go's map order in Bento, which is random (their
    /// specs say so), and a mapping may print them into text.
    Unordered,
    /// Kinds and keys only: the mapping calls `now()`, `uuid_v4()`, `random_int()` …
    Shape,
}

fn compare(ours: &Answer, theirs: &Answer, mode: Strictness) -> Option<(&'static str, String)> {
    let shape_only = mode == Strictness::Shape;
    use Answer::*;
    match (ours, theirs) {
        (ParseError(_), ParseError(_)) | (Error(_), Error(_)) | (Deleted, Deleted) => None,
        (Crash(_), _) | (_, Crash(_)) => Some(("crash", "a side crashed".into())),
        (Internal(e), _) => Some(("internal", e.clone())),
        (ParseError(_), Error(_)) | (Error(_), ParseError(_)) => Some((
            "phase",
            format!("ours: {}, theirs: {}", ours.kind(), theirs.kind()),
        )),
        (
            Content {
                content: c1,
                json: j1,
                meta: m1,
            },
            Content {
                content: c2,
                json: j2,
                meta: m2,
            },
        ) => {
            let doc = match (j1, j2) {
                (Some(a), Some(b)) => diff_values(a, b, mode, "root"),
                _ if shape_only => None,
                _ if c1 != c2 => Some(("value", "content differs".to_string())),
                _ => None,
            };
            if doc.is_some() {
                return doc;
            }
            let meta_same = if shape_only {
                m1.keys().eq(m2.keys())
            } else {
                m1 == m2
            };
            (!meta_same).then(|| ("meta", "metadata differs".to_string()))
        }
        _ => Some((
            "outcome",
            format!("ours: {}, theirs: {}", ours.kind(), theirs.kind()),
        )),
    }
}

/// The first difference between two documents, by path (see [`Strictness`]).
fn diff_values(a: &Value, b: &Value, mode: Strictness, at: &str) -> Option<(&'static str, String)> {
    let is_num = |v: &Value| matches!(v, Value::Int(_) | Value::Float(_) | Value::RawNumber(..));
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if !x.keys().eq(y.keys()) {
                let only = |p: &Map, q: &Map| {
                    p.keys()
                        .filter(|k| q.get(k.as_str()).is_none())
                        .cloned()
                        .collect::<Vec<_>>()
                };
                return Some((
                    "value",
                    format!(
                        "{at}: keys only ours {:?}, only theirs {:?}",
                        only(x, y),
                        only(y, x)
                    ),
                ));
            }
            x.iter()
                .zip(y.iter())
                .find_map(|((k, v1), (_, v2))| diff_values(v1, v2, mode, &format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some((
                    "value",
                    format!("{at}: {} items ours, {} theirs", x.len(), y.len()),
                ));
            }
            let sorted = |v: &[Value]| {
                let mut v: Vec<Value> = v.to_vec();
                if mode != Strictness::Exact {
                    v.sort_by_cached_key(|e| {
                        if mode == Strictness::Shape {
                            e.kind().to_string()
                        } else {
                            e.to_json_string()
                        }
                    });
                }
                v
            };
            let (x, y) = (sorted(x), sorted(y));
            x.iter()
                .zip(&y)
                .enumerate()
                .find_map(|(i, (v1, v2))| diff_values(v1, v2, mode, &format!("{at}.{i}")))
        }
        _ if mode == Strictness::Shape => (a.kind() != b.kind()).then(|| {
            (
                "value",
                format!("{at}: ours a {}, theirs a {}", a.kind(), b.kind()),
            )
        }),
        _ if is_num(a) && is_num(b) => {
            let (ta, tb) = (a.to_json_string(), b.to_json_string());
            if ta == tb {
                None
            } else if a.as_f64() == b.as_f64() {
                Some(("number-form", format!("{at}: ours {ta}, theirs {tb}")))
            } else {
                Some(("value", format!("{at}: ours {ta}, theirs {tb}")))
            }
        }
        // An unordered result printed into text (`"%v".format(o.key_values())`): the same
        // characters in any order.
        (Value::Str(x), Value::Str(y)) if mode == Strictness::Unordered && x != y => {
            let sorted = |s: &str| {
                let mut c: Vec<char> = s.chars().collect();
                c.sort_unstable();
                c
            };
            (sorted(x) != sorted(y)).then(|| {
                (
                    "value",
                    format!(
                        "{at}: ours {}, theirs {} (in any order)",
                        a.to_json_string(),
                        b.to_json_string()
                    ),
                )
            })
        }
        _ => (a != b).then(|| {
            (
                "value",
                format!(
                    "{at}: ours {}, theirs {}",
                    a.to_json_string(),
                    b.to_json_string()
                ),
            )
        }),
    }
}

/// Write to the process's stderr past the test harness's capture, so the check's numbers
/// (and a skip) show in every run, not only when it fails.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// The peer, built (or found up to date) by `perf/peers/build`; `None` when `go` is missing
/// (an error instead when `BLOBL_DIFF_REQUIRE=1`, for a machine that must run the check).
fn peer() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Err(e) = Command::new("go").arg("version").output() {
        let why = format!(
            "the differential Bloblang check needs Go (>= 1.26) on PATH to build \
             perf/peers/blobl-diff (Benthos v4.60.0's engine); `go version` failed: {e}"
        );
        assert!(
            std::env::var_os("BLOBL_DIFF_REQUIRE").is_none_or(|v| v != "1"),
            "BLOBL_DIFF_REQUIRE=1: {why}"
        );
        say!("SKIPPED bloblang_diff::bloblang_agrees_with_benthos: {why}");
        return None;
    }
    let out = Command::new("bash")
        .arg(root.join("perf/peers/build"))
        .args(["--only", "blobl-diff"])
        .stdin(Stdio::null())
        .output()
        .expect("runs perf/peers/build");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "perf/peers/build --only blobl-diff failed ({}):\n{}{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("blobl-diff="))
        .expect("perf/peers/build prints blobl-diff=PATH");
    Some(PathBuf::from(path))
}

/// Send every case to the peer, in order, and read its answers.
fn theirs(peer: &Path, cases: &[DiffCase]) -> Vec<Answer> {
    let mut child = Command::new(peer)
        .args(["-case-timeout", "20s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starts blobl-diff");
    let mut stdin = child.stdin.take().expect("stdin");
    let lines: Vec<String> = cases.iter().map(|c| c.request().to_string()).collect();
    let writer = std::thread::spawn(move || {
        let mut w = std::io::BufWriter::new(&mut stdin);
        for l in &lines {
            writeln!(w, "{l}").expect("writes to blobl-diff");
        }
        w.flush().expect("flushes to blobl-diff");
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut answers = Vec::with_capacity(cases.len());
    for (line, case) in BufReader::new(stdout).lines().zip(cases) {
        let line = line.expect("reads blobl-diff");
        let v: serde_json::Value = serde_json::from_str(&line).expect("blobl-diff answers JSON");
        assert_eq!(
            v.get("id").and_then(|i| i.as_str()),
            Some(case.id.as_str()),
            "answers come in order"
        );
        answers.push(Answer::from_peer(&v));
    }
    writer.join().expect("writer thread");
    let status = child.wait().expect("blobl-diff exits");
    assert!(status.success(), "blobl-diff exited with {status}");
    assert_eq!(answers.len(), cases.len(), "blobl-diff answered every case");
    answers
}

fn cases(seed: u64, generated: u64) -> Vec<DiffCase> {
    let mut out: Vec<DiffCase> = crate::bloblang::all_cases()
        .into_iter()
        .map(|c| DiffCase {
            id: format!("conf/{}/{}", c.file, c.name),
            // As a YAML block scalar (`mapping: |`) gives it: ending in a line break (Bento
            // wants one after a trailing comment).
            mapping: format!("{}\n", c.mapping),
            input: c.input.unwrap_or_else(|| "{}".into()),
            meta: c.meta_in,
            mutation: c.mutation,
        })
        .collect();
    out.extend((0..generated).map(|n| {
        let g = generate::case(seed, n);
        DiffCase {
            id: format!("gen/{seed:x}/{n}"),
            mapping: g.mapping,
            input: g.input,
            meta: g.meta,
            mutation: g.mutation,
        }
    }));
    out
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let t = v.trim();
    let parsed = match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

fn indent(s: &str) -> String {
    s.lines().collect::<Vec<_>>().join("\n      ")
}

#[test]
fn bloblang_agrees_with_benthos() {
    // Both engines read the host's zone as `Local`; the cases are written for UTC (the peer
    // inherits TZ).
    crate::bloblang::pin_host_zone_to_utc();
    let Some(peer) = peer() else { return };
    let start = Instant::now();
    let seed = env_u64("BLOBL_DIFF_SEED").unwrap_or(SEED);
    let generated = env_u64("BLOBL_DIFF_CASES").unwrap_or(GENERATED);
    let default_run = seed == SEED && generated == GENERATED;
    let lists: Vec<(&str, Vec<known::Entry>)> = [KNOWN, OPEN]
        .into_iter()
        .map(|name| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let entries = known::parse(name, &text, CATEGORIES).unwrap_or_else(|e| panic!("{e}"));
            (name, entries)
        })
        .collect();

    let cases = cases(seed, generated);
    // Ours runs while the peer works, on a thread with a processor thread's stack.
    let ours_thread = {
        let cases: Vec<DiffCase> = cases
            .iter()
            .map(|c| DiffCase {
                id: c.id.clone(),
                mapping: c.mapping.clone(),
                input: c.input.clone(),
                meta: c.meta.clone(),
                mutation: c.mutation,
            })
            .collect();
        std::thread::Builder::new()
            .stack_size(flexprice_collector::pipeline::PROCESSOR_STACK)
            .spawn(move || {
                cases
                    .iter()
                    .map(|c| {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ours(c)))
                            .unwrap_or_else(|p| {
                                let why = p
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_default();
                                Answer::Crash(format!("panic: {why}"))
                            })
                    })
                    .collect::<Vec<_>>()
            })
            .expect("spawns our runner")
    };
    let theirs = theirs(&peer, &cases);
    let ours = ours_thread.join().expect("our runner");

    let nondeterministic =
        Regex::new(r"\b(now|uuid_v4|random_int|timestamp_unix\w*|hostname|env|ksuid|nanoid)\(")
            .expect("regex");
    let map_order = Regex::new(r"\.(values|key_values)\(\)").expect("regex");
    let mut dump = std::env::var_os("BLOBL_DIFF_DUMP")
        .map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("BLOBL_DIFF_DUMP file")));
    // Per category: new, in KNOWN, in OPEN.
    let mut by_category: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    let mut used: Vec<Vec<usize>> = lists.iter().map(|(_, e)| vec![0; e.len()]).collect();
    let mut listed_reports: Vec<Vec<String>> = vec![Vec::new(); lists.len()];
    let mut new = Vec::new();
    for ((case, o), t) in cases.iter().zip(&ours).zip(&theirs) {
        let mode = if nondeterministic.is_match(&case.mapping) {
            Strictness::Shape
        } else if map_order.is_match(&case.mapping) {
            Strictness::Unordered
        } else {
            Strictness::Exact
        };
        let diff = compare(o, t, mode);
        if let Some(d) = dump.as_mut() {
            let line = json!({
                "id": case.id,
                "request": case.request(),
                "ours": o.to_line(),
                "theirs": t.to_line(),
                "divergence": diff.as_ref().map(|(c, d)| format!("{c}: {d}")),
            });
            writeln!(d, "{line}").expect("writes the dump");
        }
        let Some((category, detail)) = diff else {
            continue;
        };
        let report = format!(
            "[{category}] {}\n    mapping: {}\n    input:   {}{}{}\n    ours:    {}\n    theirs:  {}\n    differs: {detail}",
            case.id,
            indent(&case.mapping),
            case.input.trim_end(),
            case.meta
                .as_deref()
                .map(|m| format!("\n    meta:    {m}"))
                .unwrap_or_default(),
            if case.mutation { "\n    (mutation)" } else { "" },
            o.to_line(),
            t.to_line(),
        );
        let counts = by_category.entry(category).or_default();
        let listed = lists.iter().enumerate().find_map(|(l, (_, entries))| {
            entries
                .iter()
                .position(|e| e.covers(&case.id, &case.mapping, category, &report))
                .map(|i| (l, i))
        });
        match listed {
            Some((l, i)) => {
                used[l][i] += 1;
                counts[l + 1] += 1;
                listed_reports[l].push(format!("{report}\n    listed:  {}", lists[l].1[i].title));
            }
            None => {
                counts[0] += 1;
                new.push(report);
            }
        }
    }
    let summary: Vec<String> = by_category
        .iter()
        .map(|(c, [n, k, o])| format!("{c}: {n} new, {k} known, {o} open"))
        .collect();
    say!(
        "bloblang differential (seed {seed:#x}): {} cases ({} generated) in {:.1?}; {}",
        cases.len(),
        generated,
        start.elapsed(),
        if summary.is_empty() {
            "no divergences".to_string()
        } else {
            summary.join(", ")
        }
    );
    for (l, reports) in listed_reports.iter().enumerate() {
        if !reports.is_empty() {
            say!(
                "--- {} divergences listed in {}:\n",
                reports.len(),
                lists[l].0
            );
        }
        for r in reports {
            say!("{r}\n");
        }
    }
    // Entries that no longer match anything are stale: the difference is gone (or the
    // entry's pattern is wrong). Only the default run knows which generated cases exist.
    let stale: Vec<String> = lists
        .iter()
        .zip(&used)
        .flat_map(|((name, entries), used)| {
            entries
                .iter()
                .zip(used)
                .filter(|(_, n)| **n == 0)
                .map(move |(e, _)| format!("{name}: {}", e.title))
        })
        .collect();
    assert!(
        new.is_empty(),
        "{} divergences from Benthos v4.60.0 are in neither {KNOWN} nor {OPEN}: fix the engine \
         (with a conformance case), or list a difference between Benthos 4.60 and Bento 1.12 in \
         {KNOWN} with its Bento source:\n\n{}",
        new.len(),
        new.join("\n\n")
    );
    assert!(
        !default_run || stale.is_empty(),
        "listed divergences that matched nothing in this run (remove them): {stale:#?}"
    );
}
