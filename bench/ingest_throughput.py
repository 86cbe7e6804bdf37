"""Benchmark 1: bronze ingest throughput against the consumer ceiling, in one run.

Pre-produces BENCH_EVENTS (default 1,000,000) contract events to 3 partitions on a private
broker, then times, on the same data:

- the ceiling: a plain confluent-kafka consumer that reads every message and does nothing,
  before and after the bronze runs (the faster counts);
- Spark's own ceiling: its Kafka source alone into a sink that drops every row (`noop`), twice
  in one fresh JVM (cold, then warm): what no bronze job on this machine can beat;
- the naive job (bench/naive_ingest.py: Kafka -> strings -> Delta, no checks, no dead letters)
  against the bronze job as shipped, BENCH_REPEATS times each (default 2), alternating which
  goes first, each into a fresh table: wall time with JVM start, and the ratio of the rates;
- the bronze job (`python -m ingest.bronze`, availableNow) into a fresh table, as shipped and
  with each setting of VARIANTS (`BENCH_VARIANTS=default,...` picks some): events/s over its
  micro-batches (from StreamingQueryProgress), after the first (warm-up) batch, and over its
  whole run, JVM start included; the seconds of each step (bronze write, dead letter); bronze's
  Parquet bytes per event and the messages read per topic;
- the same events as Avro (`BENCH_FORMATS=json,avro`, the default; `json` skips it): produced
  again with the same seed to a second topic set (AVRO), both topics Confluent-framed Avro
  through the stack's schema registry; then the bronze job as shipped on it, right after the
  JSON run it is compared with, and the ratios of the two.

Writes bench/results/ingest_throughput.json. Run it with `make bench`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def spark_source_alone(conf: ingest_config.IngestConfig) -> list[float]:
    """Seconds for Spark's Kafka source to read every message into a `noop` sink: cold, warm."""
    from ingest.spark_session import build_spark_session

    spark = build_spark_session("bench-spark-kafka-source")
    reader = (
        spark.read.format("kafka")
        .options(**conf.spark_kafka_options())
        .option("subscribe", ",".join(conf.topic_names))
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .option("includeHeaders", "true")
    )
    seconds = []
    try:
        for _ in range(2):
            started = time.monotonic()
            reader.load().write.format("noop").mode("overwrite").save()
            seconds.append(round(time.monotonic() - started, 2))
    finally:
        spark.stop()
    return seconds


# The Avro topic set: the same events on topics of their own, every one Avro (Confluent's wire
# format, through the schema registry); the producer and the bronze job read both settings.
AVRO: dict[str, str] = {
    "LAKEHOUSE_TOPIC_SUFFIX": "-avro",
    "LAKEHOUSE_TOPIC_FORMATS": "orders=avro,payments=avro",
}
FORMATS = ("json", "avro")


# Settings tried in the same run, each into a fresh bronze table: what helped goes into the
# defaults and docs/benchmarks.md. "default" is the job as shipped; it gives the headline numbers.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "bigger Kafka fetches (8 MB per partition; 10k records per poll)": {
        "LAKEHOUSE_KAFKA_OPTION_MAX_PARTITION_FETCH_BYTES": str(8 * 2**20),
        "LAKEHOUSE_KAFKA_OPTION_FETCH_MAX_BYTES": str(64 * 2**20),
        "LAKEHOUSE_KAFKA_OPTION_MAX_POLL_RECORDS": "10000",
    },
    "minPartitions 8": {"LAKEHOUSE_KAFKA_MIN_PARTITIONS": "8"},
    "one batch (maxOffsetsPerTrigger 2M)": {"LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER": "2000000"},
    "batches of 200k": {"LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER": "200000"},
    # Bronze's Parquet codec: bronze_mb in the result shows its disk side.
    "Parquet zstd": {"LAKEHOUSE_BRONZE_COMPRESSION": "zstd"},
    "Parquet lz4_raw": {"LAKEHOUSE_BRONZE_COMPRESSION": "lz4_raw"},
    "Parquet uncompressed": {"LAKEHOUSE_BRONZE_COMPRESSION": "uncompressed"},
}


def _parquet_bytes(table: Path) -> int:
    return sum(f.stat().st_size for f in table.rglob("*.parquet") if "_delta_log" not in f.parts)


def _messages_by_topic(batches: list[dict[str, Any]]) -> dict[str, int]:
    """Messages read per topic: the last batch's end offsets (new topics, no transactions: the
    offsets count the messages)."""
    ends: dict[str, int] = {}
    for source in batches[-1].get("sources", []):
        end = source.get("endOffset")
        if isinstance(end, str):
            end = json.loads(end)
        for topic, partitions in (end or {}).items():
            ends[topic] = ends.get(topic, 0) + sum(partitions.values())
    return ends


def time_bronze(env: dict[str, str], name: str, settings: dict[str, str], produced: int) -> dict:
    """One availableNow run into a fresh table; rates over its micro-batches and its wall time."""
    state = Path(env["LAKEHOUSE_STATE_DIR"])
    slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    bronze = state / "bronze" / slug
    progress_file = state / f"progress-{slug}.jsonl"
    print(f"bench: the bronze job, {name} {settings or ''}", file=sys.stderr)
    wall_s, _ = run(
        [sys.executable, "-m", "ingest.bronze", "--progress-json", str(progress_file)],
        {**env, **settings, "LAKEHOUSE_BRONZE_PATH": str(bronze)},
        capture=False,
    )
    batches = [json.loads(line) for line in progress_file.read_text().splitlines()]
    rows = sum(b["numInputRows"] for b in batches)
    assert rows == produced, f"bronze ({name}) read {rows} of {produced}"
    by_topic = _messages_by_topic(batches)
    assert sum(by_topic.values()) == rows, f"bronze ({name}): offsets {by_topic}, {rows} rows"
    stream_s = sum(b["durationMs"]["triggerExecution"] for b in batches) / 1000
    # After the first batch, which also pays for the JVM's and the Python workers' warm-up.
    warm = batches[1:]
    warm_s = sum(b["durationMs"]["triggerExecution"] for b in warm) / 1000
    steps: dict[str, float] = {}
    for batch in batches:
        for step, seconds in batch.get("stepSeconds", {}).items():
            steps[step] = round(steps.get(step, 0.0) + seconds, 2)
    return {
        "settings": settings,
        "micro_batches": len(batches),
        "stream_seconds": round(stream_s, 2),
        "step_seconds": steps,
        "events_per_s": round(rows / stream_s),
        "events_per_s_after_first_batch": (
            round(sum(b["numInputRows"] for b in warm) / warm_s) if warm else None
        ),
        "wall_seconds_with_jvm_start": round(wall_s, 1),
        "bronze_mb": round(_parquet_bytes(bronze) / 2**20, 1),
        "bronze_bytes_per_event": round(_parquet_bytes(bronze) / rows),
        "events_per_s_wall": round(rows / wall_s),
        "messages_by_topic": by_topic,
    }


def time_naive(env: dict[str, str], produced: int, attempt: int) -> float:
    """One run of the naive job into a fresh table: its wall time, JVM start included."""
    from deltalake import DeltaTable

    table = Path(env["LAKEHOUSE_STATE_DIR"]) / "bronze" / f"naive-{attempt}"
    print(f"bench: the naive job (run {attempt + 1})", file=sys.stderr)
    wall_s, _ = run(
        [sys.executable, str(Path(__file__).with_name("naive_ingest.py")), str(table)],
        env,
        capture=False,
    )
    actions = DeltaTable(str(table)).get_add_actions(flatten=True)
    rows = sum(actions.column("num_records").to_pylist())
    assert rows == produced, f"the naive job wrote {rows} of {produced}"
    return wall_s


def head_to_head(env: dict[str, str], produced: int, repeats: int) -> tuple[dict, dict]:
    """The naive job and the bronze job as shipped, alternately first; the naive job's figures
    and the shipped job's first run (its full figures)."""
    naive_s: list[float] = []
    shipped: list[dict] = []
    for attempt in range(repeats):
        order = ("naive", "shipped") if attempt % 2 == 0 else ("shipped", "naive")
        for job in order:
            if job == "naive":
                naive_s.append(round(time_naive(env, produced, attempt), 1))
            else:
                shipped.append(
                    time_bronze(env, f"default-{attempt}", VARIANTS["default"], produced)
                )
    ours_s = [r["wall_seconds_with_jvm_start"] for r in shipped]
    naive = {
        "wall_seconds_with_jvm_start": naive_s,
        "shipped_wall_seconds_with_jvm_start": ours_s,
        "events_per_s_wall": round(produced / min(naive_s)),
        # The best run of each: a slow spell of the machine in one run flatters neither.
        "ratio_shipped_to_naive": round(min(naive_s) / min(ours_s), 3),
    }
    return naive, shipped[0]


def _ratio(over: float | None, under: float | None) -> float | None:
    return round(over / under, 3) if over and under else None


def avro_against_json(avro: dict[str, Any], json_run: dict[str, Any]) -> dict[str, float | None]:
    """Avro's run over JSON's, figure by figure: above 1 for the rates, Avro is faster."""
    figures = ("events_per_s", "events_per_s_after_first_batch", "events_per_s_wall")
    return {
        **{figure: _ratio(avro[figure], json_run[figure]) for figure in figures},
        "bronze_bytes_per_event": _ratio(
            avro["bronze_bytes_per_event"], json_run["bronze_bytes_per_event"]
        ),
    }


def produce(env: dict[str, str], events: int, manifest_file: Path) -> int:
    """About `events` contract events (6 per order; every one valid, as in a steady state) to the
    topics `env` names, the same ones for the same count; how many were delivered."""
    run(
        [sys.executable, "-m", "ingest.produce", "--orders", str(events // 6), "--seed", "1",
         "--manifest", str(manifest_file)],
        env,
    )  # fmt: skip
    return json.loads(manifest_file.read_text())["delivered"]


def _chosen(var: str, known: Iterable[str], required: str) -> list[str]:
    """The comma-separated names in `var` (default: all `known`), which must include `required`."""
    known = list(known)
    chosen = [name for name in os.environ.get(var, ",".join(known)).split(",") if name]
    if set(chosen) - set(known) or required not in chosen:
        raise SystemExit(f"{var}: include {required!r}; known: {', '.join(known)}")
    return chosen


def main() -> None:
    events = int(os.environ.get("BENCH_EVENTS", "1000000"))
    repeats = int(os.environ.get("BENCH_REPEATS", "2"))
    if repeats < 1:
        raise SystemExit("BENCH_REPEATS: at least 1")
    variants = _chosen("BENCH_VARIANTS", VARIANTS, "default")
    with_avro = "avro" in _chosen("BENCH_FORMATS", FORMATS, "json")
    env = bench_env("ingest")
    avro_env = {**env, **AVRO}
    state = Path(env["LAKEHOUSE_STATE_DIR"])
    services(env, "up", "kafka", *(["registry"] if with_avro else []))
    try:
        print(f"bench: producing about {events:,} events", file=sys.stderr)
        produced = produce(env, events, state / "produce.json")
        conf = ingest_config.load(env)
        if with_avro:
            print(f"bench: the same events, {AVRO}", file=sys.stderr)
            produced_avro = produce(avro_env, events, state / "produce-avro.json")
            assert produced_avro == produced, f"Avro: {produced_avro} events, JSON {produced}"
            _, consumed_avro, avro_bytes = consume_all(ingest_config.load(avro_env), produced)
            assert consumed_avro == produced, f"Avro: the consumer read {consumed_avro}"

        print("bench: ceiling (a consumer that does nothing)", file=sys.stderr)
        ceiling_s, consumed, consumed_bytes = consume_all(conf, produced)
        assert consumed == produced, f"the ceiling consumer read {consumed} of {produced}"
        print("bench: Spark's Kafka source alone (cold, then warm)", file=sys.stderr)
        _, out = run([sys.executable, __file__, "--spark-source-alone"], env)
        source_s = json.loads(out.splitlines()[-1])
        naive, shipped_run = head_to_head(env, produced, repeats)
        # The Avro run right after the last JSON run as shipped (a slow spell of the machine
        # should hit both), then the other variants.
        runs = {"default": shipped_run}
        if with_avro:
            avro_run = time_bronze(env, "default, orders as Avro", AVRO, produced)
        for name in variants:
            if name not in runs:
                runs[name] = time_bronze(env, name, VARIANTS[name], produced)
        # Again after the runs, and the faster of the two: the ratios are not flattered by a
        # broker still busy from the produce.
        print("bench: ceiling, again", file=sys.stderr)
        again_s, consumed_again, _ = consume_all(conf, produced)
        assert consumed_again == produced
        ceiling_runs_s = [round(ceiling_s, 2), round(again_s, 2)]
        ceiling_s = min(ceiling_s, again_s)
    finally:
        services(env, "down")

    mb = consumed_bytes / 1e6
    ceiling_rate = consumed / ceiling_s
    for result in runs.values():
        result["mb_per_s"] = round(mb * result["events_per_s"] / produced, 1)
        result["ratio_to_ceiling"] = round(result["events_per_s"] / ceiling_rate, 3)
    shipped = runs["default"]
    avro = None
    if with_avro:
        avro = {
            "what": (
                "the same events on their own topics, every one Avro (Confluent's wire format, "
                "the schema registry)"
            ),
            "avg_event_bytes": round(avro_bytes / consumed_avro),
            "bronze": avro_run,
            "ratio_to_json": avro_against_json(avro_run, shipped),
        }
    write_result(
        "ingest_throughput",
        {
            "events": produced,
            "megabytes": round(mb, 1),
            "avg_event_bytes": round(consumed_bytes / consumed),
            "partitions": conf.partitions,
            "defaults": {
                "max_offsets_per_trigger": conf.max_offsets_per_trigger,
                "min_partitions": conf.min_partitions,
            },
            "ceiling": {
                "runs_seconds": ceiling_runs_s,
                "seconds": round(ceiling_s, 2),
                "events_per_s": round(ceiling_rate),
                "mb_per_s": round(mb / ceiling_s, 1),
            },
            "spark_kafka_source_alone": {
                "cold_seconds": source_s[0],
                "warm_seconds": source_s[1],
                "events_per_s_cold": round(produced / source_s[0]),
                "events_per_s_warm": round(produced / source_s[1]),
            },
            "bronze": shipped,
            "ratio_to_ceiling": shipped["ratio_to_ceiling"],
            "naive": naive,
            "variants": runs,
            "avro": avro,
            "goals": {
                "events_per_s": 100_000,
                "ratio_to_ceiling": 0.25,
                "avro_ratio_to_json_events_per_s": 1.0,
                "ratio_shipped_to_naive": 1.0,
            },
        },
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--spark-source-alone"]:  # in a fresh process: its own, cold JVM
        print(json.dumps(spark_source_alone(ingest_config.load())))
    else:
        main()
