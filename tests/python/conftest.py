"""Shared fixtures. The suite never touches a developer's stack: every service it starts runs
on free ports with its own state folder, and is stopped when the suite ends.

Embedded Derby admits one JVM per metastore, so the in-process SparkSession, the dbt
subprocesses and the Thrift server each get a state folder of their own where they would
otherwise overlap.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import ok, services, stack_env


@pytest.fixture(scope="session")
def kafka_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private Kafka broker for the session."""
    env = stack_env(tmp_path_factory.mktemp("kafka-stack"))
    ok(services(env, "up", "kafka"))
    try:
        yield env
    finally:
        services(env, "down")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The in-process SparkSession, configured like the `local` dbt target."""
    from ingest.spark_session import build_spark_session

    session = build_spark_session(
        "lakehouse-tests", env=stack_env(tmp_path_factory.mktemp("spark-state"))
    )
    yield session
    session.stop()
