//! Runtime, the top layer: plans a config, starts the stages on their threads, and drains on
//! stop. Nothing imports it.
//!
//! ```text
//! input thread ──bounded──▶ N processor threads ──bounded──▶ output stage (batcher + writers)
//! ```
//! Messages and events travel in chunks (see [`crate::pipeline::Chunk`]): one channel
//! operation per chunk. A full channel blocks the stage before it. Stop: the input stops and
//! drops its sender; the processors finish what is queued and drop theirs; the output stage
//! flushes and returns; then the input (which may still hold offsets to commit) is told
//! everything drained.

pub mod config;
mod deliver;
pub mod plan;
mod process;
pub mod signals;

pub use config::Config;
pub use deliver::run as run_output;
pub use plan::{start_output, Plan};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::observe;
use crate::pipeline::telemetry::health::{self, StageHealth};
use crate::pipeline::telemetry::{latency, metrics};
use crate::pipeline::{self, Chunk, Control, Event, InputContext, Processor};

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

/// Start every stage of `plan` and run the pipeline until the input ends or `ctl` asks to
/// stop.
pub fn run(plan: Plan, ctl: &Control) -> anyhow::Result<Summary> {
    let start = Instant::now();
    let Plan {
        config,
        input,
        processors,
        output,
    } = plan;
    // Up first, so `/ready` says "starting" while stages connect; stopped on every return.
    let services = observe::start(&config.http, &config.logger, &config.metrics)?;
    let output: Arc<dyn pipeline::Output> = Arc::from(output.start()?);
    let processors: Arc<[Box<dyn Processor>]> = processors.into();
    let metadata = processors.iter().any(|p| p.reads_metadata());
    let encoder = output.encoder();
    let capacity = input.buffer();
    let (chunk_len, slots) = (
        pipeline::chunk_len(capacity),
        pipeline::chunk_slots(capacity),
    );
    let (msg_tx, msg_rx) = crossbeam_channel::bounded::<Chunk>(slots);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded::<Vec<Event>>(slots);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<(&'static str, anyhow::Result<()>)>(2);

    // An input without a remote end is connected once it runs; Kafka reports its own state
    // (connected once it has joined the group). Outputs start connected, as Bento's flexprice
    // output does (its Connect never fails), so an idle collector with nothing to send is
    // ready; an output with work is not ready until its first delivery (see
    // `telemetry::health`). The flexprice output reports `false` on errors that are not an
    // event's fault, with the remedy, and `true` again on the next answer that is not.
    if !input.reports_connection() {
        StageHealth::input().connected();
    }
    StageHealth::output().connected();
    let threads = config.pipeline.thread_count();
    tracing::info!(
        input = input.name(),
        output = output.name(),
        threads,
        "pipeline starting"
    );

    let output_thread = {
        let ctl = ctl.clone();
        let done = done_tx.clone();
        let output = Arc::clone(&output);
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                let r = deliver::run(output.as_ref(), &ev_rx, &ctl);
                ctl.mark_drained();
                let _ = done.send(("output", r));
            })?
    };
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let rx = msg_rx.clone();
            let tx = ev_tx.clone();
            let procs = Arc::clone(&processors);
            let enc = Arc::clone(&encoder);
            std::thread::Builder::new()
                .name(format!("processor-{i}"))
                .stack_size(pipeline::PROCESSOR_STACK)
                .spawn(move || process::process_loop(&rx, &tx, &procs, enc.as_ref()))
        })
        .collect::<Result<_, _>>()?;
    drop((msg_rx, ev_tx));
    let input_thread = {
        let cx = InputContext {
            out: msg_tx,
            chunk_len,
            control: ctl.clone(),
            health: StageHealth::input(),
            metadata,
        };
        std::thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                let r = input.run(cx);
                let _ = done_tx.send(("input", r));
            })?
    };

    // Wait for both ends; once a stop is requested, for no longer than shutdown_timeout.
    let mut first_error: Option<anyhow::Error> = None;
    let mut pending = 2;
    let mut timed_out = false;
    let mut input_done = false;
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
                input_done |= stage == "input";
                if let Err(e) = result {
                    let reason = format!("{stage} failed: {e:#}");
                    match stage {
                        "input" => StageHealth::input().disconnected(&reason),
                        _ => StageHealth::output().disconnected(&reason),
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
                if !input_done {
                    // The input keeps the end of the timeout for its final commit and close
                    // (a Kafka consumer leaving its group); it did not make it.
                    tracing::warn!(
                        "the input had not finished closing: a Kafka consumer group may wait a session timeout before it re-assigns this member's partitions"
                    );
                }
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
