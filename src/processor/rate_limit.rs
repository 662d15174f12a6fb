//! `rate_limit`: holds each message until the rate limit it names (of `rate_limit_resources`)
//! grants access, as Bento's processor does. The wait is the processor's job; backpressure
//! does the rest (the input pauses while the processors wait).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Planner, ProcessorSpec};
use crate::pipeline::{Part, ProcessError, Processor, Step};
use crate::resource::RateLimit;

/// `rate_limit:` — Bento's fields.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitProcessorConfig {
    /// The label of an entry of `rate_limit_resources`.
    pub resource: String,
}

impl ProcessorSpec for RateLimitProcessorConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        let limit = cx.rate_limit(&self.resource, &format!("{path}.resource"))?;
        Some(Box::new(RateLimited { limit }))
    }
}

struct RateLimited {
    limit: Arc<dyn RateLimit>,
}

impl Processor for RateLimited {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        // Waiting is what a rate limit is for: each wait is as long as the limit says.
        while let Some(wait) = self.limit.access(part.raw().len()) {
            std::thread::sleep(wait);
        }
        Ok(Step::Continue)
    }

    fn reads_metadata(&self) -> bool {
        false
    }
}
