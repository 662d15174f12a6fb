//! The service HTTP server (`http.address`, default `0.0.0.0:4195`, as Bento):
//! `/ping` → `pong`, `/ready` → 200 or 503 with the reason, `/metrics` and `/stats` →
//! Prometheus text, `/version` → `{"version":"…"}`.
//!
//! `tiny_http` parses HTTP; a fixed pool of [`WORKERS`] threads answers. Every answer is
//! computed from atomics and small snapshots, so two threads are plenty for scrapes and probes,
//! and a slow client cannot make the pool grow.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use tiny_http::{Header, Method, Request, Response, Server};

use super::prom;
use crate::pipeline::telemetry::health;

/// Request-handling threads.
pub const WORKERS: usize = 2;

/// A running server; [`HttpServer::stop`] (or dropping it) shuts it down and joins its threads.
pub struct HttpServer {
    server: Arc<Server>,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

/// Listen on `address` (`ip:port`; port 0 picks a free one) and serve until stopped.
pub fn start(address: &str) -> anyhow::Result<HttpServer> {
    let server = Server::http(address)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("http.address: cannot listen on `{address}`"))?;
    let addr = server
        .server_addr()
        .to_ip()
        .context("http.address: not an IP listener")?;
    let server = Arc::new(server);
    let stopping = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::with_capacity(WORKERS);
    for i in 0..WORKERS {
        let (srv, stop) = (Arc::clone(&server), Arc::clone(&stopping));
        let t = std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || serve(&srv, &stop));
        match t {
            Ok(t) => threads.push(t),
            Err(e) => {
                // Stop the ones already started before reporting.
                let partial = HttpServer {
                    server,
                    stopping,
                    threads,
                    addr,
                };
                partial.stop();
                return Err(e).context("cannot start the HTTP server threads");
            }
        }
    }
    tracing::info!(address = %addr, "listening for HTTP requests at: http://{addr}");
    Ok(HttpServer {
        server,
        stopping,
        threads,
        addr,
    })
}

impl HttpServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop answering and join the worker threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Each unblock releases exactly one waiting `recv`.
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(server: &Server, stopping: &AtomicBool) {
    loop {
        match server.recv() {
            Ok(rq) => answer(rq),
            Err(e) => {
                if stopping.load(Ordering::Acquire) {
                    return;
                }
                tracing::debug!(error = %e, "HTTP connection error");
            }
        }
    }
}

/// What an endpoint answers: status, content type, body.
pub fn route(method: &Method, path: &str) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if !matches!(method, Method::Get | Method::Head) {
        return (405, TEXT, "method not allowed\n".into());
    }
    // Ignore a query string (`/metrics?x=y` is still `/metrics`).
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "/ping" => (200, TEXT, "pong".into()),
        "/ready" => match health::get().readiness() {
            Ok(()) => (200, TEXT, "OK".into()),
            Err(why) => (503, TEXT, why),
        },
        "/metrics" | "/stats" => (200, prom::CONTENT_TYPE, prom::render()),
        // As Bento's `/version`.
        "/version" => (
            200,
            "application/json",
            format!("{{\"version\":\"{}\"}}", env!("CARGO_PKG_VERSION")),
        ),
        _ => (
            404,
            TEXT,
            "not found; try /ping, /ready, /metrics, /stats or /version\n".into(),
        ),
    }
}

fn answer(rq: Request) {
    let (status, ctype, body) = route(rq.method(), rq.url());
    let mut resp = Response::from_string(body).with_status_code(status);
    if let Ok(h) = Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes()) {
        resp = resp.with_header(h);
    }
    // The client may be gone already; nothing to do about it.
    let _ = rq.respond(resp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(&Method::Get, "/ping").0, 200);
        assert_eq!(route(&Method::Get, "/ping").2, "pong");
        assert_eq!(route(&Method::Post, "/ping").0, 405);
        assert_eq!(route(&Method::Get, "/nope").0, 404);
        let (s, ct, body) = route(&Method::Get, "/version");
        assert_eq!((s, ct), (200, "application/json"));
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        let (s, ct, body) = route(&Method::Get, "/metrics?x=1");
        assert_eq!(s, 200);
        assert!(ct.starts_with("text/plain; version=0.0.4"));
        assert!(body.contains("bento_input_received"));
        assert!(route(&Method::Get, "/stats")
            .2
            .contains("bento_output_sent"));
    }

    #[test]
    fn server_starts_answers_and_stops() {
        let srv = start("127.0.0.1:0").expect("bind a free port");
        let url = format!("http://{}/ping", srv.local_addr());
        let body = ureq::get(&url)
            .call()
            .expect("ping")
            .body_mut()
            .read_to_string()
            .expect("body");
        assert_eq!(body, "pong");
        let addr = srv.local_addr();
        srv.stop();
        // Stopped means the port no longer answers.
        assert!(ureq::get(&format!("http://{addr}/ping")).call().is_err());
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let srv = start("127.0.0.1:0").expect("bind");
        let err = match start(&srv.local_addr().to_string()) {
            Ok(_) => panic!("second bind on the same port must fail"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains("cannot listen on"), "{err}");
    }
}
