//! `input.generate`: messages made by a Bloblang mapping, every `interval`, `count` times
//! (0 = forever). Lets a demo run without Kafka.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{after, select};
use serde::{Deserialize, Serialize};

use super::InputSpec;
use crate::bloblang::{Mapping, MessageEnv, Outcome};
use crate::config::{Duration, Problem, Problems};
use crate::document::{Map, Value};
use crate::pipeline::telemetry::metrics;
use crate::pipeline::{AckCounter, Chunk, Input, InputContext, Message, Origin, Position};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateConfig {
    pub mapping: String,
    /// Time between messages; `0s`/empty = as fast as possible. Bento's default is `1s`.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Messages to make before the input ends; 0 = no end.
    #[serde(default)]
    pub count: u64,
    /// Messages made at each interval.
    #[serde(default = "default_batch_size")]
    pub batch_size: u64,
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_batch_size() -> u64 {
    1
}

impl InputSpec for GenerateConfig {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Box<dyn Input>> {
        let mapping = match Mapping::compile(&self.mapping) {
            Ok(m) => Some(m),
            Err(e) => {
                p.push(
                    Problem::new(format!("{path}.mapping"), format!("bad mapping: {e}"))
                        .inside((e.line, e.column)),
                );
                None
            }
        };
        if self.batch_size == 0 {
            p.add(format!("{path}.batch_size"), "must be at least 1");
            return None;
        }
        Some(Box::new(GenerateInput {
            mapping: mapping?,
            interval: self.interval.get(),
            count: self.count,
            batch_size: self.batch_size,
        }))
    }
}

pub struct GenerateInput {
    mapping: Mapping,
    interval: std::time::Duration,
    count: u64,
    batch_size: u64,
}

impl GenerateInput {
    /// One message from the mapping; `None` when the mapping deleted it.
    fn make(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let mut meta = Map::new();
        let outcome = self
            .mapping
            .exec(
                &Value::Null,
                MessageEnv {
                    meta: &mut meta,
                    origin: None,
                    raw: b"",
                    error: None,
                },
            )
            .map_err(|e| anyhow::anyhow!("input.generate.mapping: {e}"))?;
        Ok(match outcome {
            Outcome::Doc(v) => {
                let mut out = Vec::with_capacity(256);
                v.write_json(&mut out);
                Some(out)
            }
            Outcome::Unchanged => Some(b"null".to_vec()),
            Outcome::Deleted => None,
        })
    }
}

impl Input for GenerateInput {
    fn name(&self) -> &'static str {
        "generate"
    }

    fn run(self: Box<Self>, cx: InputContext) -> anyhow::Result<()> {
        let (out, ctl) = (cx.out, &cx.control);
        let chunk_len = cx.chunk_len;
        let acks = AckCounter::new();
        let name: Arc<str> = Arc::from("generate");
        let chunk_len = chunk_len.max(1);
        let mut chunk: Chunk = Vec::with_capacity(chunk_len);
        // Send what was made; false once the pipeline is gone or a stop is requested.
        let flush = |chunk: &mut Chunk| -> bool {
            if chunk.is_empty() {
                return true;
            }
            let n = chunk.len() as u64;
            let full = std::mem::replace(chunk, Vec::with_capacity(chunk_len));
            select! {
                send(out, full) -> r => {
                    if r.is_ok() {
                        metrics::get().input_received.add(n);
                    }
                    r.is_ok()
                },
                recv(ctl.stopping()) -> _ => false,
            }
        };
        let mut made = 0u64;
        let mut next_tick = Instant::now();
        loop {
            for _ in 0..self.batch_size {
                if self.count > 0 && made >= self.count {
                    break;
                }
                made += 1;
                let Some(payload) = self.make()? else {
                    continue;
                };
                chunk.push(Message {
                    payload,
                    origin: Origin {
                        received_at: Some(Instant::now()),
                        ..Origin::at(Position::Sequence {
                            input: Arc::clone(&name),
                            seq: made,
                        })
                    },
                    ack: acks.issue(),
                });
                if chunk.len() >= chunk_len && !flush(&mut chunk) {
                    return Ok(());
                }
            }
            if self.count > 0 && made >= self.count {
                flush(&mut chunk);
                return Ok(());
            }
            if ctl.stop_requested() {
                return Ok(());
            }
            if !self.interval.is_zero() {
                // Made on a schedule: what this tick made goes now, not with the next tick's.
                if !flush(&mut chunk) {
                    return Ok(());
                }
                next_tick += self.interval;
                let wait = next_tick.saturating_duration_since(Instant::now());
                select! {
                    recv(after(wait)) -> _ => {},
                    recv(ctl.stopping()) -> _ => return Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Ack, Control};

    fn plan(c: &GenerateConfig) -> Box<dyn Input> {
        c.plan("input.generate", &mut Problems::default())
            .expect("valid config")
    }

    fn context(
        out: crossbeam_channel::Sender<Chunk>,
        chunk_len: usize,
        ctl: &Control,
    ) -> InputContext {
        InputContext {
            out,
            chunk_len,
            control: ctl.clone(),
            health: crate::pipeline::telemetry::health::StageHealth::input(),
            metadata: false,
        }
    }

    fn config(mapping: &str, count: u64, interval_ms: u64) -> GenerateConfig {
        GenerateConfig {
            mapping: mapping.into(),
            interval: Duration::from_millis(interval_ms),
            count,
            batch_size: 1,
        }
    }

    #[test]
    fn makes_count_messages_then_ends() {
        let input = plan(&config(r#"root.n = "x" + "y""#, 3, 0));
        let (tx, rx) = crossbeam_channel::bounded(8);
        let ctl = Control::new(std::time::Duration::from_secs(1));
        input.run(context(tx, 2, &ctl)).expect("run");
        let chunks: Vec<_> = rx.try_iter().collect();
        assert_eq!(chunks.len(), 2, "chunks of at most 2: {chunks:?}");
        let got: Vec<String> = chunks
            .into_iter()
            .flatten()
            .map(|m| {
                m.ack.ack();
                String::from_utf8_lossy(&m.payload).into_owned()
            })
            .collect();
        assert_eq!(got, vec![r#"{"n":"xy"}"#; 3]);
    }

    #[test]
    fn stops_promptly_mid_interval() {
        let input = plan(&config("root = 1", 0, 60_000));
        let (tx, rx) = crossbeam_channel::bounded(8);
        let ctl = Control::new(std::time::Duration::from_secs(1));
        let cx = context(tx, 16, &ctl);
        let t = std::thread::spawn(move || input.run(cx));
        // The first message comes at once, in a chunk of its own (the input does not hold it
        // back to fill a chunk); then the input waits a minute unless stopped.
        let first = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("first");
        assert_eq!(first.len(), 1);
        Ack::ack_all(first.into_iter().map(|m| m.ack));
        let started = Instant::now();
        ctl.request_stop();
        t.join().expect("join").expect("run");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_mapping_is_reported_by_validate() {
        let mut p = Problems::default();
        assert!(config("root = this.", 1, 0)
            .plan("input.generate", &mut p)
            .is_none());
        let found: Vec<_> = p.iter().collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "input.generate.mapping");
        assert_eq!(found[0].inner, Some((1, 13)), "{found:?}");
    }
}
