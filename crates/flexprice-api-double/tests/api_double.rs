//! The Flexprice-compatible sink, over real sockets on 127.0.0.1: what a client of the real
//! API would see (reference §3), plus the fault injection and counters the collector's tests
//! rely on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Faults};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    body: String,
    content_type: String,
    retry_after: Option<String>,
}

fn post(a: &ureq::Agent, addr: SocketAddr, path: &str, key: Option<&str>, body: &[u8]) -> Reply {
    let mut req = a
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let mut resp = req.send(body).expect("request");
    reply(&mut resp)
}

fn get(a: &ureq::Agent, addr: SocketAddr, path: &str) -> Reply {
    let mut resp = a
        .get(format!("http://{addr}{path}"))
        .call()
        .expect("request");
    reply(&mut resp)
}

fn reply(resp: &mut ureq::http::Response<ureq::Body>) -> Reply {
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    Reply {
        status: resp.status().as_u16(),
        body: resp.body_mut().read_to_string().expect("body"),
        content_type,
        retry_after,
    }
}

fn event(id: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","event_name":"api_call","external_customer_id":"cust-1","timestamp":"2026-01-02T03:04:05.678Z","properties":{{"n":1,"s":"x","nested":{{"a":[1,2]}}}}}}"#
    )
}

fn bulk(ids: impl IntoIterator<Item = String>) -> String {
    let events: Vec<String> = ids.into_iter().map(|i| event(&i)).collect();
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

fn start(faults: Faults) -> ApiDouble {
    ApiDouble::start(ApiDoubleConfig {
        faults,
        ..ApiDoubleConfig::default()
    })
    .expect("sink starts")
}

const KEY: Option<&str> = Some("test-key");
const INVALID: &str =
    r#"{"code":"validation_error","message":"Invalid request payload","http_status_code":400}"#;

fn tag_error(strukt: &str, field: &str, tag: &str) -> String {
    format!(
        r#"{{"code":"validation_error","message":"Request validation failed","http_status_code":400,"details":{{"{field}":"Key: '{strukt}.{field}' Error:Field validation for '{field}' failed on the '{tag}' tag"}}}}"#
    )
}

#[test]
fn health_stats_and_unknown_routes() {
    let sink = start(Faults::default());
    let a = agent();
    let r = get(&a, sink.addr(), "/health");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"ok"}"#));
    let r = post(&a, sink.addr(), "/health", None, b"");
    assert_eq!(r.status, 200);
    let r = get(&a, sink.addr(), "/v1/nope");
    assert_eq!((r.status, r.body.as_str()), (404, "404 page not found"));
    let r = get(&a, sink.addr(), "/v1/events/bulk");
    assert_eq!(r.status, 404);
    let r = get(&a, sink.addr(), "/stats");
    assert_eq!(r.status, 200);
    let stats: serde_json::Value = serde_json::from_str(&r.body).expect("stats json");
    assert_eq!(stats["requests_other"], 4);
    assert_eq!(stats["status_counts"]["404"], 2);
    assert_eq!(stats["events_accepted"], 0);
}

#[test]
fn missing_or_wrong_key_is_401() {
    let sink = start(Faults::default());
    let a = agent();
    for (path, key) in [
        ("/v1/events", None),
        ("/v1/events", Some("wrong")),
        ("/v1/events/bulk", None),
        ("/v1/events/bulk", Some("")),
    ] {
        let r = post(&a, sink.addr(), path, key, event("e1").as_bytes());
        assert_eq!(r.status, 401, "{path} {key:?}");
        assert_eq!(r.body, r#"{"error":"Unauthorized"}"#);
    }
    let s = sink.stats();
    assert_eq!((s.rejected_401, s.events_accepted), (4, 0));
}

/// A key fixed at the API side while clients run: the new one is taken, the old refused.
#[test]
fn the_accepted_key_can_change_while_running() {
    let sink = start(Faults::default());
    let a = agent();
    let r = post(
        &a,
        sink.addr(),
        "/v1/events",
        Some("new-key"),
        event("k1").as_bytes(),
    );
    assert_eq!(r.status, 401);
    sink.set_api_key("new-key");
    let r = post(
        &a,
        sink.addr(),
        "/v1/events",
        Some("new-key"),
        event("k1").as_bytes(),
    );
    assert_eq!(r.status, 202);
    let r = post(&a, sink.addr(), "/v1/events", KEY, event("k2").as_bytes());
    assert_eq!(r.status, 401, "the old key is refused");
    assert_eq!(sink.stats().unique_event_ids, 1);
}

/// `injected_stores`: an injected status after part of the request was stored (a 207 after
/// half), the stored events counted and recorded; without it an injected status stores
/// nothing.
#[test]
fn an_injected_status_can_follow_a_partial_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let record = dir.path().join("accepted.jsonl");
    let sink = ApiDouble::start(ApiDoubleConfig {
        faults: Faults {
            script: vec![207, 503],
            injected_stores: 0.5,
            ..Faults::default()
        },
        record: Some(record.clone()),
        ..ApiDoubleConfig::default()
    })
    .expect("sink starts");
    let a = agent();
    let body = bulk((0..5).map(|i| format!("p{i}")));
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    assert_eq!(r.status, 207);
    assert!(r.body.contains("3 events stored"), "{}", r.body);
    let r = post(&a, sink.addr(), "/v1/events", KEY, event("s1").as_bytes());
    assert_eq!(r.status, 503);
    let s = sink.stats();
    assert_eq!((s.events_accepted, s.injected_errors), (4, 2));
    assert_eq!(sink.accepted_ids(), ["p0", "p1", "p2", "s1"]);
    sink.set_faults(Faults {
        script: vec![207],
        ..Faults::default()
    });
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    assert_eq!(r.status, 207);
    assert_eq!(sink.stats().events_accepted, 4, "nothing stored by default");
    drop(sink);
    let lines = std::fs::read_to_string(&record).expect("record");
    assert_eq!(lines.lines().count(), 4, "{lines}");
}

#[test]
fn single_event_202_with_given_or_generated_id() {
    let sink = start(Faults::default());
    let a = agent();
    let r = post(&a, sink.addr(), "/v1/events", KEY, event("ev-1").as_bytes());
    assert_eq!(r.status, 202);
    assert_eq!(r.content_type, "application/json; charset=utf-8");
    assert_eq!(
        r.body,
        r#"{"message":"Event accepted for processing","event_id":"ev-1"}"#
    );

    // No id (or an empty one): the API generates `event_` + ULID. Unknown fields, numeric and
    // nested properties and a null timestamp are accepted, as the real server is lenient.
    for body in [
        r#"{"event_name":"e","external_customer_id":"c","unknown":{"x":1},"timestamp":null,"properties":{"a":1.5,"b":[true,null]}}"#,
        r#"{"event_name":"e","external_customer_id":"c","event_id":"","properties":null}"#,
    ] {
        let r = post(&a, sink.addr(), "/v1/events", KEY, body.as_bytes());
        assert_eq!(r.status, 202, "{body}");
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        let id = v["event_id"].as_str().expect("event_id string");
        assert!(id.starts_with("event_") && id.len() == 32, "{id}");
    }
    let s = sink.stats();
    assert_eq!(s.requests_single, 3);
    assert_eq!(s.events_accepted, 3);
    assert_eq!(s.events_without_id, 2);
    assert_eq!(s.unique_event_ids, 3);
    assert_eq!(s.status_counts.get(&202), Some(&3));
    assert_eq!(sink.accepted_ids()[0], "ev-1");
}

#[test]
fn bulk_202_counts_every_event_in_order() {
    let sink = start(Faults::default());
    let a = agent();
    let ids: Vec<String> = (0..1000).map(|i| format!("id-{i}")).collect();
    let body = bulk(ids.clone());
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    assert_eq!(r.status, 202);
    assert_eq!(r.content_type, "application/json; charset=utf-8");
    assert_eq!(r.body, r#"{"message":"Events accepted for processing"}"#);
    let s = sink.stats();
    assert_eq!((s.requests_bulk, s.events_accepted), (1, 1000));
    assert_eq!((s.unique_event_ids, s.duplicate_events), (1000, 0));
    assert_eq!(s.bulk_sizes_max, 1000);
    assert_eq!(s.bytes_received, body.len() as u64);
    assert_eq!(sink.accepted_ids(), ids);
}

#[test]
fn validation_errors_have_the_api_bodies() {
    let sink = start(Faults::default());
    let a = agent();
    let no_ecid = tag_error("IngestEventRequest", "ExternalCustomerID", "required");
    let cases: Vec<(&str, String, String)> = vec![
        ("/v1/events", String::new(), INVALID.into()),
        ("/v1/events", "{not json".into(), INVALID.into()),
        ("/v1/events", "[1,2]".into(), INVALID.into()),
        (
            "/v1/events",
            r#"{"external_customer_id":"c"}"#.into(),
            INVALID.into(),
        ),
        (
            "/v1/events",
            r#"{"event_name":"","external_customer_id":"c"}"#.into(),
            INVALID.into(),
        ),
        ("/v1/events", r#"{"event_name":"e"}"#.into(), INVALID.into()),
        (
            "/v1/events",
            r#"{"event_name":5,"external_customer_id":"c"}"#.into(),
            INVALID.into(),
        ),
        (
            "/v1/events",
            r#"{"event_name":"e","external_customer_id":"c","properties":"x"}"#.into(),
            INVALID.into(),
        ),
        (
            "/v1/events",
            r#"{"event_name":"e","external_customer_id":"c","timestamp":"2026-01-02T03:04:05"}"#
                .into(),
            INVALID.into(),
        ),
        (
            "/v1/events",
            r#"{"event_name":"e","external_customer_id":"c","timestamp":""}"#.into(),
            INVALID.into(),
        ),
        ("/v1/events/bulk", String::new(), INVALID.into()),
        ("/v1/events/bulk", r#"{"events":{}}"#.into(), INVALID.into()),
        (
            "/v1/events/bulk",
            "{}".into(),
            tag_error("BulkIngestEventRequest", "Events", "required"),
        ),
        (
            "/v1/events/bulk",
            "null".into(),
            tag_error("BulkIngestEventRequest", "Events", "required"),
        ),
        (
            "/v1/events/bulk",
            r#"{"events":null}"#.into(),
            tag_error("BulkIngestEventRequest", "Events", "required"),
        ),
        (
            "/v1/events/bulk",
            r#"{"events":[]}"#.into(),
            tag_error("BulkIngestEventRequest", "Events", "min"),
        ),
        (
            "/v1/events/bulk",
            format!(r#"{{"events":[{},{{"event_name":"e"}}]}}"#, event("ok")),
            no_ecid,
        ),
        (
            "/v1/events/bulk",
            r#"{"events":[{"external_customer_id":"c"}]}"#.into(),
            tag_error("IngestEventRequest", "EventName", "required"),
        ),
        (
            "/v1/events/bulk",
            r#"{"events":[{"event_name":"e","external_customer_id":"c","timestamp":"yesterday"}]}"#
                .into(),
            INVALID.into(),
        ),
    ];
    for (path, body, want) in &cases {
        let r = post(&a, sink.addr(), path, KEY, body.as_bytes());
        assert_eq!((r.status, &r.body), (400, want), "{path} {body}");
        assert_eq!(r.content_type, "application/json; charset=utf-8");
    }
    let s = sink.stats();
    assert_eq!(s.rejected_400, cases.len() as u64);
    assert_eq!(
        s.events_accepted, 0,
        "a rejected bulk counts none of its events"
    );
}

#[test]
fn bulk_of_1001_events_is_400() {
    let sink = start(Faults::default());
    let a = agent();
    let r = post(
        &a,
        sink.addr(),
        "/v1/events/bulk",
        KEY,
        bulk((0..1001).map(|i| i.to_string())).as_bytes(),
    );
    assert_eq!(
        (r.status, r.body),
        (400, tag_error("BulkIngestEventRequest", "Events", "max"))
    );
    assert_eq!(sink.stats().events_accepted, 0);
}

#[test]
fn body_cap_is_32_mib() {
    let sink = start(Faults::default());
    let a = agent();
    // Exactly 32 MiB: accepted (one event with a large property).
    let head = r#"{"events":[{"event_name":"e","external_customer_id":"c","properties":{"pad":""#;
    let tail = r#""}}]}"#;
    let mut body = String::with_capacity(32 << 20);
    body.push_str(head);
    body.push_str(&"x".repeat((32 << 20) - head.len() - tail.len()));
    body.push_str(tail);
    assert_eq!(body.len(), 32 << 20);
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    assert_eq!(r.status, 202);

    // One byte more: 400 (not 413), and the connection stays usable.
    body.insert(head.len(), 'x');
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            r#"{"code":"validation_error","message":"Request body exceeds the maximum size; split the batch into smaller requests","http_status_code":400}"#
        )
    );
    let r = post(
        &a,
        sink.addr(),
        "/v1/events",
        KEY,
        event("after").as_bytes(),
    );
    assert_eq!(r.status, 202);
    assert_eq!(sink.stats().events_accepted, 2);
}

#[test]
fn scripted_statuses_then_normal_with_retry_after() {
    let sink = start(Faults {
        script: vec![503, 429, 500],
        retry_after: Some(2),
        ..Faults::default()
    });
    let a = agent();
    let mut seen = Vec::new();
    for i in 0..4 {
        let r = post(
            &a,
            sink.addr(),
            "/v1/events",
            KEY,
            event(&format!("s{i}")).as_bytes(),
        );
        seen.push((r.status, r.retry_after));
    }
    let two = Some("2".to_string());
    assert_eq!(
        seen,
        vec![(503, two.clone()), (429, two), (500, None), (202, None)]
    );
    let s = sink.stats();
    assert_eq!((s.injected_errors, s.events_accepted), (3, 1));
    assert_eq!(s.status_counts.get(&503), Some(&1));

    // A new script starts from its first status; 0 serves normally; an injected 2xx
    // accepts nothing.
    sink.set_faults(Faults {
        script: vec![502, 0, 200],
        ..Faults::default()
    });
    let statuses: Vec<u16> = (0..4)
        .map(|_| post(&a, sink.addr(), "/v1/events", KEY, event("t").as_bytes()).status)
        .collect();
    assert_eq!(statuses, vec![502, 202, 200, 202]);
    assert_eq!(sink.stats().events_accepted, 3);
}

#[test]
fn error_rate_outage_toggled_at_runtime() {
    let sink = start(Faults::default());
    let a = agent();
    sink.set_faults(Faults {
        error_rate: 1.0,
        error_status: 503,
        retry_after: Some(1),
        ..Faults::default()
    });
    for _ in 0..5 {
        let r = post(
            &a,
            sink.addr(),
            "/v1/events/bulk",
            KEY,
            bulk(["x".into()]).as_bytes(),
        );
        assert_eq!(r.status, 503);
        assert_eq!(r.retry_after.as_deref(), Some("1"));
        assert!(
            r.body.contains(r#""code":"service_unavailable""#),
            "{}",
            r.body
        );
    }
    // /health is never faulted.
    assert_eq!(get(&a, sink.addr(), "/health").status, 200);
    sink.set_faults(Faults::default());
    let r = post(
        &a,
        sink.addr(),
        "/v1/events/bulk",
        KEY,
        bulk(["x".into()]).as_bytes(),
    );
    assert_eq!(r.status, 202);
    let s = sink.stats();
    assert_eq!((s.injected_errors, s.events_accepted), (5, 1));

    // A fractional rate injects roughly that fraction.
    sink.set_faults(Faults {
        error_rate: 0.5,
        error_status: 500,
        ..Faults::default()
    });
    let errors = (0..200)
        .filter(|_| post(&a, sink.addr(), "/v1/events", KEY, event("r").as_bytes()).status == 500)
        .count();
    assert!((50..150).contains(&errors), "{errors} of 200");
}

#[test]
fn duplicates_are_accepted_and_counted() {
    let sink = start(Faults::default());
    let a = agent();
    for _ in 0..3 {
        let r = post(&a, sink.addr(), "/v1/events", KEY, event("same").as_bytes());
        assert_eq!(r.status, 202);
    }
    let r = post(
        &a,
        sink.addr(),
        "/v1/events/bulk",
        KEY,
        bulk(["same".into(), "other".into(), "other".into()]).as_bytes(),
    );
    assert_eq!(r.status, 202);
    let s = sink.stats();
    assert_eq!(s.events_accepted, 6);
    assert_eq!(s.unique_event_ids, 2);
    assert_eq!(s.duplicate_events, 4);
    assert_eq!(sink.accepted_ids().len(), 6);
}

#[test]
fn rejected_event_names_fail_the_whole_bulk_or_a_suffix() {
    let names = |n: &[&str]| {
        let events: Vec<String> = n
            .iter()
            .enumerate()
            .map(|(i, name)| {
                format!(r#"{{"event_id":"{i}","event_name":"{name}","external_customer_id":"c"}}"#)
            })
            .collect();
        format!(r#"{{"events":[{}]}}"#, events.join(","))
    };
    let sink = start(Faults {
        reject_event_names: vec!["bad".into()],
        ..Faults::default()
    });
    let a = agent();
    let r = post(
        &a,
        sink.addr(),
        "/v1/events/bulk",
        KEY,
        names(&["ok", "ok", "bad", "ok"]).as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains(r#""code":"validation_error""#),
        "{}",
        r.body
    );
    assert_eq!(sink.stats().events_accepted, 0);
    let r = post(
        &a,
        sink.addr(),
        "/v1/events",
        KEY,
        br#"{"event_name":"bad","external_customer_id":"c"}"#,
    );
    assert_eq!(r.status, 400);
    let r = post(
        &a,
        sink.addr(),
        "/v1/events/bulk",
        KEY,
        names(&["ok", "fine"]).as_bytes(),
    );
    assert_eq!(r.status, 202);
    assert_eq!(sink.stats().events_accepted, 2);

    // The real API's default bulk mode: events before the bad one are published, then 400.
    sink.set_faults(Faults {
        reject_event_names: vec!["bad".into()],
        partial_bulk: true,
        ..Faults::default()
    });
    let r = post(
        &a,
        sink.addr(),
        "/v1/events/bulk",
        KEY,
        names(&["a", "b", "bad", "c"]).as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(sink.stats().events_accepted, 4);
    assert_eq!(sink.accepted_ids(), vec!["0", "1", "0", "1"]);
}

#[test]
fn max_concurrent_requests_is_what_clients_had_in_flight() {
    const N: usize = 6;
    // A long latency keeps every request in flight while the others arrive; fewer worker
    // threads than requests must not cap what is measured.
    let sink = ApiDouble::start(ApiDoubleConfig {
        threads: 2,
        faults: Faults {
            latency: Duration::from_millis(1500),
            ..Faults::default()
        },
        ..ApiDoubleConfig::default()
    })
    .expect("start");
    let addr = sink.addr();
    let barrier = Arc::new(Barrier::new(N + 1));
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let a = agent();
                barrier.wait();
                post(
                    &a,
                    addr,
                    "/v1/events",
                    KEY,
                    event(&format!("c{i}")).as_bytes(),
                )
                .status
            })
        })
        .collect();
    // Polling /stats while they are in flight does not count as an event request.
    barrier.wait();
    let a = agent();
    for _ in 0..3 {
        assert_eq!(get(&a, addr, "/stats").status, 200);
    }
    for c in clients {
        assert_eq!(c.join().expect("client"), 202);
    }
    let s = sink.stats();
    assert_eq!(s.max_concurrent_requests, N as u64);
    assert_eq!(s.unique_event_ids, N as u64);

    // Sequential requests never look concurrent.
    let sink = start(Faults::default());
    let a = agent();
    for i in 0..20 {
        post(
            &a,
            sink.addr(),
            "/v1/events",
            KEY,
            event(&i.to_string()).as_bytes(),
        );
    }
    assert_eq!(sink.stats().max_concurrent_requests, 1);
}

/// Read one response (head + Content-Length body) from a raw connection.
fn read_response(r: &mut BufReader<TcpStream>) -> (String, String) {
    let mut head = String::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("line");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().expect("length");
        }
        head.push_str(&line);
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
    (head, String::from_utf8(body).expect("utf8"))
}

#[test]
fn keep_alive_pipelining_and_chunked_bodies() {
    let sink = start(Faults::default());
    let mut s = TcpStream::connect(sink.addr()).expect("connect");
    let single = event("k1");
    let chunked_body = bulk(["k2".into(), "k3".into()]);
    let (a, b) = chunked_body.split_at(10);
    // Two requests written back to back on one connection, the second one chunked.
    let req = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\nContent-Length: {}\r\n\r\n{single}\
         POST /v1/events/bulk HTTP/1.1\r\nHost: x\r\nX-Api-Key: test-key\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        single.len(),
        a.len(),
        b.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let (h1, b1) = read_response(&mut r);
    assert!(h1.starts_with("HTTP/1.1 202 Accepted\r\n"), "{h1}");
    assert!(!h1.to_ascii_lowercase().contains("connection: close"));
    assert!(b1.contains(r#""event_id":"k1""#));
    let (h2, b2) = read_response(&mut r);
    assert!(h2.starts_with("HTTP/1.1 202"), "{h2}");
    assert_eq!(b2, r#"{"message":"Events accepted for processing"}"#);
    // `Connection: close` is honoured.
    s.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    let (h3, _) = read_response(&mut r);
    assert!(
        h3.to_ascii_lowercase().contains("connection: close"),
        "{h3}"
    );
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).expect("eof"), 0);
    assert_eq!(sink.accepted_ids(), vec!["k1", "k2", "k3"]);
}

#[test]
fn shutdown_refuses_connections_and_closes_idle_ones() {
    let sink = start(Faults::default());
    let addr = sink.addr();
    let a = agent();
    assert_eq!(
        post(&a, addr, "/v1/events", KEY, event("x").as_bytes()).status,
        202
    );
    // An idle keep-alive connection, as the collector's agent keeps.
    let idle = TcpStream::connect(addr).expect("connect");
    let mut idle_r = BufReader::new(idle.try_clone().expect("clone"));
    (&idle)
        .write_all(b"GET /health HTTP/1.1\r\n\r\n")
        .expect("write");
    read_response(&mut idle_r);
    let started = Instant::now();
    sink.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = TcpStream::connect(addr).expect_err("refused after shutdown");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let mut buf = [0u8; 1];
    assert_eq!(
        idle_r.read(&mut buf).expect("eof"),
        0,
        "idle connection closed"
    );
    assert!(post_result(&a, addr).is_err());
}

fn post_result(a: &ureq::Agent, addr: SocketAddr) -> Result<u16, ureq::Error> {
    a.post(format!("http://{addr}/v1/events"))
        .header("x-api-key", "test-key")
        .send(event("late").as_bytes())
        .map(|r| r.status().as_u16())
}

#[test]
fn record_file_has_one_line_per_accepted_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let sink = ApiDouble::start(ApiDoubleConfig {
        record: Some(path.clone()),
        ..ApiDoubleConfig::default()
    })
    .expect("start");
    let a = agent();
    post(&a, sink.addr(), "/v1/events", KEY, event("r1").as_bytes());
    let pretty = "{\n  \"events\": [\n    {\"event_id\": \"r2\", \"event_name\": \"e\",\n     \"external_customer_id\": \"c\", \"properties\": {\"s\": \"a b\"}},\n    {\"event_id\":\"r3\",\"event_name\":\"e\",\"external_customer_id\":\"c\"}\n  ]\n}";
    assert_eq!(
        post(&a, sink.addr(), "/v1/events/bulk", KEY, pretty.as_bytes()).status,
        202
    );
    // Rejected events are not recorded.
    post(&a, sink.addr(), "/v1/events", KEY, br#"{"event_name":"e"}"#);
    sink.shutdown();
    let text = std::fs::read_to_string(&path).expect("record");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            event("r1").as_str(),
            r#"{"event_id":"r2","event_name":"e","external_customer_id":"c","properties":{"s":"a b"}}"#,
            r#"{"event_id":"r3","event_name":"e","external_customer_id":"c"}"#,
        ]
    );
}

#[test]
fn slow_drain_and_latency_delay_the_answer() {
    let sink = start(Faults {
        slow_drain: Some(Duration::from_millis(40)),
        latency: Duration::from_millis(50),
        latency_jitter: Duration::from_millis(20),
        ..Faults::default()
    });
    let a = agent();
    let body = bulk((0..1000).map(|i| format!("slow-{i}")));
    // At least one delay per 64 KiB chunk.
    let chunks = body.len().div_ceil(64 * 1024) as u32;
    let started = Instant::now();
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    let took = started.elapsed();
    assert_eq!(r.status, 202);
    assert!(
        took >= Duration::from_millis(40) * chunks + Duration::from_millis(50),
        "{took:?}"
    );
    assert_eq!(sink.stats().events_accepted, 1000);
}

#[test]
fn restart_on_the_same_address_after_shutdown() {
    let sink = start(Faults::default());
    let addr = sink.addr();
    let a = agent();
    assert_eq!(
        post(&a, addr, "/v1/events", KEY, event("1").as_bytes()).status,
        202
    );
    sink.shutdown();
    // The agent's pooled connection is dead now; the next request must not hang.
    assert!(post_result(&a, addr).is_err());
    let sink = ApiDouble::start(ApiDoubleConfig {
        listen: addr,
        ..ApiDoubleConfig::default()
    })
    .expect("same port again");
    assert_eq!(
        post(&a, addr, "/v1/events", KEY, event("2").as_bytes()).status,
        202
    );
    assert_eq!(sink.accepted_ids(), vec!["2"]);
}

/// Run the binary; returns it and the address it printed.
fn spawn_bin(
    args: &[&str],
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    SocketAddr,
) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flexprice-api-double"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn flexprice-api-double");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address");
    (child, out, addr)
}

fn terminate(
    mut child: std::process::Child,
    mut out: BufReader<std::process::ChildStdout>,
) -> serde_json::Value {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("stdout");
    assert!(child.wait().expect("wait").success());
    serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("stats JSON {rest:?}: {e}"))
}

#[test]
fn binary_serves_faults_and_prints_stats_on_sigterm() {
    let (child, out, addr) =
        spawn_bin(&["--api-key", "k", "--script", "429", "--retry-after", "3"]);
    let a = agent();
    let r = post(&a, addr, "/v1/events", Some("k"), event("b1").as_bytes());
    assert_eq!((r.status, r.retry_after.as_deref()), (429, Some("3")));
    let r = post(&a, addr, "/v1/events", Some("k"), event("b1").as_bytes());
    assert_eq!(r.status, 202);
    let r = post(&a, addr, "/v1/events", KEY, event("b1").as_bytes());
    assert_eq!(r.status, 401);
    let stats = terminate(child, out);
    assert_eq!(stats["events_accepted"], 1);
    assert_eq!(stats["injected_errors"], 1);
    assert_eq!(stats["rejected_401"], 1);
    assert_eq!(stats["status_counts"]["429"], 1);
}

#[test]
fn binary_outage_window() {
    let (child, out, addr) = spawn_bin(&[
        "--outage-at",
        "0s",
        "--outage-for",
        "1h",
        "--outage-status",
        "502",
    ]);
    let a = agent();
    // The outage starts right after startup; wait (bounded) until it is in force.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    while Instant::now() < deadline {
        status = post(&a, addr, "/v1/events", KEY, event("o").as_bytes()).status;
        if status == 502 {
            break;
        }
    }
    assert_eq!(status, 502);
    assert_eq!(
        post(&a, addr, "/v1/events", KEY, event("o").as_bytes()).status,
        502
    );
    let stats = terminate(child, out);
    assert!(stats["injected_errors"].as_u64() >= Some(2));
}

#[test]
fn partial_bulk_only_publishes_before_per_event_failures() {
    let sink = start(Faults {
        partial_bulk: true,
        ..Faults::default()
    });
    let a = agent();
    // Whole-request failures publish nothing, as in the real API (bind and list validation
    // come before the service sees any event).
    for body in [
        r#"{"events":[]}"#.to_string(),
        format!(
            r#"{{"events":[{},{{"event_name":"e","external_customer_id":"c","timestamp":"bad"}}]}}"#,
            event("p0")
        ),
        bulk((0..1001).map(|i| format!("big{i}"))),
    ] {
        assert_eq!(
            post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes()).status,
            400
        );
    }
    assert_eq!(sink.stats().events_accepted, 0);
    // A per-event failure publishes the events before it.
    let body = format!(
        r#"{{"events":[{},{},{{"event_name":"e"}},{}]}}"#,
        event("p1"),
        event("p2"),
        event("p3")
    );
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    assert_eq!(
        (r.status, r.body),
        (
            400,
            tag_error("IngestEventRequest", "ExternalCustomerID", "required")
        )
    );
    assert_eq!(sink.accepted_ids(), vec!["p1", "p2"]);
}

#[test]
fn protocol_edges_100_continue_and_malformed_requests() {
    let sink = start(Faults::default());
    // Expect: 100-continue gets the interim answer, then the real one.
    let mut s = TcpStream::connect(sink.addr()).expect("connect");
    let body = event("c1");
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nx-api-key: test-key\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write head");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    r.read_line(&mut line).expect("interim");
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    r.read_line(&mut line).expect("blank");
    s.write_all(body.as_bytes()).expect("write body");
    let (head, reply) = read_response(&mut r);
    assert!(head.starts_with("HTTP/1.1 202"), "{head}");
    assert!(reply.contains(r#""event_id":"c1""#));

    // Not HTTP: 400 and the connection is closed.
    let mut s = TcpStream::connect(sink.addr()).expect("connect");
    s.write_all(b"HELLO\r\n\r\n").expect("write");
    let mut r = BufReader::new(s);
    let (head, _) = read_response(&mut r);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).expect("eof"), 0);
    assert_eq!(sink.stats().events_accepted, 1);
}

#[test]
fn partial_bulk_records_only_the_published_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let sink = ApiDouble::start(ApiDoubleConfig {
        record: Some(path.clone()),
        faults: Faults {
            partial_bulk: true,
            reject_event_names: vec!["bad".into()],
            ..Faults::default()
        },
        ..ApiDoubleConfig::default()
    })
    .expect("start");
    let a = agent();
    let body = format!(
        r#"{{"events":[{},{{"event_id":"x","event_name":"bad","external_customer_id":"c"}},{}]}}"#,
        event("p1"),
        event("p3")
    );
    let r = post(&a, sink.addr(), "/v1/events/bulk", KEY, body.as_bytes());
    assert_eq!(r.status, 400);
    sink.shutdown();
    let text = std::fs::read_to_string(&path).expect("record");
    assert_eq!(text, format!("{}\n", event("p1")));
}

fn self_signed() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("self-signed certificate");
    (ck.cert.pem(), ck.key_pair.serialize_pem())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The binary serves HTTPS with --tls-cert/--tls-key (and refuses one without the other).
#[test]
fn binary_serves_https() {
    let (cert, key) = self_signed();
    let dir = tempfile::tempdir().expect("tmp");
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, &cert).expect("cert");
    std::fs::write(&k, &key).expect("key");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flexprice-api-double"))
        .arg("--tls-cert")
        .arg(&c)
        .output()
        .expect("sink");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));

    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flexprice-api-double"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(&c)
        .arg("--tls-key")
        .arg(&k)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sink");
    wait_until(Duration::from_secs(20), "the double to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_pem(cert.as_bytes()).expect("pem"),
                ]))
                .build(),
        )
        .build()
        .into();
    let r = agent
        .get(&format!("https://127.0.0.1:{port}/health"))
        .call()
        .map(|r| r.status().as_u16());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.ok(), Some(200));
}
