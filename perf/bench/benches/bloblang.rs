//! Throughput of the Bloblang engine on the mappings the Flexprice collector runs.
//!
//! For each mapping: events/s for the mapping alone (events pre-parsed) and for the whole
//! per-event work of a processor thread (parse JSON, map, encode JSON).
//! Run: `cargo bench -p flexprice-bench --bench bloblang [-- events]`.

use std::time::{Duration, Instant};

use flexprice_collector::bloblang::{Mapping, MessageEnv, Outcome};
use flexprice_collector::document::{Map, Value};

const MAPPINGS: [(&str, &str); 4] = [
    (
        "seed: stringify properties",
        "root.properties = this.properties.map_each(p -> p.value.string())",
    ),
    (
        "seed: 2xx status filter",
        "root = if this.status >= 200 && this.status < 300 { this } else { deleted() }",
    ),
    (
        "consume-from-kafka transform",
        r#"root.event_name = this.event_name
root.external_customer_id = this.external_customer_id.or(this.customer_id)
root.properties = if this.properties.type() == "object" {
  this.properties.map_each(p -> p.value.string())
} else {
  {}
}
root.source = "kafka-staging-bento"
root.timestamp = this.timestamp.or(now().format_timestamp("2006-01-02T15:04:05Z07:00"))
root.event_id = this.event_id.or("")
root.customer_id = this.customer_id.or("")"#,
    ),
    (
        "custom-kafka billing entry (shipped config)",
        r#"root = {}
root.properties = if this.data != null && this.data.type() == "object" {
  this.data.map_each(v -> if v.type() == "object" && v.key != null && v.value != null {
    v.value.string()
  } else {
    v.string()
  })
} else {
  {}
}
root.properties.resolvedProviderName = ""
if this.providerName != null && this.providerName != "" {
  root.properties.resolvedProviderName = this.providerName.string().trim().lowercase()
} else if this.serviceName != null && this.serviceName != "" {
  root.properties.resolvedProviderName = this.serviceName.string().trim().lowercase()
}
root.properties.resolvedModelName = ""
if this.modelName != null && this.modelName != "" {
  root.properties.resolvedModelName = "-" + this.modelName.string().trim().lowercase()
}
root.properties.resolvedMethodName = ""
if this.methodName != null && this.methodName != "" {
  if this.methodName == "BEDROCK_LLM" {
    root.properties.resolvedMethodName = "-modelling"
  } else {
    root.properties.resolvedMethodName = "-" + this.methodName.string().trim().lowercase()
  }
}
root.external_customer_id = this.orgId.string()
root.event_name = root.properties.resolvedProviderName + root.properties.resolvedMethodName + root.properties.resolvedModelName
root.event_id = this.id.string()
root.timestamp = this.startedAt.string()
if this.targetItemId != null { root.source = this.targetItemId.string() }
if this.byok != null { root.properties.byok = this.byok.string() }
if this.referenceCost != null { root.properties.referenceCost = this.referenceCost.string() }
if this.methodName != null { root.properties.methodName = this.methodName.string() }"#,
    ),
];

fn event(i: usize) -> String {
    let statuses = [200, 201, 204, 400, 404, 500, 200, 202];
    let methods = ["CHAT", "BEDROCK_LLM", "Embed ", "completion"];
    format!(
        r#"{{"event_name":"llm.usage","customer_id":"c{}","timestamp":"2026-02-03T04:05:{:02}Z","orgId":"org_{}","methodName":"{}","providerName":"OpenAI","modelName":"Model-{}","id":"be_{i}","startedAt":"2026-02-03T04:05:06Z","targetItemId":"item{}","byok":{},"referenceCost":{}.25,"status":{},"data":{{"inputTokens":{},"outputTokens":{},"cached":{},"region":"us-east-1"}},"properties":{{"tokens":{},"latency_ms":{}.5,"model":"m{}","ok":true,"region":"eu","endpoint":"/v1/chat","user_agent":"sdk/1.2.3"}}}}"#,
        i % 50,
        i % 60,
        i % 97,
        methods[i % 4],
        i % 5,
        i % 13,
        i % 2 == 0,
        i % 9,
        statuses[i % statuses.len()],
        100 + i % 1000,
        20 + i % 300,
        i % 3 == 0,
        i % 4096,
        i % 800,
        i % 11,
    )
}

fn exec(m: &Mapping, v: &Value, raw: &[u8]) -> Option<Value> {
    let mut meta = Map::new();
    match m.exec(
        v,
        MessageEnv {
            meta: &mut meta,
            origin: None,
            raw,
            error: None,
        },
    ) {
        Ok(Outcome::Doc(d)) => Some(d),
        _ => None,
    }
}

fn best_of(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50_000);
    let raw: Vec<Vec<u8>> = (0..n).map(|i| event(i).into_bytes()).collect();
    let parsed: Vec<Value> = raw
        .iter()
        .map(|r| Value::from_json_slice(&mut r.clone()).expect("JSON"))
        .collect();
    println!("{n} events, best of 5 rounds, 1 thread\n");
    println!(
        "{:<46} {:>16} {:>22}",
        "mapping", "map only ev/s", "parse+map+encode ev/s"
    );
    for (name, src) in MAPPINGS {
        let m = Mapping::compile(src).expect("compiles");
        let only = best_of(5, || {
            for (v, r) in parsed.iter().zip(&raw) {
                std::hint::black_box(exec(&m, v, r));
            }
        });
        let mut out = Vec::with_capacity(1024);
        let full = best_of(5, || {
            for r in &raw {
                let mut scratch = r.clone();
                let Ok(v) = Value::from_json_slice(&mut scratch) else {
                    continue;
                };
                if let Some(d) = exec(&m, &v, r) {
                    out.clear();
                    d.write_json(&mut out);
                    std::hint::black_box(&out);
                }
            }
        });
        println!(
            "{:<46} {:>16.0} {:>22.0}",
            name,
            n as f64 / only.as_secs_f64(),
            n as f64 / full.as_secs_f64()
        );
    }
}
