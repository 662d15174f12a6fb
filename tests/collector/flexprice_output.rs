//! `output.flexprice` against the Flexprice-compatible sink, over real sockets on 127.0.0.1.
//!
//! Each test builds the output from config, feeds `Event`s (encoded by the output's own
//! encoder, acked through a `Checkpointer` like Kafka partitions are) into a bounded channel,
//! runs it on a thread, and checks what the sink saw, what was acked, and what was
//! dead-lettered.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::outputs::{start, to_value, Running};
use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Faults};
use flexprice_collector::output::dead_letter::DeadLetter;
use flexprice_collector::output::flexprice::FlexpriceConfig;
use flexprice_collector::output::{OutputConfig, OutputKind};
use flexprice_collector::pipeline::{Body, Checkpointer, Control, Event, Origin, Position};
use flexprice_collector::runtime::{self, Plan};
use serde_json::json;

const KEY: &str = "test-key";

fn sink(faults: Faults) -> ApiDouble {
    ApiDouble::start(ApiDoubleConfig {
        api_key: KEY.into(),
        faults,
        ..ApiDoubleConfig::default()
    })
    .expect("sink starts")
}

/// Output config pointing at `addr`, with short retry intervals; `extra` overrides fields.
fn config(addr: std::net::SocketAddr, dlq: &Path, extra: serde_json::Value) -> FlexpriceConfig {
    let mut base = json!({
        "api_host": addr.to_string(),
        "api_key": KEY,
        "scheme": "http",
        "max_in_flight": 2,
        "timeout": "5s",
        "retry_max_attempts": 3,
        "retry_backoff": {"initial_interval": "10ms", "max_interval": "100ms"},
        "dead_letter": {"path": dlq.to_string_lossy()},
    });
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).expect("valid output config")
}

/// A running output: feed it with `send`, end it with `finish`.
fn event(name: &str, i: usize) -> serde_json::Value {
    json!({
        "event_name": name,
        "external_customer_id": format!("cust_{}", i % 7),
        "timestamp": "2026-11-25T06:00:00.000Z",
        "properties": {"tokens": (i as i64), "model": "m1"},
    })
}

/// Every tracked event acked exactly once and the watermark at the end.
fn assert_all_acked(cp: &Checkpointer, n: i64) {
    assert_eq!(cp.acked_total(), n as u64, "every event acked once");
    assert_eq!(cp.watermark(), Some(n), "watermark past the last event");
    assert_eq!(cp.in_flight(), 0);
}

fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead-letter line is JSON"))
        .collect()
}

/// Wait for a condition on an external system (the sink), polling, for at most `within`.
fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("dead-letter.jsonl");
    (d, p)
}

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn no_batching_policy_sends_each_event_to_the_single_endpoint() {
    for batching in [json!({}), json!({"count": 1})] {
        let s = sink(Faults::default());
        let (_d, dlq) = tmp();
        let mut run = Running::start(config(s.addr(), &dlq, json!({"batching": batching})));
        for i in 0..5 {
            run.send(event("api.call", i));
        }
        let (cp, n) = run.finish(WAIT);
        let st = s.stats();
        assert_eq!((st.requests_single, st.requests_bulk), (5, 0), "{batching}");
        assert_eq!(st.events_accepted, 5);
        assert_all_acked(&cp, n);
        // Deterministic ids from (topic, partition, offset).
        let mut ids = s.accepted_ids();
        ids.sort();
        assert_eq!(
            ids,
            (0..5).map(|o| format!("usage-0-{o}")).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_batching_policy_always_uses_bulk_even_for_one_event() {
    let s = sink(Faults::default());
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 10, "period": "10ms"}}),
    ));
    run.send(event("api.call", 0));
    let (cp, n) = run.finish(WAIT);
    let st = s.stats();
    assert_eq!((st.requests_single, st.requests_bulk), (0, 1));
    assert_eq!(st.events_accepted, 1);
    assert_all_acked(&cp, n);
}

#[test]
fn large_flushes_are_chunked_at_1000_events() {
    let s = sink(Faults::default());
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 1000, "period": "1h"}}),
    ));
    for i in 0..2500 {
        run.send(event("api.call", i));
    }
    let (cp, n) = run.finish(WAIT);
    let st = s.stats();
    assert_eq!(
        st.requests_bulk, 3,
        "1000 + 1000 + 500 (the rest flushed on close)"
    );
    assert_eq!(st.bulk_sizes_max, 1000);
    assert_eq!(st.events_accepted, 2500);
    assert_eq!(st.unique_event_ids, 2500);
    assert_eq!(st.duplicate_events, 0);
    assert_all_acked(&cp, n);
}

#[test]
fn period_flushes_a_partial_batch_while_the_input_is_still_open() {
    let s = sink(Faults::default());
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 1000, "period": "30ms"}}),
    ));
    let t0 = Instant::now();
    for i in 0..3 {
        run.send(event("api.call", i));
    }
    assert!(
        wait_until(Duration::from_secs(5), || run.cp.watermark() == Some(3)),
        "3 events must be delivered by the period, not by shutdown"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(25),
        "flushed too early: {took:?}"
    );
    assert_eq!(s.stats().requests_bulk, 1);
    let (cp, n) = run.finish(WAIT);
    assert_all_acked(&cp, n);
}

#[test]
fn byte_size_caps_every_request_body() {
    let s = sink(Faults::default());
    let (_d, dlq) = tmp();
    // Events of identical size (explicit ids of equal length).
    let one = |i: usize| {
        let mut e = event("api.call", 0);
        e["event_id"] = json!(format!("id-{i:04}"));
        e
    };
    let enc_len = {
        let out = start(config(s.addr(), &dlq, json!({})));
        out.encoder()
            .encode(&to_value(&one(0)), &Origin::default())
            .expect("valid")
            .len()
    };
    let limit = 13 + 3 * enc_len + 2; // {"events":[ ]} + three events + two commas
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"byte_size": limit, "period": "1h"}}),
    ));
    for i in 0..10 {
        run.send(one(i));
    }
    let (cp, n) = run.finish(WAIT);
    let st = s.stats();
    assert_eq!(st.requests_bulk, 4, "3 + 3 + 3 + 1");
    assert_eq!(st.bulk_sizes_max, 3);
    assert!(st.bytes_received <= 4 * limit as u64);
    assert_eq!(st.events_accepted, 10);
    assert_all_acked(&cp, n);
}

#[test]
fn transient_errors_are_retried_with_doubling_backoff() {
    let s = sink(Faults {
        script: vec![503, 503, 503],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"retry_max_attempts": 5,
               "retry_backoff": {"initial_interval": "40ms", "max_interval": "1s"}}),
    ));
    let t0 = Instant::now();
    run.send(event("api.call", 0));
    assert!(wait_until(Duration::from_secs(5), || run.cp.watermark() == Some(1)));
    let took = t0.elapsed();
    // Waits of 40, 80, 160 ms, each minus up to 20% jitter: at least 224 ms in total.
    assert!(
        took >= Duration::from_millis(224),
        "retried too fast: {took:?}"
    );
    assert!(
        took < Duration::from_millis(3000),
        "retried too slowly: {took:?}"
    );
    let st = s.stats();
    assert_eq!(st.status_counts.get(&503), Some(&3));
    assert_eq!(st.status_counts.get(&202), Some(&1));
    let (cp, n) = run.finish(WAIT);
    assert_all_acked(&cp, n);
    assert!(dead_letters(&dlq).is_empty());
}

#[test]
fn retry_after_is_honoured() {
    let s = sink(Faults {
        script: vec![429],
        retry_after: Some(1),
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"retry_backoff": {"initial_interval": "10ms", "max_interval": "5s"}}),
    ));
    let t0 = Instant::now();
    run.send(event("api.call", 0));
    assert!(wait_until(Duration::from_secs(5), || run.cp.watermark() == Some(1)));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1000),
        "Retry-After: 1 ignored: {took:?}"
    );
    assert!(took < Duration::from_millis(5000), "{took:?}");
    let (cp, n) = run.finish(WAIT);
    assert_all_acked(&cp, n);
}

#[test]
fn permanent_errors_are_not_retried_and_go_to_the_dead_letter_file() {
    let s = sink(Faults {
        script: vec![422],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(s.addr(), &dlq, json!({})));
    run.send(event("api.call", 0));
    let (cp, n) = run.finish(WAIT);
    let st = s.stats();
    assert_eq!(
        st.status_counts.values().sum::<u64>(),
        1,
        "exactly one request"
    );
    let dl = dead_letters(&dlq);
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["status"], 422);
    assert_eq!(dl[0]["attempts"], 1);
    assert_eq!(dl[0]["event"]["event_id"], "usage-0-0");
    assert_eq!(
        dl[0]["source"],
        json!({"topic": "usage", "partition": 0, "offset": 0})
    );
    assert_all_acked(&cp, n);
}

/// A batch the API keeps failing while it accepts other requests is the batch's problem:
/// after its retry budget it is dead-lettered with the last status, body and attempt count.
#[test]
fn exhausted_retries_dead_letter_with_status_body_and_attempts() {
    // Batch A fails every attempt; between A's attempts batches B and C, sent after A's
    // previous failure, are served. A's first failure proves nothing (nothing was accepted
    // since it was sent); the next two are charged and exhaust retry_max_attempts 1.
    let s = sink(Faults {
        script: vec![500, 0, 500, 0, 500],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        // A's retries wait 5 s: B and C go out well before them, even on a loaded 2-core
        // machine (with 500 ms, B once came after A's retry when other test binaries ran;
        // with 2 s, C once came after A's third attempt while Kafka brokers started).
        json!({"retry_max_attempts": 1, "batching": {"count": 5, "period": "10ms"},
               "retry_backoff": {"initial_interval": "5s", "max_interval": "5s"}}),
    ));
    let failures = |k: u64| {
        wait_until(Duration::from_secs(15), || {
            s.stats().status_counts.get(&500).copied().unwrap_or(0) >= k
        })
    };
    for i in 0..5 {
        run.send(event("api.call", i));
    }
    assert!(failures(1));
    for i in 5..10 {
        run.send(event("api.call", i));
    }
    assert!(wait_until(Duration::from_secs(15), || s
        .stats()
        .events_accepted
        == 5));
    assert!(failures(2));
    for i in 10..15 {
        run.send(event("api.call", i));
    }
    assert!(wait_until(Duration::from_secs(15), || s
        .stats()
        .events_accepted
        == 10));
    assert!(failures(3));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(
        s.stats().status_counts.get(&500),
        Some(&3),
        "1 attempt + 2 retries"
    );
    let dl = dead_letters(&dlq);
    assert_eq!(dl.len(), 5);
    for d in &dl {
        assert_eq!(d["status"], 500);
        assert_eq!(d["attempts"], 3);
        assert!(d["event"]["properties"].is_object(), "{d}");
        assert!(d["source"]["offset"].as_i64().is_some_and(|o| o < 5), "{d}");
        assert!(d["response"].as_str().is_some_and(|r| !r.is_empty()), "{d}");
        assert!(
            d["reason"].as_str().is_some_and(|r| r.contains("gave up")),
            "{d}"
        );
    }
    assert_all_acked(&cp, n);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dlq)
            .expect("dlq exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "dead-letter file must be private");
    }
}

#[test]
fn a_rejected_bulk_request_is_bisected_to_the_offending_events() {
    let s = sink(Faults {
        reject_event_names: vec!["bad.event".into()],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 100, "period": "1h"}}),
    ));
    for i in 0..100 {
        let name = if i == 17 || i == 80 {
            "bad.event"
        } else {
            "api.call"
        };
        run.send(event(name, i));
    }
    let (cp, n) = run.finish(WAIT);
    let st = s.stats();
    assert_eq!(st.events_accepted, 98, "every good event delivered");
    assert_eq!(st.duplicate_events, 0);
    let dl = dead_letters(&dlq);
    let offsets: Vec<i64> = dl
        .iter()
        .filter_map(|d| d["source"]["offset"].as_i64())
        .collect();
    assert_eq!(offsets, vec![17, 80]);
    for d in &dl {
        assert_eq!(d["status"], 400);
        assert_eq!(d["event"]["event_name"], "bad.event");
        assert!(
            d["response"]
                .as_str()
                .is_some_and(|r| r.contains("bad.event")),
            "{d}"
        );
    }
    assert!(
        st.requests_bulk < 40,
        "bisection, not one request per event: {}",
        st.requests_bulk
    );
    assert_all_acked(&cp, n);
}

/// A key the API refuses is the pipeline's fault, not the events': nothing is dead-lettered
/// or acked, the batch is held and retried, and once the API takes the key (fixed at its side
/// while the collector runs) everything goes through. (Before: 401 dead-lettered the whole
/// stream at line rate.)
#[test]
fn a_refused_key_holds_the_stream_until_the_key_is_accepted() {
    let s = ApiDouble::start(ApiDoubleConfig {
        api_key: "not-yet-active".into(),
        ..ApiDoubleConfig::default()
    })
    .expect("sink starts");
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 3, "period": "1h"}, "retry_max_attempts": 0}),
    ));
    for i in 0..6 {
        run.send(event("api.call", i));
    }
    // Both senders hold their batch through several refusals.
    assert!(wait_until(Duration::from_secs(10), || s
        .stats()
        .rejected_401
        >= 6));
    assert!(
        dead_letters(&dlq).is_empty(),
        "a refused key dead-letters nothing"
    );
    assert_eq!(run.cp.acked_total(), 0, "nothing acked while refused");
    s.set_api_key(KEY);
    assert!(wait_until(Duration::from_secs(5), || run.cp.watermark() == Some(6)));
    let (cp, n) = run.finish(WAIT);
    let st = s.stats();
    assert_eq!(st.events_accepted, 6);
    assert_eq!(st.unique_event_ids, 6);
    assert!(dead_letters(&dlq).is_empty());
    assert_all_acked(&cp, n);
}

/// Routes that are not there (404), redirects (3xx) and forbidden keys (403) are held like a
/// refused key, whatever the retry budget; then delivered once the API answers.
#[test]
fn a_missing_route_a_redirect_or_forbidden_is_held_not_dead_lettered() {
    for script in [vec![404, 404, 404], vec![301, 308], vec![403, 403]] {
        let s = sink(Faults {
            script: script.clone(),
            ..Faults::default()
        });
        let (_d, dlq) = tmp();
        let mut run = Running::start(config(s.addr(), &dlq, json!({"retry_max_attempts": 0})));
        run.send(event("api.call", 0));
        let (cp, n) = run.finish(WAIT);
        let st = s.stats();
        assert_eq!(st.events_accepted, 1, "{script:?}: {st:?}");
        assert_eq!(
            st.status_counts.values().sum::<u64>(),
            script.len() as u64 + 1,
            "{script:?}: each refusal retried once, then the 202"
        );
        assert!(dead_letters(&dlq).is_empty(), "{script:?}");
        assert_all_acked(&cp, n);
    }
}

/// Only the API's 202 is delivery: a 207 (or 200) from something in between, after the API
/// stored half the batch, is resent whole. Nothing is lost; the duplicates carry the same
/// `event_id` and timestamp. (Before: the 207 acked all of it, half never stored.)
#[test]
fn a_2xx_that_is_not_202_is_resent_whole() {
    let s = sink(Faults {
        script: vec![207, 200],
        injected_stores: 0.5,
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 10, "period": "1h"}, "retry_max_attempts": 0}),
    ));
    for i in 0..10 {
        run.send(event("api.call", i));
    }
    let (cp, n) = run.finish(WAIT);
    let st = s.stats();
    assert_eq!(st.status_counts.get(&207), Some(&1));
    assert_eq!(st.status_counts.get(&200), Some(&1));
    assert_eq!(st.status_counts.get(&202), Some(&1));
    assert_eq!(st.unique_event_ids, 10, "every event stored: {st:?}");
    assert_eq!(
        st.duplicate_events, 10,
        "5 after the 207 and 5 after the 200"
    );
    assert!(dead_letters(&dlq).is_empty());
    assert_all_acked(&cp, n);
}

/// `successful_on`, `backoff_on` and `drop_on` move statuses out of their built-in class.
#[test]
fn status_lists_choose_what_a_status_means() {
    // 200 as success: acked as delivered on that answer.
    let s = sink(Faults {
        script: vec![200],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(s.addr(), &dlq, json!({"successful_on": [200]})));
    run.send(event("api.call", 0));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(s.stats().status_counts.values().sum::<u64>(), 1);
    assert!(dead_letters(&dlq).is_empty());
    assert_all_acked(&cp, n);

    // 409 dropped: dead-lettered at once, no retry.
    let s = sink(Faults {
        script: vec![409],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(s.addr(), &dlq, json!({"drop_on": [409]})));
    run.send(event("api.call", 0));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(s.stats().status_counts.values().sum::<u64>(), 1);
    let dl = dead_letters(&dlq);
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["status"], 409);
    assert_all_acked(&cp, n);

    // 404 backed off: retried as a transient failure (the retry budget applies to it).
    let s = sink(Faults {
        script: vec![404],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(s.addr(), &dlq, json!({"backoff_on": [404]})));
    run.send(event("api.call", 0));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(s.stats().status_counts.get(&404), Some(&1));
    assert_eq!(s.stats().events_accepted, 1);
    assert!(dead_letters(&dlq).is_empty());
    assert_all_acked(&cp, n);
}

#[test]
fn failed_events_are_dead_lettered_and_never_batched() {
    let s = sink(Faults::default());
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 10, "period": "10ms"}}),
    ));
    run.send(event("api.call", 0));
    run.send_failed(b"{not json", "payload is not valid JSON");
    run.send(json!({"event_name": "x", "external_customer_id": "c", "typo_field": 1}));
    run.send(event("api.call", 3));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(s.stats().events_accepted, 2);
    let dl = dead_letters(&dlq);
    assert_eq!(dl.len(), 2);
    assert_eq!(dl[0]["event"], "{not json");
    assert_eq!(dl[0]["attempts"], 0);
    assert_eq!(dl[0]["status"], serde_json::Value::Null);
    assert!(
        dl[1]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("typo_field")),
        "{}",
        dl[1]
    );
    assert_all_acked(&cp, n);
}

#[test]
fn max_in_flight_requests_really_run_in_parallel_and_never_more() {
    let s = sink(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(s.addr(), &dlq, json!({"max_in_flight": 4})));
    let t0 = Instant::now();
    for i in 0..40 {
        run.send(event("api.call", i));
    }
    let (cp, n) = run.finish(WAIT);
    let took = t0.elapsed();
    let st = s.stats();
    assert_eq!(st.max_concurrent_requests, 4);
    assert_eq!(st.events_accepted, 40);
    // 40 requests of 40 ms: ~1.6 s one at a time, ~0.4 s four at a time.
    assert!(took < Duration::from_millis(1400), "not parallel: {took:?}");
    assert_all_acked(&cp, n);
}

/// An API that accepts nothing (here: connection refused) is an outage, not a bad batch:
/// the spent retry budget does not dead-letter, the batch is held and retried, and once the
/// API is back it is delivered.
#[test]
fn an_outage_holds_batches_past_the_retry_budget_instead_of_dead_lettering() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener); // nobody listens: connection refused
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(addr, &dlq, json!({"retry_max_attempts": 2})));
    run.send(event("api.call", 0));
    // 10 ms, 20 ms: the budget is spent after ~30 ms; give it ten times that.
    let held = !wait_until(Duration::from_millis(400), || {
        !dead_letters(&dlq).is_empty() || run.cp.acked_total() > 0
    });
    assert!(held, "an outage must not dead-letter or ack");
    let s = ApiDouble::start(ApiDoubleConfig {
        listen: addr,
        api_key: KEY.into(),
        ..ApiDoubleConfig::default()
    })
    .expect("sink on the same port");
    assert!(wait_until(Duration::from_secs(5), || run.cp.watermark() == Some(1)));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(s.stats().events_accepted, 1);
    assert!(dead_letters(&dlq).is_empty());
    assert_all_acked(&cp, n);
}

/// Throttling is never the batch's fault: a 429 does not spend the retry budget.
#[test]
fn throttling_never_spends_the_retry_budget() {
    let s = sink(Faults {
        script: vec![429, 429, 429, 429, 429],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(s.addr(), &dlq, json!({"retry_max_attempts": 1})));
    run.send(event("api.call", 0));
    assert!(wait_until(Duration::from_secs(10), || run.cp.watermark() == Some(1)));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(s.stats().status_counts.get(&429), Some(&5));
    assert_eq!(s.stats().events_accepted, 1);
    assert!(dead_letters(&dlq).is_empty());
    assert_all_acked(&cp, n);
}

#[test]
fn shutdown_flushes_the_open_batch() {
    let s = sink(Faults::default());
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        s.addr(),
        &dlq,
        json!({"batching": {"count": 1000, "period": "1h"}}),
    ));
    for i in 0..7 {
        run.send(event("api.call", i));
    }
    assert_eq!(s.stats().events_accepted, 0, "nothing due before the close");
    let (cp, n) = run.finish(WAIT);
    assert_eq!(s.stats().events_accepted, 7);
    assert_eq!(s.stats().requests_bulk, 1);
    assert_all_acked(&cp, n);
}

#[test]
fn past_the_shutdown_deadline_unsent_events_stay_unacked() {
    let s = sink(Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let ctl = Control::new(Duration::from_millis(100));
    let mut run = Running::start_with(
        config(
            s.addr(),
            &dlq,
            json!({"retry_max_attempts": 10,
                   "retry_backoff": {"initial_interval": "10s", "max_interval": "10s"}}),
        ),
        ctl.clone(),
    );
    run.send(event("api.call", 0));
    assert!(wait_until(Duration::from_secs(5), || s
        .stats()
        .injected_errors
        >= 1));
    let t0 = Instant::now();
    ctl.request_stop();
    let (cp, _) = run.finish(Duration::from_secs(5));
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "the 10 s backoff must end at the stop"
    );
    assert_eq!(cp.acked_total(), 0, "never ack what was not delivered");
    assert_eq!(cp.watermark(), None);
    assert!(
        dead_letters(&dlq).is_empty(),
        "not dead-lettered either: redelivered"
    );
}

#[test]
fn dead_letter_takes_either_a_path_or_kafka_not_both() {
    let (_d, dlq) = tmp();
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let cfg = config(
        addr,
        &dlq,
        json!({"dead_letter": {"path": dlq.to_string_lossy(), "kafka": {"addresses": ["127.0.0.1:9"], "topic": "dlq"}}}),
    );
    let err = runtime::start_output(&OutputConfig {
        label: String::new(),
        processors: Vec::new(),
        component: OutputKind::Flexprice(cfg),
    })
    .err()
    .expect("must fail")
    .to_string();
    assert!(err.contains("only one"), "{err}");
    // `lint` says so too, naming the field; Kafka alone is accepted.
    let lint = |dl: &str| {
        let yaml = format!(
            "input:\n  stdin: {{}}\noutput:\n  flexprice:\n    api_key: k\n    dead_letter:\n{dl}"
        );
        Plan::from_text("t.yaml", &yaml, &|_| None)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let kafka = "      kafka: {addresses: ['127.0.0.1:9'], topic: dlq}\n";
    assert_eq!(lint(kafka), Ok(()));
    let err = lint(&format!("      path: ./dlq.jsonl\n{kafka}")).expect_err("lint must fail");
    assert!(
        err.contains("dead_letter") && err.contains("only one"),
        "{err}"
    );
}

/// Every `config/*.yaml`, parsed and checked as `flexprice-collector lint` does.
fn example_configs() -> Vec<(PathBuf, flexprice_collector::runtime::Config)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("config/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        // What a user must provide: the API key, and SASL credentials for the Kafka ones
        // (their defaults are the shipped configs': TLS + SASL PLAIN, as on Confluent Cloud).
        let lookup = |k: &str| match k {
            "FLEXPRICE_API_KEY" => Some("test-key".to_string()),
            "FLEXPRICE_KAFKA_SASL_USER" => Some("user".to_string()),
            "FLEXPRICE_KAFKA_SASL_PASSWORD" => Some("password".to_string()),
            _ => None,
        };
        let text = std::fs::read_to_string(&path).expect("read");
        match Plan::from_text(&path.display().to_string(), &text, &lookup) {
            Ok(plan) => out.push((path, plan.config)),
            Err(e) => panic!("{} does not lint:\n{e}", path.display()),
        }
    }
    assert!(
        out.len() >= 3,
        "expected the three example configs, found {}",
        out.len()
    );
    out
}

#[test]
fn example_configs_lint() {
    for (path, config) in example_configs() {
        // The output part builds for real (dead-letter file, TLS, agent).
        if let OutputKind::Flexprice(mut f) = config.output.component {
            let dir = tempfile::tempdir().expect("tempdir");
            if f.dead_letter.as_ref().is_none_or(|d| d.path.is_some()) {
                f.dead_letter = Some(DeadLetter {
                    path: Some(dir.path().join("dl.jsonl").to_string_lossy().into()),
                    kafka: None,
                });
            }
            let out = OutputConfig {
                label: String::new(),
                processors: Vec::new(),
                component: OutputKind::Flexprice(f),
            };
            if let Err(e) = runtime::start_output(&out) {
                panic!("{}: output.flexprice: {e:#}", path.display());
            }
        } else {
            panic!("{}: expected output.flexprice", path.display());
        }
    }
}

#[test]
fn under_random_faults_every_event_is_delivered_or_dead_lettered_exactly_once() {
    // 30% of requests fail with 503 (before the sink counts anything), some events are
    // rejected by the API, some never were valid; two partitions interleave, 4 senders.
    let s = sink(Faults {
        error_rate: 0.3,
        error_status: 503,
        reject_event_names: vec!["bad.event".into()],
        ..Faults::default()
    });
    let (_d, dlq) = tmp();
    let out = start(config(
        s.addr(),
        &dlq,
        json!({"max_in_flight": 4, "retry_max_attempts": 50,
               "retry_backoff": {"initial_interval": "1ms", "max_interval": "5ms"},
               "batching": {"count": 50, "period": "5ms"}}),
    ));
    let encoder = out.encoder();
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Event>>(64);
    let ctl = Control::new(Duration::from_secs(10));
    let c = ctl.clone();
    let runner = std::thread::spawn(move || runtime::run_output(out.as_ref(), &rx, &c));
    let parts = [Checkpointer::new(), Checkpointer::new()];
    let per_part = 1500i64;
    let (mut bad, mut invalid) = (0u64, 0u64);
    for offset in 0..per_part {
        // One chunk per offset, mixing both partitions, as a processor thread would.
        let mut chunk = Vec::with_capacity(2);
        for (p, cp) in parts.iter().enumerate() {
            let origin = Origin::at(Position::Kafka {
                topic: Arc::from("usage"),
                partition: p as i32,
                offset,
            });
            let ack = cp.track(offset);
            let name = if offset % 97 == 5 {
                "bad.event"
            } else {
                "api.call"
            };
            let body = if offset % 101 == 7 {
                invalid += 1;
                Body::Failed {
                    raw: b"garbage".to_vec(),
                    reason: "payload is not valid JSON".into(),
                }
            } else {
                if name == "bad.event" {
                    bad += 1;
                }
                let doc = to_value(&event(name, offset as usize));
                Body::Ready(encoder.encode(&doc, &origin).expect("valid"))
            };
            chunk.push(Event::new(body, origin, ack));
        }
        tx.send(chunk).expect("running");
    }
    drop(tx);
    runner.join().expect("no panic").expect("run ok");
    let total = 2 * per_part as u64;
    for cp in &parts {
        assert_eq!(cp.acked_total(), per_part as u64);
        assert_eq!(cp.watermark(), Some(per_part));
    }
    let st = s.stats();
    assert!(st.injected_errors > 0, "faults were injected");
    assert_eq!(st.duplicate_events, 0);
    let dl = dead_letters(&dlq);
    assert_eq!(dl.len() as u64, bad + invalid);
    assert_eq!(st.events_accepted + dl.len() as u64, total, "nothing lost");
    assert_eq!(st.unique_event_ids, total - bad - invalid);
    // The ids the sink holds are exactly the derived ids of the good events.
    let mut ids = s.accepted_ids();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, total - bad - invalid);
    assert!(ids.contains(&"usage-1-0".to_string()));
}

/// A minimal HTTP/1.1 server answering the scripted statuses in order (then 202), recording
/// when each request arrived: to measure the gaps between retries exactly.
fn timing_server(script: Vec<u16>) -> (std::net::SocketAddr, crossbeam_channel::Receiver<Instant>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = crossbeam_channel::bounded(64);
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let Ok(mut w) = stream.try_clone() else {
                return;
            };
            let mut r = BufReader::new(stream);
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                let mut head_ok = false;
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    if line == "\r\n" {
                        head_ok = true;
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                if !head_ok {
                    break;
                }
                let mut body = vec![0u8; len];
                if r.read_exact(&mut body).is_err() {
                    break;
                }
                let _ = tx.send(Instant::now());
                let status = script.next().unwrap_or(202);
                let msg = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
                );
                if w.write_all(msg.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (addr, rx)
}

#[test]
fn retry_gaps_follow_the_schedule() {
    let (addr, arrivals) = timing_server(vec![503, 502, 429]);
    let (_d, dlq) = tmp();
    let mut run = Running::start(config(
        addr,
        &dlq,
        json!({"retry_max_attempts": 5,
               "retry_backoff": {"initial_interval": "20ms", "max_interval": "1s"}}),
    ));
    run.send(event("api.call", 0));
    let (cp, n) = run.finish(WAIT);
    assert_all_acked(&cp, n);
    let times: Vec<Instant> = arrivals.try_iter().collect();
    assert_eq!(times.len(), 4, "3 failures + the accepted attempt");
    for (i, base) in [20u64, 40, 80].iter().enumerate() {
        let gap = times[i + 1] - times[i];
        // Jitter takes up to 20% off; scheduling may add a little, a loaded box more.
        let lo = Duration::from_millis(base * 8 / 10);
        let hi = Duration::from_millis(base + 60);
        assert!(
            gap >= lo && gap <= hi,
            "retry {} after {gap:?}, want {lo:?}..{hi:?}",
            i + 1
        );
    }
}
