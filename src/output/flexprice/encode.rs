//! Per-event validation and encoding, run on the processor threads.
//!
//! Every check the API (and the Go SDK in front of it) would make is made here, before the
//! event joins a batch: one bad event then costs one dead-letter line instead of a rejected
//! bulk request that takes 999 good neighbours down with it. The output is the exact JSON the
//! API receives; the batcher only concatenates these bytes.

use crate::document::write_json_str;
use crate::document::Value;
use crate::pipeline::Encoder;
use crate::pipeline::{Origin, Position};

use crate::document::time as clock;

/// The API's per-request body cap (32 MiB); one event must fit in a bulk body on its own.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Bytes of `{"events":[` + `]}` around a bulk body.
pub const BULK_OVERHEAD: usize = 13;

/// Fields the API's ingest request knows; the Go SDK rejects any other top-level key, and so
/// do we (a typo like `external_customer` would otherwise be silently dropped by the API).
const KNOWN: [&str; 7] = [
    "event_name",
    "external_customer_id",
    "event_id",
    "customer_id",
    "source",
    "timestamp",
    "properties",
];

/// Validates a mapped document as a Flexprice event and encodes it.
#[derive(Debug, Clone)]
pub struct EventEncoder {
    /// Distinguishes runs of inputs whose positions are not persisted (generate, stdin,
    /// files): their offsets restart at 0 every run, so `topic-offset` alone would collide
    /// across runs, while within a run it is still stable across retries.
    run_tag: String,
}

impl Default for EventEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventEncoder {
    pub fn new() -> EventEncoder {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        EventEncoder {
            run_tag: format!("{ms:x}"),
        }
    }

    /// The id an event without `event_id` gets. Kafka messages have a stable identity
    /// (topic, partition, offset), so a redelivery after a crash carries the same id and the
    /// duplicate can be recognised downstream.
    pub fn derived_id(&self, origin: &Origin) -> String {
        match &origin.position {
            Position::Kafka {
                topic,
                partition,
                offset,
            } => format!("{topic}-{partition}-{offset}"),
            Position::Sequence { input, seq } => format!("{input}-{}-{seq}", self.run_tag),
        }
    }

    /// [`EventEncoder::derived_id`] as a JSON string, written straight into the event (no
    /// `format!` and no intermediate `String` per event).
    fn write_derived_id(&self, origin: &Origin, out: &mut Vec<u8>) {
        let mut n = itoa::Buffer::new();
        write_json_str(origin.stream(), out);
        out.pop(); // reopen the string: the rest are digits, `-` and the hex run tag
        out.push(b'-');
        match &origin.position {
            Position::Kafka {
                partition, offset, ..
            } => {
                out.extend_from_slice(n.format(*partition).as_bytes());
                out.push(b'-');
                out.extend_from_slice(n.format(*offset).as_bytes());
            }
            Position::Sequence { seq, .. } => {
                out.extend_from_slice(self.run_tag.as_bytes());
                out.push(b'-');
                out.extend_from_slice(n.format(*seq).as_bytes());
            }
        }
        out.push(b'"');
    }
}

impl Encoder for EventEncoder {
    fn encode(&self, doc: &Value, origin: &Origin) -> Result<Vec<u8>, String> {
        let Some(map) = doc.as_object() else {
            return Err(format!(
                "event must be a JSON object, got {} (check the mapping's `root`)",
                doc.kind()
            ));
        };
        // One pass over the (sorted) fields instead of a lookup per known field.
        let mut fields = Fields::default();
        for (key, value) in map {
            let slot = match key.as_str() {
                "event_name" => &mut fields.event_name,
                "external_customer_id" => &mut fields.external_customer_id,
                "event_id" => &mut fields.event_id,
                "customer_id" => &mut fields.customer_id,
                "source" => &mut fields.source,
                "timestamp" => &mut fields.timestamp,
                "properties" => &mut fields.properties,
                unknown => {
                    return Err(format!(
                        "unknown field `{unknown}` in event; allowed: {}",
                        KNOWN.join(", ")
                    ))
                }
            };
            *slot = Some(value);
        }
        let event_name = required_str(fields.event_name, "event_name")?;
        let external_customer_id =
            required_str(fields.external_customer_id, "external_customer_id")?;
        let event_id = optional_str(fields.event_id, "event_id")?;
        let customer_id = optional_str(fields.customer_id, "customer_id")?;
        let source = optional_str(fields.source, "source")?;
        let timestamp = optional_str(fields.timestamp, "timestamp")?;
        if let Some(ts) = timestamp {
            clock::check_rfc3339(ts)?;
        }
        let properties = match fields.properties {
            None | Some(Value::Null) => None,
            Some(p @ Value::Object(_)) => Some(p),
            Some(other) => {
                return Err(format!(
                    "`properties` must be an object, got {}",
                    other.kind()
                ))
            }
        };

        let mut out = Vec::with_capacity(512); // a typical event is 300–400 bytes: one allocation, no regrowth
        out.extend_from_slice(b"{\"event_id\":");
        match event_id {
            Some(id) => write_json_str(id, &mut out),
            None => self.write_derived_id(origin, &mut out),
        }
        out.extend_from_slice(b",\"event_name\":");
        write_json_str(event_name, &mut out);
        out.extend_from_slice(b",\"external_customer_id\":");
        write_json_str(external_customer_id, &mut out);
        if let Some(c) = customer_id {
            out.extend_from_slice(b",\"customer_id\":");
            write_json_str(c, &mut out);
        }
        if let Some(s) = source {
            out.extend_from_slice(b",\"source\":");
            write_json_str(s, &mut out);
        }
        out.extend_from_slice(b",\"timestamp\":");
        match timestamp {
            Some(ts) => write_json_str(ts, &mut out),
            // The source's own timestamp (Kafka message time) when there is one: a redelivery
            // after a crash then carries the same id *and* timestamp, which is what the API's
            // storage collapses duplicates on (ReplacingMergeTree on id + timestamp). `now`
            // would differ on every delivery. It is also the better usage time on a backlog.
            None => match origin.timestamp_ms {
                Some(ms) => write_json_str(&clock::format_ms(ms), &mut out),
                None => write_json_str(&clock::now_rfc3339_ms(), &mut out),
            },
        }
        if let Some(p) = properties {
            out.extend_from_slice(b",\"properties\":");
            p.write_json(&mut out);
        }
        out.push(b'}');
        if out.len() + BULK_OVERHEAD > MAX_BODY_BYTES {
            return Err(format!(
                "event is {} bytes encoded; the API accepts at most {} bytes per request",
                out.len(),
                MAX_BODY_BYTES - BULK_OVERHEAD
            ));
        }
        Ok(out)
    }
}

/// The known fields of one event, as found.
#[derive(Default)]
struct Fields<'a> {
    event_name: Option<&'a Value>,
    external_customer_id: Option<&'a Value>,
    event_id: Option<&'a Value>,
    customer_id: Option<&'a Value>,
    source: Option<&'a Value>,
    timestamp: Option<&'a Value>,
    properties: Option<&'a Value>,
}

fn required_str<'a>(field: Option<&'a Value>, key: &str) -> Result<&'a str, String> {
    match field {
        None | Some(Value::Null) => Err(format!("`{key}` is required")),
        Some(Value::Str(s)) if s.is_empty() => Err(format!("`{key}` must not be empty")),
        Some(Value::Str(s)) => Ok(s),
        Some(v) => Err(format!("`{key}` must be a string, got {}", v.kind())),
    }
}

/// Optional string fields: absent, null and `""` all mean "not set" (the shipped Flexprice
/// configs write `event_id = this.event_id.or("")`).
fn optional_str<'a>(field: Option<&'a Value>, key: &str) -> Result<Option<&'a str>, String> {
    match field {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) if s.is_empty() => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(v) => Err(format!("`{key}` must be a string, got {}", v.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Map;
    use std::sync::Arc;

    /// A Kafka record of topic `usage`, or (partition -1) the `offset`-th line of an input
    /// named `usage`.
    fn origin(partition: i32, offset: i64) -> Origin {
        named("usage", partition, offset)
    }

    fn named(name: &str, partition: i32, offset: i64) -> Origin {
        Origin::at(if partition >= 0 {
            Position::Kafka {
                topic: Arc::from(name),
                partition,
                offset,
            }
        } else {
            Position::Sequence {
                input: Arc::from(name),
                seq: offset as u64,
            }
        })
    }

    fn doc(pairs: &[(&str, Value)]) -> Value {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert((*k).to_string(), v.clone());
        }
        Value::Object(m)
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn parse(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).expect("encoder output must be JSON")
    }

    #[test]
    fn full_event_is_encoded_as_is() {
        let mut props = Map::new();
        props.insert("tokens".into(), Value::Int(42));
        props.insert("model".into(), s("gpt\n\"4\""));
        let d = doc(&[
            ("event_name", s("api.call")),
            ("external_customer_id", s("cust_1")),
            ("event_id", s("e-1")),
            ("customer_id", s("c-9")),
            ("source", s("kafka")),
            ("timestamp", s("2026-01-02T15:04:05Z")),
            ("properties", Value::Object(props)),
        ]);
        let out = EventEncoder::new()
            .encode(&d, &origin(3, 7))
            .expect("valid");
        assert_eq!(
            parse(&out),
            serde_json::json!({"event_id":"e-1","event_name":"api.call","external_customer_id":"cust_1",
                "customer_id":"c-9","source":"kafka","timestamp":"2026-01-02T15:04:05Z",
                "properties":{"model":"gpt\n\"4\"","tokens":42}})
        );
    }

    /// Billing values go out exactly as the producer wrote them: `0.10` is not reformatted to
    /// `0.1` (nor `1e3` to `1000`) on the way from Kafka through a mapping to the API body.
    #[test]
    fn input_numbers_are_sent_as_written() {
        use crate::pipeline::Part;
        let raw = br#"{"event_name":"api.call","external_customer_id":"c","event_id":"e","timestamp":"2026-01-02T15:04:05Z","properties":{"amount":0.10,"rate":1e3,"n":2.5,"big":18446744073709551615}}"#;
        let procs = crate::processor::plan_yaml(
            r#"
- mapping: |
    root = this
    root.source = "kafka"
- mutation: root.properties.amount_str = this.properties.amount.string()
"#,
        );
        let mut part = Part::new(raw.to_vec(), origin(0, 1));
        for p in &procs {
            p.process(&mut part).expect("maps");
        }
        let v = part.take_value().expect("document");
        let out = EventEncoder::new()
            .encode(&v, &origin(0, 1))
            .expect("valid");
        let text = String::from_utf8(out).expect("utf-8");
        for want in [
            r#""amount":0.10"#,
            r#""rate":1e3"#,
            r#""n":2.5"#,
            r#""big":18446744073709551615"#,
            r#""amount_str":"0.10""#,
        ] {
            assert!(text.contains(want), "`{want}` not in {text}");
        }
        // Still JSON the API side reads as the same numbers.
        let back = parse(text.as_bytes());
        assert_eq!(back["properties"]["amount"].as_f64(), Some(0.1));
        assert_eq!(back["properties"]["rate"].as_f64(), Some(1000.0));
    }

    #[test]
    fn missing_id_and_timestamp_are_filled_deterministically() {
        let d = doc(&[
            ("event_name", s("api.call")),
            ("external_customer_id", s("cust_1")),
            ("event_id", s("")),
        ]);
        let enc = EventEncoder::new();
        let a = parse(&enc.encode(&d, &origin(3, 7)).expect("valid"));
        let b = parse(&enc.encode(&d, &origin(3, 7)).expect("valid"));
        assert_eq!(a["event_id"], "usage-3-7");
        assert_eq!(a["event_id"], b["event_id"], "same origin, same id");
        let ts = a["timestamp"].as_str().expect("timestamp set");
        clock::check_rfc3339(ts).expect("rfc3339");
        assert!(ts.ends_with('Z') && ts.len() == 24, "UTC with ms: {ts}");
        assert!(a.get("properties").is_none() && a.get("customer_id").is_none());
        // With a source timestamp, the default is that instant: stable across redeliveries.
        let mut o = origin(3, 7);
        o.timestamp_ms = Some(1_795_586_462_123);
        let k = parse(&enc.encode(&d, &o).expect("valid"));
        assert_eq!(k["timestamp"], "2026-11-25T06:01:02.123Z");
        // Unpartitioned inputs: stable within a run, distinct per offset.
        let c = parse(&enc.encode(&d, &origin(-1, 7)).expect("valid"));
        let e = parse(&enc.encode(&d, &origin(-1, 8)).expect("valid"));
        assert_ne!(c["event_id"], e["event_id"]);
        assert_eq!(
            enc.derived_id(&origin(-1, 7)),
            c["event_id"].as_str().expect("id")
        );
        // The id written straight into the event is the documented form, escaped as JSON
        // (a file input's "topic" is its path, which may hold quotes or backslashes).
        for (partition, offset) in [(3, 7), (-1, 123_456_789_012), (0, 0)] {
            let o = named("dir\\a \"b\"/events.jsonl", partition, offset);
            let j = parse(&enc.encode(&d, &o).expect("valid"));
            assert_eq!(j["event_id"].as_str(), Some(&enc.derived_id(&o)[..]));
        }
    }

    /// The field `match` in `encode` and the list the error quotes agree: every listed field
    /// is taken, anything else (near misses included) is refused by name.
    #[test]
    fn the_known_field_check_is_the_known_list() {
        let enc = EventEncoder::new();
        let with = |k: &str| {
            let mut d = doc(&[("event_name", s("e")), ("external_customer_id", s("c"))]);
            if let Value::Object(m) = &mut d {
                m.entry(k.to_string()).or_insert(Value::Null);
            }
            enc.encode(&d, &origin(0, 0))
        };
        for k in KNOWN {
            assert!(with(k).is_ok(), "{k}: {:?}", with(k));
        }
        for k in [
            "",
            "event",
            "event_names",
            "Event_name",
            "properties ",
            "external_customer",
        ] {
            let err = with(k).expect_err(k);
            assert!(err.starts_with(&format!("unknown field `{k}`")), "{err}");
        }
    }

    #[test]
    fn invalid_events_name_the_problem() {
        let enc = EventEncoder::new();
        let o = origin(0, 0);
        let base = [("event_name", s("x")), ("external_customer_id", s("c"))];
        let cases: Vec<(Value, &str)> = vec![
            (s("not an object"), "must be a JSON object"),
            (
                doc(&[("external_customer_id", s("c"))]),
                "`event_name` is required",
            ),
            (
                doc(&[("event_name", s("")), ("external_customer_id", s("c"))]),
                "`event_name` must not be empty",
            ),
            (
                doc(&[("event_name", s("x"))]),
                "`external_customer_id` is required",
            ),
            (
                doc(&[
                    ("event_name", Value::Int(1)),
                    ("external_customer_id", s("c")),
                ]),
                "`event_name` must be a string, got number",
            ),
            (
                doc(&[base[0].clone(), base[1].clone(), ("extra", s("y"))]),
                "unknown field `extra`",
            ),
            (
                doc(&[
                    base[0].clone(),
                    base[1].clone(),
                    ("timestamp", s("yesterday")),
                ]),
                "not RFC 3339",
            ),
            (
                doc(&[
                    base[0].clone(),
                    base[1].clone(),
                    ("timestamp", Value::Int(1)),
                ]),
                "`timestamp` must be a string",
            ),
            (
                doc(&[
                    base[0].clone(),
                    base[1].clone(),
                    ("properties", Value::Array(vec![])),
                ]),
                "`properties` must be an object, got array",
            ),
            (
                doc(&[
                    base[0].clone(),
                    base[1].clone(),
                    ("source", Value::Bool(true)),
                ]),
                "`source` must be a string, got bool",
            ),
        ];
        for (d, want) in cases {
            let err = enc.encode(&d, &o).expect_err(want);
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn oversized_event_is_rejected() {
        let big = "x".repeat(MAX_BODY_BYTES);
        let d = doc(&[
            ("event_name", s("x")),
            ("external_customer_id", s("c")),
            ("source", Value::Str(big)),
        ]);
        let err = EventEncoder::new()
            .encode(&d, &origin(0, 0))
            .expect_err("too big");
        assert!(err.contains("at most"), "{err}");
    }
}
