//! The `log` processor: writes a line per message (`message` with `${! ... }` interpolation,
//! optional `fields_mapping`) and passes the message on unchanged.

use serde::{Deserialize, Serialize};

use crate::bloblang::interp::Interpolated;
use crate::bloblang::{Mapping, MessageEnv, Outcome};
use crate::config::Problems;
use crate::document::{Map, Value};
use crate::pipeline::{Part, ProcessError, Processor, Step};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields_mapping: Option<String>,
}

fn default_level() -> String {
    "INFO".into()
}

const LEVELS: [&str; 7] = ["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"];

impl LogConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        if !LEVELS.contains(&self.level.to_ascii_uppercase().as_str()) {
            p.add(
                format!("{path}.level"),
                format!(
                    "unknown level `{}`; use one of {}",
                    self.level,
                    LEVELS.join(", ")
                ),
            );
        }
        if let Err(e) = Interpolated::compile(&self.message) {
            p.add(format!("{path}.message"), format!("bad interpolation: {e}"));
        }
        if let Some(m) = &self.fields_mapping {
            if let Err(e) = Mapping::compile(m) {
                p.add(
                    format!("{path}.fields_mapping"),
                    format!("bad mapping: {e}"),
                );
            }
        }
    }
}

pub struct LogProcessor {
    level: tracing::Level,
    message: Interpolated,
    fields: Option<Mapping>,
}

impl LogProcessor {
    pub fn new(c: &LogConfig) -> anyhow::Result<LogProcessor> {
        let level = match c.level.to_ascii_uppercase().as_str() {
            "FATAL" | "ERROR" => tracing::Level::ERROR,
            "WARN" => tracing::Level::WARN,
            "INFO" => tracing::Level::INFO,
            "DEBUG" => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        };
        let message = Interpolated::compile(&c.message)
            .map_err(|e| anyhow::anyhow!("log.message: bad interpolation: {e}"))?;
        let fields = match &c.fields_mapping {
            Some(m) => Some(
                Mapping::compile(m)
                    .map_err(|e| anyhow::anyhow!("log.fields_mapping: bad mapping: {e}"))?,
            ),
            None => None,
        };
        Ok(LogProcessor {
            level,
            message,
            fields,
        })
    }
}

impl Processor for LogProcessor {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        // Logging must never fail a message: a payload that is not JSON logs as null.
        let _ = part.value();
        let null = Value::Null;
        let doc = part.value.as_ref().unwrap_or(&null);
        let text = self
            .message
            .render(doc, &part.meta, Some(&part.origin), &part.raw);
        let fields = match &self.fields {
            Some(m) => {
                let mut meta: Map = part.meta.clone();
                match m.exec(
                    doc,
                    MessageEnv {
                        meta: &mut meta,
                        origin: Some(&part.origin),
                        raw: &part.raw,
                    },
                ) {
                    Ok(Outcome::Doc(v)) => v.to_json_string(),
                    Ok(_) => String::new(),
                    Err(e) => format!("<error: {e}>"),
                }
            }
            None => String::new(),
        };
        let text = text.trim_end();
        match self.level {
            tracing::Level::ERROR => tracing::error!(target: "log", fields = %fields, "{text}"),
            tracing::Level::WARN => tracing::warn!(target: "log", fields = %fields, "{text}"),
            tracing::Level::INFO => tracing::info!(target: "log", fields = %fields, "{text}"),
            tracing::Level::DEBUG => tracing::debug!(target: "log", fields = %fields, "{text}"),
            _ => tracing::trace!(target: "log", fields = %fields, "{text}"),
        }
        Ok(Step::Continue)
    }

    fn reads_metadata(&self) -> bool {
        self.message.reads_metadata() || self.fields.as_ref().is_some_and(Mapping::reads_metadata)
    }
}
