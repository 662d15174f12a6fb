//! `/metrics`: the Prometheus text exposition format, rendered at scrape time.
//!
//! The hot path only touches atomics ([`super::metrics`]) and per-thread histograms
//! ([`super::latency`]); a scrape reads them, builds `MetricFamily` values and lets the
//! `prometheus` crate's `TextEncoder` write the text (escaping, `# HELP`/`# TYPE`, summary
//! layout). We do not register `prometheus::IntCounter`s because names must be exactly the ones
//! Flexprice's docs list (`bento_input_received`, no `_total` suffix, which
//! `prometheus-client` would append to counters).

use std::sync::atomic::{AtomicBool, Ordering};

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary,
};
use prometheus::{Encoder, TextEncoder};

use super::process::{self, ProcessStats};
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

fn summary(name: &str, help: &str, s: &Snapshot) -> MetricFamily {
    let mut sum = Summary::default();
    sum.set_sample_count(s.count);
    sum.set_sample_sum(s.sum_ns);
    // Like Go's client: a quantile with no samples in the window is NaN, not a fake 0.
    sum.set_quantile(
        latency::QUANTILES
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

/// `metrics.prometheus.use_histogram_timing`: export timings as histograms in seconds (names
/// keep `_ns`, as Bento does) instead of summaries in nanoseconds.
static HISTOGRAM_TIMING: AtomicBool = AtomicBool::new(false);
/// `metrics.prometheus.add_process_metrics`: add the `process_*` series.
static PROCESS_METRICS: AtomicBool = AtomicBool::new(false);

/// Apply the `metrics.prometheus` block (set once per run).
pub fn configure(c: &super::MetricsConfig) {
    let p = c.prometheus.clone().unwrap_or_default();
    HISTOGRAM_TIMING.store(p.use_histogram_timing, Ordering::Relaxed);
    PROCESS_METRICS.store(p.add_process_metrics, Ordering::Relaxed);
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

fn histogram(name: &str, help: &str, s: &Snapshot) -> MetricFamily {
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
) -> Vec<MetricFamily> {
    let timing = if histogram_timing { histogram } else { summary };
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
    let fams = families(
        metrics::get(),
        &metrics::lags(),
        &latency::batch_send().window(),
        &latency::event_e2e().window(),
        HISTOGRAM_TIMING.load(Ordering::Relaxed),
    );
    let mut fams = fams;
    if PROCESS_METRICS.load(Ordering::Relaxed) {
        fams.extend(process_families(&process::read()));
    }
    encode(&fams)
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
