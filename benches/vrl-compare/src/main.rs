//! Bloblang (this project's engine) vs VRL (Vector's remap language) on the same events.
//!
//! Each workload is written once in Bloblang and in one or more equivalent VRL forms; every
//! form must give the same output as Bloblang on every event (checked before anything is
//! timed), and the fastest VRL form is the one reported, so VRL is measured at its best.
//!
//! What is timed, for both engines, is only running the compiled program over events that are
//! already parsed: JSON parsing and encoding are left out.
//! - Bloblang goes through the real `mapping:` processor (`ProcessorConfig::build`, then
//!   `Processor::process` on a `Part` whose document is already set), so whatever the
//!   processor does (and any engine improvement) shows up here.
//! - VRL runs through `vrl::compiler::runtime::Runtime`, reused across events and cleared after
//!   each one, as Vector's `remap` transform does, on a `TargetValue` (the cheapest target).
//! - Each side gets its own copy of every event, made before the clock starts; both sides drop
//!   what their program replaced inside the timed loop and their outputs after it.
//! - Both run on mimalloc, the allocator of the collector binary.
//!
//! Run: `scripts/bench-vrl [events] [rounds]`, or
//! `cargo run --release --manifest-path benches/vrl-compare/Cargo.toml -- [events] [rounds]`.

use std::collections::BTreeMap;
use std::time::Instant;

use flexprice_collector::bloblang::Value;
use flexprice_collector::input::Origin;
use flexprice_collector::processor::{Part, Processor, ProcessorConfig, Step};
use vrl::compiler::runtime::{Runtime, Terminate};
use vrl::compiler::{Function, Program, TargetValue, TimeZone};
use vrl::value::{KeyString, Secrets, Value as VValue};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Workload {
    name: &'static str,
    bloblang: &'static str,
    /// Equivalent VRL programs; the fastest is reported.
    vrl: &'static [&'static str],
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "seed: stringify properties",
        bloblang: "root.properties = this.properties.map_each(p -> p.value.string())",
        vrl: &[
            r#". = {"properties": map_values(object!(.properties)) -> |v| { if is_string(v) { v } else { encode_json(v) } }}"#,
            // `del` moves the object out of the event instead of copying it.
            r#". = {"properties": map_values(object!(del(.properties))) -> |v| { if is_string(v) { v } else { encode_json(v) } }}"#,
        ],
    },
    Workload {
        name: "seed: 2xx status filter",
        bloblang: "root = if this.status >= 200 && this.status < 300 { this } else { deleted() }",
        vrl: &[
            r#"if !(int!(.status) >= 200 && int!(.status) < 300) { abort }"#,
            r#"s = int!(.status); if s < 200 || s >= 300 { abort }"#,
        ],
    },
    Workload {
        name: "realistic: billing entry -> Flexprice event",
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
        vrl: &[
            // Straightforward: keep a copy of the input, build the output from it.
            r#"
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
            // Tuned: read scalars into variables, move `data` out with `del`, build the new
            // event in place (no copy of the input or of `props`).
            r#"
provider = .providerName
if provider == null || provider == "" { provider = .serviceName }
provider = downcase(strip_whitespace(string(provider) ?? ""))
method = string(.methodName) ?? ""
if method == "BEDROCK_LLM" { method = "-modelling" } else { method = "-" + downcase(strip_whitespace(method)) }
model = ""
if .modelName != null && .modelName != "" { model = "-" + downcase(strip_whitespace(string(.modelName) ?? "")) }
target = .targetItemId
byok = .byok
cost = .referenceCost
customer = if is_string(.orgId) { .orgId } else { encode_json(.orgId) }
id = if is_string(.id) { .id } else { encode_json(.id) }
ts = if is_string(.startedAt) { .startedAt } else { encode_json(.startedAt) }
.properties = if is_object(.data) { map_values(object!(del(.data))) -> |v| { if is_string(v) { v } else { encode_json(v) } } } else { {} }
. = {"properties": del(.properties), "external_customer_id": customer, "event_name": provider + method + model, "event_id": id, "timestamp": ts}
.properties.resolvedProviderName = provider
.properties.resolvedMethodName = method
.properties.resolvedModelName = model
if target != null { .source = if is_string(target) { target } else { encode_json(target) } }
if byok != null { .properties.byok = encode_json(byok) }
if cost != null { .properties.referenceCost = encode_json(cost) }
"#,
        ],
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
        Value::Bytes(b) => VValue::from(String::from_utf8_lossy(b).as_ref()),
        Value::Array(a) => VValue::Array(a.iter().map(to_vrl).collect()),
        Value::Object(m) => VValue::Object(
            m.iter()
                .map(|(k, v)| (KeyString::from(k.as_str()), to_vrl(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
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
        Box::new(Del),
    ]
}

fn targets(events: &[Value]) -> Vec<TargetValue> {
    events
        .iter()
        .map(|e| TargetValue {
            value: to_vrl(e),
            metadata: VValue::Object(BTreeMap::new()),
            secrets: Secrets::default(),
        })
        .collect()
}

fn parts(events: &[Value], origin: &Origin) -> Vec<Part> {
    events
        .iter()
        .map(|e| {
            let mut p = Part::new(Vec::new(), origin.clone());
            p.set_value(e.clone());
            p
        })
        .collect()
}

/// VRL over every target; per event `true` = kept, `false` = aborted (dropped).
fn run_vrl(p: &Program, rt: &mut Runtime, ts: &mut [TargetValue]) -> Vec<bool> {
    let tz = TimeZone::default();
    let mut kept = Vec::with_capacity(ts.len());
    for t in ts.iter_mut() {
        let r = rt.resolve(t, p, &tz);
        rt.clear();
        kept.push(match r {
            Ok(_) => true,
            Err(Terminate::Abort(_)) => false,
            Err(e) => panic!("VRL failed: {e}"),
        });
    }
    kept
}

/// The mapping processor over every part; per event `true` = kept, `false` = dropped.
fn run_blobl(p: &dyn Processor, ps: &mut [Part]) -> Vec<bool> {
    let mut kept = Vec::with_capacity(ps.len());
    for part in ps.iter_mut() {
        kept.push(match p.process(part) {
            Ok(Step::Continue) => true,
            Ok(Step::Drop) => false,
            Err(e) => panic!("mapping failed: {e}"),
        });
    }
    kept
}

fn vrl_json(v: &VValue) -> String {
    // Both sides go through this project's encoder, so key order and number format match.
    let text = serde_json::to_string(v).unwrap_or_default();
    let mut b = text.into_bytes();
    Value::from_json_slice(&mut b)
        .map(|v| v.to_json_string())
        .unwrap_or_default()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let verbose = std::env::var_os("VERBOSE").is_some();
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut b = event(i).into_bytes();
            Value::from_json_slice(&mut b).expect("generated events are JSON")
        })
        .collect();
    let origin = Origin::default();
    let fns = vrl_fns();
    // `PROFILE=b1` / `PROFILE=v1`: run only Bloblang / only VRL (fastest-listed form 0 unless
    // `PROFILE=v1.1`) on workload 1, `rounds` times, for `perf record`.
    if let Some(p) = std::env::var("PROFILE").ok() {
        let (engine, rest) = p.split_at(1);
        let mut it = rest.split('.');
        let w = &WORKLOADS[it.next().and_then(|x| x.parse().ok()).unwrap_or(0)];
        let form: usize = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let processor = ProcessorConfig::Mapping(w.bloblang.to_string())
            .build()
            .expect("bloblang compiles");
        let prog = vrl::compiler::compile(w.vrl[form], &fns)
            .expect("VRL compiles")
            .program;
        let mut rt = Runtime::default();
        for _ in 0..rounds {
            if engine == "b" {
                let mut ps = parts(&events, &origin);
                std::hint::black_box(run_blobl(processor.as_ref(), &mut ps));
            } else {
                let mut ts = targets(&events);
                std::hint::black_box(run_vrl(&prog, &mut rt, &mut ts));
            }
        }
        return;
    }
    println!(
        "{n} events, median of {rounds} rounds (after 1 warm-up), mapping only: events pre-parsed, 1 thread\n"
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "workload", "bloblang ns", "vrl ns", "vrl/blobl"
    );
    for w in &WORKLOADS {
        let processor = ProcessorConfig::Mapping(w.bloblang.to_string())
            .build()
            .expect("bloblang compiles");
        let programs: Vec<Program> = w
            .vrl
            .iter()
            .map(|src| match vrl::compiler::compile(src, &fns) {
                Ok(r) => r.program,
                Err(diags) => panic!("VRL does not compile: {diags:?}\n{src}"),
            })
            .collect();
        let mut rt = Runtime::default();

        // Same output on every event, for every VRL form, or the comparison means nothing.
        let mut ps = parts(&events, &origin);
        let kept_b = run_blobl(processor.as_ref(), &mut ps);
        let ours: Vec<Option<String>> = ps
            .iter_mut()
            .zip(&kept_b)
            .map(|(p, k)| k.then(|| p.take_value().unwrap().to_json_string()))
            .collect();
        for (j, prog) in programs.iter().enumerate() {
            let mut ts = targets(&events);
            let kept_v = run_vrl(prog, &mut rt, &mut ts);
            for (i, (t, k)) in ts.iter().zip(&kept_v).enumerate() {
                let theirs = k.then(|| vrl_json(&t.value));
                assert_eq!(
                    ours[i], theirs,
                    "{} (VRL form {j}): outputs differ on event {i}",
                    w.name
                );
            }
        }

        // Rounds alternate which engine goes first; each round times one pass over all events.
        let mut b_ns = Vec::new();
        let mut v_ns: Vec<Vec<f64>> = vec![Vec::new(); programs.len()];
        for round in 0..=rounds {
            let time_b = |b_ns: &mut Vec<f64>| {
                let mut ps = parts(&events, &origin);
                let t = Instant::now();
                std::hint::black_box(run_blobl(processor.as_ref(), &mut ps));
                let ns = t.elapsed().as_nanos() as f64 / n as f64;
                drop(ps);
                if round > 0 {
                    b_ns.push(ns);
                }
            };
            if round % 2 == 0 {
                time_b(&mut b_ns);
            }
            for (j, prog) in programs.iter().enumerate() {
                let mut ts = targets(&events);
                let t = Instant::now();
                std::hint::black_box(run_vrl(prog, &mut rt, &mut ts));
                let ns = t.elapsed().as_nanos() as f64 / n as f64;
                drop(ts);
                if round > 0 {
                    v_ns[j].push(ns);
                }
            }
            if round % 2 == 1 {
                time_b(&mut b_ns);
            }
        }
        let b = median(b_ns);
        let vs: Vec<f64> = v_ns.into_iter().map(median).collect();
        let (best_j, v) = vs
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        println!("{:<44} {:>12.0} {:>12.0} {:>7.2}x", w.name, b, v, v / b);
        if verbose {
            for (j, v) in vs.iter().enumerate() {
                let mark = if j == best_j { " (reported)" } else { "" };
                println!("    vrl form {j}: {v:.0} ns/event{mark}");
            }
        }
    }
    println!(
        "\nns = nanoseconds per event (median); vrl/blobl > 1 means Bloblang is faster. \
         VRL: fastest of its equivalent forms (VERBOSE=1 shows each)."
    );
}
