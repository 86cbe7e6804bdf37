"""The Kafka trigger that starts `lakehouse_pipeline` (dags/lakehouse_triggers.py), run as
Airflow's triggerer runs it (tests/python/trigger_probe.py, in the Airflow venv) against the
session's broker: it fires once within `max_wait_seconds` of the first new message whatever
the traffic (a burst, a steady stream that is never quiet, a flood), keeps up with a flood
without counting a message twice, and dead letters never fire it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers import PROJECT_DIR

from ingest import config as ingest_config
from ingest.kafka_client import ensure_topics, idempotent_producer
from services.airflow import kafka_connection

AIRFLOW_PYTHON = PROJECT_DIR / ".venv-airflow" / "bin" / "python"
QUIET, MAX_WAIT = 2.0, 5.0
# How late a fire may come past its bound: one consume() timeout (1 s) and a commit.
SLACK = 2.0


class Fires:
    """The probe's fires as they come: (epoch seconds, messages, seconds it waited since its
    first new message)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[tuple[float, int, float]] = []
        self.errors: list[str] = []

        def read() -> None:
            for line in process.stdout:  # type: ignore[union-attr]
                if line.startswith("fire: "):
                    fire = json.loads(line.removeprefix("fire: "))
                    self.seen.append((fire["at"], fire["messages"], fire["waited"]))

        threading.Thread(target=read, daemon=True).start()

    def wait(self, count: int, timeout: float) -> list[tuple[float, int, float]]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.seen)


def wait_until_consuming(kafka_env: dict[str, str], group: str, timeout_s: float = 60) -> None:
    """Until the trigger's consumer group is stable with a member: the probe has started (an
    Airflow import, seconds on a busy machine) and the trigger reads its topics."""
    from confluent_kafka import ConsumerGroupState, KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": ingest_config.load(kafka_env).bootstrap_servers})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            description = admin.describe_consumer_groups([group])[group].result(timeout=10)
        except KafkaException:  # no such group yet: the coordinator does not know it
            description = None
        if description and description.state == ConsumerGroupState.STABLE and description.members:
            return
        time.sleep(0.2)
    raise AssertionError(f"the trigger's consumer group {group} never became stable")


@contextmanager
def trigger(kafka_env: dict[str, str], topics: list[str], **settings: float) -> Iterator[Fires]:
    """The probe, running the trigger on `topics`, once the trigger reads them."""
    group = f"trigger-test-{uuid.uuid4().hex[:6]}"
    extra = json.loads(kafka_connection(kafka_env))
    extra["extra"]["group.id"] = group
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_DIR / "dags"),
        "AIRFLOW_CONN_KAFKA_DEFAULT": json.dumps(extra),
        "TRIGGER_QUIET_SECONDS": str(settings.get("quiet", QUIET)),
        "TRIGGER_MAX_WAIT_SECONDS": str(settings.get("max_wait", MAX_WAIT)),
        "TRIGGER_DEADLINE_SECONDS": str(settings.get("deadline", 60)),
        "TRIGGER_IGNORED_SUFFIX": ".dlq",
    }
    process = subprocess.Popen(
        [str(AIRFLOW_PYTHON), str(PROJECT_DIR / "tests/python/trigger_probe.py"), *topics],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        fires = Fires(process)
        wait_until_consuming(kafka_env, group)
        yield fires
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def topics(kafka_env) -> list[str]:
    """A topic of its own and its dead-letter topic, which the trigger also watches (as a
    pattern would match it) and must ignore."""
    conf = ingest_config.load(kafka_env)
    topic = f"orders.trigger{uuid.uuid4().hex[:6]}"
    ensure_topics(conf.bootstrap_servers, [topic, f"{topic}.dlq"], partitions=3)
    return [topic, f"{topic}.dlq"]


def publish(kafka_env: dict[str, str], topic: str, count: int) -> float:
    """`count` small messages at once; when the first was handed to the producer."""
    producer = idempotent_producer(ingest_config.load(kafka_env).bootstrap_servers)
    started = time.time()
    for n in range(count):
        producer.produce(topic, key=str(n % 50), value=b'{"n":%d}' % n)
        producer.poll(0)
    assert producer.flush(30) == 0
    return started


def test_a_burst_fires_once_when_it_goes_quiet_and_dead_letters_never(kafka_env, topics) -> None:
    topic, dead_letters = topics
    with trigger(kafka_env, topics) as fires:
        publish(kafka_env, dead_letters, 200)
        time.sleep(QUIET + SLACK)
        assert fires.wait(1, 0) == [], "dead letters fired the trigger"
        started = publish(kafka_env, topic, 1000)
        (at, messages, _), *more = fires.wait(1, MAX_WAIT + 10)
        time.sleep(QUIET)
    assert (messages, more, fires.seen[1:]) == (1000, [], [])
    assert at - started <= QUIET + SLACK + 1  # the burst itself took well under a second


def test_a_steady_stream_that_is_never_quiet_fires_within_max_wait(kafka_env, topics) -> None:
    topic = topics[0]
    producer = idempotent_producer(ingest_config.load(kafka_env).bootstrap_servers)
    seconds = MAX_WAIT + 3 * SLACK
    with trigger(kafka_env, topics) as fires:
        started, sent = time.time(), 0
        # One message every 0.25 s, so the topic is never quiet for QUIET seconds.
        while time.time() - started < seconds:
            producer.produce(topic, value=b"{}")
            producer.flush(5)
            sent += 1
            time.sleep(0.25)
        ended = time.time()
        seen = fires.wait(1, 0)
    assert seen, f"no fire during {seconds:.0f} s of a steady stream"
    (at, messages, waited), *_ = seen
    assert at < ended and waited <= MAX_WAIT + SLACK, seen
    assert at - started <= MAX_WAIT + SLACK, seen
    assert 0 < messages < sent


def test_a_flood_fires_within_max_wait_and_the_trigger_keeps_up(kafka_env, topics) -> None:
    """20,000 messages a second for 10 s. The probe starts the trigger again after each fire,
    as the triggerer does: each fire comes within MAX_WAIT of the first message it saw, the
    fires count every message exactly once, and the last comes soon after the flood ends (no
    backlog built up: its own consumer group keeps up)."""
    topic, rate, seconds = topics[0], 20_000, 10
    producer = idempotent_producer(ingest_config.load(kafka_env).bootstrap_servers)
    with trigger(kafka_env, topics, deadline=120) as fires:
        started = time.time()
        sent = 0
        for tick in range(seconds * 10):  # paced in tenths of a second
            for _ in range(rate // 10):
                producer.produce(topic, value=b'{"n":1}')
                sent += 1
            producer.poll(0)
            time.sleep(max(0.0, started + (tick + 1) / 10 - time.time()))
        assert producer.flush(30) == 0
        ended = time.time()
        published_rate = sent / (ended - started)
        deadline = time.monotonic() + QUIET + MAX_WAIT + 10
        while sum(fire[1] for fire in fires.seen) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        seen = fires.wait(0, 0)
    assert published_rate > 0.9 * rate, f"the test published only {published_rate:.0f}/s"
    assert sum(messages for _, messages, _ in seen) == sent, seen
    assert max(waited for *_, waited in seen) <= MAX_WAIT + SLACK, seen
    assert len(seen) >= seconds // MAX_WAIT, seen  # it fired during the flood, not only after
    assert seen[-1][0] - ended <= QUIET + 2 * SLACK, seen
