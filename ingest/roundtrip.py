"""Smoke run of the stack (`make demo`): events through Kafka into a Delta table and back out.

Publishes a few JSON events with the idempotent producer, lands them with Spark's `kafka`
source (`trigger(availableNow=True)`, a checkpoint, a Delta sink) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.kafka_client import KafkaUnavailableError, ensure_topics, idempotent_producer, publish
from services import settings as stack_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TOPIC = "lakehouse.roundtrip"


def land_available(
    spark: SparkSession, bootstrap: str, topic: str, table_path: Path, checkpoint: Path
) -> int:
    """Append what the topic holds beyond the checkpoint to a Delta table; returns rows added."""
    records = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr(
            "cast(key as string) as key",
            "cast(value as string) as value",
            "topic",
            "partition",
            "offset",
            "timestamp as kafka_timestamp",
        )
    )
    query = (
        records.writeStream.format("delta")
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start(str(table_path))
    )
    query.awaitTermination()
    if query.exception() is not None:
        raise RuntimeError(f"the stream failed: {query.exception()}")
    return sum(progress["numInputRows"] for progress in query.recentProgress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.roundtrip", description=__doc__)
    parser.add_argument("--events", type=int, default=5, help="how many events (default 5)")
    args = parser.parse_args(argv)
    conf = stack_settings.load()
    bootstrap = conf.kafka_bootstrap
    try:
        ensure_topics(bootstrap, [TOPIC])
        now = datetime.now(timezone.utc).isoformat()
        events = [
            {"event_id": str(uuid.uuid4()), "order_id": f"demo-{i}", "event_ts": now}
            for i in range(args.events)
        ]
        report = publish(
            idempotent_producer(bootstrap),
            TOPIC,
            ((e["order_id"], json.dumps(e)) for e in events),
        )
    except KafkaUnavailableError as exc:
        print(f"error: {exc}. Is the broker up (`make up`)?", file=sys.stderr)
        return 1
    print(f"roundtrip: published {len(report.delivered)} events to {TOPIC} at {bootstrap}")

    from ingest.spark_session import build_spark_session

    spark = build_spark_session("lakehouse-roundtrip")
    table = conf.state_dir / "demo" / "roundtrip"
    added = land_available(spark, bootstrap, TOPIC, table, conf.state_dir / "demo" / "_checkpoint")
    print(f"roundtrip: Spark's kafka source appended {added} rows to the Delta table {table}")
    from delta.tables import DeltaTable

    # Path-based on purpose: the smoke run needs no metastore (which a Thrift server may hold).
    history = DeltaTable.forPath(spark, str(table)).history().count()
    print(f"roundtrip: the table has {history} Delta version(s); the newest rows:")
    spark.read.format("delta").load(str(table)).orderBy("kafka_timestamp", ascending=False).show(
        args.events, truncate=60
    )
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
