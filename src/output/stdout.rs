//! `output.stdout`: one JSON line per event. An event is acked once its line is flushed.

use std::io::Write;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use serde::{Deserialize, Serialize};

use crate::config::Problems;
use crate::pipeline::telemetry::metrics;
use crate::pipeline::Ack;
use crate::pipeline::Control;
use crate::pipeline::{Body, Encoder, Event, JsonEncoder, Output};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// Accepted for Bento compatibility; only `lines` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

impl StdoutConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        if let Some(c) = &self.codec {
            if c != "lines" {
                p.add(
                    format!("{path}.codec"),
                    format!("codec `{c}` is not supported; use `lines`"),
                );
            }
        }
    }
}

pub struct StdoutOutput;

impl StdoutOutput {
    pub fn new(_: &StdoutConfig) -> StdoutOutput {
        StdoutOutput
    }
}

impl Output for StdoutOutput {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(JsonEncoder)
    }

    fn run(self: Box<Self>, events: Receiver<Vec<Event>>, _ctl: &Control) -> anyhow::Result<()> {
        let m = metrics::get();
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        let mut pending: Vec<Ack> = Vec::with_capacity(1024);
        // Block for the first chunk, then take whatever else is queued, write it all, flush
        // once, and only then ack: an acked line is a line that reached stdout.
        while let Ok(first) = events.recv() {
            let mut next = Some(first);
            while let Some(chunk) = next {
                for ev in chunk {
                    match ev.body {
                        Body::Ready(bytes) => {
                            out.write_all(&bytes)?;
                            out.write_all(b"\n")?;
                            m.output_sent.inc();
                        }
                        Body::Failed { reason, .. } => {
                            tracing::error!(reason = %reason, position = %ev.origin.position, "message failed processing; not written");
                            m.output_error.inc();
                        }
                    }
                    pending.push(ev.ack);
                }
                next = if pending.len() < 1024 {
                    events.try_recv().ok()
                } else {
                    None
                };
            }
            out.flush()?;
            Ack::ack_all(pending.drain(..));
        }
        out.flush()?;
        Ok(())
    }
}
