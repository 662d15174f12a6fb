//! Outputs: where finished events go.
//!
//! An output is planned from its config (checked, no I/O), then started (files opened,
//! clients made) into a [`crate::pipeline::Output`]: a synchronous `write` that says per event
//! whether it was delivered or failed, and why. Wrapping outputs decide what a failure means:
//! `fallback` hands the failed events to its next output, `retry` sends them again. The
//! flexprice output's `dead_letter:` is a fallback to the file or Kafka topic it names.
//!
//! The registry is [`OutputConfig`]: a component is its folder or file plus one line there.

mod backoff;
pub mod dead_letter;
pub mod drop;
pub mod fallback;
pub mod flexprice;
mod log_limit;
mod processed;
pub mod retry;
pub mod stdout;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use backoff::Backoff;
pub use log_limit::LogLimit;

use crate::pipeline::Output;
use crate::processor::{self, ProcessorConfig};

crate::one_of! {
    /// One output: `output:`, an entry of `output_resources`, or inside `fallback`/`retry`.
    /// `processors:` run on each event just before this output writes it.
    pub struct OutputConfig of OutputKind as OutputSpec, via OutputSection = "OutputSection" ("output")
        with { processors: Vec<ProcessorConfig> }
    {
        flexprice => Flexprice(flexprice::FlexpriceConfig),
        stdout => Stdout(stdout::StdoutConfig),
        drop => Drop(drop::DropConfig),
        fallback => Fallback(fallback::FallbackConfig),
        retry => Retry(retry::RetryConfig),
        resource => Resource(ResourceName),
    }
}

/// What every output component's config does: check itself (every problem reported to the
/// planner) and become a plan that starts without further checks.
pub trait OutputSpec {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn OutputPlan>>;
}

/// A checked output, ready to start.
pub trait OutputPlan: Send {
    /// Do the I/O an output needs before it can write (open files, make clients).
    fn start(self: Box<Self>) -> anyhow::Result<Box<dyn Output>>;
}

/// `output_resources`, by label: the config and where it is in the file.
pub type OutputResources = BTreeMap<String, (String, OutputConfig)>;

/// Plans outputs: their processors, resources by label, and what a failure may fall back to.
pub struct Planner<'a> {
    pub processors: processor::Planner<'a>,
    resources: &'a OutputResources,
    resolving: Vec<String>,
    /// The output being planned has a `fallback` after it: its failures go there (so the
    /// flexprice output needs no dead-letter file of its own).
    has_fallback: bool,
}

impl<'a> Planner<'a> {
    pub fn new(processors: processor::Planner<'a>, resources: &'a OutputResources) -> Planner<'a> {
        Planner {
            processors,
            resources,
            resolving: Vec::new(),
            has_fallback: false,
        }
    }

    pub fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.processors.problem(path, message);
    }

    /// Plan one output, with its `processors:`.
    pub fn one(&mut self, path: &str, c: &OutputConfig) -> Option<Box<dyn OutputPlan>> {
        let inner = c
            .component
            .spec()
            .plan(&format!("{path}.{}", c.component.name()), self);
        if c.processors.is_empty() {
            return inner;
        }
        let chain = self
            .processors
            .chain(&format!("{path}.processors"), &c.processors);
        Some(Box::new(processed::Plan {
            processors: chain?,
            inner: inner?,
        }))
    }

    /// Whether failures of the output being planned go on to a fallback.
    pub fn has_fallback(&self) -> bool {
        self.has_fallback
    }

    /// Plan `c` with (or without) a fallback after it.
    fn with_fallback(
        &mut self,
        fallback: bool,
        path: &str,
        c: &OutputConfig,
    ) -> Option<Box<dyn OutputPlan>> {
        let outer = std::mem::replace(&mut self.has_fallback, fallback);
        let planned = self.one(path, c);
        self.has_fallback = outer;
        planned
    }
}

/// `resource: NAME`: the output of `output_resources` labelled NAME.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ResourceName(pub String);

impl OutputSpec for ResourceName {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn OutputPlan>> {
        let name = &self.0;
        let (at, config) = crate::resource::entry(
            cx.resources,
            &cx.resolving,
            "output",
            "output_resources",
            name,
            path,
            cx.processors.problems,
        )?;
        cx.resolving.push(name.clone());
        let planned = cx.one(at, config);
        cx.resolving.pop();
        planned
    }
}
