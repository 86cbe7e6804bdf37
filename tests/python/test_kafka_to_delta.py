"""Events published to the real broker land in Delta through Spark's kafka source, exactly once."""

from __future__ import annotations

import json
import uuid

import pytest
from delta.tables import DeltaTable
from helpers import bootstrap_of

from ingest.kafka_client import ensure_topics, idempotent_producer, publish
from ingest.roundtrip import land_available

pytestmark = pytest.mark.slow


def _events(n: int) -> list[tuple[str, str]]:
    return [
        (f"order-{i % 17}", json.dumps({"event_id": str(uuid.uuid4()), "seq": i})) for i in range(n)
    ]


def test_available_now_lands_every_record_once(kafka_env, spark, tmp_path) -> None:
    bootstrap = bootstrap_of(kafka_env)
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(bootstrap, [topic], partitions=3) == [topic]
    producer = idempotent_producer(bootstrap)
    table, checkpoint = tmp_path / "table", tmp_path / "checkpoint"

    first = publish(producer, topic, _events(300))
    assert len(first.delivered) == 300
    assert land_available(spark, bootstrap, topic, table, checkpoint) == 300

    rows = spark.read.format("delta").load(str(table))
    coordinates = {(r.topic, r.partition, r.offset) for r in rows.collect()}
    assert rows.count() == 300
    assert coordinates == set(first.delivered)
    assert {p for _, p, _ in coordinates} == {0, 1, 2}  # keyed records spread over partitions

    # Nothing new: the checkpoint says so, and no Delta version is written.
    versions = DeltaTable.forPath(spark, str(table)).history().count()
    assert land_available(spark, bootstrap, topic, table, checkpoint) == 0
    assert spark.read.format("delta").load(str(table)).count() == 300
    assert DeltaTable.forPath(spark, str(table)).history().count() == versions

    # New records: only they are appended.
    second = publish(producer, topic, _events(120))
    assert land_available(spark, bootstrap, topic, table, checkpoint) == 120
    rows = spark.read.format("delta").load(str(table))
    assert rows.count() == 420
    assert rows.select("topic", "partition", "offset").distinct().count() == 420
    assert {(r.topic, r.partition, r.offset) for r in rows.collect()} == set(
        first.delivered + second.delivered
    )
