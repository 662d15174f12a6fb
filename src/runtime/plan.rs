//! Plan, then start: a config file becomes a checked [`Plan`] (every mapping compiled, every
//! resource resolved, every value checked) without I/O, and every problem of the file is
//! reported at once with `file:line:column`. `lint` stops here; `run` starts the plan.

use std::collections::BTreeMap;
use std::path::Path;

use super::config::{Config, Sections};
use crate::config::{ConfigErrors, Problems, YamlFile};
use crate::output::{self, OutputPlan, OutputResources};
use crate::pipeline::{Input, Processor};
use crate::processor::{self, ProcessorConfig};
use crate::resource::Resources;

/// Everything a run needs, checked.
pub struct Plan {
    pub config: Config,
    pub input: Box<dyn Input>,
    pub processors: Vec<Box<dyn Processor>>,
    pub output: Box<dyn OutputPlan>,
}

impl Plan {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Plan, ConfigErrors> {
        Plan::of(&YamlFile::load(path)?)
    }

    /// Check config text; `name` names it in errors, `lookup` resolves `${VAR}`.
    pub fn from_text(
        name: &str,
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Plan, ConfigErrors> {
        Plan::of(&YamlFile::parse(name, text, lookup)?)
    }

    /// Plan a parsed file: all its problems, or the plan.
    pub fn of(file: &YamlFile) -> Result<Plan, ConfigErrors> {
        let mut p = Problems::default();
        let sections = Sections::read(file, &mut p);
        let plan = plan(sections, &mut p);
        match plan {
            Some(plan) if p.is_empty() => Ok(plan),
            _ => Err(file.errors(p)),
        }
    }
}

/// Plan every section that could be read (so all their problems are found), and the whole
/// when all could.
fn plan(s: Sections, p: &mut Problems) -> Option<Plan> {
    let processor_resources = labelled(
        "processor_resources",
        &s.processor_resources,
        |c| &c.label,
        p,
    );
    let output_resources: OutputResources =
        labelled("output_resources", &s.output_resources, |c| &c.label, p);
    let rate_limits = labelled(
        "rate_limit_resources",
        &s.rate_limit_resources,
        |c| &c.label,
        p,
    );
    let caches = labelled("cache_resources", &s.cache_resources, |c| &c.label, p);
    let shared = Resources::plan(
        &rate_limits.into_values().collect::<Vec<_>>(),
        &caches.into_values().collect::<Vec<_>>(),
        p,
    );
    if let Some(h) = &s.http {
        h.validate("http", p);
    }
    if let Some(l) = &s.logger {
        l.validate("logger", p);
    }
    let input = s.input.as_ref().and_then(|i| i.plan("input", p));
    let (processors, output) = {
        let mut procs = processor::Planner::new(p, &processor_resources, &shared);
        let configs: Vec<ProcessorConfig> = s.processors.iter().flatten().cloned().collect();
        let processors = procs.chain("pipeline.processors", &configs);
        // Every resource is checked, used or not; a used one reports at its own place.
        for (at, c) in processor_resources.values() {
            procs.one(at, c);
        }
        let mut outs = output::Planner::new(procs, &output_resources);
        let output = s.output.as_ref().and_then(|o| outs.one("output", o));
        for (at, c) in output_resources.values() {
            outs.one(at, c);
        }
        (processors, output)
    };
    let (input, processors, output) = (input?, processors?, output?);
    Some(Plan {
        config: s.complete()?,
        input,
        processors,
        output,
    })
}

/// Resources by label, each with the dotted path of its entry; a missing or repeated label
/// is a problem.
fn labelled<T: Clone>(
    section: &str,
    items: &[Option<T>],
    label: impl Fn(&T) -> &String,
    p: &mut Problems,
) -> BTreeMap<String, (String, T)> {
    let mut out = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(item) = item else { continue };
        let at = format!("{section}.{i}");
        let name = label(item);
        if name.trim().is_empty() {
            p.add(
                format!("{at}.label"),
                "a resource needs a `label` (what `resource: LABEL` refers to)",
            );
            continue;
        }
        if out.contains_key(name) {
            p.add(
                format!("{at}.label"),
                format!("the label `{name}` is used by an earlier entry of `{section}`"),
            );
            continue;
        }
        out.insert(name.clone(), (at, item.clone()));
    }
    out
}

/// Plan and start one output on its own (no resources): for tests and benchmarks that drive
/// an output without the rest of a pipeline.
pub fn start_output(
    config: &crate::output::OutputConfig,
) -> anyhow::Result<Box<dyn crate::pipeline::Output>> {
    let mut p = Problems::default();
    let none = Default::default();
    let shared = Resources::default();
    let outputs = OutputResources::new();
    let planned = output::Planner::new(processor::Planner::new(&mut p, &none, &shared), &outputs)
        .one("output", config);
    match planned {
        Some(plan) if p.is_empty() => plan.start(),
        _ => {
            let shown: Vec<String> = p
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect();
            anyhow::bail!("invalid output: {}", shown.join("; "))
        }
    }
}
