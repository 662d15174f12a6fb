//! `input.file`: JSON lines from files, read in order.

use std::fs::File;
use std::sync::Arc;

use anyhow::Context;
use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use super::lines::{pump, LineSource, ReadEnd};
use crate::config::Problems;
use crate::pipeline::AckCounter;
use crate::pipeline::Control;
use crate::pipeline::{Chunk, Input};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub paths: Vec<String>,
    /// Accepted for Bento compatibility; only `lines` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

impl FileConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        if self.paths.is_empty() {
            p.add(format!("{path}.paths"), "at least one path is required");
        }
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

pub struct FileInput {
    paths: Vec<String>,
}

impl FileInput {
    pub fn new(c: &FileConfig) -> FileInput {
        FileInput {
            paths: c.paths.clone(),
        }
    }
}

impl Input for FileInput {
    fn name(&self) -> &'static str {
        "file"
    }

    fn run(self: Box<Self>, out: Sender<Chunk>, chunk: usize, ctl: &Control) -> anyhow::Result<()> {
        let acks = AckCounter::new();
        for path in &self.paths {
            let f =
                File::open(path).with_context(|| format!("input.file: cannot open `{path}`"))?;
            let mut src = LineSource {
                reader: f,
                name: Arc::from(path.as_str()),
                poll_fd: None,
            };
            let mut seq = 0;
            match pump(&mut src, &mut seq, &acks, &out, chunk, ctl)
                .with_context(|| format!("input.file: failed reading `{path}`"))?
            {
                ReadEnd::Eof => tracing::debug!(path = %path, lines = seq, "file read to the end"),
                ReadEnd::Stopped => return Ok(()),
            }
        }
        Ok(())
    }
}
