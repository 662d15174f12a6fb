//! Observability: metrics, logs and the HTTP endpoints (`/ping`, `/ready`, `/metrics`).

pub mod logs;
pub mod metrics;

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
    #[serde(default)]
    pub use_histogram_timing: bool,
    #[serde(default)]
    pub add_process_metrics: bool,
    #[serde(default)]
    pub add_go_metrics: bool,
}

/// How often the progress line is logged (`logger.progress_period`); 0 = never.
pub fn default_progress_period() -> Duration {
    Duration::from_secs(10)
}
