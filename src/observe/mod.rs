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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusConfig>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Export `*_latency_ns` as histograms in seconds (Prometheus default buckets) instead of
    /// summaries in nanoseconds, as Bento does.
    #[serde(default)]
    pub use_histogram_timing: bool,
    /// Add the standard `process_*` series (CPU, memory, threads, open files; Linux).
    #[serde(default)]
    pub add_process_metrics: bool,
    #[serde(default)]
    pub add_go_metrics: bool,
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
