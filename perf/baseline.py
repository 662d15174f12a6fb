#!/usr/bin/env python3
"""The hand-written Python baseline of scripts/bench-e2e.

What a user would write without the collector: a confluent-kafka consumer loop, the seed
mapping done in Python (every property value turned into a string, as
`this.properties.map_each(p -> p.value.string())` does), and the official `flexprice` SDK's bulk
call (`client.events.ingest_events_bulk(events=[...])`, 1000 events per call, the API's cap).
At-least-once like the collector: offsets are committed only after the bulk call returned.

The SDK call is synchronous: one request in flight, as the SDK's documented usage gives.
Event ids are derived from (topic, partition, offset) like the collector's, so the sink can
count unique events.

Prints one JSON line: events, seconds (first message to last accepted), events_per_sec.
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError
from flexprice import Flexprice


def to_text(v):
    """Bloblang's `.string()`: strings unchanged, everything else as compact JSON."""
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--sink", required=True, help="host:port of the Flexprice-compatible API")
    ap.add_argument("--api-key", default="test-key")
    ap.add_argument("-n", "--count", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": f"python-baseline-{int(time.time() * 1000)}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # tansu holds a fetch for the whole wait; the collector sets the same.
            "fetch.wait.max.ms": 10,
        }
    )
    consumer.subscribe([args.topic])
    deadline = time.monotonic() + args.timeout
    done = 0
    first = None
    batch = []
    with Flexprice(server_url=f"http://{args.sink}/v1", api_key_auth=args.api_key) as client:

        def flush():
            nonlocal batch, done
            if not batch:
                return
            client.events.ingest_events_bulk(events=batch)
            consumer.commit(asynchronous=True)
            done += len(batch)
            batch = []

        while done < args.count:
            if time.monotonic() > deadline:
                print(f"baseline: timed out at {done}/{args.count}", file=sys.stderr)
                break
            want = min(args.batch - len(batch), args.count - done - len(batch))
            msgs = consumer.consume(num_messages=max(want, 1), timeout=0.1)
            for m in msgs:
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        print(f"baseline: {m.error()}", file=sys.stderr)
                    continue
                if first is None:
                    first = time.monotonic()
                ev = json.loads(m.value())
                ev["properties"] = {k: to_text(v) for k, v in (ev.get("properties") or {}).items()}
                ev.setdefault("event_id", f"{m.topic()}-{m.partition()}-{m.offset()}")
                batch.append(ev)
            if len(batch) >= args.batch or (batch and done + len(batch) >= args.count):
                flush()
        flush()
    end = time.monotonic()
    consumer.close()
    secs = end - (first or end)
    print(
        json.dumps(
            {
                "events": done,
                "seconds": round(secs, 3),
                "events_per_sec": round(done / secs) if secs > 0 else 0,
            }
        )
    )
    return 0 if done >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
