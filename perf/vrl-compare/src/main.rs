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
//! - Each side gets its own copy of every event, made before the clock starts, a batch of 64
//!   at a time right before the batch runs (so the copies are in cache, as a freshly parsed
//!   message is in the pipeline; `CHUNK=0` copies all events first). Both sides drop what their
//!   program replaced inside the timed loop, and their outputs after it.
//! - Rounds alternate which engine goes first; the median round is reported.
//! - Both run on mimalloc, the allocator of the collector binary.
//!
//! Run: `perf/bench-vrl [events] [rounds]` (env knobs: see the script), or
//! `cargo run --release --manifest-path perf/vrl-compare/Cargo.toml -- [events] [rounds]`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flexprice_collector::document::Value;
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
            // The last expression's value is the program's result: an assignment there returns
            // a copy of what it assigned; ending on `null` spares VRL that copy.
            r#". = {"properties": map_values(object!(del(.properties))) -> |v| { if is_string(v) { v } else { encode_json(v) } }}
null"#,
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
        Value::Float(f) | Value::RawNumber(f, _) => VValue::from_f64_or_zero(*f),
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

/// Nanoseconds per event for the mapping processor over all events, `chunk` at a time: the
/// copies of a chunk are made (untimed) right before it runs, so they are in cache, as a
/// freshly parsed message is in the pipeline.
fn time_blobl(p: &dyn Processor, events: &[Value], origin: &Origin, chunk: usize) -> f64 {
    let mut total = Duration::ZERO;
    for c in events.chunks(chunk) {
        let mut ps = parts(c, origin);
        let t = Instant::now();
        std::hint::black_box(run_blobl(p, &mut ps));
        total += t.elapsed();
    }
    total.as_nanos() as f64 / events.len() as f64
}

/// Same as [`time_blobl`] for VRL.
fn time_vrl(p: &Program, rt: &mut Runtime, events: &[Value], chunk: usize) -> f64 {
    let mut total = Duration::ZERO;
    for c in events.chunks(chunk) {
        let mut ts = targets(c);
        let t = Instant::now();
        std::hint::black_box(run_vrl(p, rt, &mut ts));
        total += t.elapsed();
    }
    total.as_nanos() as f64 / events.len() as f64
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
    if xs.is_empty() {
        return f64::NAN;
    }
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
    // `ONLY=b` / `ONLY=v`: time one engine only (to check the other does not disturb it).
    let only_env = std::env::var("ONLY").ok();
    let only = only_env.as_deref();
    // Events per timed batch (copies made right before, so in cache); `CHUNK=0`: all at once.
    let chunk = match std::env::var("CHUNK").ok().and_then(|c| c.parse().ok()) {
        Some(0) => n.max(1),
        Some(c) => c,
        None => 64,
    };
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut b = event(i).into_bytes();
            Value::from_json_slice(&mut b).expect("generated events are JSON")
        })
        .collect();
    let origin = Origin::default();
    let fns = vrl_fns();
    // `PROFILE=b1` / `PROFILE=v1`: run only Bloblang / only VRL (form 0 unless `PROFILE=v1.1`)
    // on workload 1, `rounds` times, for `perf record`.
    if let Some(p) = std::env::var("PROFILE").ok() {
        let (engine, rest) = p.split_at(1);
        let mut it = rest.split('.');
        let w = &WORKLOADS[it.next().and_then(|x| x.parse().ok()).unwrap_or(0)];
        let form: usize = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        // `MAPPING='...'`: profile this Bloblang mapping instead of the workload's.
        let src = std::env::var("MAPPING").unwrap_or_else(|_| w.bloblang.to_string());
        let processor = ProcessorConfig::Mapping(src)
            .build()
            .expect("bloblang compiles");
        let prog = vrl::compiler::compile(w.vrl[form], &fns)
            .expect("VRL compiles")
            .program;
        let mut rt = Runtime::default();
        let mut xs = Vec::new();
        for _ in 0..rounds {
            xs.push(if engine == "b" {
                time_blobl(processor.as_ref(), &events, &origin, chunk)
            } else {
                time_vrl(&prog, &mut rt, &events, chunk)
            });
        }
        println!("{:.0} ns/event (median of {rounds})", median(xs));
        return;
    }
    if std::env::var_os("DIAG").is_some() {
        diagnose(&events, &origin, rounds, chunk);
        return;
    }
    println!(
        "{n} events in batches of {chunk}, median of {rounds} rounds (after 1 warm-up), \
         mapping only (events pre-parsed), 1 thread\n"
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
            let keep = |xs: &mut Vec<f64>, ns: f64| {
                if round > 0 {
                    xs.push(ns);
                }
            };
            if round % 2 == 0 && only != Some("v") {
                keep(
                    &mut b_ns,
                    time_blobl(processor.as_ref(), &events, &origin, chunk),
                );
            }
            for (j, prog) in programs.iter().enumerate() {
                if only != Some("b") {
                    keep(&mut v_ns[j], time_vrl(prog, &mut rt, &events, chunk));
                }
            }
            if round % 2 == 1 && only != Some("v") {
                keep(
                    &mut b_ns,
                    time_blobl(processor.as_ref(), &events, &origin, chunk),
                );
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

/// `DIAG=1`: where the Bloblang time goes on these events. Forms of the 2xx filter that avoid
/// copying `this`, and the cost of copying / dropping one event on its own.
fn diagnose(events: &[Value], origin: &Origin, rounds: usize, chunk: usize) {
    let n = events.len() as f64;
    let forms: [(&str, ProcessorConfig); 6] = [
        (
            "mapping: seed filter (root = if .. { this } else { deleted() })",
            ProcessorConfig::Mapping(WORKLOADS[1].bloblang.into()),
        ),
        (
            "mapping: root = this",
            ProcessorConfig::Mapping("root = this".into()),
        ),
        (
            "mapping: condition only (root.ok = cond)",
            ProcessorConfig::Mapping("root.ok = this.status >= 200 && this.status < 300".into()),
        ),
        (
            "mapping: if !cond { root = deleted() } (root unset = unchanged)",
            ProcessorConfig::Mapping(
                "if !(this.status >= 200 && this.status < 300) { root = deleted() }".into(),
            ),
        ),
        (
            "mutation: seed filter",
            ProcessorConfig::Mutation(WORKLOADS[1].bloblang.into()),
        ),
        (
            "mapping: seed stringify",
            ProcessorConfig::Mapping(WORKLOADS[0].bloblang.into()),
        ),
    ];
    for (name, cfg) in forms {
        let p = cfg.build().expect("compiles");
        let mut xs = Vec::new();
        for _ in 0..rounds {
            xs.push(time_blobl(p.as_ref(), events, origin, chunk));
        }
        println!("{:>8.0} ns/event  {name}", median(xs));
    }
    let (mut c, mut d, mut cv, mut dv) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut t4 = [Duration::ZERO; 4];
        for ch in events.chunks(chunk) {
            let vs: Vec<VValue> = ch.iter().map(to_vrl).collect();
            let t = Instant::now();
            let copies: Vec<Value> = ch.to_vec();
            t4[0] += t.elapsed();
            let t = Instant::now();
            drop(std::hint::black_box(copies));
            t4[1] += t.elapsed();
            let t = Instant::now();
            let copies = vs.clone();
            t4[2] += t.elapsed();
            let t = Instant::now();
            drop(std::hint::black_box(copies));
            t4[3] += t.elapsed();
        }
        c.push(t4[0].as_nanos() as f64 / n);
        d.push(t4[1].as_nanos() as f64 / n);
        cv.push(t4[2].as_nanos() as f64 / n);
        dv.push(t4[3].as_nanos() as f64 / n);
    }
    println!("{:>8.0} ns/event  Value::clone of one event", median(c));
    println!("{:>8.0} ns/event  drop of one event", median(d));
    println!(
        "{:>8.0} ns/event  vrl Value::clone of one event",
        median(cv)
    );
    println!("{:>8.0} ns/event  drop of one vrl event", median(dv));
}
