//! The `mapping` (new document) and `mutation` (in place) processors, and `bloblang` (Bento's
//! older name of `mapping`): one processor, two ways of running the compiled mapping on the
//! message's document.

use serde::{Deserialize, Serialize};

use super::{Planner, ProcessorSpec};
use crate::bloblang::{Mapping, MessageEnv};
use crate::pipeline::{Part, ProcessError, Processor, Step};

/// `mapping: |` — the mapping's text; `root` starts empty, `this` is the input.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct MappingConfig(pub String);

/// `mutation: |` — the mapping's text; `root` starts as the input and is edited in place.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct MutationConfig(pub String);

impl ProcessorSpec for MappingConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        let mapping = cx.mapping(path, &self.0)?;
        Some(Box::new(BloblangProcessor::new(
            mapping,
            Mode::Mapping,
            cx.followed(),
        )))
    }
}

impl ProcessorSpec for MutationConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        let mapping = cx.mapping(path, &self.0)?;
        Some(Box::new(BloblangProcessor::new(
            mapping,
            Mode::Mutation,
            cx.followed(),
        )))
    }
}

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
    /// A later processor may see the document of a message this one fails (see [`Planner`]).
    followed: bool,
}

impl BloblangProcessor {
    pub fn new(mapping: Mapping, mode: Mode, followed: bool) -> BloblangProcessor {
        BloblangProcessor {
            mapping,
            mode,
            followed,
        }
    }

    /// Whether a run works on the document itself (moved into `root`), so a failure midway
    /// leaves it half edited.
    fn in_place(&self) -> bool {
        matches!(self.mode, Mode::Mutation) || self.mapping.runs_in_place()
    }
}

impl Processor for BloblangProcessor {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        // Parse the payload first (a parse failure is the reason), then split the borrows.
        part.value()?;
        // A failed processor leaves the document as it found it (Bento's rule). An in-place
        // run cannot, so: a document nobody has changed yet is parsed again from `raw`; one an
        // earlier processor changed is copied first, if a later processor could see it.
        let in_place = self.in_place();
        let snapshot = (in_place && part.is_edited() && self.followed)
            .then(|| part.value.clone())
            .flatten();
        let Part {
            value,
            meta,
            origin,
            raw,
            error,
            ..
        } = part;
        let Some(doc) = value.as_mut() else {
            return Ok(Step::Continue);
        };
        let msg = MessageEnv {
            meta,
            origin: Some(origin),
            raw,
            error: error.as_deref(),
        };
        let kept = match self.mode {
            Mode::Mapping => self.mapping.exec_replace(doc, msg),
            Mode::Mutation => self.mapping.mutate(doc, msg),
        };
        match kept {
            Ok(kept) => {
                part.mark_edited();
                Ok(if kept { Step::Continue } else { Step::Drop })
            }
            Err(e) => {
                if in_place {
                    match snapshot {
                        Some(v) => part.value = Some(v),
                        None if !part.is_edited() => part.discard_value(),
                        // Changed before, and nothing after this processor reads it.
                        None => {}
                    }
                }
                Err(ProcessError::new(e.0))
            }
        }
    }

    fn reads_metadata(&self) -> bool {
        self.mapping.reads_metadata()
    }
}
