//! Bloblang (this project's engine) vs VRL (Vector's remap language) on the same events.
//!
//! Each workload is written once in each language, producing the same output (checked on every
//! event before timing). Timed: running the compiled program over pre-parsed events; JSON
//! parsing and encoding are left out for both, so only the languages are compared. VRL edits
//! the event in place and so gets its own copy of each event, made before the clock starts.
//!
//! Run: `cargo run --release --manifest-path benches/vrl-compare/Cargo.toml [events]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flexprice_collector::bloblang::{Map, Mapping, MessageEnv, Outcome, Value};
use vrl::compiler::state::RuntimeState;
use vrl::compiler::{Context, ExpressionError, Function, Program, TargetValue, TimeZone};
use vrl::value::{KeyString, Secrets, Value as VValue};

struct Workload {
    name: &'static str,
    bloblang: &'static str,
    vrl: &'static str,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "seed: stringify properties",
        bloblang: "root.properties = this.properties.map_each(p -> p.value.string())",
        vrl: r#". = {"properties": map_values(object!(.properties)) -> |v| { if is_string(v) { v } else { encode_json(v) } }}"#,
    },
    Workload {
        name: "seed: 2xx status filter",
        bloblang: "root = if this.status >= 200 && this.status < 300 { this } else { deleted() }",
        vrl: r#"if !(int!(.status) >= 200 && int!(.status) < 300) { abort }"#,
    },
    Workload {
        name: "realistic: billing entry to Flexprice event",
        bloblang: r#"
let provider = if this.providerName != null && this.providerName != "" { this.providerName } else { this.serviceName }
let provider = $provider.string().trim().lowercase()
root.properties = if this.data.type() == "object" { this.data.map_each(d -> d.value.string()) } else { {} }
let method = if this.methodName == "BEDROCK_LLM" { "-modelling" } else { "-" + this.methodName.string().trim().lowercase() }
let model = if this.modelName != null && this.modelName != "" { "-" + this.modelName.string().trim().lowercase() } else { "" }
root.properties.resolvedProviderName = $provider
root.properties.resolvedMethodName = $method
root.properties.resolvedModelName = $model
root.external_customer_id = this.orgId.string()
root.event_name = $provider + $method + $model
root.event_id = this.id.string()
root.timestamp = this.startedAt.string()
if this.targetItemId != null { root.source = this.targetItemId.string() }
if this.byok != null { root.properties.byok = this.byok.string() }
if this.referenceCost != null { root.properties.referenceCost = this.referenceCost.string() }
"#,
        vrl: r#"
src = .
provider = src.providerName
if provider == null || provider == "" { provider = src.serviceName }
provider = downcase(strip_whitespace(string(provider) ?? ""))
props = {}
if is_object(src.data) {
  props = map_values(object!(src.data)) -> |v| { if is_string(v) { v } else { encode_json(v) } }
}
method = string(src.methodName) ?? ""
if method == "BEDROCK_LLM" { method = "-modelling" } else { method = "-" + downcase(strip_whitespace(method)) }
model = ""
if src.modelName != null && src.modelName != "" { model = "-" + downcase(strip_whitespace(string(src.modelName) ?? "")) }
props.resolvedProviderName = provider
props.resolvedMethodName = method
props.resolvedModelName = model
. = {}
.properties = props
.external_customer_id = if is_string(src.orgId) { src.orgId } else { encode_json(src.orgId) }
.event_name = provider + method + model
.event_id = if is_string(src.id) { src.id } else { encode_json(src.id) }
.timestamp = if is_string(src.startedAt) { src.startedAt } else { encode_json(src.startedAt) }
if src.targetItemId != null { .source = if is_string(src.targetItemId) { src.targetItemId } else { encode_json(src.targetItemId) } }
if src.byok != null { .properties.byok = encode_json(src.byok) }
if src.referenceCost != null { .properties.referenceCost = encode_json(src.referenceCost) }
"#,
    },
];

/// A deterministic, realistic usage event (mixed types, nested `data`, varied status codes).
fn event(i: usize) -> String {
    let statuses = [200, 201, 204, 400, 404, 500, 200, 202];
    let methods = ["CHAT", "BEDROCK_LLM", "Embed ", "completion"];
    let providers = ["OpenAI", " AWS ", "", "Anthropic"];
    format!(
        r#"{{"orgId":"org_{}","methodName":"{}","providerName":"{}","serviceName":"svc-{}","modelName":"Model-{}","id":"be_{i}","startedAt":"2026-02-03T04:05:{:02}Z","targetItemId":"item{}","byok":{},"referenceCost":{}.25,"status":{},"data":{{"inputTokens":{},"outputTokens":{},"cached":{},"region":"us-east-1","tier":"standard","latency_ms":{}.5}},"properties":{{"tokens":{},"latency_ms":{}.5,"model":"m{}","ok":true,"region":"eu","endpoint":"/v1/chat","user_agent":"sdk/1.2.3"}}}}"#,
        i % 97,
        methods[i % 4],
        providers[i % 4],
        i % 7,
        i % 5,
        i % 60,
        i % 13,
        i % 2 == 0,
        i % 9,
        statuses[i % statuses.len()],
        100 + i % 1000,
        20 + i % 300,
        i % 3 == 0,
        i % 250,
        i % 4096,
        i % 800,
        i % 11,
    )
}

fn to_vrl(v: &Value) -> VValue {
    match v {
        Value::Null => VValue::Null,
        Value::Bool(b) => VValue::from(*b),
        Value::Int(i) => VValue::from(*i),
        Value::Float(f) => VValue::from_f64_or_zero(*f),
        Value::Str(s) => VValue::from(s.as_str()),
        Value::Array(a) => VValue::Array(a.iter().map(to_vrl).collect()),
        Value::Object(m) => VValue::Object(
            m.iter()
                .map(|(k, v)| (KeyString::from(k.as_str()), to_vrl(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
        other => VValue::from(other.to_text().as_str()),
    }
}

fn vrl_fns() -> Vec<Box<dyn Function>> {
    use vrl::stdlib::*;
    vec![
        Box::new(MapValues),
        Box::new(IsString),
        Box::new(IsObject),
        Box::new(EncodeJson),
        Box::new(Downcase),
        Box::new(StripWhitespace),
        Box::new(Object),
        Box::new(vrl::stdlib::String),
        Box::new(Integer),
    ]
}

/// Run VRL on one event: `Some(json)` for a kept event, `None` for an aborted (dropped) one.
fn run_vrl(p: &Program, v: VValue) -> Result<Option<VValue>, String> {
    let mut target = TargetValue {
        value: v,
        metadata: VValue::Object(BTreeMap::new()),
        secrets: Secrets::default(),
    };
    let mut state = RuntimeState::default();
    let tz = TimeZone::default();
    let mut ctx = Context::new(&mut target, &mut state, &tz);
    match p.resolve(&mut ctx) {
        Ok(_) => Ok(Some(target.value)),
        Err(ExpressionError::Abort { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn run_blobl(m: &Mapping, v: &Value) -> Result<Option<Value>, String> {
    let mut meta = Map::new();
    match m.exec(
        v,
        MessageEnv {
            meta: &mut meta,
            origin: None,
            raw: b"",
        },
    ) {
        Ok(Outcome::Doc(d)) => Ok(Some(d)),
        Ok(Outcome::Unchanged) => Ok(Some(v.clone())),
        Ok(Outcome::Deleted) => Ok(None),
        Err(e) => Err(e.0),
    }
}

fn vrl_json(v: &VValue) -> String {
    // Both sides go through this project's encoder, so key order and number format match.
    let text = serde_json::to_string(v).unwrap_or_default();
    let mut b = text.into_bytes();
    Value::from_json_slice(&mut b)
        .map(|v| v.to_json_string())
        .unwrap_or_default()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let rounds = 5;
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut b = event(i).into_bytes();
            Value::from_json_slice(&mut b).expect("generated events are JSON")
        })
        .collect();
    println!(
        "{n} events x {rounds} rounds per engine, mapping only (events pre-parsed), 1 thread\n"
    );
    println!(
        "{:<46} {:>14} {:>14} {:>8}",
        "workload", "bloblang ev/s", "vrl ev/s", "ratio"
    );
    for w in &WORKLOADS {
        let mapping = Mapping::compile(w.bloblang).expect("bloblang compiles");
        let program = match vrl::compiler::compile(w.vrl, &vrl_fns()) {
            Ok(r) => r.program,
            Err(diags) => panic!("VRL does not compile: {diags:?}"),
        };
        // Same output on every event, or the comparison means nothing.
        for (i, e) in events.iter().enumerate() {
            let ours = run_blobl(&mapping, e).map(|o| o.map(|v| v.to_json_string()));
            let theirs = run_vrl(&program, to_vrl(e)).map(|o| o.map(|v| vrl_json(&v)));
            assert_eq!(ours, theirs, "{}: outputs differ on event {i}", w.name);
        }
        let mut best_b = Duration::MAX;
        let mut best_v = Duration::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            let mut kept = 0usize;
            for e in &events {
                if let Ok(Some(_)) = run_blobl(&mapping, e) {
                    kept += 1;
                }
            }
            best_b = best_b.min(t.elapsed());
            std::hint::black_box(kept);

            let inputs: Vec<VValue> = events.iter().map(to_vrl).collect();
            let t = Instant::now();
            let mut kept = 0usize;
            for e in inputs {
                if let Ok(Some(_)) = run_vrl(&program, e) {
                    kept += 1;
                }
            }
            best_v = best_v.min(t.elapsed());
            std::hint::black_box(kept);
        }
        let (b, v) = (rate(n, best_b), rate(n, best_v));
        println!("{:<46} {:>14.0} {:>14.0} {:>7.2}x", w.name, b, v, b / v);
    }
    println!("\nratio = bloblang events/s ÷ vrl events/s (best of {rounds} rounds); > 1 means faster than VRL");
}
