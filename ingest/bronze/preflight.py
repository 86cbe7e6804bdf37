"""Before the stream: fail fast and clearly, in seconds and before a JVM starts."""

from __future__ import annotations

import os
import re
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ingest import config as ingest_config
from ingest.kafka_client import KafkaUnavailableError, ensure_topics


class IngestError(RuntimeError):
    """Configuration or Kafka trouble found before the stream starts (exit code 2)."""


def check_writable(what: str, path: str, setting: str) -> None:
    """A local path (no URI scheme) must be creatable and writable before Spark starts."""
    if "://" in path and not path.startswith("file://"):
        return  # object stores and HDFS: Spark reports their errors itself
    target = Path(path.removeprefix("file://"))
    existing = next((p for p in (target, *target.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        problem = "is not a folder" if existing and not existing.is_dir() else "is not writable"
        raise IngestError(
            f"cannot write the {what} at {target}: {existing} {problem}. "
            f"Fix {setting} or LAKEHOUSE_STATE_DIR."
        )


def preflight(conf: ingest_config.IngestConfig) -> list[str]:
    """The source topics, after checking the paths and that the broker answers and has them."""
    check_writable("bronze table", conf.bronze_path, "LAKEHOUSE_BRONZE_PATH")
    check_writable("checkpoint", conf.checkpoint_path, "LAKEHOUSE_BRONZE_CHECKPOINT")
    admin = AdminClient(conf.client_conf())
    try:
        existing = set(admin.list_topics(timeout=conf.kafka_timeout_s).topics)
    except KafkaException as exc:
        raise IngestError(
            f"Kafka at {conf.bootstrap_servers} did not answer within {conf.kafka_timeout_s:.0f}s "
            f"({exc.args[0].str()}). Is the broker up (`make up`), and KAFKA_BOOTSTRAP_SERVERS "
            "right?"
        ) from None
    subscribe_pattern = conf.subscribe_pattern()
    if subscribe_pattern:
        pattern = re.compile(subscribe_pattern)
        topics = sorted(t for t in existing if pattern.fullmatch(t))
        if not topics:
            raise IngestError(f"no topic matches LAKEHOUSE_TOPIC_PATTERN {conf.topic_pattern!r}")
        check_registry(conf, topics)
        return topics
    missing = [t for t in conf.topic_names if t not in existing]
    if missing:
        raise IngestError(
            f"topic(s) {', '.join(missing)} do not exist on {conf.bootstrap_servers}. Create "
            "them (`make produce` does), or fix LAKEHOUSE_TOPICS / LAKEHOUSE_TOPIC_SUFFIX."
        )
    check_registry(conf, conf.topic_names)
    return conf.topic_names


def avro_topics(conf: ingest_config.IngestConfig, topics: list[str]) -> list[str]:
    return [t for t in topics if conf.topic_format(t) in ("avro", "auto")]


def check_registry(conf: ingest_config.IngestConfig, topics: list[str]) -> None:
    """With an Avro (or `auto`) topic, the registry must answer, and hold each `avro`
    topic's subject."""
    from ingest.bronze.avro import RegistryUnavailableError, SubjectSchemas
    from ingest.schema_registry import subject

    wanted = avro_topics(conf, topics)
    if not wanted:
        return
    try:
        held = {w.subject for w in SubjectSchemas(conf, wanted).refresh().values()}
    except RegistryUnavailableError as exc:
        raise IngestError(
            f"{exc}. Is it up (`make up`), and LAKEHOUSE_SCHEMA_REGISTRY_URL right?"
        ) from None
    # An `auto` topic may carry JSON alone so far (the producer writes JSON for it).
    strict = [t for t in wanted if conf.topic_format(t) == "avro"]
    empty = [subject(t) for t in strict if subject(t) not in held]
    if empty:
        raise IngestError(
            f"the schema registry at {conf.schema_registry_url} holds no schema under "
            f"{', '.join(empty)}: register the contract's (`make schemas`)"
        )


def ensure_dead_letter_topics(conf: ingest_config.IngestConfig, topics: list[str]) -> None:
    if not conf.dead_letter:
        return
    extra = conf.client_conf()
    bootstrap = extra.pop("bootstrap.servers")
    try:
        ensure_topics(
            bootstrap,
            [conf.dead_letter_topic(t) for t in topics],
            partitions=conf.partitions,
            replication=conf.replication,
            timeout_s=conf.kafka_timeout_s,
            extra_conf=extra,
        )
    except KafkaUnavailableError as exc:
        raise IngestError(str(exc)) from None


def lag_report(conf: ingest_config.IngestConfig, topics: list[str]) -> str:
    """The readiness line: how far bronze is behind each partition of `topics`, and whether
    that is over `max_lag` (the run then catches up: it still ingests)."""
    from confluent_kafka import Consumer

    from ingest import lag

    consumer = Consumer(
        {**conf.client_conf(), "group.id": "lakehouse-readiness", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(timeout=conf.kafka_timeout_s).topics
        reached = lag.checkpoint_offsets(Path(conf.checkpoint_path))
        by_topic = {
            topic: lag.partition_lag(
                consumer,
                topic,
                list(metadata[topic].partitions),
                reached.get(topic, {}),
                conf.kafka_timeout_s,
            )
            for topic in topics
        }
    except KafkaException as exc:
        raise IngestError(
            f"Kafka at {conf.bootstrap_servers} did not answer within {conf.kafka_timeout_s:.0f}s "
            f"({exc.args[0].str()})"
        ) from None
    finally:
        consumer.close()
    return lag.describe(by_topic, conf.max_lag)
