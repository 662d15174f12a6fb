//! Load loop for the Flexprice-compatible sink: how many events per second it accepts.
//!
//! ```sh
//! cargo run --release --example sink_load -- --clients 4 --seconds 5 --batch 1000
//! cargo run --release --example sink_load -- --addr 127.0.0.1:8080 --key test-key   # a running flexprice-api-double
//! cargo run --release --example sink_load -- --single    # one event per POST /v1/events
//! ```
//!
//! Each client thread posts bulk bodies of `--batch` events (~300 bytes each, every event id
//! unique) over one keep-alive connection, or with `--single` one event per request to
//! `/v1/events`. Without `--addr` the double runs in this process.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use flexprice_api_double::{ApiDouble, ApiDoubleConfig};

struct Opts {
    addr: Option<SocketAddr>,
    key: String,
    clients: usize,
    seconds: u64,
    batch: usize,
    sink_threads: usize,
    single: bool,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        addr: None,
        key: "test-key".into(),
        clients: 4,
        seconds: 5,
        batch: 1000,
        sink_threads: 4,
        single: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut val = || args.next().ok_or(format!("{flag} needs a value"));
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--addr" => o.addr = Some(val()?.parse().map_err(|e| bad(&e))?),
            "--key" => o.key = val()?,
            "--clients" => o.clients = val()?.parse().map_err(|e| bad(&e))?,
            "--seconds" => o.seconds = val()?.parse().map_err(|e| bad(&e))?,
            "--batch" => o.batch = val()?.parse().map_err(|e| bad(&e))?,
            "--sink-threads" => o.sink_threads = val()?.parse().map_err(|e| bad(&e))?,
            "--single" => o.single = true,
            _ => {
                return Err(format!(
                    "unknown flag {flag} (see the source's doc comment)"
                ))
            }
        }
    }
    Ok(o)
}

/// A bulk body and the offsets of each event id's 10 request-sequence digits, so every request
/// gets fresh ids by patching bytes instead of re-formatting 300 KB.
fn template(client: usize, batch: usize, single: bool) -> (Vec<u8>, Vec<usize>) {
    let mut body = if single {
        Vec::new()
    } else {
        b"{\"events\":[".to_vec()
    };
    let mut offsets = Vec::with_capacity(batch);
    for i in 0..batch {
        if i > 0 {
            body.push(b',');
        }
        let prefix = format!("{{\"event_id\":\"load-{client:03}-");
        body.extend_from_slice(prefix.as_bytes());
        offsets.push(body.len());
        body.extend_from_slice(
            format!(
                "0000000000-{i:05}\",\"event_name\":\"api_request\",\"external_customer_id\":\"customer-{:05}\",\
                 \"timestamp\":\"2026-11-25T06:00:00.000Z\",\"source\":\"load\",\"properties\":{{\"region\":\"eu-west-1\",\
                 \"method\":\"POST\",\"path\":\"/v1/things/{i}\",\"status\":202,\"duration_ms\":12.5,\"bytes\":1234}}}}",
                i % 977
            )
            .as_bytes(),
        );
    }
    if !single {
        body.extend_from_slice(b"]}");
    }
    (body, offsets)
}

fn set_seq(body: &mut [u8], offsets: &[usize], mut seq: u64) {
    let mut digits = [b'0'; 10];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (seq % 10) as u8;
        seq /= 10;
    }
    for &o in offsets {
        body[o..o + 10].copy_from_slice(&digits);
    }
}

fn main() {
    let mut o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let local = match o.addr {
        Some(_) => None,
        None => Some(
            ApiDouble::start(ApiDoubleConfig {
                threads: o.sink_threads,
                api_key: o.key.clone(),
                ..ApiDoubleConfig::default()
            })
            .expect("start sink"),
        ),
    };
    let addr = o
        .addr
        .or(local.as_ref().map(ApiDouble::addr))
        .expect("an address");
    if o.single {
        o.batch = 1;
    }
    let url = if o.single {
        format!("http://{addr}/v1/events")
    } else {
        format!("http://{addr}/v1/events/bulk")
    };
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let started = Instant::now();
    let clients: Vec<_> = (0..o.clients)
        .map(|c| {
            let (url, key, batch, single) = (url.clone(), o.key.clone(), o.batch, o.single);
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let (mut body, offsets) = template(c, batch, single);
                let (mut ok, mut failed, mut bytes) = (0u64, 0u64, 0u64);
                let mut seq = 0;
                while Instant::now() < deadline {
                    set_seq(&mut body, &offsets, seq);
                    seq += 1;
                    let resp = agent
                        .post(&url)
                        .header("x-api-key", &key)
                        .header("content-type", "application/json")
                        .send(&body[..]);
                    match resp {
                        Ok(mut r) if r.status().as_u16() == 202 => {
                            let _ = r.body_mut().read_to_string();
                            ok += 1;
                            bytes += body.len() as u64;
                        }
                        _ => failed += 1,
                    }
                }
                (ok, failed, bytes, body.len() / batch.max(1))
            })
        })
        .collect();
    let (mut ok, mut failed, mut bytes, mut event_size) = (0, 0, 0, 0);
    for c in clients {
        let (a, b, c, d) = c.join().expect("client thread");
        ok += a;
        failed += b;
        bytes += c;
        event_size = d;
    }
    let secs = started.elapsed().as_secs_f64();
    let events = ok * o.batch as u64;
    println!(
        "{} clients, {} events/request (~{} B/event): {ok} requests accepted, {failed} failed, \
         {events} events in {secs:.2}s = {:.0} events/s, {:.0} requests/s, {:.1} MB/s",
        o.clients,
        o.batch,
        event_size,
        events as f64 / secs,
        ok as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    if let Some(sink) = local {
        let s = sink.stats();
        println!(
            "sink: events_accepted {} unique_event_ids {} duplicates {} max_concurrent_requests {}",
            s.events_accepted, s.unique_event_ids, s.duplicate_events, s.max_concurrent_requests
        );
        sink.shutdown();
    }
}
