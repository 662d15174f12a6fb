//! `flexprice-api-double`: a Flexprice-compatible events API to run the collector against, with
//! fault injection and counters (see `flexprice_api_double`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use argh::FromArgs;
use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Faults, Tls};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A Flexprice-compatible events API double: accepts POST /v1/events and /v1/events/bulk like
/// the real API, counts what it accepted (GET /stats), and injects faults on request.
#[derive(FromArgs)]
struct Args {
    /// address to listen on (default 127.0.0.1:8080; port 0 picks a free one)
    #[argh(option, default = "SocketAddr::from(([127, 0, 0, 1], 8080))")]
    listen: SocketAddr,
    /// the x-api-key clients must send (default test-key)
    #[argh(option, default = "String::from(\"test-key\")")]
    api_key: String,
    /// requests parsed in parallel (default 4)
    #[argh(option, default = "4")]
    threads: usize,
    /// fraction of event requests answered with --error-status (e.g. 0.1)
    #[argh(option, default = "0.0")]
    error_rate: f64,
    /// status for --error-rate (default 503)
    #[argh(option, default = "503")]
    error_status: u16,
    /// added before answering each event request (e.g. 5ms)
    #[argh(option, from_str_fn(dur), default = "Duration::ZERO")]
    latency: Duration,
    /// plus a random 0..=this (e.g. 5ms)
    #[argh(option, from_str_fn(dur), default = "Duration::ZERO")]
    latency_jitter: Duration,
    /// seconds sent as Retry-After on injected 429/503
    #[argh(option)]
    retry_after: Option<u64>,
    /// statuses for the first requests, in order (e.g. 503,503,429)
    #[argh(option)]
    script: Option<String>,
    /// refuse events with this event_name with a 400 (repeatable)
    #[argh(option)]
    reject_event_name: Vec<String>,
    /// read request bodies slowly: this delay per 64 KiB
    #[argh(option, from_str_fn(dur))]
    slow_drain: Option<Duration>,
    /// accept the events before a rejected one in a bulk request, then answer 400 (as the real
    /// API's default mode does)
    #[argh(switch)]
    partial_bulk: bool,
    /// with an injected status: the fraction of a request's events (the first ones) stored
    /// before it is answered, e.g. 0.5 with --script 207 for a 207 that stored half
    #[argh(option, default = "0.0")]
    injected_stores: f64,
    /// start an outage this long after startup: every event request answered --outage-status
    /// (with --retry-after) for --outage-for, then normal again
    #[argh(option, from_str_fn(dur))]
    outage_at: Option<Duration>,
    /// how long the outage lasts (default 10s)
    #[argh(option, from_str_fn(dur), default = "Duration::from_secs(10)")]
    outage_for: Duration,
    /// status answered during the outage (default 503)
    #[argh(option, default = "503")]
    outage_status: u16,
    /// append every accepted event to this JSONL file
    #[argh(option)]
    record: Option<PathBuf>,
    /// serve HTTPS with this PEM certificate (chain); needs --tls-key
    #[argh(option)]
    tls_cert: Option<PathBuf>,
    /// the PEM private key of --tls-cert
    #[argh(option)]
    tls_key: Option<PathBuf>,
    /// print the stats JSON to stderr this often (e.g. 10s)
    #[argh(option, from_str_fn(dur))]
    stats_every: Option<Duration>,
}

fn dur(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration (e.g. 5ms, 10s, 1m30s): {e}"))
}

fn statuses(s: &str) -> Result<Vec<u16>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("invalid status `{p}` in --script (e.g. 503,503,429)"))
        })
        .collect()
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    if !(0.0..=1.0).contains(&args.error_rate) {
        eprintln!("--error-rate must be between 0 and 1");
        return ExitCode::from(2);
    }
    let script = match args.script.as_deref().map(statuses).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let faults = Faults {
        error_rate: args.error_rate,
        error_status: args.error_status,
        latency: args.latency,
        latency_jitter: args.latency_jitter,
        retry_after: args.retry_after,
        script,
        reject_event_names: args.reject_event_name,
        slow_drain: args.slow_drain,
        partial_bulk: args.partial_bulk,
        hang: false,
        injected_stores: args.injected_stores,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => match Tls::from_files(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("flexprice-api-double: cannot read --tls-cert/--tls-key: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("--tls-cert and --tls-key go together");
            return ExitCode::from(2);
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let cfg = ApiDoubleConfig {
        listen: args.listen,
        api_key: args.api_key,
        threads: args.threads,
        faults: faults.clone(),
        record: args.record,
        tls,
    };
    // Register signals before announcing the address, so a script that kills us right after
    // reading it still gets the stats.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flexprice-api-double: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sink = match ApiDouble::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flexprice-api-double: cannot start on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", sink.addr());
    eprintln!("flexprice-api-double: serving {scheme}");
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    let handle = signals.handle();
    let waiter = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(());
        }
    });
    // Timed events, soonest first: stats printing and the outage window's edges.
    let start = Instant::now();
    let mut next_stats = args.stats_every.filter(|d| !d.is_zero()).map(|d| start + d);
    let mut outage = args.outage_at.map(|at| {
        (
            start + at,
            start + at + args.outage_for,
            Faults {
                error_rate: 1.0,
                error_status: args.outage_status,
                ..faults.clone()
            },
        )
    });
    let mut in_outage = false;
    loop {
        let outage_edge = outage.as_ref().map(|o| if in_outage { o.1 } else { o.0 });
        let wake = [next_stats, outage_edge].into_iter().flatten().min();
        let got = match wake {
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => rx
                .recv()
                .map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected),
        };
        if !matches!(got, Err(crossbeam_channel::RecvTimeoutError::Timeout)) {
            break;
        }
        let now = Instant::now();
        if let (Some(at), Some(every)) = (next_stats, args.stats_every) {
            if now >= at {
                eprintln!(
                    "{}",
                    serde_json::to_string(&sink.stats()).unwrap_or_default()
                );
                next_stats = Some(at + every);
            }
        }
        if let Some((begin, end, during)) = &outage {
            if !in_outage && now >= *begin {
                eprintln!(
                    "flexprice-api-double: outage starts ({} for {})",
                    args.outage_status,
                    humantime::format_duration(args.outage_for)
                );
                sink.set_faults(during.clone());
                in_outage = true;
            } else if in_outage && now >= *end {
                eprintln!("flexprice-api-double: outage ends");
                sink.set_faults(faults.clone());
                outage = None;
            }
        }
    }
    handle.close();
    let _ = waiter.join();
    let stats = sink.stats();
    sink.shutdown();
    println!("{}", serde_json::to_string(&stats).unwrap_or_default());
    ExitCode::SUCCESS
}
