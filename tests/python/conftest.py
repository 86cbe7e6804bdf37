"""Shared fixtures. The suite never touches a developer's stack: it starts one stack of its own
on free ports with a private state folder, shared by every module, and stops it when the
session ends: the metastore and a Kafka broker, and a Thrift server once a test asks for one.
Modules keep apart by naming (a topic suffix, a schema, a bronze path and so a checkpoint), not
by processes of their own. Tests that stop a service on purpose, or need another kind (the
standalone cluster, `make up` itself), start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import ok, services, stack_env

STACK_FIXTURES = {"kafka_env", "thrift_env", "spark"}
TIERS = {"unit", "stack", "faults"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test with no tier mark is `stack` when it uses the shared services, else `unit`."""
    for item in items:
        if not TIERS & {mark.name for mark in item.iter_markers()}:
            uses_stack = STACK_FIXTURES & set(getattr(item, "fixturenames", ()))
            item.add_marker("stack" if uses_stack else "unit")


@pytest.fixture(scope="session")
def kafka_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The session's stack: the metastore and a Kafka broker."""
    env = stack_env(tmp_path_factory.mktemp("stack"))
    ok(services(env, "up", "metastore", "kafka"))
    try:
        yield env
    finally:
        services(env, "down")


@pytest.fixture(scope="session")
def thrift_env(kafka_env: dict[str, str]) -> dict[str, str]:
    """The session's stack with its Spark Thrift server (stopped with the stack)."""
    ok(services(kafka_env, "up", "thrift"))
    return kafka_env


@pytest.fixture(scope="session")
def spark(kafka_env: dict[str, str]):
    """The in-process SparkSession, configured like the `local` dbt target, on the session's
    metastore."""
    from ingest.spark_session import build_spark_session

    session = build_spark_session("lakehouse-tests", env=kafka_env)
    yield session
    session.stop()
