"""Helpers for tests that run the real stack: private state folders, free ports, subprocesses."""

from __future__ import annotations

import subprocess
import sys
import uuid
from functools import cache
from pathlib import Path

import fastjsonschema
from confluent_kafka import Consumer, TopicPartition

from ingest import contract
from lakehouse.settings import PROJECT_DIR
from tests.private_stack import free_port, private_stack_env

# What the tests import from here (free_port: tests/private_stack.py, which bench/ uses too).
__all__ = [
    "PROJECT_DIR",
    "VALID_ORDER",
    "VENV_BIN",
    "bootstrap_of",
    "contract_error",
    "dead_letters",
    "free_port",
    "messages_in",
    "ok",
    "run",
    "services",
    "stack_env",
]

VENV_BIN = Path(sys.executable).parent


@cache
def _contract_validator(name: str):
    return fastjsonschema.compile(contract.contracts()[name].schema)


def contract_error(name: str, value: bytes | str | None) -> str | None:
    """Why the message breaks its whole contract (structure and values), or None: the
    reference the dbt checks are compared with. The ingest job checks the structure alone."""
    return contract._check(_contract_validator(name), value)  # the job's own JSON parsing


# The suite's Spark drivers are short-lived and see little data: C1 alone and the serial
# collector cut a driver's CPU by more than half, and CPU is what the suite waits for on two
# cores (docs/testing.md, "The CPU is the budget"). The long-running Thrift server keeps the
# JVM's defaults (conftest.thrift_env). C1 alone also shrinks the code cache to 48 MB by
# default, which a whole dbt build on the cluster test's Thrift server filled ("Out of space in
# CodeCache"), so the cache keeps the size it has with both compilers.
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=240m"


# One order event that keeps the orders contract (schema version 1): tests change a field or two.
VALID_ORDER = {
    "event_id": "0b7f6f3e-1b2c-4d5e-8f90-123456789abc",
    "event_type": "order_placed",
    "event_ts": "2026-01-01T10:00:00.250+01:00",
    "order_id": "ord-1",
    "customer_id": "cus-1",
    "customer_email": "a@example.com",
    "status": "placed",
    "currency": "EUR",
    "order_total": 39.98,
    "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": 19.99}],
    "schema_version": 1,
}


def stack_env(state_dir: Path) -> dict[str, str]:
    """Environment for a private stack: its own state folder and free ports. The event log is
    off: its rows cost each dbt invocation seconds, and the modules that check it (e2e,
    status) turn it on."""
    return {
        **private_stack_env(state_dir),
        "LAKEHOUSE_SPARK_JAVA_OPTIONS": SHORT_LIVED_JVM,
        "LAKEHOUSE_EVENT_LOG": "false",
    }


def bootstrap_of(env: dict[str, str]) -> str:
    return f"127.0.0.1:{env['KAFKA_PORT']}"


def run(
    argv: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def services(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "services", *args], env)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded; the whole output if it did not."""
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def dead_letters(env: dict[str, str], topics: list[str]) -> list[dict]:
    """Everything in the dead-letter topics, read to their end."""
    return messages_in(env, topics)


def messages_in(env: dict[str, str], topics: list[str]) -> list[dict]:
    """Every message in `topics`, read to their end: value, topic and headers."""
    consumer = Consumer(
        {
            "bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"],
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    letters: list[dict] = []
    try:
        for topic in topics:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for partition in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition))
                if high == low:
                    continue
                consumer.assign([TopicPartition(topic, partition, low)])
                while True:
                    msg = consumer.poll(5)
                    assert msg is not None, f"timed out reading {topic}[{partition}]"
                    headers = {k: v.decode() for k, v in msg.headers() or []}
                    letters.append({"value": msg.value(), "topic": topic, **headers})
                    if msg.offset() >= high - 1:
                        break
    finally:
        consumer.close()
    return letters
