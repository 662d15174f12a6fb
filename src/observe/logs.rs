//! Logging: `logger: {level, format: logfmt|json, add_timestamp, static_fields}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

use crate::config::{Duration, Problems};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggerConfig {
    /// OFF, ERROR, WARN, INFO, DEBUG, TRACE, ALL (any case).
    #[serde(default = "default_level")]
    pub level: String,
    /// `logfmt` (default) or `json`.
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default = "yes")]
    pub add_timestamp: bool,
    /// Fields added to every line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub static_fields: BTreeMap<String, String>,
    /// How often to log a progress line; `0s` turns it off.
    #[serde(default = "super::default_progress_period")]
    pub progress_period: Duration,
}

impl Default for LoggerConfig {
    fn default() -> Self {
        LoggerConfig {
            level: default_level(),
            format: default_format(),
            add_timestamp: true,
            static_fields: BTreeMap::new(),
            progress_period: super::default_progress_period(),
        }
    }
}

fn default_level() -> String {
    "INFO".into()
}
fn default_format() -> String {
    "logfmt".into()
}
fn yes() -> bool {
    true
}

/// Parse a Bento log level name.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    Some(match s.to_ascii_uppercase().as_str() {
        "OFF" | "NONE" => LevelFilter::OFF,
        "FATAL" | "ERROR" => LevelFilter::ERROR,
        "WARN" | "WARNING" => LevelFilter::WARN,
        "INFO" => LevelFilter::INFO,
        "DEBUG" => LevelFilter::DEBUG,
        "TRACE" | "ALL" => LevelFilter::TRACE,
        _ => return None,
    })
}

impl LoggerConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        if parse_level(&self.level).is_none() {
            p.add(
                format!("{path}.level"),
                format!(
                    "unknown level `{}`; use OFF, ERROR, WARN, INFO, DEBUG or TRACE",
                    self.level
                ),
            );
        }
        if !matches!(self.format.as_str(), "logfmt" | "json") {
            p.add(
                format!("{path}.format"),
                format!("unknown format `{}`; use `logfmt` or `json`", self.format),
            );
        }
    }
}

/// Install the process logger (stderr). Safe to call more than once; later calls are ignored.
pub fn init(c: &LoggerConfig) {
    let level = parse_level(&c.level).unwrap_or(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(level);
    let result = if c.format == "json" {
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .with_writer(std::io::stderr);
        if c.add_timestamp {
            registry.with(layer).try_init()
        } else {
            registry.with(layer.without_time()).try_init()
        }
    } else {
        let layer = tracing_logfmt::builder()
            .with_timestamp(c.add_timestamp)
            .with_target(false)
            .with_span_name(false)
            .with_span_path(false)
            .layer()
            .with_writer(std::io::stderr);
        registry.with(layer).try_init()
    };
    let _ = result;
}
