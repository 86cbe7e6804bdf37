"""`python -m ingest.produce` (`make produce ARGS="..."`): publish generated shop events.

Generates N order lifecycles (ingest/generator.py), deterministic for --seed, and publishes
them with an idempotent producer (acks=all) keyed by order_id, counting delivery reports.
Prints what it sent by kind and can write that manifest as JSON, so tests reconcile counts.

Each topic is JSON unless `--format orders=avro` (or LAKEHOUSE_TOPIC_FORMATS) says Avro: its
events are then written in Confluent's wire format with the contract's schema of their
schema_version, after the contract's schemas are registered in the schema registry
(ingest/schema_registry.py); a schema the registry refuses stops it before anything is sent,
with one line naming the subject, the rule and why. Its malformed messages stay the generator's
raw bytes: poison that is not Avro at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message

from ingest import config as ingest_config
from ingest.generator import DEAD_LETTER_KINDS, DEFAULT_START, Counts, Trouble, generate
from ingest.kafka_client import KafkaUnavailableError, ensure_topics, idempotent_producer, send
from ingest.schema_registry import RegistryRefusedError, avro_serializers, register_contract


class _Deliveries:
    """Delivery reports: counts for every message, coordinates for the malformed ones."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed: Counter[str] = Counter()
        self.malformed: list[dict[str, Any]] = []
        self._callbacks: dict[str, Any] = {}

    def callback(self, kind: str) -> Callable[[KafkaError | None, Message], None]:
        if kind not in self._callbacks:

            def on_delivery(err: KafkaError | None, msg: Message) -> None:
                if err is not None:
                    self.failed[str(err)] += 1
                    return
                self.delivered += 1
                if kind not in ("valid", "duplicate"):
                    self.malformed.append(
                        {
                            "topic": msg.topic(),
                            "partition": msg.partition(),
                            "offset": msg.offset(),
                            "kind": kind,
                        }
                    )

            self._callbacks[kind] = on_delivery
        return self._callbacks[kind]


def _progress(done: int, total: int, started: float) -> None:
    rate = done / max(time.monotonic() - started, 1e-9)
    print(f"produce: {done:,}/{total:,} messages ({rate:,.0f}/s)", file=sys.stderr, flush=True)


def _avro_encoders(conf: ingest_config.IngestConfig) -> dict[str, Callable[[bytes], bytes]]:
    """Per contract produced as Avro, its events' JSON bytes -> Confluent-framed Avro."""
    encoders = {}
    for contract in conf.topics:
        if conf.format_of(contract) != "avro":
            continue
        serializers = avro_serializers(conf, f"{contract}{conf.topic_suffix}")

        def encode(value: bytes, by_version: dict = serializers) -> bytes:
            event = json.loads(value)
            return by_version[event["schema_version"]](event)

        encoders[contract] = encode
    return encoders


def publish_generated(
    conf: ingest_config.IngestConfig,
    messages: list,
    progress_every_s: float = 2.0,
) -> tuple[_Deliveries, float]:
    topics = {name: f"{name}{conf.topic_suffix}" for name in ("orders", "payments")}
    ensure_topics(
        conf.bootstrap_servers,
        topics.values(),
        partitions=conf.partitions,
        replication=conf.replication,
        timeout_s=conf.kafka_timeout_s,
        extra_conf=conf.client_options | _security(conf),
    )
    producer = idempotent_producer(
        conf.bootstrap_servers,
        {"batch.size": 1_000_000, "queue.buffering.max.messages": 500_000}
        | _security(conf)
        | dict(conf.client_options),
    )
    encoders = _avro_encoders(conf)
    deliveries = _Deliveries()
    started = last_report = time.monotonic()
    for index, message in enumerate(messages):
        value = message.value
        if message.contract in encoders and message.kind in ("valid", "duplicate"):
            value = encoders[message.contract](value)
        send(
            producer,
            topics[message.contract],
            message.key,
            value,
            deliveries.callback(message.kind),
        )
        if index % 10_000 == 0:
            producer.poll(0)
            if time.monotonic() - last_report >= progress_every_s:
                _progress(index, len(messages), started)
                last_report = time.monotonic()
    left = producer.flush(conf.kafka_timeout_s)
    elapsed = time.monotonic() - started
    if left:
        deliveries.failed[f"not acknowledged within {conf.kafka_timeout_s:.0f}s"] += left
    return deliveries, elapsed


def _security(conf: ingest_config.IngestConfig) -> dict[str, str]:
    client = conf.client_conf()
    client.pop("bootstrap.servers")
    return client


def manifest(
    args: argparse.Namespace,
    conf: ingest_config.IngestConfig,
    counts: Counts,
    deliveries: _Deliveries,
    elapsed: float,
) -> dict[str, Any]:
    return {
        "seed": args.seed,
        "orders": counts.orders,
        "start": args.start.isoformat(),
        "span_hours": args.span_hours,
        "topics": {name: f"{name}{conf.topic_suffix}" for name in ("orders", "payments")},
        "formats": {name: conf.format_of(name) for name in ("orders", "payments")},
        "messages": counts.messages,
        "valid_events": counts.valid_events,
        "duplicates": counts.duplicates,
        "null_keys": counts.null_keys,
        "delayed": counts.delayed,
        "out_of_order": counts.out_of_order,
        "schema_v2_events": counts.schema_v2_events,
        "malformed": counts.malformed,
        "dead_letter_expected": counts.dead_letter_expected,
        "dead_letter_kinds": list(DEAD_LETTER_KINDS),
        "delivered": deliveries.delivered,
        "failed": sum(deliveries.failed.values()),
        "publish_seconds": round(elapsed, 3),
        "messages_per_second": round(deliveries.delivered / elapsed) if elapsed else None,
        "malformed_messages": sorted(
            deliveries.malformed, key=lambda m: (m["topic"], m["partition"], m["offset"])
        ),
    }


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


def _start(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text} needs a UTC offset, e.g. {text}Z")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ingest.produce", description=__doc__)
    parser.add_argument("--orders", type=int, default=1000, help="orders to generate (1000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument(
        "--start",
        type=_start,
        default=DEFAULT_START,
        help=f"first order time, RFC 3339 ({DEFAULT_START.isoformat()})",
    )
    parser.add_argument("--span-hours", type=float, default=24.0, help="orders spread (24)")
    parser.add_argument("--duplicate-rate", type=_rate, default=0.0, help="re-deliveries (0)")
    parser.add_argument("--late-rate", type=_rate, default=0.0, help="delayed events (0)")
    parser.add_argument(
        "--max-lateness-hours", type=float, default=2.0, help="delay of a late event (2)"
    )
    parser.add_argument("--malformed-rate", type=_rate, default=0.0, help="malformed extra (0)")
    parser.add_argument("--v2-rate", type=_rate, default=0.0, help="schema v2 orders (0)")
    parser.add_argument("--null-key-rate", type=_rate, default=0.0, help="keyless events (0)")
    parser.add_argument(
        "--oversized", type=int, default=0, help="near-limit (990 kB) broken messages (0)"
    )
    parser.add_argument("--manifest", type=Path, help="also write the manifest (JSON) here")
    parser.add_argument("--config", help="ingest config YAML (LAKEHOUSE_INGEST_CONFIG)")
    parser.add_argument(
        "--format",
        action="append",
        default=[],
        metavar="CONTRACT=FORMAT",
        help="a topic's wire format, json or avro, e.g. orders=avro (LAKEHOUSE_TOPIC_FORMATS)",
    )
    args = parser.parse_args(argv)
    if args.orders < 0 or args.span_hours <= 0 or args.max_lateness_hours < 0 or args.oversized < 0:
        parser.error(
            "--orders and --oversized must be >= 0, --span-hours > 0, --max-lateness-hours >= 0"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = {"formats": ",".join(args.format)} if args.format else None
        conf = ingest_config.load(config_file=args.config, overrides=overrides)
    except ingest_config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    avro_topics = [t for t in conf.topic_names if conf.topic_format(t) == "avro"]
    if avro_topics:
        try:
            for line in register_contract(conf, topics=avro_topics):
                print(f"produce: {line}", file=sys.stderr)
        except RegistryRefusedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    trouble = Trouble(
        duplicate_rate=args.duplicate_rate,
        late_rate=args.late_rate,
        max_lateness=timedelta(hours=args.max_lateness_hours),
        malformed_rate=args.malformed_rate,
        v2_rate=args.v2_rate,
        null_key_rate=args.null_key_rate,
        oversized=args.oversized,
    )
    started = time.monotonic()
    messages, counts = generate(
        args.orders,
        args.seed,
        args.start,
        timedelta(hours=args.span_hours),
        trouble,
        on_progress=lambda done: print(
            f"produce: generated {done:,}/{args.orders:,} orders", file=sys.stderr, flush=True
        ),
    )
    print(
        f"produce: generated {len(messages):,} messages for {args.orders:,} orders "
        f"in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    try:
        deliveries, elapsed = publish_generated(conf, messages)
    except KafkaUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = manifest(args, conf, counts, deliveries, elapsed)
    if args.manifest:
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text(json.dumps(summary, indent=2) + "\n")
    printable = {k: v for k, v in summary.items() if k != "malformed_messages"}
    print(json.dumps(printable, indent=2))
    if deliveries.failed:
        for error, n in deliveries.failed.most_common():
            print(f"error: {n} message(s) not delivered: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
