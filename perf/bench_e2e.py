#!/usr/bin/env python3
"""The end-to-end benchmark behind scripts/bench-e2e (stdlib only; run it through that script).

One run, side by side on the same machine, broker and data:
  raw      librdkafka alone counting the topic (`flexprice-load consume`): the ceiling
  bulk     the collector: Kafka -> seed mapping -> POST /v1/events/bulk, batching count 1000
  map      the collector with `output: drop`: Kafka -> seed mapping -> encoded, acked, no HTTP
           and no sink (the "Kafka -> mapping" rate; ends on its own bento_output_sent)
  docs     the same with the docs' example output settings: count 50, period 5s, max_in_flight 10
  python   confluent-kafka + the official flexprice SDK's bulk call (scripts/baseline.py)
  live     the collector consuming while the loader produces at a fixed rate: end-to-end
           latency (Kafka timestamp -> 202) of a pipeline that keeps up, not of a backlog
A collector run ends when the sink has accepted N unique events (bounded wait), then SIGTERM.
Rates are counted from the first event the sink accepted (or the first message the raw consumer
saw) to the last, so consumer-group start-up is excluded from every row alike.

Every process started here is killed on exit, whatever the exit.
"""

import argparse
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
CHILDREN = []
RUN_IDS = itertools.count()

SEED_MAPPING = """root = this
root.properties = this.properties.map_each(p -> p.value.string())"""


def cleanup():
    for p in reversed(CHILDREN):
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            except ProcessLookupError:
                pass
    CHILDREN.clear()


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def spawn(args, log, **kw):
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    CHILDREN.append(p)
    return p


def forget(p):
    if p in CHILDREN:
        CHILDREN.remove(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, timeout, cond, every=0.05):
    """Poll `cond` (bounded); raise naming `what` when the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_json(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def metric(url, name):
    """One counter from a Prometheus text page (0 when absent)."""
    with urllib.request.urlopen(url, timeout=2) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? (\S+)", text, re.M)
    return int(float(m.group(1))) if m else 0


def cpu_seconds(pid):
    """utime + stime of a live process, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def thread_cpu(pid):
    """CPU seconds per thread name (threads of one name summed), from /proc/<pid>/task."""
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    raw = f.read()
                name = raw[raw.index("(") + 1:raw.rindex(")")]
                fields = raw.rsplit(")", 1)[1].split()
                name = re.sub(r"[-]?\d+$", "", name) or name
                out[name] = round(out.get(name, 0) + (int(fields[11]) + int(fields[12])) / CLK_TCK, 2)
            except (OSError, ValueError):
                pass
    except OSError:
        pass
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Bench:
    def __init__(self, args):
        self.a = args
        self.bin = args.bin_dir
        self.work = tempfile.mkdtemp(prefix="flexprice-bench-")
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs)
        self.kport = None

    def log(self, name):
        return open(os.path.join(self.logs, name + ".log"), "w")

    # --- services -------------------------------------------------------------------------
    def start_tansu(self):
        self.kport = free_port()
        url = f"tcp://127.0.0.1:{self.kport}"
        self.tansu = spawn(
            [self.a.tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            self.log("tansu"),
        )
        wait_for("tansu to listen", 30, lambda: port_open(self.kport))
        self.brokers = f"127.0.0.1:{self.kport}"

    def create_topic(self, name, partitions):
        subprocess.run(
            [self.a.tansu, "topic", "create", name, "--partitions", str(partitions),
             "--broker", f"tcp://127.0.0.1:{self.kport}"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
        )

    def start_sink(self, name):
        """A fresh sink per run, so its unique-event count is this run's alone."""
        p = subprocess.Popen(
            [os.path.join(self.bin, "flexprice-api-double"), "--listen", "127.0.0.1:0",
             "--api-key", "bench-key", "--threads", str(self.a.sink_threads)],
            stdout=subprocess.PIPE, stderr=self.log(f"sink-{name}"), stdin=subprocess.DEVNULL, text=True,
        )
        CHILDREN.append(p)
        line = p.stdout.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            raise RuntimeError(f"sink did not start: {line!r}")
        return p, m.group(1)

    def stop(self, p, timeout=30):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        forget(p)

    # --- load and raw consume -------------------------------------------------------------
    def load(self, topic, n, rate=0, quiet=False):
        out = subprocess.run(
            [os.path.join(self.bin, "flexprice-load"), "produce", "--brokers", self.brokers,
             "--topic", topic, "-n", str(n), "--rate", str(rate), "--timeout", "300"]
            + (["-q"] if quiet else []),
            check=True, stdout=subprocess.PIPE, text=True, timeout=330,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    def raw_consume(self, topic, n):
        p = subprocess.Popen(
            [os.path.join(self.bin, "flexprice-load"), "consume", "--brokers", self.brokers,
             "--topic", topic, "-n", str(n), "-q", "--timeout", "300",
             "-X", "fetch.wait.max.ms=10"],
            stdout=subprocess.PIPE, stderr=self.log("raw"), stdin=subprocess.DEVNULL, text=True,
        )
        CHILDREN.append(p)
        out, _ = p.communicate(timeout=330)
        forget(p)
        if p.returncode != 0:
            raise RuntimeError("raw consume failed (see logs/raw.log)")
        r = json.loads(out.strip().splitlines()[-1])
        return {"events": r["consumed"], "seconds": r["seconds"], "events_per_sec": r["events_per_sec"]}

    # --- the collector --------------------------------------------------------------------
    def collector_config(self, name, topic, sink, o):
        hport = free_port()
        self.http_port = hport
        cfg = f"""http: {{enabled: true, address: 127.0.0.1:{hport}}}
input:
  kafka:
    addresses: ['{self.brokers}']
    topics: [{topic}]
    consumer_group: bench-{name}-{next(RUN_IDS)}-{int(time.time())}
    start_from_oldest: true
    commit_period: 1s
    checkpoint_limit: {o.get('checkpoint_limit', 1024)}
    fetch_buffer_cap: {o.get('fetch_buffer_cap', 256)}
    librdkafka_options:
      fetch.wait.max.ms: '10'
pipeline:
  threads: {o.get('threads', -1)}
  processors:
    - mapping: |
{chr(10).join('        ' + l for l in SEED_MAPPING.splitlines())}
output:
{{output}}
logger: {{level: INFO, format: logfmt, progress_period: 0s}}
shutdown_timeout: 20s
"""
        if o.get("output") == "drop":
            output = "  drop: {}"
        else:
            output = f"""  flexprice:
    api_host: {sink}
    api_key: bench-key
    scheme: http
    max_in_flight: {o.get('max_in_flight', 4)}
    batching: {{count: {o.get('count', 1000)}, period: {o.get('period', '1s')}, byte_size: {o.get('byte_size', 0)}}}
    dead_letter: {{path: '{self.work}/dlq-{name}.jsonl'}}"""
        cfg = cfg.replace("{output}", output)
        path = os.path.join(self.work, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        return path

    def collector(self, name, topic, n, opts, during=None):
        """Run the collector until the sink has N unique events; `during` runs after start
        (the live run's loader). Returns the row. With `output: drop` (the `map` row) there is
        no sink: progress is the collector's own `bento_output_sent`."""
        drop = opts.get("output") == "drop"
        sink, addr = (None, None) if drop else self.start_sink(name)
        cfg = self.collector_config(name, topic, addr, opts)
        logpath = os.path.join(self.logs, f"collector-{name}.log")
        logf = open(logpath, "w")
        tansu_cpu0 = cpu_seconds(self.tansu.pid) or 0
        p = spawn([os.path.join(self.bin, "flexprice-collector"), "-c", cfg], logf)
        t0 = time.monotonic()
        rec = None
        if self.a.profile and name == "bulk-1000":
            # Sample the collector's threads (not broker or sink) for the whole drain.
            rec = spawn(["perf", "record", "-F", str(self.a.profile_hz), "-g", "--call-graph", self.a.call_graph,
                         "-o", self.a.profile, "-p", str(p.pid)], self.log("perf-record"))
        load_result = {}
        loader = None
        if during:
            loader = threading.Thread(target=lambda: load_result.update(during()), daemon=True)
            loader.start()
        first = last = None
        seen = 0
        rss = []  # (seconds since first event, RSS MiB)
        deadline = t0 + self.a.run_timeout
        while True:
            now = time.monotonic()
            try:
                if drop:
                    seen = metric(f"http://127.0.0.1:{self.http_port}/metrics", "bento_output_sent")
                else:
                    st = http_json(f"http://{addr}/stats")
                    seen = st.get("unique_event_ids", 0)
            except OSError:
                pass
            if seen > 0 and first is None:
                first = now
            r = status_kb(p.pid, "VmRSS")
            if r is not None and first is not None:
                rss.append((round(now - first, 2), round(r / 1024, 1)))
            if seen >= n:
                last = now
                break
            if p.poll() is not None:
                raise RuntimeError(f"collector {name} exited early (see {logpath})")
            if now > deadline:
                print(f"  ! {name}: timed out at {seen}/{n}", file=sys.stderr)
                last = now
                break
            time.sleep(0.05)
        hwm = status_kb(p.pid, "VmHWM")
        sink_cpu = (cpu_seconds(sink.pid) or 0) if sink else 0
        threads = thread_cpu(p.pid)
        tansu_cpu = (cpu_seconds(self.tansu.pid) or 0) - tansu_cpu0
        if rec:
            rec.send_signal(signal.SIGINT)
            try:
                rec.wait(timeout=120)
            except subprocess.TimeoutExpired:
                rec.kill()
            forget(rec)
        p.send_signal(signal.SIGTERM)
        try:
            _, _, ru = os.wait4(p.pid, 0)
        except ChildProcessError:
            ru = None
        forget(p)
        logf.close()
        cpu = (ru.ru_utime + ru.ru_stime) if ru else cpu_seconds(p.pid)
        peak_mb = (ru.ru_maxrss / 1024) if ru else ((hwm or 0) / 1024)
        if sink:
            sstats = http_json(f"http://{addr}/stats")
            self.stop(sink)
        else:
            sstats = {"unique_event_ids": seen}
        summary = {}
        with open(logpath) as f:
            for line in f:
                if "pipeline finished" in line:
                    summary = dict(re.findall(r"(\w+)=([^\s\"]+)", line))
        secs = (last - first) if first else float("nan")
        accepted = sstats.get("unique_event_ids", seen)
        row = {
            "name": name,
            "events": accepted,
            "seconds": round(secs, 3),
            "events_per_sec": round(accepted / secs) if secs and secs > 0 else 0,
            "cpu_seconds": round(cpu, 2),
            "cpu_s_per_million": round(cpu / max(accepted, 1) * 1e6, 2),
            "peak_rss_mb": round(peak_mb, 1),
            # The other processes on the same cores, for the same events.
            "sink_cpu_s_per_million": round(sink_cpu / max(accepted, 1) * 1e6, 2),
            "broker_cpu_s_per_million": round(tansu_cpu / max(accepted, 1) * 1e6, 2),
            "e2e_p50_ms": float(summary["e2e_p50_ms"]) if "e2e_p50_ms" in summary else None,
            "e2e_p99_ms": float(summary["e2e_p99_ms"]) if "e2e_p99_ms" in summary else None,
            "send_p50_ms": float(summary["send_p50_ms"]) if "send_p50_ms" in summary else None,
            "send_p99_ms": float(summary["send_p99_ms"]) if "send_p99_ms" in summary else None,
            "duplicates": sstats.get("duplicate_events", 0),
            "requests": sstats.get("requests_bulk", 0) + sstats.get("requests_single", 0),
            "thread_cpu_seconds": threads,
            "settings": opts,
            "rss_mb_timeline": thin(rss, 40),
        }
        if loader:
            loader.join(timeout=60)
            row["load"] = load_result
        return row

    def python_baseline(self, topic, n):
        sink, addr = self.start_sink("python")
        t0 = time.monotonic()
        p = subprocess.Popen(
            [self.a.python, os.path.join(os.path.dirname(__file__), "baseline.py"),
             "--brokers", self.brokers, "--topic", topic, "--sink", addr,
             "--api-key", "bench-key", "-n", str(n), "--timeout", str(self.a.run_timeout)],
            stdout=subprocess.PIPE, stderr=self.log("python"), stdin=subprocess.DEVNULL, text=True,
        )
        CHILDREN.append(p)
        out, _ = p.communicate(timeout=self.a.run_timeout + 30)
        forget(p)
        st = http_json(f"http://{addr}/stats")
        self.stop(sink)
        if p.returncode != 0:
            raise RuntimeError("python baseline failed (see logs/python.log)")
        r = json.loads(out.strip().splitlines()[-1])
        r["unique_accepted"] = st.get("unique_event_ids", 0)
        r["name"] = "python"
        r["wall_seconds"] = round(time.monotonic() - t0, 2)
        return r


def _burn(seconds, q):
    t = time.monotonic()
    c0 = time.process_time()
    while time.monotonic() - t < seconds:
        pass
    q.put(time.process_time() - c0)


def cores_available(seconds=1.0):
    """How many cores' worth of CPU this machine gives right now: one busy process per core
    for `seconds`, CPU time got / wall. The machine is shared, so the table says it."""
    import multiprocessing as mp

    q = mp.Queue()
    ps = [mp.Process(target=_burn, args=(seconds, q)) for _ in range(os.cpu_count() or 1)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(timeout=seconds + 10)
    got = sum(q.get(timeout=5) for _ in ps)
    return round(got / seconds, 2)


def thin(points, k):
    if len(points) <= k:
        return points
    step = len(points) / k
    return [points[int(i * step)] for i in range(k)] + [points[-1]]


def flatness(row):
    """Peak RSS in the second half of the run over the first half: ~1.0 means flat."""
    pts = row.get("rss_mb_timeline") or []
    if len(pts) < 4:
        return None
    half = len(pts) // 2
    a = max(v for _, v in pts[:half])
    b = max(v for _, v in pts[half:])
    return round(b / a, 2) if a else None


# --- output ---------------------------------------------------------------------------------
def table(res):
    raw = res["raw"]["events_per_sec"]
    lines = []
    hdr = f"{'run':<22}{'events':>9}{'ev/s':>11}{'vs raw':>8}{'CPU s/M':>9}{'peak RSS':>10}{'e2e p50':>10}{'e2e p99':>10}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    lines.append(f"{'raw librdkafka':<22}{res['raw']['events']:>9}{raw:>11,}{'1.00':>8}{'':>9}{'':>10}{'':>10}{'':>10}")
    for r in res["runs"]:
        ratio = r["events_per_sec"] / raw if raw else 0
        p50 = "-" if r["e2e_p50_ms"] is None else f"{r['e2e_p50_ms']:.0f}ms"
        p99 = "-" if r["e2e_p99_ms"] is None else f"{r['e2e_p99_ms']:.0f}ms"
        lines.append(
            f"{r['name']:<22}{r['events']:>9}{r['events_per_sec']:>11,}{ratio:>8.2f}"
            f"{r['cpu_s_per_million']:>9.2f}{r['peak_rss_mb']:>8.0f}MB{p50:>10}{p99:>10}"
        )
    if res.get("python"):
        py = res["python"]
        ratio = py["events_per_sec"] / raw if raw else 0
        lines.append(f"{'python (SDK bulk)':<22}{py['events']:>9}{py['events_per_sec']:>11,}{ratio:>8.2f}")
    return "\n".join(lines)


def svg_chart(res, path):
    """A horizontal bar chart of events/s, hand-written SVG (no plotting library needed)."""
    bars = [("raw librdkafka consume", res["raw"]["events_per_sec"], "#888")]
    for r in res["runs"]:
        label = f"collector: {r['name']}" + (" (offered rate)" if r["name"].startswith("live") else "")
        bars.append((label, r["events_per_sec"], "#2a6fdb"))
    if res.get("python"):
        bars.append(("python: confluent-kafka + SDK", res["python"]["events_per_sec"], "#d9822b"))
    w, left, bh, gap, top = 800, 290, 26, 10, 40
    h = top + len(bars) * (bh + gap) + 30
    vmax = max(v for _, v, _ in bars) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="10" y="24" font-size="15" font-weight="bold">Events per second, {res["events"]:,} events, '
        f'{res["partitions"]} partitions, one 2-core machine (broker + sink included)</text>',
    ]
    for i, (label, v, color) in enumerate(bars):
        y = top + i * (bh + gap)
        bw = (w - left - 110) * v / vmax
        out.append(f'<text x="{left - 8}" y="{y + bh * 0.7}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{bw:.1f}" height="{bh}" fill="{color}"/>')
        out.append(f'<text x="{left + bw + 6:.1f}" y="{y + bh * 0.7}">{v:,}/s</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tansu", default="tansu")
    ap.add_argument("--python", default=None, help="python with confluent-kafka + flexprice (none: skip)")
    ap.add_argument("-n", "--events", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--python-events", type=int, default=100_000)
    ap.add_argument("--live-rate", type=int, default=50_000)
    ap.add_argument("--live-seconds", type=int, default=10)
    ap.add_argument("--sink-threads", type=int, default=2)
    ap.add_argument("--threads", type=int, default=-1, help="pipeline.threads of the collector runs")
    ap.add_argument("--max-in-flight", type=int, default=4)
    # Above what can be in flight per partition (queues + open batch + max_in_flight batches):
    # at checkpoint_limit the input pauses and later seeks back, and tansu 0.6 answers a fetch
    # that starts inside a record batch with nothing, so a paused partition can stall there.
    # 16384 was not enough on a starved machine (one run stalled at 998,714 of 1M: a fetch
    # response can hold most of the pipeline's ~17k in-flight messages for one partition).
    ap.add_argument("--checkpoint-limit", type=int, default=65536)
    ap.add_argument("--fetch-buffer-cap", type=int, default=4096)
    ap.add_argument("--run-timeout", type=float, default=120)
    ap.add_argument("--sweep", action="store_true", help="also run the tuning-knob sweep")
    ap.add_argument("--repeat", type=int, default=1,
                    help="N > 1: N more rounds of raw consume followed by bulk and map, each "
                         "ratio against the raw rate of its own round; prints median and range")
    ap.add_argument("--only", default="", help="comma list of runs: bulk,map,docs,python,live")
    ap.add_argument("--out", default="perf/results")
    ap.add_argument("--profile", default=None, help="perf record the bulk-1000 run into this file")
    ap.add_argument("--profile-hz", type=int, default=499)
    ap.add_argument("--call-graph", default="dwarf,32768", help="perf --call-graph mode (fp or dwarf,SIZE)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    only = set(filter(None, args.only.split(",")))
    want = lambda k: not only or k in only  # noqa: E731

    b = Bench(args)
    res = {"events": args.events, "partitions": args.partitions, "host_cores": os.cpu_count(),
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": []}
    try:
        print(f"work dir {b.work}", file=sys.stderr)
        res["cores_available_before"] = cores_available()
        b.start_tansu()
        b.create_topic("bench", args.partitions)
        print(f"loading {args.events:,} events into {args.partitions} partitions ...", file=sys.stderr)
        res["load"] = b.load("bench", args.events)
        print(f"  {res['load']}", file=sys.stderr)
        print("raw librdkafka consume ...", file=sys.stderr)
        res["raw"] = b.raw_consume("bench", args.events)
        print(f"  {res['raw']}", file=sys.stderr)
        base = {"threads": args.threads, "max_in_flight": args.max_in_flight, "count": 1000, "period": "1s",
                "checkpoint_limit": args.checkpoint_limit, "fetch_buffer_cap": args.fetch_buffer_cap}
        if want("bulk"):
            print("collector, bulk count 1000 ...", file=sys.stderr)
            res["runs"].append(b.collector("bulk-1000", "bench", args.events, base))
        if want("map"):
            print("collector, Kafka -> seed mapping -> output: drop (no HTTP, no sink) ...", file=sys.stderr)
            res["runs"].append(b.collector("map-drop", "bench", args.events, dict(base, output="drop")))
        if args.repeat > 1:
            res["repeats"] = repeats(b, args, base, want)
        if want("docs"):
            print("collector, docs example count 50 / 5s / max_in_flight 10 ...", file=sys.stderr)
            docs = dict(base, count=50, period="5s", max_in_flight=10)
            res["runs"].append(b.collector("docs-50", "bench", args.events, docs))
        if want("live"):
            n = args.live_rate * args.live_seconds
            print(f"collector, live at {args.live_rate:,} ev/s for {args.live_seconds}s (latency) ...", file=sys.stderr)
            b.create_topic("live", args.partitions)
            live = dict(base, period="100ms")
            row = b.collector(f"live-{args.live_rate // 1000}k", "live", n, live,
                              during=lambda: b.load("live", n, rate=args.live_rate, quiet=True))
            res["runs"].append(row)
        if args.sweep:
            res["sweep"] = sweep(b, args, base)
        if want("python") and args.python:
            print(f"python baseline, {args.python_events:,} events ...", file=sys.stderr)
            res["python"] = b.python_baseline("bench", args.python_events)
        res["cores_available_after"] = cores_available()
        for r in res["runs"]:
            r["rss_flatness"] = flatness(r)
        bulk = next((r for r in res["runs"] if r["name"] == "bulk-1000"), None)
        if bulk and res["raw"]["events_per_sec"]:
            res["ratio_bulk_vs_raw"] = round(bulk["events_per_sec"] / res["raw"]["events_per_sec"], 3)
        mapped = next((r for r in res["runs"] if r["name"] == "map-drop"), None)
        if mapped and res["raw"]["events_per_sec"]:
            res["ratio_map_vs_raw"] = round(mapped["events_per_sec"] / res["raw"]["events_per_sec"], 3)
        if bulk and res.get("python", {}).get("events_per_sec"):
            res["times_faster_than_python"] = round(bulk["events_per_sec"] / res["python"]["events_per_sec"], 1)
    finally:
        cleanup()
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with open(os.path.join(args.out, f"e2e-{stamp}.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(res, f, indent=1)
    svg_chart(res, os.path.join(args.out, "e2e.svg"))
    print()
    print(f"CPU available (of {os.cpu_count()} cores, measured): before {res.get('cores_available_before')}, "
          f"after {res.get('cores_available_after')}")
    print(table(res))
    if "ratio_bulk_vs_raw" in res:
        print(f"\ncollector bulk-1000 / raw consume = {res['ratio_bulk_vs_raw']:.2f}")
    if "ratio_map_vs_raw" in res:
        print(f"collector Kafka -> mapping (output: drop) / raw consume = {res['ratio_map_vs_raw']:.2f}")
    if "times_faster_than_python" in res:
        print(f"collector bulk-1000 is {res['times_faster_than_python']}x the Python baseline")
    if res.get("repeats"):
        print("\nrounds (raw consume, then the collector, back to back):")
        for r in res["repeats"]["rounds"]:
            line = f"  raw {r['raw']:>9,}"
            for k in ("bulk", "map"):
                if k in r:
                    line += f"   {k} {r[k]:>9,} ({r[k] / r['raw']:.2f}, {r[k + '_cpu']} CPU s/M)"
            print(line)
        for k in ("bulk", "map"):
            if k in res["repeats"]:
                q = res["repeats"][k]
                print(f"  {k} / raw: median {q['median']:.2f}, range {q['min']:.2f}-{q['max']:.2f}")
    if res.get("sweep"):
        print("\ntuning sweep:")
        for r in res["sweep"]:
            print(f"  {r['knob']:<34}{r['events_per_sec']:>10,} ev/s  p99 {r['e2e_p99_ms']} ms  "
                  f"CPU {r['cpu_s_per_million']} s/M  RSS {r['peak_rss_mb']} MB")
    print(f"\nwrote {args.out}/e2e-{stamp}.json, {args.out}/latest.json, {args.out}/e2e.svg (logs in {b.logs})")
    return 0


def repeats(b, args, base, want):
    """Rounds of (raw consume, bulk, map) back to back. On a shared machine the speed the
    neighbours leave moves by tens of percent within minutes, so each ratio is taken against
    the raw rate measured just before it, and the spread is reported with the median."""
    rounds = []
    for i in range(args.repeat):
        print(f"round {i + 1}/{args.repeat}: raw, bulk, map ...", file=sys.stderr)
        raw = b.raw_consume("bench", args.events)["events_per_sec"]
        row = {"raw": raw}
        if want("bulk"):
            r = b.collector("bulk-1000", "bench", args.events, base)
            row.update(bulk=r["events_per_sec"], bulk_cpu=r["cpu_s_per_million"])
        if want("map"):
            r = b.collector("map-drop", "bench", args.events, dict(base, output="drop"))
            row.update(map=r["events_per_sec"], map_cpu=r["cpu_s_per_million"])
        rounds.append(row)
    summary = {"rounds": rounds}
    for k in ("bulk", "map"):
        ratios = sorted(r[k] / r["raw"] for r in rounds if k in r and r["raw"])
        if ratios:
            summary[k] = {"median": round(ratios[len(ratios) // 2], 3),
                          "min": round(ratios[0], 3), "max": round(ratios[-1], 3)}
    return summary


def sweep(b, args, base):
    """One knob at a time from the bulk-1000 settings, on a smaller count."""
    n = min(args.events, 300_000)
    variants = [
        ("baseline (threads -1, mif 4)", {}),
        ("pipeline.threads 1", {"threads": 1}),
        ("pipeline.threads 4", {"threads": 4}),
        ("fetch_buffer_cap 64", {"fetch_buffer_cap": 64}),
        ("fetch_buffer_cap 4096", {"fetch_buffer_cap": 4096}),
        ("checkpoint_limit 256", {"checkpoint_limit": 256}),
        ("checkpoint_limit 8192", {"checkpoint_limit": 8192}),
        ("batching.count 100", {"count": 100}),
        ("batching.byte_size 64KiB", {"byte_size": 65536}),
        ("max_in_flight 1", {"max_in_flight": 1}),
        ("max_in_flight 10", {"max_in_flight": 10}),
    ]
    rows = []
    for knob, change in variants:
        print(f"sweep: {knob} ...", file=sys.stderr)
        r = b.collector("sweep", "bench", n, dict(base, **change))
        r["knob"] = knob
        r.pop("rss_mb_timeline", None)
        rows.append(r)
    return rows


if __name__ == "__main__":
    sys.exit(main())
