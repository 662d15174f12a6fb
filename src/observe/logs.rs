//! Logging: `logger: {level, format: logfmt|json, add_timestamp, static_fields}`.
//!
//! Lines look like Bento's (logrus) so existing log pipelines keep parsing them:
//! - logfmt: `time="2026-01-02T03:04:05.123456Z" level=info msg="pipeline starting" @service=x input=kafka`
//! - json: `{"time":"…","level":"info","msg":"pipeline starting","@service":"x","input":"kafka"}`
//!
//! `time` first (only with `add_timestamp`), then `level`, `msg`, `target` (only for lines from
//! other libraries: `librdkafka`, `ureq`, …; `log` crate records are bridged in), the
//! `static_fields`, then the event's own fields in the order they were written.
//!
//! The formatting is our own small [`BentoLayer`] rather than `tracing-logfmt`/`fmt().json()`,
//! because those name the message `message`, cannot add static fields, and put the time under
//! other keys.

use std::collections::BTreeMap;

use std::fmt::Write as _;
use std::io::Write as _;

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
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

/// Line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Logfmt,
    Json,
}

/// A `tracing` layer that writes one Bento-style line per event.
pub struct BentoLayer<W> {
    format: Format,
    add_timestamp: bool,
    static_fields: Vec<(String, String)>,
    make_writer: W,
}

impl<W> BentoLayer<W> {
    pub fn new(c: &LoggerConfig, make_writer: W) -> BentoLayer<W> {
        BentoLayer {
            format: if c.format == "json" {
                Format::Json
            } else {
                Format::Logfmt
            },
            add_timestamp: c.add_timestamp,
            static_fields: c
                .static_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            make_writer,
        }
    }
}

/// A field value as recorded, so numbers stay numbers in JSON.
#[derive(Debug)]
enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

#[derive(Default)]
struct Fields {
    msg: Option<String>,
    /// Where a record bridged from the `log` crate came from (`ureq`, …).
    log_target: Option<String>,
    rest: Vec<(&'static str, FieldValue)>,
}

impl Fields {
    fn put(&mut self, field: &Field, v: FieldValue) {
        let name = field.name();
        if name == "message" {
            self.msg = Some(match v {
                FieldValue::Str(s) => s,
                other => plain(&other),
            });
        } else if name == "log.target" {
            self.log_target = Some(plain(&v));
        } else if !name.starts_with("log.") {
            self.rest.push((name, v));
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, FieldValue::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, FieldValue::Str(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, FieldValue::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, FieldValue::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, FieldValue::U128(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, FieldValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, FieldValue::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, FieldValue::Str(value.to_string()));
    }
}

/// The value as text, for logfmt and for a non-string message.
fn plain(v: &FieldValue) -> String {
    match v {
        FieldValue::Str(s) => s.clone(),
        FieldValue::I64(n) => n.to_string(),
        FieldValue::U64(n) => n.to_string(),
        FieldValue::I128(n) => n.to_string(),
        FieldValue::U128(n) => n.to_string(),
        FieldValue::F64(n) => n.to_string(),
        FieldValue::Bool(b) => b.to_string(),
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// A field named like one of the line's own keys is renamed `fields.<key>` (as logrus does),
/// so a line never has two `level`s and parsers keep the real one.
fn user_key(k: &str) -> std::borrow::Cow<'_, str> {
    if matches!(k, "time" | "level" | "msg" | "target") {
        format!("fields.{k}").into()
    } else {
        k.into()
    }
}

/// A logfmt key: anything that would break the `key=value` grammar becomes `_`.
fn logfmt_key(out: &mut String, k: &str) {
    if k.is_empty() {
        out.push('_');
        return;
    }
    for c in k.chars() {
        out.push(
            if c <= ' ' || c == '=' || c == '"' || c == '\\' || c == '\u{7f}' {
                '_'
            } else {
                c
            },
        );
    }
}

/// A logfmt value: bare when it is a plain token, else quoted with `\\ \" \n \r \t` and
/// `\u00XX` escapes, so one event is always exactly one line.
fn logfmt_value(out: &mut String, v: &str) {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| c > ' ' && c != '=' && c != '"' && c != '\\' && !c.is_control());
    if bare {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON string literal (serde_json does the escaping).
fn json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

fn json_value(out: &mut String, v: &FieldValue) {
    match v {
        FieldValue::Str(s) => json_str(out, s),
        FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        FieldValue::F64(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => out.push_str(&n.to_string()),
            // NaN and infinities are not JSON numbers.
            None => json_str(out, &f.to_string()),
        },
        other => out.push_str(&plain(other)),
    }
}

impl<W> BentoLayer<W> {
    /// One complete line (with the trailing newline) for an event.
    /// `target` is added after `msg` for events from other crates (`librdkafka`, `ureq`),
    /// so their lines can be told apart from the collector's own.
    fn line(&self, level: &Level, target: Option<&str>, fields: &Fields) -> String {
        let mut out = String::with_capacity(256);
        let time = if self.add_timestamp {
            let mut t = String::with_capacity(32);
            let _ = SystemTime.format_time(&mut Writer::new(&mut t));
            Some(t)
        } else {
            None
        };
        let msg = fields.msg.as_deref().unwrap_or("");
        match self.format {
            Format::Logfmt => {
                let pair = |out: &mut String, k: &str, v: &str| {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    logfmt_key(out, k);
                    out.push('=');
                    logfmt_value(out, v);
                };
                if let Some(t) = &time {
                    pair(&mut out, "time", t);
                }
                pair(&mut out, "level", level_name(level));
                pair(&mut out, "msg", msg);
                if let Some(t) = target {
                    pair(&mut out, "target", t);
                }
                for (k, v) in &self.static_fields {
                    pair(&mut out, &user_key(k), v);
                }
                for (k, v) in &fields.rest {
                    pair(&mut out, &user_key(k), &plain(v));
                }
            }
            Format::Json => {
                out.push('{');
                let mut first = true;
                let mut key = |out: &mut String, k: &str| {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    json_str(out, k);
                    out.push(':');
                };
                if let Some(t) = &time {
                    key(&mut out, "time");
                    json_str(&mut out, t);
                }
                key(&mut out, "level");
                json_str(&mut out, level_name(level));
                key(&mut out, "msg");
                json_str(&mut out, msg);
                if let Some(t) = target {
                    key(&mut out, "target");
                    json_str(&mut out, t);
                }
                for (k, v) in &self.static_fields {
                    key(&mut out, &user_key(k));
                    json_str(&mut out, v);
                }
                for (k, v) in &fields.rest {
                    key(&mut out, &user_key(k));
                    json_value(&mut out, v);
                }
                out.push('}');
            }
        }
        out.push('\n');
        out
    }
}

impl<S, W> Layer<S> for BentoLayer<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let target = fields
            .log_target
            .as_deref()
            .unwrap_or_else(|| event.metadata().target());
        let foreign = !target.starts_with(OWN_CRATE);
        let line = self.line(event.metadata().level(), foreign.then_some(target), &fields);
        // One write per line so concurrent threads never interleave within a line. A logger
        // that cannot write (closed stderr) has nowhere to report that.
        let _ = self.make_writer.make_writer().write_all(line.as_bytes());
    }
}

/// Targets of our own events start with the crate name; those lines carry no `target`.
const OWN_CRATE: &str = "flexprice_collector";

/// Install the process logger (stderr). Safe to call more than once; later calls are ignored.
pub fn init(c: &LoggerConfig) {
    let level = parse_level(&c.level).unwrap_or(LevelFilter::INFO);
    let _ = tracing_subscriber::registry()
        .with(level)
        .with(BentoLayer::new(c, std::io::stderr))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects written bytes for assertions.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    fn capture(c: &LoggerConfig, f: impl FnOnce()) -> String {
        let buf = Buf::default();
        let level = parse_level(&c.level).unwrap_or(LevelFilter::INFO);
        let sub = tracing_subscriber::registry()
            .with(level)
            .with(BentoLayer::new(c, buf.clone()));
        tracing::subscriber::with_default(sub, f);
        let bytes = buf.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).expect("utf-8 log output")
    }

    fn config(format: &str, ts: bool) -> LoggerConfig {
        let mut c = LoggerConfig {
            format: format.into(),
            add_timestamp: ts,
            ..LoggerConfig::default()
        };
        c.static_fields
            .insert("@service".into(), "collector one".into());
        c
    }

    #[test]
    fn logfmt_uses_bento_keys_and_escapes_values() {
        let out = capture(&config("logfmt", false), || {
            tracing::info!(n = 3, ok = true, path = "a b=\"c\"\nd\\", "hello world");
            tracing::debug!("not shown at INFO");
            tracing::warn!(target: "librdkafka", fac = "FAIL", "broker down");
        });
        assert_eq!(
            out,
            "level=info msg=\"hello world\" @service=\"collector one\" n=3 ok=true path=\"a b=\\\"c\\\"\\nd\\\\\"\n\
             level=warning msg=\"broker down\" target=librdkafka @service=\"collector one\" fac=FAIL\n"
        );
    }

    #[test]
    fn json_lines_are_valid_json_with_typed_values() {
        let out = capture(&config("json", true), || {
            tracing::warn!(
                n = 3,
                f = 1.5,
                nan = f64::NAN,
                s = "x\"y",
                level = "from the event",
                "careful"
            );
        });
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 1);
        let v: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
        assert_eq!(v["level"], "warning");
        assert_eq!(v["msg"], "careful");
        assert_eq!(v["@service"], "collector one");
        assert_eq!(v["n"], 3);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["nan"], "NaN");
        assert_eq!(v["s"], "x\"y");
        assert_eq!(v["fields.level"], "from the event");
        let t = v["time"].as_str().expect("time");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
        assert!(lines[0].starts_with("{\"time\":"));
    }

    #[test]
    fn level_filtering() {
        let mut c = config("logfmt", false);
        c.level = "warn".into();
        let out = capture(&c, || {
            tracing::info!("quiet");
            tracing::warn!("loud");
            tracing::error!("louder");
        });
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.contains("level=warning msg=loud"));
        assert!(out.contains("level=error msg=louder"));
        c.level = "off".into();
        assert_eq!(capture(&c, || tracing::error!("nothing")), "");
    }
}
