//! The config file's top level: its sections, read one by one so that every section's
//! problems are reported in one run.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::config::{did_you_mean, Duration, Problems, YamlFile};
use crate::input::InputConfig;
use crate::observe::{HttpConfig, LoggerConfig, MetricsConfig};
use crate::output::OutputConfig;
use crate::processor::ProcessorConfig;
use crate::resource::{CacheConfig, RateLimitConfig};

/// The whole collector config file.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Config {
    pub http: HttpConfig,
    pub input: InputConfig,
    pub pipeline: PipelineConfig,
    pub output: OutputConfig,
    pub logger: LoggerConfig,
    pub metrics: MetricsConfig,
    /// How long a graceful stop may wait for in-flight work before exiting anyway.
    pub shutdown_timeout: Duration,
    /// Outputs that `resource: LABEL` refers to (Bento's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_resources: Vec<OutputConfig>,
    /// Processors that `resource: LABEL` refers to (Bento's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processor_resources: Vec<ProcessorConfig>,
    /// Rate limits that `rate_limit` processors refer to by label (Bento's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limit_resources: Vec<RateLimitConfig>,
    /// Caches that `cache` processors refer to by label (Bento's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_resources: Vec<CacheConfig>,
}

/// `pipeline:`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PipelineConfig {
    /// Processor threads; -1 means one per core.
    pub threads: i64,
    pub processors: Vec<ProcessorConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            threads: -1,
            processors: Vec::new(),
        }
    }
}

/// The most processor threads a config may ask for.
pub const MAX_THREADS: i64 = 1024;

impl PipelineConfig {
    /// The number of processor threads to start.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads as usize
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// The top-level sections, in the order `echo` prints them.
const SECTIONS: [&str; 11] = [
    "http",
    "input",
    "pipeline",
    "output",
    "logger",
    "metrics",
    "shutdown_timeout",
    "output_resources",
    "processor_resources",
    "rate_limit_resources",
    "cache_resources",
];

/// Sections of Bento configs that are accepted and have no effect here.
const IGNORED: [&str; 2] = ["tests", "tracer"];

/// The sections of a file as far as they could be read: each is `None` when it is wrong (or
/// a required one is missing), so the rest can still be checked and every problem reported.
pub struct Sections {
    pub http: Option<HttpConfig>,
    pub input: Option<InputConfig>,
    pub threads: Option<i64>,
    /// Each processor; `None` where one is wrong.
    pub processors: Vec<Option<ProcessorConfig>>,
    pub output: Option<OutputConfig>,
    pub logger: Option<LoggerConfig>,
    pub metrics: Option<MetricsConfig>,
    pub shutdown_timeout: Option<Duration>,
    pub output_resources: Vec<Option<OutputConfig>>,
    pub processor_resources: Vec<Option<ProcessorConfig>>,
    pub rate_limit_resources: Vec<Option<RateLimitConfig>>,
    pub cache_resources: Vec<Option<CacheConfig>>,
}

impl Sections {
    /// Read every section of `file`; every problem goes to `p`.
    pub fn read(file: &YamlFile, p: &mut Problems) -> Sections {
        unknown_keys(file, "", &SECTIONS, &IGNORED, p);
        unknown_keys(file, "pipeline", &["threads", "processors"], &[], p);
        let threads = file.read::<i64>("pipeline.threads", p).unwrap_or(Some(-1));
        if let Some(t) = threads {
            if t != -1 && !(1..=MAX_THREADS).contains(&t) {
                p.add(
                    "pipeline.threads",
                    format!("{t} is out of range: use -1 (one per core) or 1..={MAX_THREADS}"),
                );
            }
        }
        Sections {
            http: file.read("http", p).unwrap_or(Some(HttpConfig::default())),
            input: required(
                file,
                "input",
                "`input:` is required (e.g. `input: {kafka: {…}}`)",
                p,
            ),
            threads,
            processors: items(file, "pipeline.processors", p),
            output: required(
                file,
                "output",
                "`output:` is required (e.g. `output: {flexprice: {…}}`)",
                p,
            ),
            logger: file
                .read("logger", p)
                .unwrap_or(Some(LoggerConfig::default())),
            metrics: file
                .read("metrics", p)
                .unwrap_or(Some(MetricsConfig::default())),
            shutdown_timeout: file
                .read("shutdown_timeout", p)
                .unwrap_or(Some(Duration::from_secs(20))),
            output_resources: items(file, "output_resources", p),
            processor_resources: items(file, "processor_resources", p),
            rate_limit_resources: items(file, "rate_limit_resources", p),
            cache_resources: items(file, "cache_resources", p),
        }
    }

    /// The config, if every section could be read.
    pub fn complete(self) -> Option<Config> {
        Some(Config {
            http: self.http?,
            input: self.input?,
            pipeline: PipelineConfig {
                threads: self.threads?,
                processors: self.processors.into_iter().collect::<Option<_>>()?,
            },
            output: self.output?,
            logger: self.logger?,
            metrics: self.metrics?,
            shutdown_timeout: self.shutdown_timeout?,
            output_resources: self.output_resources.into_iter().collect::<Option<_>>()?,
            processor_resources: self
                .processor_resources
                .into_iter()
                .collect::<Option<_>>()?,
            rate_limit_resources: self
                .rate_limit_resources
                .into_iter()
                .collect::<Option<_>>()?,
            cache_resources: self.cache_resources.into_iter().collect::<Option<_>>()?,
        })
    }
}

impl Config {
    /// The config as YAML with every secret replaced (for `echo`).
    pub fn to_redacted_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// A section that must be there.
fn required<T: serde::de::DeserializeOwned>(
    file: &YamlFile,
    path: &str,
    missing: &str,
    p: &mut Problems,
) -> Option<T> {
    match file.read(path, p) {
        Some(v) => v,
        None => {
            p.add("", missing);
            None
        }
    }
}

/// Each item of the list at `path`, read on its own (a problem in one does not hide the
/// others'); `None` where an item is wrong.
fn items<T: serde::de::DeserializeOwned>(
    file: &YamlFile,
    path: &str,
    p: &mut Problems,
) -> Vec<Option<T>> {
    match file.get(path) {
        None | Some(serde_yaml_ng::Value::Null) => return Vec::new(),
        Some(serde_yaml_ng::Value::Sequence(_)) => {}
        Some(_) => {
            p.add(path, "must be a list");
            return vec![None];
        }
    }
    (0..file.len(path))
        .map(|i| file.read::<T>(&format!("{path}.{i}"), p).flatten())
        .collect()
}

/// Keys of the map at `path` that are not `known`: each a problem with a "did you mean".
fn unknown_keys(file: &YamlFile, path: &str, known: &[&str], ignored: &[&str], p: &mut Problems) {
    let known_set: BTreeSet<&str> = known.iter().copied().collect();
    for key in file.keys(path) {
        if known_set.contains(key.as_str()) || ignored.contains(&key.as_str()) {
            continue;
        }
        let expected = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
        let at = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        p.add(
            at,
            did_you_mean(&format!(
                "unknown field `{key}`, expected one of {}",
                expected.join(", ")
            )),
        );
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
