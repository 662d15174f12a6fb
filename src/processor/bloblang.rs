//! The `mapping` (new document) and `mutation` (in place) processors.

use super::{Part, ProcessError, Processor, Step};
use crate::bloblang::{Mapping, MessageEnv};

/// `mapping:` (and its older name `bloblang:`): `root` starts empty, `this` is the input.
pub struct MappingProcessor {
    mapping: Mapping,
}

impl MappingProcessor {
    pub fn new(mapping: Mapping) -> MappingProcessor {
        MappingProcessor { mapping }
    }
}

impl Processor for MappingProcessor {
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
        // The result replaces the document in place; a deleted message keeps its input,
        // dropped with the part. (A failed message goes on with its raw payload only.)
        let kept = self
            .mapping
            .exec_replace(
                doc,
                MessageEnv {
                    meta,
                    origin: Some(origin),
                    raw,
                },
            )
            .map_err(|e| ProcessError::new(e.0))?;
        Ok(if kept { Step::Continue } else { Step::Drop })
    }
}

/// `mutation:`: `root` starts as the input and is edited in place.
pub struct MutationProcessor {
    mapping: Mapping,
}

impl MutationProcessor {
    pub fn new(mapping: Mapping) -> MutationProcessor {
        MutationProcessor { mapping }
    }
}

impl Processor for MutationProcessor {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
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
        let kept = self
            .mapping
            .mutate(
                doc,
                MessageEnv {
                    meta,
                    origin: Some(origin),
                    raw,
                },
            )
            .map_err(|e| ProcessError::new(e.0))?;
        Ok(if kept { Step::Continue } else { Step::Drop })
    }
}
