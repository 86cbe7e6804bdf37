"""How far bronze is behind the broker, per topic partition, without Spark.

What bronze holds is what the ingest job's checkpoint has committed (the stream's offsets are
the only truth: no consumer group is involved); what the broker has is each partition's high
watermark. `make status` and the bronze job's lag line (alone: `python -m ingest.bronze
--check`) both report it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confluent_kafka import Consumer


def checkpoint_offsets(checkpoint: Path) -> dict[str, dict[str, int]]:
    """The end offsets of the last committed micro-batch: what bronze holds, per partition."""
    commits = [int(p.name) for p in (checkpoint / "commits").glob("*") if p.name.isdigit()]
    if not commits:
        return {}
    lines = (checkpoint / "offsets" / str(max(commits))).read_text().splitlines()
    # v1, the batch metadata, then one JSON line per source: {"topic": {"partition": offset}}.
    offsets: dict[str, dict[str, int]] = {}
    for line in lines[2:]:
        if line.strip().startswith("{"):
            offsets.update(json.loads(line))
    return offsets


def partition_lag(
    consumer: Consumer,
    topic: str,
    partitions: list[int],
    reached: dict[str, int],
    timeout_s: float,
) -> dict[str, dict[str, Any]]:
    """Per partition: the broker's latest offset, bronze's, and the records between them (all of
    the partition's retained records when bronze has none of it yet)."""
    from confluent_kafka import TopicPartition

    lag = {}
    for partition in sorted(partitions):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s
        )
        done = reached.get(str(partition))
        lag[str(partition)] = {
            "latest": high,
            "bronze": done,
            "lag": high - (done if done is not None else low),
        }
    return lag


def total(lag_by_topic: dict[str, dict[str, dict[str, Any]]]) -> int:
    return sum(p["lag"] for partitions in lag_by_topic.values() for p in partitions.values())


def describe(lag_by_topic: dict[str, dict[str, dict[str, Any]]], max_lag: int) -> str:
    """One line: the total, whether the run is catching up, and the lag of each partition."""
    behind = total(lag_by_topic)
    parts = "; ".join(
        f"{topic} " + " ".join(f"{p}:{v['lag']:,}" for p, v in partitions.items())
        for topic, partitions in lag_by_topic.items()
    )
    verdict = (
        f"catching up (over LAKEHOUSE_MAX_LAG {max_lag:,})"
        if behind > max_lag
        else f"normal (LAKEHOUSE_MAX_LAG {max_lag:,})"
    )
    return f"lag {behind:,} records, {verdict}: {parts}"
