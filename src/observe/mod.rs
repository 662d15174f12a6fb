//! Observability: metrics, logs and the HTTP endpoints (`/ping`, `/ready`, `/metrics`).

pub mod http;
pub mod logs;
pub mod process;
pub mod progress;
pub mod prom;

use serde::{Deserialize, Serialize};

use crate::config::{Duration, Problems};

pub use logs::LoggerConfig;

/// `http:` — the service endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_address")]
    pub address: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            address: default_address(),
        }
    }
}

impl HttpConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        if self.enabled && self.address.parse::<std::net::SocketAddr>().is_err() {
            p.add(
                format!("{path}.address"),
                format!(
                    "`{}` is not an `ip:port` address (e.g. `0.0.0.0:4195`, `127.0.0.1:4195`)",
                    self.address
                ),
            );
        }
    }
}

fn yes() -> bool {
    true
}
fn default_address() -> String {
    "0.0.0.0:4195".into()
}

/// `metrics:` — Prometheus is the only exporter; the block is accepted as Bento writes it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Bento's `metrics.mapping`: Bloblang run on each series at scrape time, with Bento's
    /// metric name (`input_received`) as `this` and its labels as metadata; the result is the
    /// exported name, `root = deleted()` leaves the series out, `meta` edits its labels. Empty:
    /// the `bento_*` names the Flexprice docs list.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mapping: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusConfig>,
    /// Bento's `none` exporter: `/metrics` answers an empty page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub none: Option<serde_yaml_ng::Value>,
    /// Bento's other exporters, accepted only to say what to use instead.
    #[serde(default, skip_serializing)]
    pub json_api: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing)]
    pub statsd: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing)]
    pub influxdb: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing)]
    pub logger: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing)]
    pub aws_cloudwatch: Option<serde_yaml_ng::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Export `*_latency_ns` as histograms in seconds (Prometheus default buckets) instead of
    /// summaries in nanoseconds, as Bento does.
    #[serde(default)]
    pub use_histogram_timing: bool,
    /// Upper bounds (seconds) of the timing histograms; empty: the Prometheus defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histogram_buckets: Vec<f64>,
    /// The quantiles of the timing summaries. `error` is accepted as Bento's; quantiles here
    /// come from an HDR histogram with 1 % relative error whatever it says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary_quantiles_objectives: Vec<QuantileObjective>,
    /// Add the standard `process_*` series (CPU, memory, threads, open files; Linux).
    #[serde(default)]
    pub add_process_metrics: bool,
    /// Go runtime series; there is no Go runtime here, so `true` is a lint problem.
    #[serde(default)]
    pub add_go_metrics: bool,
    /// Written with the last scrape's text when the run ends (Bento's field).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file_output_path: String,
    /// Pushgateway fields: not available (Prometheus scrapes `/metrics`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub push_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub push_interval: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub push_job_name: String,
    #[serde(default, skip_serializing)]
    pub push_basic_auth: Option<serde_yaml_ng::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileObjective {
    pub quantile: f64,
    #[serde(default)]
    pub error: f64,
}

impl MetricsConfig {
    /// Every problem of the block: the mapping compiles, the bounds are usable, and what is
    /// Bento's but not available here says what to use instead.
    pub fn validate(&self, path: &str, p: &mut Problems) {
        if !self.mapping.is_empty() {
            if let Err(e) = crate::bloblang::Mapping::compile(&self.mapping) {
                p.push(
                    crate::config::Problem::new(
                        format!("{path}.mapping"),
                        format!("bad mapping: {e}"),
                    )
                    .inside((e.line, e.column)),
                );
            }
        }
        for (name, v) in [
            ("json_api", &self.json_api),
            ("statsd", &self.statsd),
            ("influxdb", &self.influxdb),
            ("logger", &self.logger),
            ("aws_cloudwatch", &self.aws_cloudwatch),
        ] {
            if v.is_some() {
                p.add(
                    format!("{path}.{name}"),
                    format!("the `{name}` metrics exporter is not available here: metrics are served for Prometheus at `/metrics` of the `http` server; use `prometheus: {{}}` (or `none: {{}}`)"),
                );
            }
        }
        let exporters = [self.prometheus.is_some(), self.none.is_some()];
        if exporters.iter().all(|x| *x) {
            p.add(
                path.to_string(),
                "give one exporter: `prometheus` or `none`, not both",
            );
        }
        let Some(prom) = &self.prometheus else {
            return;
        };
        let at = |f: &str| format!("{path}.prometheus.{f}");
        if prom.add_go_metrics {
            p.add(
                at("add_go_metrics"),
                "there is no Go runtime in this collector; remove it (`add_process_metrics: true` gives CPU, memory, threads and open files)",
            );
        }
        for (f, set) in [
            ("push_url", !prom.push_url.is_empty()),
            ("push_interval", !prom.push_interval.is_empty()),
            ("push_job_name", !prom.push_job_name.is_empty()),
            ("push_basic_auth", prom.push_basic_auth.is_some()),
        ] {
            if set {
                p.add(
                    at(f),
                    "pushing to a Prometheus Pushgateway is not available here; let Prometheus scrape `/metrics` of the `http` server",
                );
            }
        }
        let b = &prom.histogram_buckets;
        if b.iter().any(|x| !x.is_finite() || *x <= 0.0) || b.windows(2).any(|w| w[0] >= w[1]) {
            p.add(
                at("histogram_buckets"),
                "bucket bounds are seconds, positive and in increasing order (e.g. `[0.01, 0.1, 1, 10]`)",
            );
        }
        for (i, q) in prom.summary_quantiles_objectives.iter().enumerate() {
            if !(q.quantile > 0.0 && q.quantile < 1.0) {
                p.add(
                    format!("{}.{i}.quantile", at("summary_quantiles_objectives")),
                    format!(
                        "{} is not a quantile: use a number between 0 and 1 (e.g. 0.99)",
                        q.quantile
                    ),
                );
            }
        }
    }
}

/// How often the progress line is logged (`logger.progress_period`); 0 = never.
pub fn default_progress_period() -> Duration {
    Duration::from_secs(10)
}

/// The observability services of one run: the HTTP server (when `http.enabled`) and the
/// progress line (when `logger.progress_period` is not 0). Stopped by [`Services::stop`] or on
/// drop, so an early return from the runtime cannot leave them running.
pub struct Services {
    http: Option<http::HttpServer>,
    progress: Option<progress::Progress>,
}

impl Services {
    /// Where the HTTP server listens, if it runs.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().map(http::HttpServer::local_addr)
    }

    /// Stop both, progress first so its last line is not cut by the server shutdown.
    pub fn stop(mut self) {
        if let Some(p) = self.progress.take() {
            p.stop();
        }
        if let Some(h) = self.http.take() {
            h.stop();
        }
        prom::write_file();
    }
}

/// Start the services for a run. Until the stages report in, `/ready` answers 503
/// `… not connected: starting`.
pub fn start(
    http_config: &HttpConfig,
    logger: &LoggerConfig,
    metrics: &MetricsConfig,
) -> anyhow::Result<Services> {
    crate::pipeline::telemetry::health::get().reset("starting");
    prom::configure(metrics);
    let http = if http_config.enabled {
        Some(http::start(&http_config.address)?)
    } else {
        None
    };
    let progress = progress::start(logger.progress_period.get())?;
    Ok(Services { http, progress })
}
