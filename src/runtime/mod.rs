//! Runtime: builds the stages from config, runs them on their threads, and drains on stop.
//!
//! ```text
//! input thread ──bounded──▶ N processor threads ──bounded──▶ output (its own threads)
//! ```
//! Messages and events travel in chunks (see [`crate::input::Chunk`]): one channel operation
//! per chunk. A full channel blocks the stage before it. Stop: the input stops and drops its
//! sender; the processors finish what is queued and drop theirs; the output flushes and
//! returns; then the input (which may still hold offsets to commit) is told everything drained.

pub mod signals;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender};

use crate::config::Config;
use crate::input::InputConfig;
use crate::observe;
use crate::pipeline::telemetry::{health, latency, metrics};
use crate::pipeline::Ack;
use crate::pipeline::{self, Body, Chunk, Control, Encoder, Event};
use crate::pipeline::{Part, Processor, Step};

/// Stack of a processor thread. Parsing, mapping, encoding and dropping a document recurse
/// once per nesting level; the deepest document the parser accepts (1023 levels) needs about
/// 1–2 MiB of stack in a debug build (far less in release), close to Rust's 2 MiB default.
/// 8 MiB is the margin; it is address space, and only the pages actually used are committed.
pub const PROCESSOR_STACK: usize = 8 << 20;

/// What a run did, from the metrics.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub received: u64,
    pub sent: u64,
    pub filtered: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    pub batches: u64,
    pub elapsed: Duration,
    /// Request (batch) send latency over the whole run.
    pub send_latency: latency::Snapshot,
    /// End-to-end event latency (source timestamp to 202) over the whole run.
    pub e2e_latency: latency::Snapshot,
    /// True when the graceful stop ran out of time and left work un-acked.
    pub timed_out: bool,
}

impl Summary {
    fn capture(start: Instant, timed_out: bool) -> Summary {
        let m = metrics::get();
        Summary {
            received: m.input_received.get(),
            sent: m.output_sent.get(),
            filtered: m.processor_dropped.get(),
            failed: m.processor_error.get(),
            dead_lettered: m.output_dead_letter.get(),
            batches: m.batch_created.get(),
            elapsed: start.elapsed(),
            send_latency: latency::batch_send().total(),
            e2e_latency: latency::event_e2e().total(),
            timed_out,
        }
    }
}

/// Build every stage and run the pipeline until the input ends or `ctl` asks to stop.
pub fn run(config: &Config, ctl: &Control) -> anyhow::Result<Summary> {
    let start = Instant::now();
    // Up first, so `/ready` says "starting" while stages connect; stopped on every return.
    let services = observe::start(&config.http, &config.logger, &config.metrics)?;
    let processors: Arc<[Box<dyn Processor>]> = config
        .pipeline
        .processors
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.build()
                .with_context(|| format!("pipeline.processors.{i}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .into();
    let output = config.output.build().context("output")?;
    let metadata = processors.iter().any(|p| p.reads_metadata());
    let input = config.input.build(metadata).context("input")?;
    let encoder = output.encoder();
    let capacity = match &config.input {
        InputConfig::Kafka(k) => k.fetch_buffer_cap,
        _ => 1024,
    };
    let (chunk_len, slots) = (
        pipeline::chunk_len(capacity),
        pipeline::chunk_slots(capacity),
    );
    let (msg_tx, msg_rx) = crossbeam_channel::bounded::<Chunk>(slots);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded::<Vec<Event>>(slots);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<(&'static str, anyhow::Result<()>)>(2);

    // An input without a remote end is connected once built; `kafka` reports its own state
    // (connected once it has joined the group). Outputs start connected, as Bento's flexprice
    // output does (its Connect never fails), so an idle collector is ready; the flexprice output
    // reports `false` on connection errors and `true` again on the next answer (observe::health).
    if !matches!(config.input, InputConfig::Kafka(_)) {
        health::set_input_connected(true, "");
    }
    health::set_output_connected(true, "");
    tracing::info!(
        input = input.name(),
        output = output.name(),
        threads = config.pipeline.thread_count(),
        "pipeline starting"
    );

    let output_thread = {
        let ctl = ctl.clone();
        let done = done_tx.clone();
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                let r = output.run(ev_rx, &ctl);
                ctl.mark_drained();
                let _ = done.send(("output", r));
            })?
    };
    let workers: Vec<_> = (0..config.pipeline.thread_count())
        .map(|i| {
            let rx = msg_rx.clone();
            let tx = ev_tx.clone();
            let procs = Arc::clone(&processors);
            let enc = Arc::clone(&encoder);
            std::thread::Builder::new()
                .name(format!("processor-{i}"))
                .stack_size(PROCESSOR_STACK)
                .spawn(move || process_loop(&rx, &tx, &procs, enc.as_ref()))
        })
        .collect::<Result<_, _>>()?;
    drop((msg_rx, ev_tx));
    let input_thread = {
        let ctl = ctl.clone();
        std::thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                let r = input.run(msg_tx, chunk_len, &ctl);
                let _ = done_tx.send(("input", r));
            })?
    };

    // Wait for both ends; once a stop is requested, for no longer than shutdown_timeout.
    let mut first_error: Option<anyhow::Error> = None;
    let mut pending = 2;
    let mut timed_out = false;
    while pending > 0 {
        let next = match ctl.deadline() {
            Some(deadline) => done_rx.recv_deadline(deadline).map_err(|_| ()),
            None => crossbeam_channel::select! {
                recv(done_rx) -> r => r.map_err(|_| ()),
                recv(ctl.stopping()) -> _ => continue,
            },
        };
        match next {
            Ok((stage, result)) => {
                pending -= 1;
                if let Err(e) = result {
                    let reason = format!("{stage} failed: {e:#}");
                    match stage {
                        "input" => health::set_input_connected(false, &reason),
                        _ => health::set_output_connected(false, &reason),
                    }
                    tracing::error!(stage, error = format!("{e:#}"), "stage failed; stopping");
                    first_error.get_or_insert(e.context(stage));
                    ctl.request_stop();
                }
            }
            Err(()) => {
                timed_out = true;
                tracing::warn!(
                    timeout = %crate::config::duration::format(config.shutdown_timeout.get()),
                    "shutdown_timeout reached with work in flight; exiting without it (un-acked events are redelivered on restart)"
                );
                break;
            }
        }
    }
    if !timed_out {
        for w in workers {
            let _ = w.join();
        }
        let _ = output_thread.join();
        let _ = input_thread.join();
    }
    services.stop();
    health::get().reset("pipeline stopped");
    match first_error {
        Some(e) => Err(e),
        None => Ok(Summary::capture(start, timed_out)),
    }
}

/// One processor thread: run the processors, encode, hand to the output, a chunk at a time.
fn process_loop(
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
            events.push(Event {
                body,
                origin,
                ack: msg.ack,
            });
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

/// Run every processor and encode the result. `None`: filtered out (`deleted()`).
fn run_processors(
    part: &mut Part,
    processors: &[Box<dyn Processor>],
    encoder: &dyn Encoder,
) -> Option<Result<Vec<u8>, String>> {
    for p in processors {
        match p.process(part) {
            Ok(Step::Continue) => {}
            Ok(Step::Drop) => return None,
            Err(e) => return Some(Err(e.0)),
        }
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

    /// Bento's `errored()`/`error()` read the error flag an earlier processor left on a
    /// message. Here a failing processor ends the chain and the message goes to the dead-letter
    /// path with that reason, so no later processor ever runs on a failed message: they see
    /// `errored()` false and `error()` null, and the failure is reported once, by the
    /// dead-letter record.
    #[test]
    fn a_failed_message_never_reaches_the_next_processor() {
        use crate::processor::ProcessorConfig;
        let build = |src: &str| {
            ProcessorConfig::Mapping(src.into())
                .build()
                .expect("mapping compiles")
        };
        let procs = vec![
            build(r#"root = if this.bad == true { throw("bad input") } else { this }"#),
            build("root = this\nroot.errored = errored()\nroot.error = error()"),
        ];
        let run = |payload: &[u8]| {
            let mut part = Part::new(payload.to_vec(), Origin::default());
            run_processors(&mut part, &procs, &Raw)
        };
        match run(br#"{"bad":true}"#) {
            Some(Err(reason)) => assert!(reason.contains("bad input"), "{reason}"),
            other => panic!("the first failure must end the chain: {other:?}"),
        }
        match run(br#"{"bad":false}"#) {
            Some(Ok(b)) => assert_eq!(
                String::from_utf8_lossy(&b),
                r#"{"bad":false,"error":null,"errored":false}"#
            ),
            other => panic!("{other:?}"),
        }
    }
}
