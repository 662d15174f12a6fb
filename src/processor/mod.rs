//! Processors: per-message transforms run on the `pipeline.threads` workers.
//!
//! A message becomes a [`Part`] (payload parsed on first use, metadata, origin, error flag).
//! Each processor edits the part in place, drops it (`deleted()`), or fails it: the part is
//! then flagged errored and the chain goes on, as in Bento (`try` stops at the first failure,
//! `catch` runs only on errored parts and clears the flag). Processors are planned once
//! (mappings compiled, resources resolved) and shared read-only by all workers.
//!
//! The registry is [`ProcessorConfig`]: a component is its file plus one line there.

mod bloblang;
mod cache;
mod chain;
pub mod log;
mod rate_limit;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bloblang::{Mapping, ParseError};
use crate::config::{Problem, Problems};
use crate::pipeline::{Part, ProcessError, Processor, Step};
use crate::resource::{Cache, RateLimit, Resources};

pub use bloblang::{MappingConfig, Mode, MutationConfig};

crate::one_of! {
    /// One processor: an entry of `pipeline.processors`, of `processor_resources`, or inside
    /// `try`/`catch`.
    pub struct ProcessorConfig of ProcessorKind as ProcessorSpec, via ProcessorSection = "ProcessorSection" ("processor") {
        mapping => Mapping(bloblang::MappingConfig),
        mutation => Mutation(bloblang::MutationConfig),
        bloblang => Bloblang(bloblang::MappingConfig),
        noop => Noop(NoopConfig),
        log => Log(log::LogConfig),
        r#try => Try(chain::TryConfig),
        catch => Catch(chain::CatchConfig),
        rate_limit => RateLimit(rate_limit::RateLimitProcessorConfig),
        cache => Cache(cache::CacheProcessorConfig),
        resource => Resource(ResourceName),
    }
}

/// What every processor component's config does: turn itself into a running processor,
/// reporting every problem it finds to the planner (no I/O).
pub trait ProcessorSpec {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>>;
}

/// `processor_resources`, by label: the config and where it is in the file.
pub type ProcessorResources = BTreeMap<String, (String, ProcessorConfig)>;

/// Plans processors: collects problems by path, resolves `resource:` labels.
pub struct Planner<'a> {
    pub problems: &'a mut Problems,
    resources: &'a ProcessorResources,
    /// Rate limits and caches, by label.
    shared: &'a Resources,
    /// Labels being planned, innermost last (a resource that names itself is an error).
    resolving: Vec<String>,
    /// Another processor of the same chain runs after the one being planned: it may see a
    /// failed message's document, so a processor that edits in place keeps a copy to restore.
    followed: bool,
}

impl<'a> Planner<'a> {
    pub fn new(
        problems: &'a mut Problems,
        resources: &'a ProcessorResources,
        shared: &'a Resources,
    ) -> Planner<'a> {
        Planner {
            problems,
            resources,
            shared,
            resolving: Vec::new(),
            followed: false,
        }
    }

    pub fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.add(path, message);
    }

    /// Compile a mapping; a parse error is a problem placed at its line and column.
    pub fn mapping(&mut self, path: &str, src: &str) -> Option<Mapping> {
        match Mapping::compile(src) {
            Ok(m) => Some(m),
            Err(e) => {
                self.mapping_error(path, &e);
                None
            }
        }
    }

    /// Report a Bloblang parse error of the scalar at `path`.
    pub fn mapping_error(&mut self, path: &str, e: &ParseError) {
        self.problems
            .push(Problem::new(path, format!("bad mapping: {e}")).inside((e.line, e.column)));
    }

    /// Plan a chain (`pipeline.processors`, a `try`'s list): every processor, all problems.
    pub fn chain(
        &mut self,
        path: &str,
        configs: &[ProcessorConfig],
    ) -> Option<Vec<Box<dyn Processor>>> {
        let outer = self.followed;
        let mut out = Vec::with_capacity(configs.len());
        let mut ok = true;
        for (i, c) in configs.iter().enumerate() {
            self.followed = outer || i + 1 < configs.len();
            match self.one(&format!("{path}.{i}"), c) {
                Some(p) => out.push(p),
                None => ok = false,
            }
        }
        self.followed = outer;
        ok.then_some(out)
    }

    /// Plan one processor.
    pub fn one(&mut self, path: &str, c: &ProcessorConfig) -> Option<Box<dyn Processor>> {
        c.component
            .spec()
            .plan(&format!("{path}.{}", c.component.name()), self)
    }

    /// The rate limit labelled `name` (a problem at `path` if there is none).
    pub fn rate_limit(&mut self, name: &str, path: &str) -> Option<Arc<dyn RateLimit>> {
        self.shared.rate_limit(name, path, self.problems)
    }

    /// The cache labelled `name` (a problem at `path` if there is none).
    pub fn cache(&mut self, name: &str, path: &str) -> Option<Arc<dyn Cache>> {
        self.shared.cache(name, path, self.problems)
    }

    /// Whether a processor after this one may see a failed message's document.
    pub fn followed(&self) -> bool {
        self.followed
    }
}

/// `noop: {}`: does nothing.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoopConfig {}

struct Noop;

impl ProcessorSpec for NoopConfig {
    fn plan(&self, _: &str, _: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        Some(Box::new(Noop))
    }
}

impl Processor for Noop {
    fn process(&self, _: &mut Part) -> Result<Step, ProcessError> {
        Ok(Step::Continue)
    }

    fn reads_metadata(&self) -> bool {
        false
    }
}

/// `resource: NAME`: the processor of `processor_resources` labelled NAME.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ResourceName(pub String);

impl ProcessorSpec for ResourceName {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        let name = &self.0;
        let (at, config) = crate::resource::entry(
            cx.resources,
            &cx.resolving,
            "processor",
            "processor_resources",
            name,
            path,
            cx.problems,
        )?;
        cx.resolving.push(name.clone());
        let planned = cx.one(at, config);
        cx.resolving.pop();
        planned
    }
}

/// Plan a chain of processors on its own (no resources): for tools that run processors
/// without a pipeline (benchmarks, tests). `Err` lists every problem.
pub fn plan_alone(configs: &[ProcessorConfig]) -> Result<Vec<Box<dyn Processor>>, String> {
    let mut p = Problems::default();
    let res = ProcessorResources::new();
    let shared = Resources::default();
    let chain = Planner::new(&mut p, &res, &shared).chain("pipeline.processors", configs);
    match chain {
        Some(c) if p.is_empty() => Ok(c),
        _ => Err(p
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// A `mapping` processor's config for `src`.
pub fn mapping(src: &str) -> ProcessorConfig {
    ProcessorConfig {
        label: String::new(),
        component: ProcessorKind::Mapping(MappingConfig(src.to_string())),
    }
}

/// The processors of a YAML list, planned (tests of the layers above).
#[cfg(test)]
pub fn plan_yaml(yaml: &str) -> Vec<Box<dyn Processor>> {
    let configs: Vec<ProcessorConfig> = serde_yaml_ng::from_str(yaml).expect("processor yaml");
    plan_alone(&configs).expect("plans")
}
