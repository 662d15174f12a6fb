//! `/metrics`: the Prometheus text exposition format, rendered at scrape time.
//!
//! The hot path only touches atomics ([`super::metrics`]) and per-thread histograms
//! ([`super::latency`]); a scrape reads them, builds `MetricFamily` values and lets the
//! `prometheus` crate's `TextEncoder` write the text (escaping, `# HELP`/`# TYPE`, summary
//! layout). We do not register `prometheus::IntCounter`s because names must be exactly the ones
//! Flexprice's docs list (`bento_input_received`, no `_total` suffix, which
//! `prometheus-client` would append to counters).

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary,
};
use prometheus::{Encoder, TextEncoder};

use super::process::{self, ProcessStats};
use crate::bloblang::{Mapping, MessageEnv};
use crate::document::{Map, Value};
use crate::pipeline::telemetry::latency::{self, Snapshot};
use crate::pipeline::telemetry::metrics::{self, Metrics};

/// The `Content-Type` of the rendered text.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

fn family(name: &str, help: &str, t: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(t);
    f.set_metric(metrics);
    f
}

fn counter(name: &str, help: &str, v: u64) -> MetricFamily {
    let mut c = Counter::default();
    c.set_value(v as f64);
    let mut m = Metric::default();
    m.set_counter(c);
    family(name, help, MetricType::COUNTER, vec![m])
}

fn gauge_metric(labels: Vec<LabelPair>, v: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(v);
    let mut m = Metric::from_gauge(g);
    m.set_label(labels);
    m
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn summary(name: &str, help: &str, s: &Snapshot, quantiles: &[f64]) -> MetricFamily {
    let mut sum = Summary::default();
    sum.set_sample_count(s.count);
    sum.set_sample_sum(s.sum_ns);
    // Like Go's client: a quantile with no samples in the window is NaN, not a fake 0.
    sum.set_quantile(
        quantiles
            .iter()
            .map(|q| {
                let mut x = Quantile::default();
                x.set_quantile(*q);
                x.set_value(
                    s.quantiles
                        .iter()
                        .find(|(k, _)| k == q)
                        .map_or(f64::NAN, |(_, v)| *v as f64),
                );
                x
            })
            .collect(),
    );
    let mut m = Metric::default();
    m.set_summary(sum);
    family(name, help, MetricType::SUMMARY, vec![m])
}

/// What `metrics:` chose for this run (set once per run, read by each scrape).
#[derive(Default)]
struct Settings {
    /// `prometheus.use_histogram_timing`: timings as histograms in seconds (names keep `_ns`,
    /// as Bento's do) instead of summaries in nanoseconds.
    histogram_timing: bool,
    /// `prometheus.add_process_metrics`: add the `process_*` series.
    process_metrics: bool,
    /// `prometheus.histogram_buckets` (seconds).
    buckets: Vec<f64>,
    /// `prometheus.summary_quantiles_objectives`' quantiles.
    quantiles: Vec<f64>,
    /// `metrics.mapping`.
    mapping: Option<Mapping>,
    /// `metrics.none`: nothing is exported.
    none: bool,
    /// `prometheus.file_output_path`.
    file_output_path: String,
}

static SETTINGS: RwLock<Option<Settings>> = RwLock::new(None);

/// Apply the `metrics` block (once per run; lint has checked it).
pub fn configure(c: &super::MetricsConfig) {
    let p = c.prometheus.clone().unwrap_or_default();
    let mapping = if c.mapping.is_empty() {
        None
    } else {
        match Mapping::compile(&c.mapping) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(
                    "metrics.mapping does not compile ({e}); exporting the default names"
                );
                None
            }
        }
    };
    let settings = Settings {
        histogram_timing: p.use_histogram_timing,
        process_metrics: p.add_process_metrics,
        buckets: if p.histogram_buckets.is_empty() {
            latency::BUCKETS_SECONDS.to_vec()
        } else {
            p.histogram_buckets.clone()
        },
        quantiles: if p.summary_quantiles_objectives.is_empty() {
            latency::QUANTILES.to_vec()
        } else {
            p.summary_quantiles_objectives
                .iter()
                .map(|q| q.quantile)
                .collect()
        },
        mapping,
        none: c.none.is_some(),
        file_output_path: p.file_output_path.clone(),
    };
    *SETTINGS.write() = Some(settings);
}

/// The `process_*` families for whatever could be read.
pub fn process_families(p: &ProcessStats) -> Vec<MetricFamily> {
    let one = |name: &str, help: &str, t: MetricType, v: Option<f64>| {
        v.map(|v| {
            let m = if t == MetricType::COUNTER {
                let mut c = Counter::default();
                c.set_value(v);
                let mut m = Metric::default();
                m.set_counter(c);
                m
            } else {
                gauge_metric(Vec::new(), v)
            };
            family(name, help, t, vec![m])
        })
    };
    [
        one(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            MetricType::COUNTER,
            p.cpu_seconds,
        ),
        one(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            MetricType::GAUGE,
            p.resident_bytes,
        ),
        one(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            MetricType::GAUGE,
            p.virtual_bytes,
        ),
        one(
            "process_open_fds",
            "Number of open file descriptors.",
            MetricType::GAUGE,
            p.open_fds,
        ),
        one(
            "process_threads",
            "Number of OS threads in the process.",
            MetricType::GAUGE,
            p.threads,
        ),
        one(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            MetricType::GAUGE,
            p.start_time_seconds,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn histogram(name: &str, help: &str, s: &Snapshot, _quantiles: &[f64]) -> MetricFamily {
    let mut h = Histogram::default();
    h.set_sample_count(s.count);
    h.set_sample_sum(s.sum_ns / 1e9);
    h.set_bucket(
        s.buckets
            .iter()
            .map(|(le, n)| {
                let mut b = Bucket::default();
                b.set_upper_bound(*le);
                b.set_cumulative_count(*n);
                b
            })
            .collect(),
    );
    let mut m = Metric::default();
    m.set_histogram(h);
    family(
        name,
        &help.replace("in nanoseconds", "in seconds"),
        MetricType::HISTOGRAM,
        vec![m],
    )
}

/// Every family, from the given counters, lag list and latency snapshots.
pub fn families(
    m: &Metrics,
    lags: &[(String, i32, i64)],
    batch: &Snapshot,
    e2e: &Snapshot,
    histogram_timing: bool,
    quantiles: &[f64],
) -> Vec<MetricFamily> {
    let timing = |name: &str, help: &str, s: &Snapshot| {
        if histogram_timing {
            histogram(name, help, s, quantiles)
        } else {
            summary(name, help, s, quantiles)
        }
    };
    let mut out = vec![
        counter(
            "bento_input_received",
            "Messages read from the input.",
            m.input_received.get(),
        ),
        counter(
            "bento_input_tombstones",
            "Kafka tombstones (records with a null value) skipped: they carry no event.",
            m.input_tombstones.get(),
        ),
        counter(
            "bento_processor_dropped",
            "Messages filtered out by the pipeline (root = deleted()).",
            m.processor_dropped.get(),
        ),
        counter(
            "bento_processor_error",
            "Messages a processor or the event encoder failed (sent to the dead-letter path).",
            m.processor_error.get(),
        ),
        counter(
            "bento_output_sent",
            "Events accepted by the destination.",
            m.output_sent.get(),
        ),
        counter(
            "bento_output_error",
            "Failed send attempts (one per failed request).",
            m.output_error.get(),
        ),
        counter(
            "bento_output_retry",
            "Requests retried.",
            m.output_retry.get(),
        ),
        counter(
            "bento_output_dead_letter",
            "Events written to the dead-letter sink.",
            m.output_dead_letter.get(),
        ),
        counter(
            "bento_output_dead_letter_error",
            "Failed dead-letter writes (each is retried; the events stay un-acked meanwhile).",
            m.output_dead_letter_error.get(),
        ),
        family(
            "bento_output_dead_letter_pending",
            "Events waiting for a dead-letter write that failed and is being retried.",
            MetricType::GAUGE,
            vec![gauge_metric(
                Vec::new(),
                m.output_dead_letter_pending.get() as f64,
            )],
        ),
        counter(
            "bento_batch_created",
            "Batches (request bodies) assembled by the output.",
            m.batch_created.get(),
        ),
        family(
            "bento_output_in_flight",
            "Requests to the destination currently in flight.",
            MetricType::GAUGE,
            vec![gauge_metric(Vec::new(), m.output_in_flight.get() as f64)],
        ),
        timing(
            "bento_output_latency_ns",
            "Time from sending a request (one batch) to its answer, in nanoseconds.",
            batch,
        ),
        timing(
            "bento_event_e2e_latency_ns",
            "Time from an event's Kafka timestamp (or its receipt) to its acceptance (202), in nanoseconds.",
            e2e,
        ),
    ];
    // A family needs at least one series; without a partitioned input there is none.
    if !lags.is_empty() {
        out.push(family(
            "bento_input_lag",
            "Messages between the consumer position and the partition's high watermark.",
            MetricType::GAUGE,
            lags.iter()
                .map(|(t, p, v)| {
                    gauge_metric(
                        vec![label("topic", t), label("partition", &p.to_string())],
                        *v as f64,
                    )
                })
                .collect(),
        ));
    }
    out
}

/// The whole `/metrics` page from the process-wide state.
pub fn render() -> String {
    let guard = SETTINGS.read();
    let default = Settings::default();
    let st = guard.as_ref().unwrap_or(&default);
    if st.none {
        return String::new();
    }
    let (quantiles, buckets): (&[f64], &[f64]) = if guard.is_some() {
        (&st.quantiles, &st.buckets)
    } else {
        (&latency::QUANTILES, &latency::BUCKETS_SECONDS)
    };
    let mut fams = families(
        metrics::get(),
        &metrics::lags(),
        &latency::batch_send().window_at(quantiles, buckets),
        &latency::event_e2e().window_at(quantiles, buckets),
        st.histogram_timing,
        quantiles,
    );
    if let Some(m) = &st.mapping {
        fams = map_families(m, fams);
    }
    if st.process_metrics {
        fams.extend(process_families(&process::read()));
    }
    encode(&fams)
}

/// `prometheus.file_output_path`: the page as it is at the end of the run, written to the
/// file (a failure is logged: the run's work is done by then).
pub fn write_file() {
    let path = match SETTINGS.read().as_ref() {
        Some(s) if !s.file_output_path.is_empty() => s.file_output_path.clone(),
        _ => return,
    };
    if let Err(e) = std::fs::write(&path, render()) {
        tracing::error!("metrics.prometheus.file_output_path: cannot write `{path}`: {e}");
    }
}

/// Where in a Bento config the component behind a series sits: Bento's `path` label.
fn bento_path(name: &str) -> &'static str {
    if name.starts_with("input_") {
        "root.input"
    } else if name.starts_with("processor_") {
        "root.pipeline.processors"
    } else {
        "root.output"
    }
}

/// Only the first failing mapping of a run is logged, not one line per series per scrape.
static MAPPING_ERROR_LOGGED: AtomicBool = AtomicBool::new(false);

/// `metrics.mapping` over every series: `this` is Bento's name (ours without `bento_`), the
/// metadata its labels with Bento's `label` and `path` added; a string result renames,
/// `deleted()` (or an empty name) drops, an unassigned root keeps Bento's name; the
/// metadata afterwards are the labels, sorted by name as Bento sorts them. A failing mapping
/// or a result that is not a string keeps the series under Bento's name and labels (Bento
/// does the same). Series mapped to one name share a family; one whose type differs from the
/// family's is left out, since the text format cannot hold it.
pub fn map_families(m: &Mapping, fams: Vec<MetricFamily>) -> Vec<MetricFamily> {
    let mut out: Vec<MetricFamily> = Vec::new();
    for fam in fams {
        let bento = fam
            .name()
            .strip_prefix("bento_")
            .unwrap_or(fam.name())
            .to_string();
        for series in fam.get_metric() {
            let mut meta = Map::new();
            meta.insert("label".into(), Value::Str(String::new()));
            meta.insert("path".into(), Value::Str(bento_path(&bento).into()));
            for l in series.get_label() {
                meta.insert(l.name().to_string(), Value::Str(l.value().to_string()));
            }
            let Some((name, labels)) = map_one(m, &bento, meta) else {
                continue;
            };
            let mut series = series.clone();
            series.set_label(labels);
            match out.iter_mut().find(|f| f.name() == name) {
                Some(f) if f.get_field_type() == fam.get_field_type() => {
                    f.mut_metric().push(series)
                }
                Some(_) => {}
                None => out.push(family(
                    &name,
                    fam.help(),
                    fam.get_field_type(),
                    vec![series],
                )),
            }
        }
    }
    out
}

/// One series through the mapping: its exported name and labels, or `None` to drop it.
fn map_one(m: &Mapping, bento: &str, mut meta: Map) -> Option<(String, Vec<LabelPair>)> {
    let labels = |meta: &Map| {
        let mut ls: Vec<LabelPair> = meta
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Str(s) => s.clone(),
                    other => other.to_meta_text(),
                };
                label(&prom_name(k), &v)
            })
            .collect();
        ls.sort_by(|a, b| a.name().cmp(b.name()));
        ls
    };
    let before = meta.clone();
    let input = Value::Str(bento.to_string());
    let outcome = m.exec(
        &input,
        MessageEnv {
            meta: &mut meta,
            origin: None,
            raw: bento.as_bytes(),
            error: None,
        },
    );
    let failed = |why: String| {
        if !MAPPING_ERROR_LOGGED.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "metrics.mapping failed on `{bento}` ({why}); the series keeps its Bento name"
            );
        }
        Some((prom_name(bento), labels(&before)))
    };
    match outcome {
        Ok(crate::bloblang::Outcome::Deleted) => None,
        Ok(crate::bloblang::Outcome::Unchanged) => Some((prom_name(bento), labels(&meta))),
        Ok(crate::bloblang::Outcome::Doc(Value::Str(s))) if s.is_empty() => None,
        Ok(crate::bloblang::Outcome::Doc(Value::Str(s))) => Some((prom_name(&s), labels(&meta))),
        Ok(crate::bloblang::Outcome::Doc(v)) => {
            failed(format!("it gave {}, not a string", v.to_json_string()))
        }
        Err(e) => failed(e.to_string()),
    }
}

/// A name Prometheus accepts: every other character becomes `_` (Bento's exporter does the
/// same), and a leading digit gets a `_` before it.
fn prom_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Encode families as text. Families built by [`families`] always have a name and a series, the
/// only things the encoder rejects; should that ever break, the scrape shows the error as a
/// comment instead of panicking.
pub fn encode(fams: &[MetricFamily]) -> String {
    let mut buf = Vec::with_capacity(4096);
    if let Err(e) = TextEncoder::new().encode(fams, &mut buf) {
        return format!("# error encoding metrics: {e}\n");
    }
    String::from_utf8(buf).unwrap_or_else(|e| format!("# error encoding metrics: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn text_parses_with_exact_names_labels_and_values() {
        let m = Metrics::default();
        m.input_received.add(7);
        m.input_tombstones.add(3);
        m.output_sent.add(5);
        m.processor_dropped.add(1);
        m.processor_error.add(1);
        m.output_error.add(2);
        m.output_retry.add(2);
        m.output_dead_letter.add(1);
        m.output_dead_letter_error.add(2);
        m.output_dead_letter_pending.set(5);
        m.batch_created.add(3);
        m.output_in_flight.set(4);
        let lat = latency::Latency::new();
        for ms in [10u64, 20, 30] {
            lat.record(Duration::from_millis(ms));
        }
        let lags = vec![
            ("events".to_string(), 0, 12),
            ("we\"ird\\topic".to_string(), 3, 0),
        ];
        let text = encode(&families(
            &m,
            &lags,
            &lat.window(),
            &Snapshot::default(),
            false,
            &latency::QUANTILES,
        ));
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");
        let value = |name: &str| -> f64 {
            let s = scrape
                .samples
                .iter()
                .find(|s| s.metric == name)
                .unwrap_or_else(|| panic!("{name} missing in\n{text}"));
            match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => panic!("{name}: unexpected {:?}", s.value),
            }
        };
        assert_eq!(value("bento_input_received"), 7.0);
        assert_eq!(value("bento_input_tombstones"), 3.0);
        assert_eq!(value("bento_output_sent"), 5.0);
        assert_eq!(value("bento_output_error"), 2.0);
        assert_eq!(value("bento_batch_created"), 3.0);
        assert_eq!(value("bento_output_retry"), 2.0);
        assert_eq!(value("bento_output_dead_letter"), 1.0);
        assert_eq!(value("bento_output_dead_letter_error"), 2.0);
        assert_eq!(value("bento_output_dead_letter_pending"), 5.0);
        assert_eq!(value("bento_processor_dropped"), 1.0);
        assert_eq!(value("bento_processor_error"), 1.0);
        assert_eq!(value("bento_output_in_flight"), 4.0);
        assert!(text.contains("# TYPE bento_input_received counter\n"));
        assert!(!text.contains("_total"));
        let lag: Vec<_> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "bento_input_lag")
            .map(|s| {
                (
                    s.labels.get("topic").unwrap_or_default().to_string(),
                    s.labels.get("partition").unwrap_or_default().to_string(),
                    s.value.clone(),
                )
            })
            .collect();
        assert_eq!(
            lag,
            vec![
                (
                    "events".to_string(),
                    "0".to_string(),
                    prometheus_parse::Value::Gauge(12.0)
                ),
                (
                    // prometheus-parse hands label values back still escaped.
                    r#"we\"ird\\topic"#.to_string(),
                    "3".to_string(),
                    prometheus_parse::Value::Gauge(0.0)
                ),
            ]
        );
        let send = scrape
            .samples
            .iter()
            .find(|s| s.metric == "bento_output_latency_ns")
            .expect("send latency summary");
        match &send.value {
            prometheus_parse::Value::Summary(qs) => {
                let qs: Vec<f64> = qs.iter().map(|q| q.quantile).collect();
                assert_eq!(qs, vec![0.5, 0.9, 0.99, 0.999]);
            }
            v => panic!("not a summary: {v:?}"),
        }
        assert!(text.contains(r#"bento_input_lag{topic="we\"ird\\topic",partition="3"} 0"#));
        assert!(text.contains("bento_output_latency_ns_count 3\n"), "{text}");
        assert!(
            text.contains("bento_output_latency_ns_sum 60000000\n"),
            "{text}"
        );
        assert!(text.contains("bento_event_e2e_latency_ns{quantile=\"0.99\"} NaN\n"));
    }
}

#[cfg(test)]
mod histogram_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histogram_timing_exports_seconds_buckets() {
        let lat = latency::Latency::new();
        for ms in [3u64, 30, 300] {
            lat.record(Duration::from_millis(ms));
        }
        let text = encode(&families(
            &Metrics::default(),
            &[],
            &lat.window(),
            &Snapshot::default(),
            true,
            &latency::QUANTILES,
        ));
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("valid text");
        let h = scrape
            .samples
            .iter()
            .find(|s| s.metric == "bento_output_latency_ns")
            .expect("histogram");
        match &h.value {
            prometheus_parse::Value::Histogram(b) => {
                let at = |le: f64| b.iter().find(|c| c.less_than == le).map(|c| c.count);
                assert_eq!(at(0.005), Some(1.0));
                assert_eq!(at(0.05), Some(2.0));
                assert_eq!(at(0.5), Some(3.0));
                assert_eq!(at(f64::INFINITY), Some(3.0));
            }
            v => panic!("not a histogram: {v:?}"),
        }
        assert!(text.contains("# TYPE bento_output_latency_ns histogram"));
        assert!(
            text.contains("bento_output_latency_ns_sum 0.333\n"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod process_tests {
    use super::*;

    #[test]
    fn process_series_parse_and_skip_unknowns() {
        let p = ProcessStats {
            cpu_seconds: Some(1.5),
            resident_bytes: Some(1024.0),
            threads: Some(7.0),
            ..ProcessStats::default()
        };
        let text = encode(&process_families(&p));
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("valid text");
        let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_threads"
            ]
        );
        assert!(text
            .contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n"));
    }
}

#[cfg(test)]
mod mapping_tests {
    use super::*;

    fn mapped(mapping: &str) -> String {
        let m = Metrics::default();
        m.input_received.add(3);
        m.output_sent.add(2);
        let lags = vec![("events".to_string(), 1, 5)];
        let fams = families(
            &m,
            &lags,
            &Snapshot::default(),
            &Snapshot::default(),
            false,
            &latency::QUANTILES,
        );
        let m = Mapping::compile(mapping).expect("mapping compiles");
        encode(&map_families(&m, fams))
    }

    #[test]
    fn identity_gives_bentos_names_and_labels() {
        let text = mapped("root = this");
        assert!(
            text.contains("input_received{label=\"\",path=\"root.input\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "input_lag{label=\"\",partition=\"1\",path=\"root.input\",topic=\"events\"} 5\n"
            ),
            "{text}"
        );
        assert!(!text.contains("bento_"), "{text}");
    }

    #[test]
    fn renames_relabels_and_drops() {
        let text = mapped(
            r#"
root = if this == "output_sent" { deleted() } else { "acme_" + this.replace_all("input", "source") }
meta path = deleted()
meta label = "kafka_in"
"#,
        );
        assert!(
            text.contains("acme_source_received{label=\"kafka_in\"} 3\n"),
            "{text}"
        );
        assert!(!text.contains("output_sent"), "{text}");
        assert!(!text.contains("path="), "{text}");
        assert!(
            text.contains("# TYPE acme_source_received counter"),
            "{text}"
        );
    }

    #[test]
    fn a_result_that_is_not_a_string_keeps_bentos_name() {
        let text = mapped("root = 5");
        assert!(
            text.contains("\ninput_received{label=\"\",path=\"root.input\"} 3\n"),
            "{text}"
        );
    }

    #[test]
    fn names_become_valid_prometheus_names() {
        let text = mapped(r#"root = "9 my-" + this"#);
        assert!(text.contains("\n_9_my_input_received{"), "{text}");
    }
}
