"""Benchmark 1: bronze ingest throughput against the consumer ceiling, in one run.

Pre-produces BENCH_EVENTS (default 1,000,000) contract events to 3 partitions on a private
broker, then times, on the same data:

- the ceiling: a plain confluent-kafka consumer that reads every message and does nothing;
- the bronze job (`python -m ingest.bronze`, availableNow) into a fresh table: events/s over
  its micro-batches (from StreamingQueryProgress), and over its whole run, JVM start included.

Writes bench/results/ingest_throughput.json. Run it with `make bench`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from common import bench_env, run, services, write_result

from ingest import config as ingest_config


def consume_all(conf: ingest_config.IngestConfig, expected: int) -> tuple[float, int, int]:
    """The ceiling: read every message of the topics once; (seconds, messages, bytes)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            **conf.client_conf(),
            "group.id": f"bench-ceiling-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    consumer.subscribe(conf.topic_names)
    count = size = 0
    started = None
    deadline = time.monotonic() + 600
    while count < expected and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=10_000, timeout=1.0):
            if message.error():
                continue
            if started is None:
                started = time.monotonic()  # from the first message: not the group join
            count += 1
            size += len(message.value() or b"")
    consumer.close()
    return time.monotonic() - (started or time.monotonic()), count, size


def main() -> None:
    events = int(os.environ.get("BENCH_EVENTS", "1000000"))
    env = bench_env("ingest")
    state = Path(env["LAKEHOUSE_STATE_DIR"])
    services(env, "up", "kafka")
    try:
        print(f"bench: producing about {events:,} events", file=sys.stderr)
        manifest_file = state / "produce.json"
        # About 6 events per order; no trouble: every event is valid, as in a steady state.
        run(
            [sys.executable, "-m", "ingest.produce", "--orders", str(events // 6), "--seed", "1",
             "--manifest", str(manifest_file)],
            env,
        )  # fmt: skip
        produced = json.loads(manifest_file.read_text())["delivered"]
        conf = ingest_config.load(env)

        print("bench: ceiling (a consumer that does nothing)", file=sys.stderr)
        ceiling_s, consumed, consumed_bytes = consume_all(conf, produced)
        assert consumed == produced, f"the ceiling consumer read {consumed} of {produced}"

        print("bench: the bronze job (availableNow)", file=sys.stderr)
        progress_file = state / "progress.jsonl"
        wall_s, _ = run(
            [sys.executable, "-m", "ingest.bronze", "--progress-json", str(progress_file)],
            env,
            capture=False,
        )
        batches = [json.loads(line) for line in progress_file.read_text().splitlines()]
        rows = sum(b["numInputRows"] for b in batches)
        assert rows == produced, f"bronze read {rows} of {produced}"
        stream_s = sum(b["durationMs"]["triggerExecution"] for b in batches) / 1000
    finally:
        services(env, "down")

    mb = consumed_bytes / 1e6
    bronze_rate = rows / stream_s
    ceiling_rate = consumed / ceiling_s
    write_result(
        "ingest_throughput",
        {
            "events": produced,
            "megabytes": round(mb, 1),
            "avg_event_bytes": round(consumed_bytes / consumed),
            "partitions": conf.partitions,
            "ceiling": {
                "seconds": round(ceiling_s, 2),
                "events_per_s": round(ceiling_rate),
                "mb_per_s": round(mb / ceiling_s, 1),
            },
            "bronze": {
                "micro_batches": len(batches),
                "max_offsets_per_trigger": conf.max_offsets_per_trigger,
                "stream_seconds": round(stream_s, 2),
                "events_per_s": round(bronze_rate),
                "mb_per_s": round(mb / stream_s, 1),
                "wall_seconds_with_jvm_start": round(wall_s, 1),
                "events_per_s_wall": round(rows / wall_s),
            },
            "ratio_to_ceiling": round(bronze_rate / ceiling_rate, 3),
            "goals": {"events_per_s": 100_000, "ratio_to_ceiling": 0.25},
        },
    )


if __name__ == "__main__":
    main()
