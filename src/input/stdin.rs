//! `input.stdin`: JSON lines from standard input.

use std::io::BufReader;
use std::sync::Arc;

use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use super::lines::{pump, ReadEnd};
use super::{Input, Message};
use crate::delivery::AckCounter;
use crate::runtime::Control;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// Accepted for Bento compatibility; only `lines` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

pub struct StdinInput;

impl StdinInput {
    pub fn new(_: &StdinConfig) -> StdinInput {
        StdinInput
    }
}

impl Input for StdinInput {
    fn name(&self) -> &'static str {
        "stdin"
    }

    fn run(self: Box<Self>, out: Sender<Message>, ctl: &Control) -> anyhow::Result<()> {
        // A read from stdin cannot be interrupted, so the reading happens on a detached thread
        // that hands messages through a small channel; this thread can then stop promptly.
        let (tx, rx) = crossbeam_channel::bounded::<Message>(64);
        let acks = AckCounter::new();
        let reader_ctl = ctl.clone();
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || {
                let name: Arc<str> = Arc::from("stdin");
                let mut seq = 0;
                let stdin = std::io::stdin();
                let mut reader = BufReader::with_capacity(1 << 16, stdin.lock());
                match pump(&mut reader, &name, &mut seq, &acks, &tx, &reader_ctl) {
                    Ok(ReadEnd::Eof) => tracing::debug!(lines = seq, "stdin reached end of input"),
                    Ok(ReadEnd::Stopped) => {}
                    Err(e) => tracing::error!(error = %e, "failed to read stdin"),
                }
            })?;
        loop {
            crossbeam_channel::select! {
                recv(rx) -> m => match m {
                    Ok(m) => {
                        crossbeam_channel::select! {
                            send(out, m) -> r => if r.is_err() { return Ok(()) },
                            recv(ctl.stopping()) -> _ => return Ok(()),
                        }
                    }
                    Err(_) => return Ok(()),
                },
                recv(ctl.stopping()) -> _ => return Ok(()),
            }
        }
    }
}
