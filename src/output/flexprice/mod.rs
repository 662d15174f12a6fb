//! `output.flexprice`: delivers events to the Flexprice events API.
//!
//! ```text
//! processor threads ──(EventEncoder: validate + encode once)──▶ the runtime's batcher
//!   (count / byte_size / period, upper bounds) ──▶ max_in_flight writers (one shared agent)
//!   ──▶ 202: delivered │ 400/413/422 (drop_on): bisect, then failed │ 408/429/5xx/other 2xx
//!       (backoff_on): retry with backoff │ else (401, 404, 3xx, TLS…): held, /ready says why
//! ```
//! Failed events go to the `dead_letter` target (a fallback after this output), or to the
//! next output of a `fallback` this output is in. Events that failed processing never reach
//! the API: they fail at once with their reason.

mod api;
mod batch;
mod config;
mod encode;
mod retry;

pub use api::FlexpriceApi;
pub use batch::{Batch, MAX_BULK_EVENTS};
pub use config::{Batching, FlexpriceConfig, RetryBackoff};
pub use encode::{EventEncoder, MAX_BODY_BYTES};
pub use retry::{classify, Class, Statuses};

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::dead_letter::{DeadLetter, DEFAULT_PATH};
use super::fallback::Fallback;
use super::{Backoff, OutputPlan, OutputSpec, Planner};
use crate::pipeline::Output;

impl OutputSpec for FlexpriceConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn OutputPlan>> {
        let before = cx.processors.problems.len();
        self.validate(path, cx.processors.problems);
        if cx.processors.problems.len() > before {
            return None;
        }
        // Failures go to the dead-letter target given, or on to a fallback, or (neither) to
        // the default file.
        let dead_letter = match (&self.dead_letter, cx.has_fallback()) {
            (Some(d), _) => Some(d.clone()),
            (None, true) => None,
            (None, false) => Some(DeadLetter {
                path: Some(DEFAULT_PATH.into()),
                kafka: None,
            }),
        };
        Some(Box::new(Plan {
            config: self.clone(),
            dead_letter,
        }))
    }
}

struct Plan {
    config: FlexpriceConfig,
    dead_letter: Option<DeadLetter>,
}

impl OutputPlan for Plan {
    fn start(self: Box<Self>) -> anyhow::Result<Box<dyn Output>> {
        let c = &self.config;
        let agent = build_agent(c)?;
        let base = format!("{}://{}/v1/events", c.scheme, c.api_host.trim());
        let (bulk, policy) = batch::policy(&c.batching);
        let b = &c.retry_backoff;
        let api = FlexpriceApi {
            agent,
            single_url: base.clone(),
            bulk_url: format!("{base}/bulk"),
            api_key: c.api_key.clone(),
            retry: Backoff {
                initial: b.initial_interval.get(),
                max: b.max_interval.get().max(b.initial_interval.get()),
                max_elapsed: (!b.max_elapsed_time.is_zero()).then(|| b.max_elapsed_time.get()),
                max_retries: c.retry_max_attempts,
            },
            encoder: Arc::new(EventEncoder::new()),
            bulk,
            policy,
            max_in_flight: c.max_in_flight.max(1),
            epoch: Instant::now(),
            last_accepted_sent: std::sync::atomic::AtomicU64::new(0),
            statuses: c.statuses(),
            timeout: c.timeout.get(),
            held_log: super::LogLimit::per_minute(),
        };
        let dead_letter = self
            .dead_letter
            .as_ref()
            .map(DeadLetter::open)
            .transpose()?;
        tracing::info!(
            api = %base,
            bulk = api.bulk,
            max_events = api.policy.max_count,
            max_bytes = api.policy.max_bytes,
            max_in_flight = api.max_in_flight,
            dead_letter = dead_letter.as_ref().map_or("(the fallback)", |d| d.describe()),
            "flexprice output ready"
        );
        if api.bulk && api.policy.period.is_none() && c.batching.count > 1 {
            tracing::warn!("batching has no `period`: a partly filled batch waits until it is full or the collector stops");
        }
        Ok(match dead_letter {
            Some(d) => Box::new(Fallback::new(vec![Box::new(api), Box::new(d)])),
            None => Box::new(api),
        })
    }
}

fn build_agent(c: &FlexpriceConfig) -> anyhow::Result<ureq::Agent> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if !c.tls.root_cas_file.is_empty() {
        let pem = std::fs::read(&c.tls.root_cas_file)
            .with_context(|| format!("cannot read tls.root_cas_file `{}`", c.tls.root_cas_file))?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<Certificate<'static>>, _>>()
            .with_context(|| format!("tls.root_cas_file `{}` is not PEM", c.tls.root_cas_file))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "tls.root_cas_file `{}` has no certificates",
            c.tls.root_cas_file
        );
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if c.tls.skip_cert_verify {
        tracing::warn!("tls.skip_cert_verify is on: the API's certificate is not checked");
        tls = tls.disable_verification(true);
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(c.timeout.get()).filter(|d| !d.is_zero()))
        // Never follow redirects: `x-api-key` is a custom header ureq would carry to whatever
        // host a 3xx names. A 3xx comes back as a response and is a failure with its status.
        .max_redirects(0)
        .max_idle_connections(c.max_in_flight.max(1))
        .max_idle_connections_per_host(c.max_in_flight.max(1))
        .user_agent(concat!("flexprice-collector/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}
