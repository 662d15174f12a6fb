//! `output.flexprice` fields. Names follow the Flexprice Bento plugin and its docs.

use serde::{Deserialize, Serialize};

use crate::config::{Duration, Problems, Secret};
use crate::output::dead_letter::DeadLetter;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlexpriceConfig {
    /// `host[:port]`, no scheme, no path.
    #[serde(default = "default_api_host")]
    pub api_host: String,
    pub api_key: Secret,
    /// `https` (default) or `http`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Parallel requests (sender threads).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    #[serde(default)]
    pub batching: Batching,
    /// Retries after the first attempt before an event is dead-lettered.
    #[serde(default = "default_retry_max_attempts")]
    pub retry_max_attempts: u32,
    #[serde(default)]
    pub retry_backoff: RetryBackoff,
    /// Where events go that the API does not take: a JSONL file or a Kafka topic. Unset,
    /// `./flexprice-dead-letter.jsonl`, unless a `fallback` after this output takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetter>,
    #[serde(default)]
    pub tls: ApiTls,
    /// Statuses that mean the API took the events, besides 202 (the only success the
    /// Flexprice API answers on its ingest routes), e.g. `[200]` behind a gateway that
    /// rewrites it. Any other 2xx is not delivery: the request is resent whole. Bento's
    /// `http_client` field of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub successful_on: Vec<u16>,
    /// Statuses retried with backoff (the retry budget applies while the API accepts other
    /// requests), besides the built-in 408, 429, 5xx and 2xx other than success. E.g. `[404]`
    /// to retry a route that a deployment brings up late. Bento's `backoff_on`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backoff_on: Vec<u16>,
    /// Statuses that dead-letter the events without a retry (a bulk request is bisected to
    /// the events the status is about), besides the built-in 400 and 422 carrying the API's
    /// JSON error and 413. Every status no list names and no built-in class covers (401,
    /// 403, 404, 3xx, …) is the pipeline's fault: the batch is held and retried until it
    /// goes through, and `/ready` says what to fix. Bento's `drop_on`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_on: Vec<u16>,
}

/// Bento's batch policy. All zero = no batching (one event per `POST /v1/events`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Batching {
    #[serde(default)]
    pub count: usize,
    #[serde(default)]
    pub byte_size: usize,
    #[serde(default)]
    pub period: Duration,
}

impl Batching {
    /// Bento's `IsNoop`: `count: 1` alone is still "no batching".
    pub fn is_noop(&self) -> bool {
        self.count <= 1 && self.byte_size == 0 && self.period.is_zero()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBackoff {
    #[serde(default = "default_initial_interval")]
    pub initial_interval: Duration,
    #[serde(default = "default_max_interval")]
    pub max_interval: Duration,
    /// Give up retrying (dead-letter) once this much time has passed; 0 = no limit.
    #[serde(default)]
    pub max_elapsed_time: Duration,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        RetryBackoff {
            initial_interval: default_initial_interval(),
            max_interval: default_max_interval(),
            max_elapsed_time: Duration::default(),
        }
    }
}

/// TLS towards a self-hosted API.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTls {
    #[serde(default)]
    pub root_cas_file: String,
    #[serde(default)]
    pub skip_cert_verify: bool,
}

fn default_api_host() -> String {
    "api.cloud.flexprice.io".into()
}
fn default_scheme() -> String {
    "https".into()
}
fn default_max_in_flight() -> usize {
    10
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retry_max_attempts() -> u32 {
    3
}
fn default_initial_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_interval() -> Duration {
    Duration::from_secs(60)
}

/// The most parallel requests a config may ask for (each is a writer thread).
pub const MAX_IN_FLIGHT: usize = 512;
/// The most retries a config may ask for.
pub const MAX_RETRIES: u32 = 1000;

/// `host`, `host:port`, `[v6]` or `[v6]:port`, and nothing else: characters that would turn
/// the URL into another one (`?`, `#`, `@`, `\`) or break the request line are refused.
fn check_host_port(host: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{}` is not `host[:port]`: {why}",
            host.escape_debug()
        ))
    };
    if let Some(c) = host
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#' | '@' | '\\'))
    {
        return bad(&format!("it contains `{}`", c.escape_debug()));
    }
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, "")) => (v6, None),
            Some((v6, tail)) => match tail.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return bad("text after `]` must be `:port`"),
            },
            None => return bad("`[` without `]`"),
        },
        None => match host.rsplit_once(':') {
            Some((_, _)) if host.matches(':').count() > 1 => {
                return bad("an IPv6 address goes in brackets: `[::1]:8080`")
            }
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    if name.is_empty() {
        return bad("the host is empty");
    }
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return bad(&format!("the port `{port}` is not 1..=65535"));
        }
    }
    Ok(())
}

impl FlexpriceConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        let host = self.api_host.trim();
        if host.is_empty() {
            p.add(format!("{path}.api_host"), "must not be empty");
        } else if host.contains("://") {
            p.add(
                format!("{path}.api_host"),
                format!("`{host}` has a scheme; give the host only (e.g. `api.cloud.flexprice.io`) and set `scheme:` separately"),
            );
        } else if host.contains('/') {
            p.add(
                format!("{path}.api_host"),
                format!(
                    "`{host}` has a path; give `host[:port]` only, the collector adds `/v1/events`"
                ),
            );
        } else if let Err(why) = check_host_port(host) {
            p.add(format!("{path}.api_host"), why);
        }
        if self.api_key.is_empty() {
            p.add(
                format!("{path}.api_key"),
                "is required (the key is sent as `x-api-key`)",
            );
        }
        if !matches!(self.scheme.as_str(), "http" | "https") {
            p.add(
                format!("{path}.scheme"),
                format!("`{}` is not `http` or `https`", self.scheme),
            );
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            p.add(
                format!("{path}.max_in_flight"),
                format!(
                    "{} is out of range: 1..={MAX_IN_FLIGHT} (each request in flight is a thread)",
                    self.max_in_flight
                ),
            );
        }
        if self.retry_max_attempts > MAX_RETRIES {
            p.add(
                format!("{path}.retry_max_attempts"),
                format!(
                    "{} is out of range: 0..={MAX_RETRIES}",
                    self.retry_max_attempts
                ),
            );
        }
        if self.batching.count > 1000 {
            p.add(
                format!("{path}.batching.count"),
                "the bulk API takes at most 1000 events per request; use 1000 or less",
            );
        }
        if self.retry_backoff.max_interval < self.retry_backoff.initial_interval {
            p.add(
                format!("{path}.retry_backoff.max_interval"),
                "must not be less than `initial_interval`",
            );
        }
        if let Some(d) = &self.dead_letter {
            d.check(&format!("{path}.dead_letter"), p);
        }
        self.check_statuses(path, p);
    }

    /// Every status is an HTTP status, and in one list at most.
    fn check_statuses(&self, path: &str, p: &mut Problems) {
        let lists: [(&str, &[u16]); 3] = [
            ("successful_on", &self.successful_on),
            ("backoff_on", &self.backoff_on),
            ("drop_on", &self.drop_on),
        ];
        for (n, (name, list)) in lists.iter().enumerate() {
            for (i, &status) in list.iter().enumerate() {
                let at = format!("{path}.{name}.{i}");
                if !(100..=599).contains(&status) {
                    p.add(at, format!("`{status}` is not an HTTP status (100 to 599)"));
                } else if let Some((other, _)) =
                    lists[..n].iter().find(|(_, l)| l.contains(&status))
                {
                    p.add(
                        at,
                        format!("{status} is also in `{other}`; a status can be in one list only"),
                    );
                }
            }
        }
    }

    /// The status lists, for classifying answers.
    pub fn statuses(&self) -> super::retry::Statuses {
        super::retry::Statuses {
            successful_on: self.successful_on.clone(),
            backoff_on: self.backoff_on.clone(),
            drop_on: self.drop_on.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_and_port_pass() {
        for ok in [
            "api.cloud.flexprice.io",
            "localhost:8080",
            "10.0.0.1:443",
            "[::1]:8080",
            "[fe80::1]",
        ] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("api.example.com?x=1", "`?`"),
            ("api.example.com#frag", "`#`"),
            ("user@api.example.com", "`@`"),
            ("api\\example.com", "`\\\\`"),
            ("api.example.com\r\nX-Injected: 1", "`\\r`"),
            ("api.example.com:99999", "not 1..=65535"),
            ("api.example.com:", "not 1..=65535"),
            ("::1:8080", "brackets"),
            (":8080", "host is empty"),
        ] {
            let e = check_host_port(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
