//! Configuration: the Bento-compatible YAML subset (see `config/` for examples).
//!
//! Loading is: read file → `${VAR}` interpolation → YAML into typed structs (unknown fields are
//! errors) → semantic checks. Every error carries `file:line:column` and says what to do. Each
//! component's config struct lives next to the component (`input::kafka::KafkaConfig`, …).

pub mod duration;
pub mod env;
mod locate;
mod secret;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use duration::Duration;
pub use secret::Secret;

use crate::input::InputConfig;
use crate::observe::{HttpConfig, LoggerConfig, MetricsConfig};
use crate::output::OutputConfig;
use crate::processor::ProcessorConfig;

/// The whole collector config file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub http: HttpConfig,
    pub input: InputConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    pub output: OutputConfig,
    #[serde(default)]
    pub logger: LoggerConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// How long a graceful stop may wait for in-flight work before exiting anyway.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: Duration,
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(20)
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Processor threads; -1 (or 0) means one per core.
    #[serde(default = "default_threads")]
    pub threads: i64,
    #[serde(default)]
    pub processors: Vec<ProcessorConfig>,
}

fn default_threads() -> i64 {
    -1
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            threads: -1,
            processors: Vec::new(),
        }
    }
}

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

/// A config problem, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the place is unknown.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ConfigError {
    pub fn at(file: &str, line: usize, column: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// All the problems found in one config file.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Semantic problems found after parsing, by dotted path (`output.flexprice.api_host`).
#[derive(Debug, Default)]
pub struct Problems {
    items: Vec<(String, String)>,
}

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.items.push((path.into(), message.into()));
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl Config {
    /// Read, interpolate, parse and check a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError::at(
                &file,
                0,
                0,
                format!("cannot read config: {e}"),
            )])
        })?;
        Config::from_str_named(&file, &text, &|k| std::env::var(k).ok())
    }

    /// Parse config text; `file` names it in errors, `lookup` resolves `${VAR}`.
    pub fn from_str_named(
        file: &str,
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let resolved = env::interpolate(file, text, lookup).map_err(ConfigErrors)?;
        let config: Config = serde_yaml_ng::from_str(&resolved)
            .map_err(|e| ConfigErrors(vec![locate::yaml_error(file, &resolved, &e)]))?;
        let mut problems = Problems::default();
        config.validate(&mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(
                problems
                    .items
                    .into_iter()
                    .map(|(path, msg)| {
                        let (line, col) = locate::path(&resolved, &path).unwrap_or((0, 0));
                        ConfigError::at(file, line, col, format!("{path}: {msg}"))
                    })
                    .collect(),
            ))
        }
    }

    fn validate(&self, p: &mut Problems) {
        self.input.validate("input", p);
        for (i, proc) in self.pipeline.processors.iter().enumerate() {
            proc.validate(&format!("pipeline.processors.{i}"), p);
        }
        self.output.validate("output", p);
        self.logger.validate("logger", p);
        self.http.validate("http", p);
    }

    /// The config as YAML with every secret replaced (for `echo`).
    pub fn to_redacted_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

#[cfg(test)]
mod tests;

/// For fields written as `drop: {}`, `drop:` or `drop: null`: present means `Some`, read as
/// an empty map when empty (so defaults apply and missing required fields are named).
/// Plain `Option` would read `drop:` as absent.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => {
            let empty = serde::de::value::MapDeserializer::<_, D::Error>::new(std::iter::empty::<(
                String,
                String,
            )>());
            T::deserialize(empty).map(Some)
        }
    }
}

/// A component that takes no options (`drop: {}`, `noop: {}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Declares a "one of these components" config enum the way Bento writes it in YAML: a map
/// with an optional `label` and exactly one component key (`input: {kafka: {...}}`).
/// Reading goes through a struct of optional fields, so a misspelled component name is an
/// unknown field with a "did you mean" hint, like any other.
#[macro_export]
macro_rules! one_of {
    ($(#[$meta:meta])* $vis:vis enum $name:ident via $section:ident = $section_name:literal ($what:literal) {
        $($field:ident => $variant:ident($ty:ty)),+ $(,)?
    }) => {
        $(#[$meta])*
        // Built once per config: variant size does not matter, and boxing would only add noise.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
        #[serde(try_from = $section_name, into = $section_name)]
        $vis enum $name {
            $($variant($ty)),+
        }

        #[doc(hidden)]
        #[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $section {
            #[serde(default, skip_serializing_if = "String::is_empty")]
            label: String,
            $(
                #[serde(default, deserialize_with = "crate::config::present", skip_serializing_if = "Option::is_none")]
                $field: Option<$ty>,
            )+
        }

        impl TryFrom<$section> for $name {
            type Error = String;
            fn try_from(s: $section) -> Result<$name, String> {
                let mut found: Vec<(&'static str, $name)> = Vec::new();
                $( if let Some(c) = s.$field { found.push((stringify!($field), $name::$variant(c))); } )+
                let names = [$(concat!("`", stringify!($field), "`")),+].join(", ");
                match found.len() {
                    1 => Ok(found.pop().map(|(_, c)| c).expect("one")),
                    0 => Err(format!("{}: no component given; use one of {}", $what, names)),
                    _ => Err(format!(
                        "{}: only one component may be given, found {}",
                        $what,
                        found.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(" and ")
                    )),
                }
            }
        }

        impl From<$name> for $section {
            fn from(c: $name) -> $section {
                let mut s = $section::default();
                match c { $($name::$variant(v) => s.$field = Some(v)),+ }
                s
            }
        }
    };
}
