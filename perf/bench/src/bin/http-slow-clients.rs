//! What slow clients cost the service HTTP server (`/ping`, `/ready`, `/metrics`): threads and
//! resident memory of this process while N connections are held open sending nothing and M
//! more send a request head one byte at a time, and how long a fresh `/ping` takes meanwhile.
//! Uses only the public `observe::http::start`, so it measures whichever server is built.
//!
//! `cargo run --release --example http_slow_clients -- 2000 200`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use flexprice_collector::observe::{http, process};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rounds of one byte to every trickling client, each followed by a fresh `/ping`.
const ROUNDS: usize = 10;

/// A head that never ends within the rounds: the server can only time it out or cap it.
const TRICKLE: &[u8] = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn figures() -> (f64, f64) {
    let p = process::read();
    (
        p.threads.unwrap_or(f64::NAN),
        p.resident_bytes.unwrap_or(f64::NAN) / (1024.0 * 1024.0),
    )
}

/// A fresh connection's `/ping`: the answer's first line and how long it took.
fn ping(addr: SocketAddr) -> std::io::Result<(String, Duration)> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let first = text.lines().next().unwrap_or("").to_string();
    let ok = if text.ends_with("pong") {
        "pong"
    } else {
        "no pong"
    };
    Ok((format!("{first} … {ok}"), t.elapsed()))
}

/// As many descriptors as the hard limit allows: each client is two (its end and the server's).
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (silent, trickle) = (arg(1, 2000), arg(2, 200));
    let fds = raise_fd_limit();
    println!("fd limit {fds}; {silent} silent + {trickle} trickling clients");

    let (t0, r0) = figures();
    let srv = http::start("127.0.0.1:0")?;
    let addr = srv.local_addr();
    ping(addr)?;
    let (t1, r1) = figures();
    println!("before the server: {t0} threads, {r0:.1} MiB; started and pinged: {t1} threads, {r1:.1} MiB");

    let start = Instant::now();
    let mut held = Vec::with_capacity(silent + trickle);
    for _ in 0..silent {
        held.push(TcpStream::connect(addr)?);
    }
    let mut slow = Vec::with_capacity(trickle);
    for _ in 0..trickle {
        slow.push(TcpStream::connect(addr)?);
    }
    println!(
        "opened {} connections in {:.2?}",
        silent + trickle,
        start.elapsed()
    );
    let (mut peak_t, mut peak_r, mut worst) = (t1, r1, Duration::ZERO);
    for round in 0..ROUNDS {
        for s in &mut slow {
            // A server that already closed it shows up as an error here; keep going.
            let _ = s.write_all(&TRICKLE[round..round + 1]);
        }
        let (line, took) = ping(addr)?;
        worst = worst.max(took);
        let (t, r) = figures();
        peak_t = peak_t.max(t);
        peak_r = peak_r.max(r);
        println!("round {round}: {t} threads, {r:.1} MiB, ping {took:.2?}: {line}");
    }
    println!(
        "holding {} connections for {:.2?}: peak {peak_t} threads (+{}), peak {peak_r:.1} MiB (+{:.1}), slowest ping {worst:.2?}",
        silent + trickle,
        start.elapsed(),
        peak_t - t1,
        peak_r - r1
    );
    drop(held);
    drop(slow);
    srv.stop();
    Ok(())
}
