//! `try` and `catch`: processors that run other processors, by the message's error flag.
//!
//! - `try: [p1, p2, …]` runs its processors in order and stops at the first that fails the
//!   message (the message stays errored for what comes after the `try`).
//! - `catch: [p1, …]` runs its processors only on a message that is errored, then clears the
//!   flag: the message goes on as a good one (Bento's recovery pattern: log it, fix it, or
//!   `root = deleted()` it).

use serde::{Deserialize, Serialize};

use super::{Planner, ProcessorConfig, ProcessorSpec};
use crate::pipeline::{Part, ProcessError, Processor, Step};

/// `try:` — a list of processors.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct TryConfig(pub Vec<ProcessorConfig>);

/// `catch:` — a list of processors.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct CatchConfig(pub Vec<ProcessorConfig>);

struct Try(Vec<Box<dyn Processor>>);
struct Catch(Vec<Box<dyn Processor>>);

impl ProcessorSpec for TryConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        Some(Box::new(Try(cx.chain(path, &self.0)?)))
    }
}

impl ProcessorSpec for CatchConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        Some(Box::new(Catch(cx.chain(path, &self.0)?)))
    }
}

impl Processor for Try {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        // A message that arrives errored is left alone, as Bento's `try` does.
        if part.error.is_some() {
            return Ok(Step::Continue);
        }
        for p in &self.0 {
            match p.process(part) {
                Ok(Step::Continue) => {}
                Ok(Step::Drop) => return Ok(Step::Drop),
                Err(e) => return Err(e),
            }
        }
        Ok(Step::Continue)
    }

    fn reads_metadata(&self) -> bool {
        self.0.iter().any(|p| p.reads_metadata())
    }
}

impl Processor for Catch {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        if part.error.is_none() {
            return Ok(Step::Continue);
        }
        for p in &self.0 {
            match p.process(part) {
                Ok(Step::Continue) => {}
                Ok(Step::Drop) => return Ok(Step::Drop),
                Err(e) => part.fail(e),
            }
        }
        part.error = None;
        Ok(Step::Continue)
    }

    fn reads_metadata(&self) -> bool {
        self.0.iter().any(|p| p.reads_metadata())
    }
}
