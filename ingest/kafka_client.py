"""confluent-kafka helpers: create topics on purpose, publish with an idempotent producer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic


class KafkaUnavailableError(RuntimeError):
    """The broker did not answer, or refused what was asked; the message says which."""


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int = 3,
    timeout_s: float = 15.0,
    extra_conf: Mapping[str, str] | None = None,
    replication: int | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones it created. With no
    `replication`, the cluster's default replication factor."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **(extra_conf or {})})
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise KafkaUnavailableError(f"Kafka at {bootstrap} did not answer: {exc}") from exc
    missing = [t for t in topics if t not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(t, num_partitions=partitions, replication_factor=replication or -1)
            for t in missing
        ],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # a concurrent creator
                raise KafkaUnavailableError(f"could not create topic {topic}: {exc}") from exc
    return missing


@dataclass
class DeliveryReport:
    """What the broker acknowledged: (topic, partition, offset) per delivered message."""

    delivered: list[tuple[str, int, int]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __call__(self, err: KafkaError | None, msg: object) -> None:
        if err is not None:
            self.failed.append(str(err))
        else:
            self.delivered.append((msg.topic(), msg.partition(), msg.offset()))  # type: ignore[attr-defined]


def idempotent_producer(bootstrap: str, extra_conf: Mapping[str, str] | None = None) -> Producer:
    """No loss and no broker-side duplicates on retry: acks=all with idempotence on."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            **(extra_conf or {}),
        }
    )


def send(
    producer: Producer,
    topic: str,
    key: str | None,
    value: str | bytes | None,
    on_delivery: Callable[[KafkaError | None, Message], None],
) -> None:
    """Queue one message; while the local queue is full, serve delivery reports to drain it."""
    while True:
        try:
            producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)


def publish(
    producer: Producer,
    topic: str,
    records: Iterable[tuple[str | None, str | bytes | None]],
    flush_timeout_s: float = 30.0,
) -> DeliveryReport:
    """Send (key, value) records and wait for every delivery report; raise if any failed."""
    report = DeliveryReport()
    for key, value in records:
        send(producer, topic, key, value, report)
        producer.poll(0)
    left = producer.flush(flush_timeout_s)
    if left or report.failed:
        raise KafkaUnavailableError(
            f"{len(report.failed)} message(s) failed and {left} were still in flight after "
            f"{flush_timeout_s:.0f}s; first error: {(report.failed or ['timeout'])[0]}"
        )
    return report
