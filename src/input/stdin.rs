//! `input.stdin`: JSON lines from standard input.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::lines::{pump, LineSource, ReadEnd};
use super::InputSpec;
use crate::config::Problems;
use crate::pipeline::{AckCounter, Input, InputContext};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// Accepted for Bento compatibility; only `lines` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

pub struct StdinInput;

impl InputSpec for StdinConfig {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Box<dyn Input>> {
        if let Some(c) = &self.codec {
            if c != "lines" {
                p.add(
                    format!("{path}.codec"),
                    format!("codec `{c}` is not supported; use `lines`"),
                );
                return None;
            }
        }
        Some(Box::new(StdinInput))
    }
}

impl Input for StdinInput {
    fn name(&self) -> &'static str {
        "stdin"
    }

    fn run(self: Box<Self>, cx: InputContext) -> anyhow::Result<()> {
        let stdin = std::io::stdin();
        let fd = stdin.as_raw_fd();
        let mut src = LineSource {
            reader: stdin.lock(),
            name: Arc::from("stdin"),
            poll_fd: Some(fd),
        };
        let mut seq = 0;
        let acks = AckCounter::new();
        match pump(
            &mut src,
            &mut seq,
            &acks,
            &cx.out,
            cx.chunk_len,
            &cx.control,
        )? {
            ReadEnd::Eof => tracing::debug!(lines = seq, "stdin reached end of input"),
            ReadEnd::Stopped => tracing::debug!(lines = seq, "stdin stopped"),
        }
        Ok(())
    }
}
