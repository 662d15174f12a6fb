//! `output.flexprice`: batches events and delivers them to the Flexprice events API.
//!
//! ```text
//! processor threads ──(EventEncoder: validate + encode once)──▶ events channel
//!   ──▶ batcher (this thread: count / byte_size / period, upper bounds)
//!   ──bounded(max_in_flight)──▶ max_in_flight sender threads (one shared ureq Agent)
//!   ──▶ 202: ack │ 400 on bulk: bisect │ 408/429/5xx: retry with backoff │ else: dead-letter + ack
//! ```
//! Events that failed processing (`Body::Failed`) never join a batch: they go straight to the
//! dead-letter file with their reason.

mod batch;
mod config;
mod dead_letter;
mod encode;
mod retry;
mod sender;

pub use batch::{Batch, Batcher, Policy, MAX_BULK_EVENTS};

pub use config::{Batching, DeadLetter, FlexpriceConfig, RetryBackoff};
pub use encode::{EventEncoder, MAX_BODY_BYTES};
pub use retry::{classify, Class, RetryPolicy};

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::pipeline::telemetry::metrics;
use crate::pipeline::Ack;
use crate::pipeline::Control;
use crate::pipeline::Origin;
use crate::pipeline::{Body, Encoder, Event, Output};
use dead_letter::{DeadLetterSink, Payload, Record};

/// Failed events collected before one dead-letter write (one fsync for many).
const DEAD_LETTER_GROUP: usize = 256;

pub struct FlexpriceOutput {
    encoder: Arc<EventEncoder>,
    policy: Policy,
    max_in_flight: usize,
    sender: sender::Sender,
}

impl FlexpriceOutput {
    pub fn new(config: FlexpriceConfig) -> anyhow::Result<FlexpriceOutput> {
        let dead_letter = match (&config.dead_letter.path, &config.dead_letter.kafka) {
            (Some(_), Some(_)) => {
                anyhow::bail!("output.flexprice.dead_letter: set only one of `path` and `kafka`")
            }
            (Some(p), None) => DeadLetterSink::open(Path::new(p))
                .with_context(|| format!("cannot open dead-letter file `{p}`"))?,
            (None, Some(k)) => DeadLetterSink::kafka(&k.addresses, &k.topic, k.timeout.get())
                .context("cannot create the dead-letter Kafka producer")?,
            (None, None) => anyhow::bail!("output.flexprice.dead_letter: set `path` or `kafka`"),
        };
        let dlq_path = dead_letter.describe().to_string();
        let agent = build_agent(&config)?;
        let base = format!("{}://{}/v1/events", config.scheme, config.api_host.trim());
        let policy = Policy::from_config(&config.batching);
        tracing::info!(
            api = %base,
            bulk = policy.bulk,
            max_events = policy.max_count,
            max_bytes = policy.max_bytes,
            max_in_flight = config.max_in_flight,
            dead_letter = %dlq_path,
            "flexprice output ready"
        );
        if policy.bulk && policy.period.is_none() && config.batching.count > 1 {
            tracing::warn!("batching has no `period`: a partly filled batch waits until it is full or the collector stops");
        }
        Ok(FlexpriceOutput {
            encoder: Arc::new(EventEncoder::new()),
            max_in_flight: config.max_in_flight.max(1),
            sender: sender::Sender {
                agent,
                single_url: base.clone(),
                bulk_url: format!("{base}/bulk"),
                api_key: config.api_key.clone(),
                retry: RetryPolicy::from_config(&config),
                dead_letter,
                epoch: Instant::now(),
                last_accepted_sent: std::sync::atomic::AtomicU64::new(0),
            },
            policy,
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
        // host a 3xx names. A 3xx comes back as a response and is dead-lettered with its status.
        .max_redirects(0)
        .max_idle_connections(c.max_in_flight.max(1))
        .max_idle_connections_per_host(c.max_in_flight.max(1))
        .user_agent(concat!("flexprice-collector/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

impl Output for FlexpriceOutput {
    fn name(&self) -> &'static str {
        "flexprice"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::clone(&self.encoder) as Arc<dyn Encoder>
    }

    fn run(self: Box<Self>, events: Receiver<Vec<Event>>, ctl: &Control) -> anyhow::Result<()> {
        let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(self.max_in_flight);
        let sender = &self.sender;
        std::thread::scope(|s| -> anyhow::Result<()> {
            for i in 0..self.max_in_flight {
                let rx = batch_rx.clone();
                std::thread::Builder::new()
                    .name(format!("flexprice-send-{i}"))
                    .spawn_scoped(s, move || sender.run(&rx, ctl))
                    .context("cannot start a sender thread")?;
            }
            drop(batch_rx);
            let r = run_batcher(&events, &batch_tx, &self.policy, &self.sender.dead_letter);
            drop(batch_tx); // senders finish what is queued, then exit; the scope joins them
            r
        })
    }
}

/// The batcher loop: runs until the events channel closes, then flushes the open batch.
fn run_batcher(
    events: &Receiver<Vec<Event>>,
    out: &crossbeam_channel::Sender<Batch>,
    policy: &Policy,
    dead_letter: &DeadLetterSink,
) -> anyhow::Result<()> {
    let m = metrics::get();
    let mut batcher = Batcher::new(policy.clone());
    let mut ready: Vec<Batch> = Vec::with_capacity(2);
    let mut failed: Vec<(Vec<u8>, String, Origin, Ack)> = Vec::new();
    let send = |b: Batch| -> anyhow::Result<()> {
        m.batch_created.inc();
        out.send(b)
            .map_err(|_| anyhow::anyhow!("flexprice sender threads are gone"))
    };
    loop {
        let next = match batcher.due_at() {
            Some(at) => events.recv_deadline(at),
            None => events.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(chunk) => {
                let now = Instant::now();
                for ev in chunk {
                    match ev.body {
                        Body::Ready(bytes) => {
                            batcher.push(&bytes, ev.ack, ev.origin, now, &mut ready);
                            for b in ready.drain(..) {
                                send(b)?;
                            }
                        }
                        Body::Failed { raw, reason } => {
                            failed.push((raw, reason, ev.origin, ev.ack))
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(b) = batcher.flush() {
                    send(b)?;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                write_failed(dead_letter, &mut failed);
                if let Some(b) = batcher.flush() {
                    send(b)?;
                }
                return Ok(());
            }
        }
        // Group dead-letter writes while failed events keep coming; write as soon as the
        // stream pauses, so a failed event is never held back waiting for company.
        if !failed.is_empty() && (failed.len() >= DEAD_LETTER_GROUP || events.is_empty()) {
            write_failed(dead_letter, &mut failed);
        }
    }
}

fn write_failed(dead_letter: &DeadLetterSink, failed: &mut Vec<(Vec<u8>, String, Origin, Ack)>) {
    if failed.is_empty() {
        return;
    }
    let records: Vec<Record<'_>> = failed
        .iter()
        .map(|(raw, reason, origin, _)| Record {
            reason,
            status: None,
            attempts: 0,
            response: None,
            event: Payload::Raw(raw),
            origin,
        })
        .collect();
    let written = dead_letter.write(&records);
    drop(records);
    let n = failed.len();
    match written {
        Ok(()) => {
            metrics::get().output_dead_letter.add(n as u64);
            for (_, reason, origin, _) in failed.iter() {
                tracing::warn!(reason = %reason, position = %origin.position, "event failed processing; dead-lettered");
            }
            Ack::ack_all(failed.drain(..).map(|(_, _, _, ack)| ack));
        }
        Err(e) => {
            tracing::error!(error = %e, dead_letter = %dead_letter.describe(), events = n, "cannot write the dead-letter file; events stay un-acked");
            failed.clear();
        }
    }
}
