//! The `log` processor: writes a line per message (`message` with `${! ... }` interpolation,
//! optional `fields_mapping`) and passes the message on unchanged.

use serde::{Deserialize, Serialize};

use super::{Planner, ProcessorSpec};
use crate::bloblang::interp::Interpolated;
use crate::bloblang::{Mapping, MessageEnv, MessageRef, Outcome};
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

impl ProcessorSpec for LogConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        let level = match self.level.to_ascii_uppercase().as_str() {
            "FATAL" | "ERROR" => Some(tracing::Level::ERROR),
            "WARN" => Some(tracing::Level::WARN),
            "INFO" => Some(tracing::Level::INFO),
            "DEBUG" => Some(tracing::Level::DEBUG),
            "TRACE" | "ALL" => Some(tracing::Level::TRACE),
            _ => {
                cx.problem(
                    format!("{path}.level"),
                    format!(
                        "unknown level `{}`; use one of {}",
                        self.level,
                        LEVELS.join(", ")
                    ),
                );
                None
            }
        };
        let message = match Interpolated::compile(&self.message) {
            Ok(m) => Some(m),
            Err(e) => {
                cx.mapping_error(&format!("{path}.message"), &e);
                None
            }
        };
        let fields = match &self.fields_mapping {
            Some(m) => Some(cx.mapping(&format!("{path}.fields_mapping"), m)?),
            None => None,
        };
        Some(Box::new(LogProcessor {
            level: level?,
            message: message?,
            fields,
        }))
    }
}

pub struct LogProcessor {
    level: tracing::Level,
    message: Interpolated,
    fields: Option<Mapping>,
}

impl Processor for LogProcessor {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        // Logging must never fail a message: a payload that is not JSON logs as null.
        let _ = part.value();
        let null = Value::Null;
        let doc = part.value.as_ref().unwrap_or(&null);
        let text = self.message.render(&MessageRef {
            doc,
            meta: &part.meta,
            origin: Some(&part.origin),
            raw: &part.raw,
            error: part.error.as_deref(),
        });
        let fields = match &self.fields {
            Some(m) => {
                let mut meta: Map = part.meta.clone();
                match m.exec(
                    doc,
                    MessageEnv {
                        meta: &mut meta,
                        origin: Some(&part.origin),
                        raw: &part.raw,
                        error: part.error.as_deref(),
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
