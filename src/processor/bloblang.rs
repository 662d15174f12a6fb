//! The `mapping` (new document) and `mutation` (in place) processors: one processor, two ways
//! of running the compiled mapping on the message's document.

use crate::bloblang::{Mapping, MessageEnv};
use crate::pipeline::{Part, ProcessError, Processor, Step};

/// How the mapping treats the document.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// `mapping:` (and its older name `bloblang:`): `root` starts empty, `this` is the input;
    /// the result replaces the document (a deleted message keeps its input, dropped with the
    /// part).
    Mapping,
    /// `mutation:`: `root` starts as the input and is edited in place.
    Mutation,
}

pub struct BloblangProcessor {
    mapping: Mapping,
    mode: Mode,
}

impl BloblangProcessor {
    pub fn new(mapping: Mapping, mode: Mode) -> BloblangProcessor {
        BloblangProcessor { mapping, mode }
    }
}

impl Processor for BloblangProcessor {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        // Parse the payload first (a parse failure is the reason), then split the borrows.
        part.value()?;
        let Part {
            value,
            meta,
            origin,
            raw,
        } = part;
        let Some(doc) = value.as_mut() else {
            return Ok(Step::Continue);
        };
        let msg = MessageEnv {
            meta,
            origin: Some(origin),
            raw,
        };
        // A failed message goes on with its raw payload only, whatever is left in `doc`.
        let kept = match self.mode {
            Mode::Mapping => self.mapping.exec_replace(doc, msg),
            Mode::Mutation => self.mapping.mutate(doc, msg),
        }
        .map_err(|e| ProcessError::new(e.0))?;
        Ok(if kept { Step::Continue } else { Step::Drop })
    }

    fn reads_metadata(&self) -> bool {
        self.mapping.reads_metadata()
    }
}
