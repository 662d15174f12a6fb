//! The foundation, end to end through the real binary: stdin/file → stdout, lint, echo,
//! signals and the graceful drain.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flexprice-collector");

fn write_config(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write config");
    p
}

const STDIN_TO_STDOUT: &str = "http: {enabled: false}\ninput:\n  stdin: {}\npipeline:\n  threads: 2\noutput:\n  stdout: {}\nlogger: {level: INFO, format: logfmt}\nshutdown_timeout: 5s\n";

fn spawn(config: &PathBuf) -> Child {
    Command::new(BIN)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn collector")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(ok.success());
}

/// Wait for the child with a bound; kill it and fail if it does not exit in time.
fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("collector did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a process, not synchronising
    }
}

/// Read log lines until one contains `needle` (panics if the collector's stderr ends first).
fn read_until(stderr: &mut BufReader<std::process::ChildStderr>, needle: &str) -> String {
    let mut line = String::new();
    while !line.contains(needle) {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("log line") > 0,
            "collector stderr ended before `{needle}`"
        );
    }
    line
}

/// A running collector whose stdout is a pipe nobody reads, filled until its output blocks:
/// a graceful stop cannot finish. Returns its stdin (kept open) and stderr.
fn stuck_collector(
    cfg: &PathBuf,
) -> (
    Child,
    std::process::ChildStdin,
    BufReader<std::process::ChildStderr>,
) {
    let mut child = spawn(cfg);
    let mut stdin = child.stdin.take().expect("stdin");
    let line = format!("{{\"pad\":\"{}\"}}\n", "z".repeat(4000));
    for _ in 0..200 {
        stdin.write_all(line.as_bytes()).expect("write");
    }
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    read_until(&mut stderr, "pipeline starting");
    (child, stdin, stderr)
}

/// Pull a `key=value` integer from the final logfmt summary line.
fn summary_field(stderr: &str, key: &str) -> u64 {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("pipeline finished"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let pat = format!(" {key}=");
    let at = line
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + pat.len();
    line[at..]
        .split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad {key} in {line}"))
}

#[test]
fn stdin_to_stdout_keeps_every_line_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(&dir, "c.yaml", STDIN_TO_STDOUT);
    let mut child = spawn(&cfg);
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    const N: usize = 100_000;
    let pad = "x".repeat(1000);
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            writeln!(stdin, "{{\"n\":{i},\"pad\":\"{pad}\"}}").expect("write line");
        }
    });
    // Read everything back while sampling the collector's peak memory.
    let pid = child.id();
    let reader = std::thread::spawn(move || {
        let mut seen = vec![false; N];
        let mut count = 0usize;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("utf8 line");
            let n: usize = line[5..line.find(',').expect("comma")].parse().expect("n");
            assert!(!seen[n], "line {n} came out twice");
            seen[n] = true;
            count += 1;
        }
        count
    });
    writer.join().expect("writer");
    let status = wait_bounded(&mut child, Duration::from_secs(120));
    let count = reader.join().expect("reader");
    assert!(status.success(), "{status:?}");
    assert_eq!(count, N, "every line must come out exactly once");
    let _ = pid;
}

#[test]
fn peak_memory_does_not_grow_with_input_size() {
    // 200 MB of input through a pipeline whose queues hold ~2k messages: the peak RSS must stay
    // far below the input size (the input is streamed, not buffered).
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(
        &dir,
        "c.yaml",
        &STDIN_TO_STDOUT.replace("stdout: {}", "drop: {}"),
    );
    let mut child = spawn(&cfg);
    let mut stdin = child.stdin.take().expect("stdin");
    let pid = child.id();
    let line = format!("{{\"pad\":\"{}\"}}\n", "y".repeat(2000));
    let writer = std::thread::spawn(move || {
        for _ in 0..100_000 {
            stdin.write_all(line.as_bytes()).expect("write");
        }
    });
    writer.join().expect("writer");
    // VmHWM is the peak resident set; read it before the process is reaped.
    let mut peak_kb = 0u64;
    let end = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("try_wait").is_none() && Instant::now() < end {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(v) = s.lines().find(|l| l.starts_with("VmHWM:")) {
                peak_kb = v
                    .split_whitespace()
                    .nth(1)
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(peak_kb);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = wait_bounded(&mut child, Duration::from_secs(5));
    assert!(status.success());
    assert!(peak_kb > 0, "could not read peak memory");
    assert!(
        peak_kb < 100 * 1024,
        "peak RSS {peak_kb} KiB for 200 MB of input: input is being buffered"
    );
}

#[test]
fn sigterm_mid_stream_loses_nothing_that_was_acked_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(&dir, "c.yaml", STDIN_TO_STDOUT);
    let mut child = spawn(&cfg);
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(stdout).lines() {
            lines.push(l.expect("line"));
        }
        lines
    });
    // Write a first part, wait until it has come through (by watching stdout grow is not
    // possible from here without racing the reader), then signal with stdin still open.
    for i in 0..5000 {
        writeln!(stdin, "{{\"n\":{i}}}").expect("write");
    }
    stdin.flush().expect("flush");
    // Wait until the pipeline runs (signal handlers are in place), then stop it mid-stream:
    // stdin is still open and more could come.
    let mut started = String::new();
    while !started.contains("pipeline starting") {
        started.clear();
        assert!(
            stderr.read_line(&mut started).expect("log") > 0,
            "collector exited early"
        );
    }
    signal(&child, "TERM");
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    drop(stdin);
    let mut err = String::new();
    stderr.read_to_string(&mut err).expect("stderr");
    let lines = reader.join().expect("reader");
    assert!(status.success(), "exit {status:?}\n{err}");
    let sent = summary_field(&err, "sent");
    let received = summary_field(&err, "received");
    assert_eq!(
        lines.len() as u64,
        sent,
        "every event reported sent is on stdout\n{err}"
    );
    assert_eq!(
        received, sent,
        "what was read before the stop was drained, not dropped\n{err}"
    );
    // Processor threads may reorder, but what came out must be exactly the first `sent`
    // lines read: whole, no gaps, no duplicates.
    let mut ns: Vec<usize> = lines
        .iter()
        .map(|l| {
            l.strip_prefix("{\"n\":")
                .and_then(|r| r.strip_suffix('}'))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a whole line: {l}"))
        })
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..lines.len()).collect::<Vec<_>>());
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    // stdout is a pipe nobody reads: the output blocks, so the graceful stop cannot finish.
    let cfg = write_config(&dir, "c.yaml", &STDIN_TO_STDOUT.replace("5s", "60s"));
    let (mut child, _stdin, mut stderr) = stuck_collector(&cfg);
    signal(&child, "TERM");
    // Two signals sent back to back are one pending signal to the kernel: send the second
    // once the first was seen, as a person pressing Ctrl-C twice does.
    read_until(&mut stderr, "stopping");
    signal(&child, "TERM");
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    assert!(
        !status.success(),
        "second signal exits with a failure code, got {status:?}"
    );
}

#[test]
fn shutdown_timeout_bounds_a_stuck_drain() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(
        &dir,
        "c.yaml",
        &STDIN_TO_STDOUT.replace("shutdown_timeout: 5s", "shutdown_timeout: 300ms"),
    );
    let (mut child, _stdin, mut stderr) = stuck_collector(&cfg);
    signal(&child, "TERM");
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    assert!(status.success(), "{status:?}\n{rest}");
    assert!(rest.contains("shutdown_timeout reached"), "{rest}");
}

#[test]
fn file_input_ends_and_everything_is_delivered() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    std::fs::write(&a, "{\"f\":\"a\",\"i\":1}\n\n{\"f\":\"a\",\"i\":2}\r\n").expect("a");
    std::fs::write(&b, "{\"f\":\"b\",\"i\":1}").expect("b");
    let cfg = write_config(
        &dir,
        "c.yaml",
        &format!("http: {{enabled: false}}\ninput:\n  file:\n    paths: [{}, {}]\noutput:\n  stdout: {{}}\n", a.display(), b.display()),
    );
    let out = Command::new(BIN).arg("-c").arg(&cfg).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "{\"f\":\"a\",\"i\":1}",
            "{\"f\":\"a\",\"i\":2}",
            "{\"f\":\"b\",\"i\":1}"
        ]
    );
}

#[test]
fn missing_input_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(&dir, "c.yaml", "http: {enabled: false}\ninput:\n  file:\n    paths: [/nonexistent/x.jsonl]\noutput:\n  drop: {}\n");
    let out = Command::new(BIN).arg("-c").arg(&cfg).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.jsonl"), "{err}");
}

#[test]
fn lint_reports_every_file_and_location() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = write_config(&dir, "good.yaml", STDIN_TO_STDOUT);
    let typo = write_config(
        &dir,
        "typo.yaml",
        "input:\n  stdin: {}\noutput:\n  stdout: {}\nloger:\n  level: INFO\n",
    );
    let bad = write_config(
        &dir,
        "bad.yaml",
        "input:\n  file:\n    paths: []\noutput:\n  stdout: {}\nshutdown_timeout: 5x\n",
    );
    let out = Command::new(BIN)
        .arg("lint")
        .arg(&good)
        .output()
        .expect("lint");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["lint"])
        .arg(&good)
        .arg(&typo)
        .arg(&bad)
        .output()
        .expect("lint");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:5:1: unknown field `loger`", typo.display())),
        "{err}"
    );
    assert!(err.contains("did you mean `logger`?"), "{err}");
    assert!(
        err.contains(&format!("{}:6:", bad.display())) && err.contains("invalid duration `5x`"),
        "{err}"
    );
}

/// `successful_on`, `backoff_on` and `drop_on`: a status outside 100..599, or in two lists,
/// is refused at the item's line and column.
#[test]
fn lint_refuses_bad_or_overlapping_status_lists() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(
        &dir,
        "statuses.yaml",
        "input:\n  stdin: {}\noutput:\n  flexprice:\n    api_key: k\n    successful_on: [200, 700]\n    backoff_on: [404]\n    drop_on:\n      - 409\n      - 404\n",
    );
    let out = Command::new(BIN)
        .arg("lint")
        .arg(&cfg)
        .output()
        .expect("lint");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:6:26: output.flexprice.successful_on.1: `700` is not an HTTP status",
            cfg.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}:10:9: output.flexprice.drop_on.1: 404 is also in `backoff_on`",
            cfg.display()
        )),
        "{err}"
    );
    assert!(!err.contains("drop_on.0"), "409 is fine: {err}");
}

#[test]
fn echo_resolves_env_and_redacts_secrets() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(
        &dir,
        "c.yaml",
        "input:\n  stdin: {}\noutput:\n  flexprice:\n    api_host: ${TEST_FP_HOST:localhost:9999}\n    api_key: ${TEST_FP_KEY}\n",
    );
    let out = Command::new(BIN)
        .arg("echo")
        .arg("-c")
        .arg(&cfg)
        .env("TEST_FP_KEY", "sk_test_do_not_print")
        .output()
        .expect("echo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("api_host: localhost:9999"), "{text}");
    assert!(!text.contains("sk_test_do_not_print"), "{text}");
    assert!(text.contains("!!!SECRET_SCRUBBED!!!"), "{text}");
    // Without the variable: a clear error naming it and its place.
    let out = Command::new(BIN)
        .arg("echo")
        .arg("-c")
        .arg(&cfg)
        .env_remove("TEST_FP_KEY")
        .output()
        .expect("echo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":6:14:") && err.contains("TEST_FP_KEY"),
        "{err}"
    );
}

#[test]
fn version_and_usage() {
    let out = Command::new(BIN)
        .arg("--version")
        .output()
        .expect("version");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("flexprice-collector "));
    let out = Command::new(BIN).output().expect("no args");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-c config.yaml"));
}

/// Composed processors end to end: a `cache` (of `cache_resources`) `add` fails on a key
/// seen before, the failure flags the message, a `catch` drops it; a `try` stops at a failing
/// mapping and the message goes on errored (to stdout's error log, not out); everything else
/// passes once, in order.
#[test]
fn cache_try_and_catch_compose_by_label() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(
        &dir,
        "c.yaml",
        "http: {enabled: false}
input:
  stdin: {}
pipeline:
  threads: 1
  processors:
    - cache: {resource: seen, operator: add, key: '${! json(\"id\") }'}
    - catch:
        - mapping: 'root = deleted()'
    - try:
        - mapping: 'root = this'
        - mutation: 'root.n = this.n.number()'
        - mutation: 'root.after = true'
output:
  stdout: {}
cache_resources:
  - label: seen
    memory: {default_ttl: 60s}
logger: {level: ERROR, format: logfmt}
",
    );
    let mut child = spawn(&cfg);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"{\"id\":1,\"n\":\"1\"}\n{\"id\":2,\"n\":\"2\"}\n{\"id\":1,\"n\":\"3\"}\n{\"id\":3,\"n\":\"x\"}\n")
        .expect("write");
    drop(stdin);
    let st = wait_bounded(&mut child, Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            r#"{"after":true,"id":1,"n":1}"#,
            r#"{"after":true,"id":2,"n":2}"#,
        ],
        "the duplicate id 1 dropped by catch, id 3 errored inside try"
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(err.contains("message failed processing"), "{err}");
}

/// `lint` refuses the values a hostile test found accepted: control characters in a secret
/// (from the environment, the usual way in), a host that is not `host[:port]`, numbers out of
/// range. Each problem is named with its place and, for numbers, the range.
#[test]
fn lint_refuses_control_characters_bad_hosts_and_out_of_range_numbers() {
    let dir = tempfile::tempdir().expect("tmp");
    let lint = |text: &str, env: &[(&str, &str)]| {
        let cfg = write_config(&dir, "c.yaml", text);
        let mut cmd = Command::new(BIN);
        cmd.arg("lint").arg(&cfg);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("lint");
        assert_eq!(out.status.code(), Some(1), "must fail: {text}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let flexprice = |fields: &str| {
        format!("input:\n  stdin: {{}}\noutput:\n  flexprice:\n    api_key: ${{KEY}}\n{fields}")
    };
    let err = lint(&flexprice(""), &[("KEY", "fp_live_abc\r\n")]);
    assert!(
        err.contains(":5:") && err.contains("`KEY` contains a line break"),
        "{err}"
    );
    assert!(
        !err.contains("fp_live_abc"),
        "the secret is never quoted: {err}"
    );
    // Written into the file itself, as an escape.
    let err = lint(
        "input:\n  stdin: {}\noutput:\n  flexprice:\n    api_key: \"fp_live_abc\\r\\n\"\n",
        &[],
    );
    assert!(
        err.contains(":5:") && err.contains("the secret contains a carriage return"),
        "{err}"
    );
    assert!(
        !err.contains("fp_live_abc"),
        "the secret is never quoted: {err}"
    );
    for host in [
        "api.example.com?x=1",
        "api.example.com#f",
        "me@api.example.com",
        "api\\\\x",
    ] {
        let err = lint(
            &flexprice(&format!("    api_host: '{host}'\n")),
            &[("KEY", "k")],
        );
        assert!(
            err.contains(":6:5: output.flexprice.api_host:")
                && err.contains("is not `host[:port]`"),
            "{host}: {err}"
        );
    }
    let err = lint(&flexprice("    max_in_flight: 100000\n"), &[("KEY", "k")]);
    assert!(err.contains("100000 is out of range: 1..=512"), "{err}");
    for t in ["0", "-5"] {
        let err = lint(
            &format!("input:\n  stdin: {{}}\npipeline:\n  threads: {t}\noutput:\n  drop: {{}}\n"),
            &[],
        );
        assert!(
            err.contains(&format!(
                "{t} is out of range: use -1 (one per core) or 1..=1024"
            )),
            "{err}"
        );
    }
    let err = lint(
        "input:\n  kafka:\n    addresses: [a]\n    topics: [t]\n    consumer_group: g\n    checkpoint_limit: 1000000000000\noutput:\n  drop: {}\n",
        &[],
    );
    assert!(
        err.contains(":6:5:") && err.contains("out of range: 1..=1000000"),
        "{err}"
    );
}
