//! `input.stdin`: JSON lines from standard input.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use super::lines::{pump, LineSource, ReadEnd};
use crate::pipeline::AckCounter;
use crate::pipeline::Control;
use crate::pipeline::{Chunk, Input};

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

    fn run(self: Box<Self>, out: Sender<Chunk>, chunk: usize, ctl: &Control) -> anyhow::Result<()> {
        let stdin = std::io::stdin();
        let fd = stdin.as_raw_fd();
        let mut src = LineSource {
            reader: stdin.lock(),
            name: Arc::from("stdin"),
            poll_fd: Some(fd),
        };
        let mut seq = 0;
        let acks = AckCounter::new();
        match pump(&mut src, &mut seq, &acks, &out, chunk, ctl)? {
            ReadEnd::Eof => tracing::debug!(lines = seq, "stdin reached end of input"),
            ReadEnd::Stopped => tracing::debug!(lines = seq, "stdin stopped"),
        }
        Ok(())
    }
}
