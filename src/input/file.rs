//! `input.file`: JSON lines from files, read in order.

use std::fs::File;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::lines::{pump, LineSource, ReadEnd};
use super::InputSpec;
use crate::config::Problems;
use crate::pipeline::{AckCounter, Input, InputContext};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub paths: Vec<String>,
    /// Accepted for Bento compatibility; only `lines` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

impl InputSpec for FileConfig {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Box<dyn Input>> {
        let before = p.len();
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
        (p.len() == before).then(|| {
            Box::new(FileInput {
                paths: self.paths.clone(),
            }) as Box<dyn Input>
        })
    }
}

pub struct FileInput {
    paths: Vec<String>,
}

impl Input for FileInput {
    fn name(&self) -> &'static str {
        "file"
    }

    fn run(self: Box<Self>, cx: InputContext) -> anyhow::Result<()> {
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
            match pump(
                &mut src,
                &mut seq,
                &acks,
                &cx.out,
                cx.chunk_len,
                &cx.control,
            )
            .with_context(|| format!("input.file: failed reading `{path}`"))?
            {
                ReadEnd::Eof => tracing::debug!(path = %path, lines = seq, "file read to the end"),
                ReadEnd::Stopped => return Ok(()),
            }
        }
        Ok(())
    }
}
