//! Shared by the output tests: runs `output.flexprice` on its own thread (the runtime's output
//! stage: batcher and writers) and plays the processor threads, feeding it `Event`s encoded by
//! the output's own encoder and acked through a `Checkpointer` like a Kafka partition's.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use flexprice_collector::document::{Map, Value};
use flexprice_collector::output::flexprice::FlexpriceConfig;
use flexprice_collector::output::{OutputConfig, OutputKind};
use flexprice_collector::pipeline::{
    Body, Checkpointer, Control, Encoder, Event, Origin, Output, Position,
};
use flexprice_collector::runtime;

/// Start a flexprice output alone, as the runtime starts it (its dead-letter fallback
/// included).
pub fn start(cfg: FlexpriceConfig) -> Box<dyn Output> {
    runtime::start_output(&OutputConfig {
        label: String::new(),
        processors: Vec::new(),
        component: OutputKind::Flexprice(cfg),
    })
    .expect("output starts")
}

pub struct Running {
    tx: Option<Sender<Vec<Event>>>,
    done: crossbeam_channel::Receiver<anyhow::Result<()>>,
    encoder: Arc<dyn Encoder>,
    pub cp: Arc<Checkpointer>,
    next_offset: i64,
    #[allow(dead_code)] // keeps the clone alive alongside the output thread
    ctl: Control,
}

impl Running {
    pub fn start(cfg: FlexpriceConfig) -> Running {
        Self::start_with(cfg, Control::new(Duration::from_secs(10)))
    }

    pub fn start_with(cfg: FlexpriceConfig, ctl: Control) -> Running {
        let out = start(cfg);
        let encoder = out.encoder();
        let (tx, rx) = crossbeam_channel::bounded::<Vec<Event>>(64);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let c = ctl.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(runtime::run_output(out.as_ref(), &rx, &c));
        });
        Running {
            tx: Some(tx),
            done,
            encoder,
            cp: Checkpointer::new(),
            next_offset: 0,
            ctl,
        }
    }

    fn origin(&mut self) -> Origin {
        let o = Origin {
            received_at: Some(Instant::now()),
            ..Origin::at(Position::Kafka {
                topic: Arc::from("usage"),
                partition: 0,
                offset: self.next_offset,
            })
        };
        self.next_offset += 1;
        o
    }

    /// Encode `doc` like a processor thread would and hand it over.
    pub fn send(&mut self, doc: serde_json::Value) {
        let origin = self.origin();
        let ack = self.cp.track(self.next_offset - 1);
        let value = to_value(&doc);
        let body = match self.encoder.encode(&value, &origin) {
            Ok(b) => Body::Ready(b),
            Err(reason) => Body::Failed {
                raw: doc.to_string().into_bytes(),
                reason,
            },
        };
        self.tx
            .as_ref()
            .expect("still open")
            .send(vec![Event::new(body, origin, ack)])
            .expect("output running");
    }

    pub fn send_failed(&mut self, raw: &[u8], reason: &str) {
        let origin = self.origin();
        let ack = self.cp.track(self.next_offset - 1);
        let body = Body::Failed {
            raw: raw.to_vec(),
            reason: reason.into(),
        };
        self.tx
            .as_ref()
            .expect("still open")
            .send(vec![Event::new(body, origin, ack)])
            .expect("output running");
    }

    /// Close the events channel and wait (bounded) for the output to return.
    pub fn finish(mut self, within: Duration) -> (Arc<Checkpointer>, i64) {
        self.tx.take();
        let r = self
            .done
            .recv_timeout(within)
            .expect("output must return after its input closes");
        r.expect("output run ok");
        (self.cp, self.next_offset)
    }
}

pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                m.insert(k.clone(), to_value(v));
            }
            Value::Object(m)
        }
    }
}
