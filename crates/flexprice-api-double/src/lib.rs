//! A double of the Flexprice events API, for tests and benchmarks of the collector's flexprice
//! output. It is its own crate so the collector carries none of it.
//!
//! It answers `POST /v1/events` and `POST /v1/events/bulk` like the real API (reference §3:
//! auth, validation order, error bodies, 202 bodies, 1..1000 events, 32 MiB cap), counts every
//! accepted event and its `event_id` so a test can prove nothing was lost or how much was
//! duplicated, and injects faults (error statuses, latency, `Retry-After`, scripted outages,
//! rejected event names, slow body reads) that can be changed while it runs.
//!
//! Threads: one acceptor, one thread per connection (connections are few: the collector keeps
//! `max_in_flight` of them alive), and at most `threads` requests parsed and counted at once.
//! An event request is "in flight" from the moment its head has been read until just before
//! its response is written, so `max_concurrent_requests` never exceeds what the client really
//! had outstanding.
//!
//! Memory: every accepted id is kept (for [`ApiDouble::accepted_ids`] and the duplicate check),
//! about its length plus 30 bytes per accepted event: ~60 MB for a million 30-byte ids.
//! Measured cost: about 1 µs of CPU per accepted event in bulk bodies of 1000 ~300-byte events
//! (release build), half of it the duplicate check; see `examples/load.rs`.

mod api;
mod http;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

pub use api::{is_rfc3339, MAX_BODY, MAX_BULK};
use http::{Body, BodyReader, HeadError, RequestHead, Response};

/// Connections beyond this are answered 503 and closed, so a misbehaving client cannot make
/// the double spawn threads without bound.
const MAX_CONNECTIONS: usize = 1024;

/// An idle keep-alive connection (or a stalled body) is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Writing one response may take at most this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ApiDoubleConfig {
    /// `127.0.0.1:0` picks a free port; [`ApiDouble::addr`] tells which.
    pub listen: SocketAddr,
    /// The only `x-api-key` accepted.
    pub api_key: String,
    /// How many requests are parsed and counted in parallel (a server with that many workers).
    /// Connections and in-flight requests are not limited by it.
    pub threads: usize,
    pub faults: Faults,
    /// Append every accepted event, as received (compacted to one line), to this JSONL file.
    pub record: Option<PathBuf>,
    /// Serve HTTPS with this certificate instead of plain HTTP (tests of the collector's
    /// certificate checks use a self-signed one).
    pub tls: Option<Tls>,
}

/// A PEM certificate chain and its PEM private key (PKCS#8, PKCS#1 or SEC1).
#[derive(Clone)]
pub struct Tls {
    pub cert_chain_pem: Vec<u8>,
    pub private_key_pem: Vec<u8>,
}

impl Tls {
    /// Read both PEM files.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> io::Result<Tls> {
        Ok(Tls {
            cert_chain_pem: std::fs::read(cert)?,
            private_key_pem: std::fs::read(key)?,
        })
    }

    fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let certs = CertificateDer::pem_slice_iter(&self.cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("TLS certificate is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(bad("TLS certificate file has no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.private_key_pem)
            .map_err(|e| bad(format!("TLS private key is not PEM: {e}")))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(format!("TLS certificate and key do not fit: {e}")))?;
        Ok(Arc::new(config))
    }
}

/// One connection's byte stream: plain TCP or TLS over it. A connection alternates between
/// reading a request and writing its answer, so the reader and writer halves of a TLS
/// connection share one session (single-threaded, hence `Rc`).
enum Conn {
    Plain(TcpStream),
    Tls(Rc<RefCell<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>>),
}

impl Conn {
    fn split(self) -> io::Result<(Conn, Conn)> {
        Ok(match self {
            Conn::Plain(s) => (Conn::Plain(s.try_clone()?), Conn::Plain(s)),
            Conn::Tls(t) => (Conn::Tls(Rc::clone(&t)), Conn::Tls(t)),
        })
    }
}

impl io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(t) => t.borrow_mut().read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) => t.borrow_mut().write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) => t.borrow_mut().flush(),
        }
    }
}

impl Default for ApiDoubleConfig {
    fn default() -> Self {
        ApiDoubleConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: "test-key".into(),
            threads: 4,
            faults: Faults::default(),
            record: None,
            tls: None,
        }
    }
}

/// Faults injected on the event routes (`/health` and `/stats` are never affected). Checked in
/// this order: latency, `script`, `error_rate`, then the real API's own checks, then
/// `reject_event_names`.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fraction (0..=1) of requests answered with `error_status` (503 when 0).
    pub error_rate: f64,
    pub error_status: u16,
    /// Added before answering every event request; plus a uniform random `0..=latency_jitter`.
    pub latency: Duration,
    pub latency_jitter: Duration,
    /// Seconds, sent as `Retry-After` on injected 429 and 503 answers.
    pub retry_after: Option<u64>,
    /// The next requests (counted from start or from the last [`ApiDouble::set_faults`]) get these
    /// statuses, in order; then requests are served normally. `0` serves that one request
    /// normally. An injected status (2xx included) never counts the request's events.
    pub script: Vec<u16>,
    /// An event with one of these `event_name`s is refused with a 400; in a bulk request the
    /// whole request is refused (see `partial_bulk`).
    pub reject_event_names: Vec<String>,
    /// Read request bodies slowly: this delay per 64 KiB chunk.
    pub slow_drain: Option<Duration>,
    /// Hold every event request, unanswered and uncounted, while this is set: an API that
    /// hangs. Held requests go on (latency, then the usual handling) once a
    /// [`ApiDouble::set_faults`] clears it, and are dropped unanswered when the double shuts
    /// down.
    pub hang: bool,
    /// Mimic the real API's default bulk mode, which publishes events one by one and answers
    /// 400 at the first bad one: the events before it are accepted (counted) before the 400.
    /// Off by default: the double then validates the whole request before counting any event.
    pub partial_bulk: bool,
    /// With an injected status (`script`, `error_rate`): the fraction (0..=1) of the
    /// request's events, the first ones, that are accepted (counted, recorded) before the
    /// injected status is answered. Models a gateway's 207 after the API stored half, or a
    /// 5xx after a partial publish. A single event is stored when the fraction is above 0.
    /// 0 (the default): an injected status counts nothing.
    pub injected_stores: f64,
}

/// A snapshot of what the double saw. Counters only grow.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub requests_single: u64,
    pub requests_bulk: u64,
    /// `/health`, `/stats` and unknown routes.
    pub requests_other: u64,
    /// Every accepted event, once per acceptance (a duplicate counts again).
    pub events_accepted: u64,
    pub unique_event_ids: u64,
    /// Accepted events whose `event_id` had already been accepted.
    pub duplicate_events: u64,
    /// Accepted events without an `event_id` (the double generated one, as the API does).
    pub events_without_id: u64,
    /// Every status answered, injected or not.
    pub status_counts: BTreeMap<u16, u64>,
    pub rejected_400: u64,
    pub rejected_401: u64,
    pub injected_errors: u64,
    /// Most event requests (`/v1/events*`) in flight at once: head read, answer not yet written.
    pub max_concurrent_requests: u64,
    /// Largest number of events in one accepted bulk request.
    pub bulk_sizes_max: u64,
    /// Request body bytes read (all routes).
    pub bytes_received: u64,
}

/// A running double. Dropping it shuts it down too.
pub struct ApiDouble {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Route {
    Single,
    Bulk,
    Health,
    Stats,
    NotFound,
}

struct FaultState {
    faults: Arc<Faults>,
    /// How many requests have consumed `faults.script` so far.
    script_pos: usize,
}

/// Accepted ids: an exact log in arrival order plus a set of 128-bit hashes for the
/// duplicate check (collision odds ~n²/2¹²⁹, nil for any test size), so accepting an event
/// allocates nothing once the buffers have grown.
#[derive(Default)]
struct IdLog {
    text: String,
    ends: Vec<usize>,
    seen: HashSet<u128, BuildHasherDefault<PassThrough>>,
}

/// The set's keys are already hashes.
#[derive(Default)]
struct PassThrough(u64);
impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// A 128-bit hash of an event id: two multiply-xorshift lanes with different constants over
/// 8-byte words, the length mixed in, each lane finished with splitmix64's finaliser. Much
/// cheaper than two SipHash passes (this runs once per accepted event under the stats lock),
/// and 128 bits make an accidental collision, which would be miscounted as a duplicate,
/// negligible for any non-adversarial id set.
fn hash128(id: &str) -> u128 {
    fn fmix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let bytes = id.as_bytes();
    let len = bytes.len() as u64;
    let mut a = 0x9E37_79B9_7F4A_7C15u64 ^ len;
    let mut b = 0xC2B2_AE3D_27D4_EB4Fu64 ^ len.rotate_left(32);
    for chunk in bytes.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        a = (a ^ w).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        a ^= a >> 32;
        b = (b ^ w.rotate_left(23)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        b ^= b >> 29;
    }
    let hi = fmix(a ^ b.rotate_left(17));
    let lo = fmix(b ^ a.rotate_left(41) ^ 0x1656_67B1_9E37_79F9);
    (u128::from(hi) << 64) | u128::from(lo)
}

struct Counted {
    stats: Stats,
    ids: IdLog,
}

struct Shared {
    /// The only `x-api-key` accepted; [`ApiDouble::set_api_key`] changes it.
    api_key: Mutex<String>,
    faults: Mutex<FaultState>,
    counted: Mutex<Counted>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    record: Option<Mutex<BufWriter<File>>>,
    /// Worker slots: a request holds one while it is parsed and counted. Each slot carries
    /// the parser's scratch buffers, reused from request to request.
    permits: (Sender<Scratch>, Receiver<Scratch>),
    stopping: AtomicBool,
    conns: Mutex<Conns>,
    rng: AtomicU64,
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    /// A handle on every open connection, to shut it down on [`ApiDouble::shutdown`].
    open: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl ApiDouble {
    /// Bind and start serving. Fails only if the address cannot be bound or the record file
    /// cannot be opened.
    pub fn start(cfg: ApiDoubleConfig) -> io::Result<ApiDouble> {
        let tls = cfg.tls.as_ref().map(Tls::server_config).transpose()?;
        let listener = TcpListener::bind(cfg.listen)?;
        let addr = listener.local_addr()?;
        let record = match &cfg.record {
            Some(p) => Some(Mutex::new(BufWriter::new(
                File::options().create(true).append(true).open(p)?,
            ))),
            None => None,
        };
        let threads = cfg.threads.max(1);
        let permits = crossbeam_channel::bounded(threads);
        for _ in 0..threads {
            let _ = permits.0.send(Scratch::default());
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        let shared = Arc::new(Shared {
            api_key: Mutex::new(cfg.api_key),
            faults: Mutex::new(FaultState {
                faults: Arc::new(cfg.faults),
                script_pos: 0,
            }),
            counted: Mutex::new(Counted {
                stats: Stats::default(),
                ids: IdLog::default(),
            }),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            record,
            permits,
            stopping: AtomicBool::new(false),
            conns: Mutex::new(Conns::default()),
            rng: AtomicU64::new(seed),
        });
        let sh = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("double-accept".into())
            .spawn(move || accept_loop(listener, sh, tls))?;
        Ok(ApiDouble {
            shared,
            addr,
            acceptor: Some(acceptor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Accept this `x-api-key` from now on (and refuse the old one): a key fixed at the API
    /// side, e.g. a tenant's key re-activated, while the collector keeps running.
    pub fn set_api_key(&self, key: &str) {
        *self.shared.api_key.lock() = key.to_string();
    }

    /// Replace the faults; a new `script` starts from its first status.
    pub fn set_faults(&self, f: Faults) {
        let mut st = self.shared.faults.lock();
        st.faults = Arc::new(f);
        st.script_pos = 0;
    }

    /// Every accepted `event_id` (generated ones included), in the order accepted.
    pub fn accepted_ids(&self) -> Vec<String> {
        let c = self.shared.counted.lock();
        let mut out = Vec::with_capacity(c.ids.ends.len());
        let mut start = 0;
        for &end in &c.ids.ends {
            out.push(c.ids.text.get(start..end).unwrap_or_default().to_string());
            start = end;
        }
        out
    }

    /// Stop listening (new connections are refused), let requests being processed finish and
    /// answer (injected latency included), close idle keep-alive connections and drop
    /// requests whose body is still arriving (their clients see the connection closed, a
    /// transport error they retry), and join every thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = acceptor.join();
        // Every connection is registered by now (the acceptor registered before exiting).
        // Shutting down the read side wakes idle readers with EOF; a request already read can
        // still write its answer.
        let threads = {
            let mut conns = self.shared.conns.lock();
            for s in conns.open.values() {
                let _ = s.shutdown(Shutdown::Read);
            }
            std::mem::take(&mut conns.threads)
        };
        for t in threads {
            let _ = t.join();
        }
        if let Some(r) = &self.shared.record {
            let _ = r.lock().flush();
        }
    }
}

impl Drop for ApiDouble {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>, tls: Option<Arc<rustls::ServerConfig>>) {
    for stream in listener.incoming() {
        if sh.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // EMFILE and friends: keep serving the connections we have.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
        // A client that stops reading must not pin a thread (and block shutdown) forever.
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let mut conns = sh.conns.lock();
        conns.threads.retain(|t| !t.is_finished());
        if conns.open.len() >= MAX_CONNECTIONS {
            drop(conns);
            let mut s = stream;
            let _ = api_response(api::injected(503), true).write_to(&mut s, false);
            continue;
        }
        let id = conns.next_id;
        conns.next_id += 1;
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        conns.open.insert(id, handle);
        let sh2 = sh.clone();
        let tls = tls.clone();
        match std::thread::Builder::new()
            .name("double-conn".into())
            .spawn(move || {
                let conn = match tls {
                    // The handshake runs on the first read; a client that refuses our
                    // certificate ends the connection there.
                    Some(cfg) => match rustls::ServerConnection::new(cfg) {
                        Ok(c) => Some(Conn::Tls(Rc::new(RefCell::new(rustls::StreamOwned::new(
                            c, stream,
                        ))))),
                        Err(_) => None,
                    },
                    None => Some(Conn::Plain(stream)),
                };
                if let Some(conn) = conn {
                    serve_connection(conn, &sh2);
                }
                sh2.conns.lock().open.remove(&id);
            }) {
            Ok(t) => conns.threads.push(t),
            Err(_) => {
                conns.open.remove(&id);
            }
        }
    }
}

fn api_response(e: api::ApiError, close: bool) -> Response {
    let mut r = Response::json(e.status, e.body);
    r.close = close;
    r
}

/// Requests on one keep-alive connection, one after the other.
fn serve_connection(conn: Conn, sh: &Shared) {
    let Ok((mut writer, stream)) = conn.split() else {
        return;
    };
    let mut reader = BufReader::with_capacity(http::CHUNK, stream);
    loop {
        let head = match http::read_head(&mut reader) {
            Ok(h) => h,
            Err(HeadError::Closed) | Err(HeadError::Io) => return,
            Err(HeadError::Bad(why)) => {
                if !sh.stopping.load(Ordering::SeqCst) {
                    let mut r = Response::json(400, why);
                    r.content_type = http::TEXT;
                    sh.count_status(Route::NotFound, 400, 0);
                    let _ = r.write_to(&mut writer, false);
                }
                return;
            }
        };
        let Some(resp) = handle(sh, &head, &mut reader, &mut writer) else {
            // The body could not be read (client gone, or we are shutting down): no answer.
            return;
        };
        let keep = head.keep_alive && !resp.close;
        if resp.write_to(&mut writer, keep).is_err() || !keep {
            return;
        }
    }
}

/// One request: read its body, apply faults and the API's checks, count. `None` when the
/// connection must be dropped without an answer.
fn handle(
    sh: &Shared,
    head: &RequestHead,
    reader: &mut BufReader<Conn>,
    writer: &mut Conn,
) -> Option<Response> {
    let route = match (head.method.as_str(), head.path.as_str()) {
        ("POST", "/v1/events") => Route::Single,
        ("POST", "/v1/events/bulk") => Route::Bulk,
        ("GET" | "POST", "/health") => Route::Health,
        ("GET", "/stats") => Route::Stats,
        _ => Route::NotFound,
    };
    let event_route = matches!(route, Route::Single | Route::Bulk);
    // Only event requests are "in flight": a test polling /stats must not inflate the count.
    // The guard ends before the response is written (see the module docs).
    let _in_flight = event_route.then(|| InFlight::enter(sh));
    let faults = if event_route {
        let mut st = sh.faults.lock();
        let scripted = st.faults.script.get(st.script_pos).copied();
        if scripted.is_some() {
            st.script_pos += 1;
        }
        Some((st.faults.clone(), scripted.filter(|&s| s != 0)))
    } else {
        None
    };
    if head.expect_continue {
        let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let mut br = BodyReader {
        r: reader,
        cap: MAX_BODY,
        delay: faults.as_ref().and_then(|(f, _)| f.slow_drain),
        bytes: 0,
    };
    let body = br.read(head);
    let bytes = br.bytes;
    let body = match body {
        Ok(b) => b,
        Err(_) => {
            sh.counted.lock().stats.bytes_received += bytes;
            return None;
        }
    };
    if event_route && !hold_while_hanging(sh) {
        return None;
    }
    let resp = match (route, faults) {
        (Route::Single | Route::Bulk, Some((f, scripted))) => {
            event_request(sh, route, head, body, &f, scripted)
        }
        (Route::Health, _) => Response::json(200, r#"{"status":"ok"}"#),
        (Route::Stats, _) => {
            let json = serde_json::to_vec(&sh.stats()).unwrap_or_default();
            Response::json(200, json)
        }
        _ => {
            let mut r = Response::json(404, "404 page not found");
            r.content_type = http::TEXT;
            r
        }
    };
    sh.count_status(route, resp.status, bytes);
    Some(resp)
}

/// Wait while [`Faults::hang`] is set (reading the current faults, so a `set_faults` releases
/// the wait); false when the double is shutting down meanwhile.
fn hold_while_hanging(sh: &Shared) -> bool {
    while sh.faults.lock().faults.hang {
        if sh.stopping.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn event_request(
    sh: &Shared,
    route: Route,
    head: &RequestHead,
    body: Body,
    f: &Faults,
    scripted: Option<u16>,
) -> Response {
    let delay = f.latency + sh.jitter(f.latency_jitter);
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let injected = scripted.or_else(|| sh.injected_status(f));
    if let Some(status) = injected {
        sh.counted.lock().stats.injected_errors += 1;
        if f.injected_stores <= 0.0 {
            let mut r = api_response(api::injected(status), false);
            if matches!(status, 429 | 503) {
                r.retry_after = f.retry_after;
            }
            return r;
        }
    }
    // Part of the request is stored before the injected status (`injected_stores`).
    let stores = injected.map(|status| (status, f.injected_stores.min(1.0)));
    if head.api_key.as_deref() != Some(sh.api_key.lock().as_str()) {
        // An undrained oversized body cannot be skipped: close after answering.
        let close = matches!(body, Body::TooLarge { drained: false });
        return api_response(api::unauthorized(), close);
    }
    let mut body = match body {
        Body::Complete(b) => b,
        Body::TooLarge { drained } => return api_response(api::too_large(), !drained),
    };
    let mut permit = Permit::take(sh, body.len());
    let raw = sh.record.as_ref().map(|_| body.clone());
    let scratch = permit.scratch();
    let mut tape = std::mem::replace(&mut scratch.tape, simd_json::Tape(Vec::new())).reset();
    let fraction = stores.map(|(_, fraction)| fraction);
    let result = match simd_json::fill_tape(&mut body, &mut scratch.buffers, &mut tape) {
        Err(_) => Err((api::invalid_payload(), 0)),
        Ok(()) if route == Route::Single => single(sh, &tape.0, f, fraction),
        Ok(()) => bulk(sh, &tape.0, f, fraction),
    };
    scratch.tape = tape.reset();
    drop(permit);
    match result {
        Ok(accepted) => {
            if let (Some(rec), Some(raw)) = (&sh.record, raw) {
                sh.record(rec, &raw, route == Route::Bulk, accepted.count);
            }
            match stores {
                Some((status, _)) => api_response(api::stored_part(status, accepted.count), false),
                None => Response::json(202, accepted.body),
            }
        }
        Err((e, prefix)) => {
            if prefix > 0 {
                if let (Some(rec), Some(raw)) = (&sh.record, raw) {
                    sh.record(rec, &raw, true, prefix);
                }
            }
            api_response(e, false)
        }
    }
}

struct Accepted {
    body: String,
    count: usize,
}

/// Err carries the rejection and how many events were accepted before it (`partial_bulk`).
type Outcome = Result<Accepted, (api::ApiError, usize)>;

/// `fraction`: the part of the events to accept (`injected_stores`); `None`: all.
fn single(
    sh: &Shared,
    nodes: &[simd_json::Node<'_>],
    f: &Faults,
    fraction: Option<f64>,
) -> Outcome {
    let e = api::parse_single(nodes).map_err(|err| (err, 0))?;
    let name = e.event_name.unwrap_or_default();
    if f.reject_event_names.iter().any(|r| r == name) {
        return Err((api::rejected_name(name), 0));
    }
    if fraction.is_some_and(|x| x <= 0.0) {
        return Ok(Accepted {
            body: String::new(),
            count: 0,
        });
    }
    let id = sh.accept(std::iter::once(e.event_id), Route::Single);
    Ok(Accepted {
        body: format!(
            r#"{{"message":"Event accepted for processing","event_id":{}}}"#,
            api::json_str(&id.unwrap_or_default())
        ),
        count: 1,
    })
}

fn bulk(sh: &Shared, nodes: &[simd_json::Node<'_>], f: &Faults, fraction: Option<f64>) -> Outcome {
    let mut events = Vec::new();
    // Validate everything before counting anything: the real API's bulk_publish_enabled mode.
    // Its default mode publishes one by one and fails at the first bad event with the earlier
    // ones already published; `partial_bulk` reproduces that.
    let mut first_bad = match api::parse_bulk(nodes, &mut events) {
        Ok(()) => None,
        Err(api::BulkError::Whole(e)) => return Err((e, 0)),
        Err(api::BulkError::At(i, e)) => Some((i, e)),
    };
    let limit = first_bad.as_ref().map_or(events.len(), |(i, _)| *i);
    if !f.reject_event_names.is_empty() {
        let rejected = events[..limit].iter().enumerate().find_map(|(i, e)| {
            let name = e.event_name?;
            f.reject_event_names
                .iter()
                .any(|r| r == name)
                .then(|| (i, api::rejected_name(name)))
        });
        if rejected.is_some() {
            first_bad = rejected;
        }
    }
    let (accept, outcome) = match first_bad {
        Some((bad, err)) => {
            let prefix = if f.partial_bulk { bad } else { 0 };
            (prefix, Err((err, prefix)))
        }
        None => {
            let n = match fraction {
                Some(x) => ((events.len() as f64 * x).ceil() as usize).min(events.len()),
                None => events.len(),
            };
            (
                n,
                Ok(Accepted {
                    body: r#"{"message":"Events accepted for processing"}"#.into(),
                    count: n,
                }),
            )
        }
    };
    if accept > 0 {
        sh.accept(events[..accept].iter().map(|e| e.event_id), Route::Bulk);
    }
    outcome
}

/// Counts a request in flight while alive.
struct InFlight<'a>(&'a Shared);
impl<'a> InFlight<'a> {
    fn enter(sh: &'a Shared) -> InFlight<'a> {
        let now = sh.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        sh.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(sh)
    }
}
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Scratch grown by a body larger than this is dropped after use rather than kept, so idle
/// memory stays at `threads` × about this much.
const KEEP_SCRATCH_UP_TO: usize = 4 << 20;

/// The parser's reusable memory: simd-json's buffers and tape.
struct Scratch {
    buffers: simd_json::Buffers,
    tape: simd_json::Tape<'static>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            buffers: simd_json::Buffers::default(),
            tape: simd_json::Tape(Vec::new()),
        }
    }
}

/// A worker slot and its scratch memory, returned on drop.
struct Permit<'a> {
    sh: &'a Shared,
    scratch: Option<Scratch>,
    big: bool,
}
impl<'a> Permit<'a> {
    fn take(sh: &'a Shared, body_len: usize) -> Permit<'a> {
        // The shared sender keeps the channel open, so this only waits for a free slot.
        let scratch = sh.permits.1.recv().ok();
        Permit {
            sh,
            scratch,
            big: body_len > KEEP_SCRATCH_UP_TO,
        }
    }
    fn scratch(&mut self) -> &mut Scratch {
        self.scratch.get_or_insert_with(Scratch::default)
    }
}
impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.scratch.take().unwrap_or_default();
        if self.big {
            s = Scratch::default();
        }
        let _ = self.sh.permits.0.try_send(s);
    }
}

impl Shared {
    fn stats(&self) -> Stats {
        let mut s = self.counted.lock().stats.clone();
        s.max_concurrent_requests = self.max_in_flight.load(Ordering::SeqCst);
        s
    }

    fn count_status(&self, route: Route, status: u16, body_bytes: u64) {
        let mut c = self.counted.lock();
        let s = &mut c.stats;
        s.bytes_received += body_bytes;
        match route {
            Route::Single => s.requests_single += 1,
            Route::Bulk => s.requests_bulk += 1,
            _ => s.requests_other += 1,
        }
        *s.status_counts.entry(status).or_default() += 1;
        match status {
            400 => s.rejected_400 += 1,
            401 => s.rejected_401 += 1,
            _ => {}
        }
    }

    /// splitmix64 over a shared counter: cheap, lock-free, good enough for fault dice and ids.
    fn next_u64(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn jitter(&self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let frac = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        max.mul_f64(frac)
    }

    /// The `error_rate` dice.
    fn injected_status(&self, f: &Faults) -> Option<u16> {
        if f.error_rate > 0.0 {
            let roll = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            if roll < f.error_rate {
                return Some(if f.error_status == 0 {
                    503
                } else {
                    f.error_status
                });
            }
        }
        None
    }

    /// Count accepted events; returns the id of the last one (given or generated).
    fn accept<'e>(
        &self,
        ids: impl Iterator<Item = Option<&'e str>>,
        route: Route,
    ) -> Option<String> {
        let mut c = self.counted.lock();
        let Counted { stats, ids: log } = &mut *c;
        let mut n = 0u64;
        let mut last = None;
        let mut hashes: Vec<u128> = Vec::with_capacity(ids.size_hint().0);
        for id in ids {
            n += 1;
            let generated;
            let id = match id {
                Some(id) if !id.is_empty() => id,
                _ => {
                    stats.events_without_id += 1;
                    generated = api::generate_event_id(
                        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64()),
                    );
                    generated.as_str()
                }
            };
            hashes.push(hash128(id));
            log.text.push_str(id);
            log.ends.push(log.text.len());
            if route == Route::Single {
                last = Some(id.to_string());
            }
        }
        // Inserted in the order of the table slots they land in (the set's index is the low
        // bits of the hash): a million random inserts were a cache miss each, a quarter of the
        // sink's CPU; in slot order they walk the table front to back. Any order counts the same.
        log.seen.reserve(hashes.len());
        let mask = ((log.seen.capacity() * 8 / 7) + 1).next_power_of_two() as u64 - 1;
        hashes.sort_unstable_by_key(|h| *h as u64 & mask);
        for h in hashes {
            if log.seen.insert(h) {
                stats.unique_event_ids += 1;
            } else {
                stats.duplicate_events += 1;
            }
        }
        stats.events_accepted += n;
        if route == Route::Bulk {
            stats.bulk_sizes_max = stats.bulk_sizes_max.max(n);
        }
        last
    }

    fn record(&self, rec: &Mutex<BufWriter<File>>, raw: &[u8], bulk: bool, limit: usize) {
        let mut lines = Vec::with_capacity(raw.len() + 64);
        if !api::record_lines(raw, bulk, &mut lines) {
            tracing::warn!("flexprice-api-double: could not split a bulk body for the record");
            return;
        }
        // `limit` cuts a partial bulk to the events actually accepted.
        let end = lines
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == b'\n')
            .nth(limit.saturating_sub(1))
            .map_or(lines.len(), |(i, _)| i + 1);
        let mut w = rec.lock();
        if w.write_all(&lines[..end]).and_then(|_| w.flush()).is_err() {
            tracing::warn!("flexprice-api-double: writing the record file failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hash128;
    use std::collections::HashSet;

    #[test]
    fn hash128_has_no_collisions_on_sequential_ids() {
        // Shapes the collector and the load tests produce: counters, padded counters,
        // topic/partition/offset ids, short ids. Even the low 64 bits alone must not collide.
        let mut lo = HashSet::new();
        let mut n = 0;
        let mut check = |id: String| {
            n += 1;
            assert!(lo.insert(hash128(&id) as u64), "collision at {id}");
        };
        for i in 0..50_000u64 {
            check(i.to_string());
            check(format!("load-001-{i:010}-00042"));
            check(format!("usage-events-3-{i}"));
        }
        for i in 0..=255u8 {
            check(format!("{}x", char::from(i)));
        }
        check(String::new());
        assert_eq!(lo.len(), n);
        assert_ne!(hash128("a"), hash128("a\0"));
    }
}
