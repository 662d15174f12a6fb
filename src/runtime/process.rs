//! The processor threads: each takes a chunk of messages, runs the processors on every one,
//! encodes it for the output, and hands the chunk of events on.

use crossbeam_channel::{Receiver, Sender};

use crate::pipeline::telemetry::metrics;
use crate::pipeline::{run_chain, Ack, Body, Chunk, Encoder, Event, Part, Processor, Step};

/// One processor thread: run the processors, encode, hand to the output, a chunk at a time.
pub fn process_loop(
    rx: &Receiver<Chunk>,
    tx: &Sender<Vec<Event>>,
    processors: &[Box<dyn Processor>],
    encoder: &dyn Encoder,
) {
    let m = metrics::get();
    for chunk in rx {
        let mut events = Vec::with_capacity(chunk.len());
        let mut filtered = Vec::new();
        for msg in chunk {
            let mut part = Part::new(msg.payload, msg.origin);
            // A panic in a processor or the encoder is a bug, but it must cost one message,
            // not the worker thread: with every worker gone the pipeline would stall with
            // nothing logged after the panic. The message is dead-lettered with the panic's
            // text.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_processors(&mut part, processors, encoder)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(panic = %what, position = %part.origin.position, "processing panicked (a bug); dead-lettering the message");
                Some(Err(format!("internal error while processing (a bug, please report it): {what}")))
            });
            let Some(outcome) = outcome else {
                filtered.push(msg.ack);
                continue;
            };
            let (origin, raw) = part.into_parts();
            let body = match outcome {
                Ok(bytes) => Body::Ready(bytes),
                Err(reason) => {
                    m.processor_error.inc();
                    Body::Failed {
                        raw,
                        reason: bounded_reason(reason),
                    }
                }
            };
            events.push(Event::new(body, origin, msg.ack));
        }
        if !filtered.is_empty() {
            m.processor_dropped.add(filtered.len() as u64);
            Ack::ack_all(filtered);
        }
        if !events.is_empty() && tx.send(events).is_err() {
            return; // output gone: what is left stays un-acked and is redelivered
        }
    }
}

/// Longest failure reason kept, in bytes. Reasons quote the input (a field name, a timestamp,
/// the string `.number()` could not parse), and a 5 MB field name would otherwise make a 5 MB
/// log line per message and a reason as large as the payload in the dead-letter record, which
/// keeps the payload itself in full anyway.
const MAX_REASON: usize = 1024;

fn bounded_reason(mut reason: String) -> String {
    if reason.len() > MAX_REASON {
        let total = reason.len();
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str(&format!("… (reason cut at {MAX_REASON} of {total} bytes)"));
    }
    reason
}

/// Run the processors and encode the result. `None`: filtered out (`deleted()`). A message
/// still errored at the end of the chain is not encoded: it goes to the dead-letter path with
/// its error.
fn run_processors(
    part: &mut Part,
    processors: &[Box<dyn Processor>],
    encoder: &dyn Encoder,
) -> Option<Result<Vec<u8>, String>> {
    if run_chain(processors, part) == Step::Drop {
        return None;
    }
    if let Some(e) = part.error.take() {
        return Some(Err(e));
    }
    Some(
        part.take_value()
            .map_err(|e| e.0)
            .and_then(|doc| encoder.encode(&doc, &part.origin)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Value;
    use crate::pipeline::ProcessError;
    use crate::pipeline::{Message, Origin};

    struct Panics;
    impl Processor for Panics {
        fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
            if part.raw() == b"boom" {
                panic!("index out of bounds: the len is 0 but the index is 3");
            }
            Ok(Step::Continue)
        }
    }

    struct Raw;
    impl Encoder for Raw {
        fn encode(&self, doc: &Value, _: &Origin) -> Result<Vec<u8>, String> {
            match doc {
                Value::Str(s) if s.starts_with("long") => {
                    Err(format!("bad `{}`", "é".repeat(5000)))
                }
                _ => Ok(doc.to_json_string().into_bytes()),
            }
        }
    }

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        let (in_tx, in_rx) = crossbeam_channel::bounded(1);
        let (out_tx, out_rx) = crossbeam_channel::bounded(1);
        in_tx
            .send(vec![Message {
                payload: br#""long""#.to_vec(),
                origin: Origin::default(),
                ack: Ack::none(),
            }])
            .expect("queued");
        drop(in_tx);
        process_loop(&in_rx, &out_tx, &[], &Raw);
        match out_rx.recv().map(|mut e| e.remove(0).body) {
            Ok(Body::Failed { raw, reason }) => {
                assert_eq!(raw, br#""long""#, "the payload is kept whole");
                assert!(reason.len() < MAX_REASON + 100, "{}", reason.len());
                assert!(reason.starts_with("bad `éé"));
                assert!(
                    reason.ends_with("(reason cut at 1024 of 10006 bytes)"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// A processor that panics on one message: that message is dead-lettered with the panic's
    /// text, the same worker goes on with the next ones.
    #[test]
    fn a_panicking_processor_costs_one_message_not_the_worker() {
        let (in_tx, in_rx) = crossbeam_channel::bounded(4);
        let (out_tx, out_rx) = crossbeam_channel::bounded(4);
        // One chunk, so the same worker meets the panic and the messages after it.
        let chunk = [&b"1"[..], b"boom", b"2"]
            .map(|p| Message {
                payload: p.to_vec(),
                origin: Origin::default(),
                ack: Ack::none(),
            })
            .into();
        in_tx.send(chunk).expect("queued");
        drop(in_tx);
        let procs: Vec<Box<dyn Processor>> = vec![Box::new(Panics)];
        process_loop(&in_rx, &out_tx, &procs, &Raw);
        drop(out_tx);
        let got: Vec<Body> = out_rx.iter().flatten().map(|e| e.body).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(&got[0], Body::Ready(b) if b == b"1"));
        match &got[1] {
            Body::Failed { raw, reason } => {
                assert_eq!(raw, b"boom");
                assert!(
                    reason.contains("internal error") && reason.contains("index out of bounds"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&got[2], Body::Ready(b) if b == b"2"));
    }

    /// Bento's error model: a failing processor flags the message and the chain goes on, so
    /// a later processor sees `errored()` and `error()`; a `catch` clears the flag and the
    /// message goes out; one still errored at the end is dead-lettered with its error, and the
    /// document is the one the failed processor found.
    #[test]
    fn a_failed_message_is_flagged_and_the_chain_goes_on() {
        let plan = crate::processor::plan_yaml;
        let run = |procs: &[Box<dyn Processor>], payload: &[u8]| {
            let mut part = Part::new(payload.to_vec(), Origin::default());
            run_processors(&mut part, procs, &Raw)
        };
        let seen = plan(
            r#"
- mapping: 'root = if this.bad == true { throw("bad input") } else { this }'
- mapping: |
    root = this
    root.errored = errored()
    root.error = error()
"#,
        );
        match run(&seen, br#"{"bad":true}"#) {
            Some(Err(reason)) => assert!(reason.contains("bad input"), "{reason}"),
            other => panic!("an errored message is dead-lettered: {other:?}"),
        }
        match run(&seen, br#"{"bad":false}"#) {
            Some(Ok(b)) => assert_eq!(
                String::from_utf8_lossy(&b),
                r#"{"bad":false,"error":null,"errored":false}"#
            ),
            other => panic!("{other:?}"),
        }
        let caught = plan(
            r#"
- mutation: 'root.step = 1'
- mutation: 'root.n = this.n.number()'
- catch:
    - mapping: |
        root = this
        root.why = error()
"#,
        );
        match run(&caught, br#"{"n":"x"}"#) {
            Some(Ok(b)) => {
                let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
                assert_eq!(v["step"], 1, "the edit before the failure stays: {v}");
                assert!(
                    v.get("n").is_some_and(|n| n == "x"),
                    "unchanged by the failed mutation: {v}"
                );
                assert!(
                    v["why"].as_str().is_some_and(|w| w.contains("number")),
                    "{v}"
                );
            }
            other => panic!("catch recovers: {other:?}"),
        }
        let tried = plan(
            r#"
- try:
    - mapping: 'root = this.n.number()'
    - mapping: 'root = "never"'
"#,
        );
        match run(&tried, br#"{"n":"x"}"#) {
            Some(Err(reason)) => assert!(reason.contains("number"), "{reason}"),
            other => panic!("try stops at the first failure: {other:?}"),
        }
    }
}
