//! Security as a user would check it, on the real binary: the API's TLS certificate is
//! verified by default, `skip_cert_verify` warns, secrets never appear in anything the
//! collector prints or serves, the metrics server can be kept on localhost, and the
//! dead-letter file is private.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::free_port;
use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Tls};

const BIN: &str = env!("CARGO_BIN_EXE_flexprice-collector");
const WAIT: Duration = Duration::from_secs(60);

/// A self-signed certificate for 127.0.0.1 (the sink's name in the tests): (cert PEM, key PEM).
fn self_signed() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("self-signed certificate");
    (ck.cert.pem(), ck.key_pair.serialize_pem())
}

fn https_sink(cert: &str, key: &str, api_key: &str) -> ApiDouble {
    ApiDouble::start(ApiDoubleConfig {
        api_key: api_key.into(),
        tls: Some(Tls {
            cert_chain_pem: cert.as_bytes().to_vec(),
            private_key_pem: key.as_bytes().to_vec(),
        }),
        ..ApiDoubleConfig::default()
    })
    .expect("https sink")
}

/// Run the collector on `config` with `stdin` as its input, to its end (bounded).
fn run(dir: &Path, config: &str, stdin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_then(command(dir, config, args, env), stdin, || false)
}

/// The collector on `config`, stdin and stdout piped.
fn command(dir: &Path, config: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).expect("config");
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// As [`run`], but once `stop_when` holds the collector is stopped with SIGTERM (a run that
/// would not end by itself: an API that refuses the key holds the events).
fn run_then(mut cmd: Command, stdin: &str, mut stop_when: impl FnMut() -> bool) -> Output {
    let mut child = cmd.spawn().expect("spawn collector");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let deadline = Instant::now() + WAIT;
    let mut stopped = false;
    while child.try_wait().expect("try_wait").is_none() {
        if !stopped && stop_when() {
            stopped = true;
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("collector did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const EVENT: &str =
    "{\"event_name\":\"api.call\",\"external_customer_id\":\"c1\",\"properties\":{\"n\":1}}\n";

/// Config for stdin → flexprice over `scheme` to `addr`, with `tls` lines (indented 4) and the
/// API key `key` (a literal or `${VAR}`).
fn output_config(addr: &str, key: &str, dlq: &Path, tls: &str) -> String {
    format!(
        "http: {{enabled: false}}\n\
         input:\n  stdin: {{}}\n\
         output:\n  flexprice:\n    api_host: '{addr}'\n    api_key: '{key}'\n    scheme: https\n\
         \x20   retry_max_attempts: 1\n    retry_backoff: {{initial_interval: 10ms, max_interval: 20ms}}\n\
         \x20   timeout: 5s\n    dead_letter: {{path: '{}'}}\n{tls}\
         logger: {{level: INFO, format: logfmt}}\n",
        dlq.display()
    )
}

fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead-letter line is JSON"))
        .collect()
}

#[test]
fn api_tls_is_verified_by_default_and_root_cas_file_trusts_a_private_ca() {
    let (cert, key) = self_signed();
    let sink = https_sink(&cert, &key, "test-key");
    let addr = sink.addr().to_string();
    let dir = tempfile::tempdir().expect("tmp");

    // 1. No root_cas_file: the self-signed certificate is refused and nothing is sent. An
    //    API the collector cannot reach at all is an outage, not a bad event: the event is
    //    held (not dead-lettered), the log names the certificate problem, and a stop leaves
    //    it un-acked for the next start (docs/faults.md, "transient errors are retried").
    let dlq = dir.path().join("dl-default.jsonl");
    let path = dir.path().join("config-default.yaml");
    std::fs::write(
        &path,
        output_config(&addr, "test-key", &dlq, "") + "shutdown_timeout: 1s\n",
    )
    .expect("config");
    let mut child = Command::new(BIN)
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn collector");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(EVENT.as_bytes())
        .expect("write stdin");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut log = String::new();
    while !(log.contains("UnknownIssuer") || log.contains("certificate")) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => {
                log.push_str(&l);
                log.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                panic!("no certificate error logged within {WAIT:?}:\n{log}");
            }
        }
    }
    assert!(
        log.contains("check output.flexprice.tls"),
        "a refused certificate is the pipeline's fault, with its remedy:\n{log}"
    );
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("collector did not stop within {WAIT:?}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a process, not synchronising
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(
        sink.stats().events_accepted,
        0,
        "nothing crosses an unverified TLS connection"
    );
    assert!(
        dead_letters(&dlq).is_empty(),
        "held, not dead-lettered:\n{log}"
    );

    // 2. The sink's certificate as root_cas_file: accepted, delivered.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).expect("ca file");
    let dlq = dir.path().join("dl-ca.jsonl");
    let tls = format!("    tls: {{root_cas_file: '{}'}}\n", ca.display());
    let out = run(
        dir.path(),
        &output_config(&addr, "test-key", &dlq, &tls),
        EVENT,
        &[],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sink.stats().events_accepted, 1, "{}", text(&out));
    assert!(dead_letters(&dlq).is_empty());

    // 3. skip_cert_verify: accepted too, with a warning at start.
    let dlq = dir.path().join("dl-skip.jsonl");
    let out = run(
        dir.path(),
        &output_config(
            &addr,
            "test-key",
            &dlq,
            "    tls: {skip_cert_verify: true}\n",
        ),
        EVENT,
        &[],
        &[],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(sink.stats().events_accepted, 2, "{log}");
    let warn = log
        .lines()
        .find(|l| l.contains("skip_cert_verify"))
        .unwrap_or_else(|| panic!("no skip_cert_verify warning in:\n{log}"));
    assert!(warn.contains("level=warning"), "{warn}");

    // 4. A root_cas_file that is not PEM is a start-up error naming the file.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("junk");
    let tls = format!("    tls: {{root_cas_file: '{}'}}\n", junk.display());
    let out = run(
        dir.path(),
        &output_config(&addr, "test-key", &dir.path().join("dl-junk.jsonl"), &tls),
        EVENT,
        &[],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("junk.pem"), "{}", text(&out));
}

/// Written PEM paths for other tests.
#[allow(dead_code)]
fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

const API_KEY: &str = "fp_sk_live_7d1c9a0b33e4";
const KAFKA_PASSWORD: &str = "kafka_pw_51f0e2c8aa17";
const SECRET_ENV: [(&str, &str); 2] = [
    ("TEST_FLEXPRICE_API_KEY", API_KEY),
    ("TEST_KAFKA_PASSWORD", KAFKA_PASSWORD),
];

fn assert_no_secret(what: &str, text: &str) {
    for secret in [API_KEY, KAFKA_PASSWORD] {
        assert!(
            !text.contains(secret),
            "{what} contains a secret:\n{}",
            text.lines()
                .filter(|l| l.contains(secret))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn http_get(addr: &str, path: &str) -> String {
    ureq::get(&format!("http://{addr}{path}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default()
}

/// The API key and the SASL password, given through environment variables, never appear in
/// anything the collector prints at TRACE level (its own lines, librdkafka's with `debug: all`,
/// ureq's), in what its HTTP server serves, in the dead-letter file, or in `echo`/`lint` output,
/// on a failing path (broker refuses SASL, API answers 401) and a succeeding one.
#[test]
fn secrets_never_appear_in_logs_metrics_errors_or_echo() {
    let dir = tempfile::tempdir().expect("tmp");
    let broker = crate::support::Broker::start();
    let good = ApiDouble::start(ApiDoubleConfig {
        api_key: API_KEY.into(),
        ..ApiDoubleConfig::default()
    })
    .expect("sink");
    let refusing = ApiDouble::start(ApiDoubleConfig {
        api_key: "another-key".into(),
        ..ApiDoubleConfig::default()
    })
    .expect("sink");
    let dlq = dir.path().join("dl.jsonl");
    let output = |sink: &ApiDouble| {
        format!(
            "output:\n  flexprice:\n    api_host: '{}'\n    api_key: '${{TEST_FLEXPRICE_API_KEY}}'\n\
             \x20   scheme: http\n    retry_max_attempts: 0\n    dead_letter: {{path: '{}'}}\n",
            sink.addr(),
            dlq.display()
        )
    };
    let logger = "logger: {level: TRACE, format: logfmt}\n";

    // 1. Kafka with SASL against a broker that does not speak it, librdkafka debug on: the
    //    failing input path; scrape every HTTP endpoint meanwhile.
    let port = free_port();
    let kafka = format!(
        "http: {{enabled: true, address: '127.0.0.1:{port}'}}\n\
         input:\n  kafka:\n    addresses: ['{}']\n    topics: [t]\n    consumer_group: g\n\
         \x20   sasl: {{mechanism: PLAIN, user: alice, password: '${{TEST_KAFKA_PASSWORD}}'}}\n\
         \x20   librdkafka_options: {{debug: all}}\n{}{logger}",
        broker.addr,
        output(&good)
    );
    let cfg = dir.path().join("kafka.yaml");
    std::fs::write(&cfg, &kafka).expect("config");
    let mut child = Command::new(BIN)
        .args(["--log-level", "TRACE", "-c"])
        .arg(&cfg)
        .envs(SECRET_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("kafka.log")).expect("log"))
        .spawn()
        .expect("collector");
    let addr = format!("127.0.0.1:{port}");
    let log = || std::fs::read_to_string(dir.path().join("kafka.log")).unwrap_or_default();
    crate::support::wait_until(WAIT, "the SASL attempt in the log", || {
        log().to_lowercase().contains("sasl") && std::net::TcpStream::connect(&addr).is_ok()
    });
    let mut served = String::new();
    for path in [
        "/metrics",
        "/ready",
        "/ping",
        "/version",
        "/stats",
        "/debug/config",
    ] {
        served.push_str(&http_get(&addr, path));
    }
    assert!(served.contains("bento_input_received"), "{served}");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    crate::support::wait_until(WAIT, "the collector to stop", || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    let out = child.wait_with_output().expect("output");
    let kafka_log = format!("{}{}", String::from_utf8_lossy(&out.stdout), log());
    assert!(
        kafka_log.lines().count() > 20,
        "TRACE logging was on:\n{kafka_log}"
    );
    eprintln!(
        "kafka run: {} lines, {} bytes served",
        kafka_log.lines().count(),
        served.len()
    );
    assert_no_secret("the Kafka run's output", &kafka_log);
    assert!(
        kafka_log.contains("PLAIN without tls"),
        "a clear-text SASL password is warned about"
    );
    assert_no_secret("the HTTP endpoints", &served);

    // 2. The API refuses the key (401): the event is held (the log names the remedy) until
    //    a stop; 3. the API accepts it. The dead-letter file is checked below all the same
    //    (events failing processing would go there).
    let stdin_cfg = |sink: &ApiDouble| {
        format!(
            "http: {{enabled: false}}\ninput:\n  stdin: {{}}\n{}{logger}shutdown_timeout: 1s\n",
            output(sink)
        )
    };
    let refused = run_then(
        command(
            dir.path(),
            &stdin_cfg(&refusing),
            &["--log-level", "TRACE"],
            &SECRET_ENV,
        ),
        EVENT,
        || refusing.stats().rejected_401 >= 1,
    );
    assert!(refused.status.success(), "{}", text(&refused));
    assert!(refusing.stats().rejected_401 >= 1, "{}", text(&refused));
    assert!(
        text(&refused).contains("check output.flexprice.api_key"),
        "{}",
        text(&refused)
    );
    let dead = std::fs::read_to_string(&dlq).unwrap_or_default();
    let accepted = run(
        dir.path(),
        &stdin_cfg(&good),
        EVENT,
        &["--log-level", "TRACE"],
        &SECRET_ENV,
    );
    assert!(accepted.status.success(), "{}", text(&accepted));
    assert_eq!(good.stats().events_accepted, 1, "{}", text(&accepted));
    assert_no_secret("the refused run's output", &text(&refused));
    assert_no_secret("the accepted run's output", &text(&accepted));
    assert_no_secret("the dead-letter file", &dead);

    // 4. echo and lint.
    for cmd in ["echo", "lint"] {
        let mut c = Command::new(BIN);
        c.arg(cmd);
        if cmd == "echo" {
            c.arg("-c");
        }
        let o = c.arg(&cfg).envs(SECRET_ENV).output().expect(cmd);
        assert!(o.status.success(), "{cmd}: {}", text(&o));
        assert_no_secret(cmd, &text(&o));
    }
    // And a config error that quotes the line holding the secret's variable.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        kafka.replace("topics: [t]", "topics: [t]\n    topic: x"),
    )
    .expect("bad config");
    let o = Command::new(BIN)
        .arg("lint")
        .arg(&bad)
        .envs(SECRET_ENV)
        .output()
        .expect("lint");
    assert!(!o.status.success());
    assert_no_secret("a config error", &text(&o));
}

/// Listening TCP sockets on `port` from /proc/net/tcp and tcp6: their local addresses as
/// the kernel reports them (hex, e.g. `0100007F` = 127.0.0.1, `00000000` = 0.0.0.0).
fn listening_on(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (f.get(1), f.get(3)) else {
                continue;
            };
            let Some((ip, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16).ok() == Some(port) {
                out.push(ip.to_string());
            }
        }
    }
    out
}

/// `http.address: 127.0.0.1:PORT` binds the metrics server to the loopback interface only:
/// the kernel's socket table shows 127.0.0.1, where `0.0.0.0` shows the wildcard.
#[test]
fn metrics_server_can_bind_to_localhost_only() {
    let dir = tempfile::tempdir().expect("tmp");
    for (host, want) in [("127.0.0.1", "0100007F"), ("0.0.0.0", "00000000")] {
        let port = free_port();
        let cfg = dir.path().join("c.yaml");
        std::fs::write(
            &cfg,
            format!(
                "http: {{enabled: true, address: '{host}:{port}'}}\n\
                 input:\n  stdin: {{}}\noutput:\n  drop: {{}}\n"
            ),
        )
        .expect("config");
        let mut child = Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("collector");
        crate::support::wait_until(WAIT, "the metrics server to listen", || {
            !listening_on(port).is_empty()
        });
        let bound = listening_on(port);
        let metrics = http_get(&format!("127.0.0.1:{port}"), "/metrics");
        drop(child.stdin.take()); // end of input: the collector stops
        crate::support::wait_until(WAIT, "the collector to stop", || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        assert_eq!(bound, vec![want.to_string()], "{host}: bound to {bound:?}");
        assert!(metrics.contains("bento_input_received"), "{metrics}");
    }
}

/// The dead-letter file is created 0600; an existing file keeps its mode, and a start-up
/// warning says when others can read it.
#[test]
fn dead_letter_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let sink = ApiDouble::start(ApiDoubleConfig::default()).expect("sink");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    let cfg = |dlq: &Path| {
        format!(
            "http: {{enabled: false}}\ninput:\n  stdin: {{}}\noutput:\n  flexprice:\n\
             \x20   api_host: '{}'\n    api_key: test-key\n    scheme: http\n\
             \x20   dead_letter: {{path: '{}'}}\n",
            sink.addr(),
            dlq.display()
        )
    };
    let bad_event = "{\"event_name\":\"\"}\n";

    let fresh = dir.path().join("fresh.jsonl");
    let out = run(dir.path(), &cfg(&fresh), bad_event, &[], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dead_letters(&fresh).len(), 1);
    assert_eq!(mode(&fresh), 0o600, "created private");
    assert!(!text(&out).contains("readable or writable by other users"));

    let shared = dir.path().join("shared.jsonl");
    std::fs::write(&shared, "").expect("create");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(dir.path(), &cfg(&shared), bad_event, &[], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dead_letters(&shared).len(), 1);
    assert_eq!(mode(&shared), 0o644, "an existing file keeps its mode");
    let log = text(&out);
    let warn = log
        .lines()
        .find(|l| l.contains("readable or writable by other users"))
        .unwrap_or_else(|| panic!("no warning about the file mode:\n{log}"));
    assert!(
        warn.contains("level=warning") && warn.contains("644"),
        "{warn}"
    );
}
