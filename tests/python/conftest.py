"""Shared fixtures. The suite never touches a developer's stack: it starts one stack of its own
on free ports with a private state folder and stops it when the run ends: the metastore and a
Kafka broker, and a Thrift server once a test asks for one. Every module, and every pytest-xdist
worker, shares it. Tests keep apart by naming (a topic suffix, a schema, a bronze path and so a
checkpoint), not by processes of their own. Tests that stop a service on purpose, or need
another kind (the standalone cluster, `make up` itself), start their own. docs/testing.md.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import free_port, ok, services, stack_env

STACK_FIXTURES = {"kafka_env", "thrift_env", "registry_env", "spark"}
TIERS = {"unit", "stack", "faults"}
STACK_FILE = "stack-env.json"


# The longest modules first (docs/testing.md), so that xdist's workers, which take a whole
# module at a time in this order, finish at about the same time. The rest keep their order.
LONGEST_FIRST = ("test_dags", "test_pipeline_e2e", "test_bronze_ingest", "test_cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test with no tier mark is `stack` when it uses the shared services, else `unit`."""

    def rank(item: pytest.Item) -> int:
        module = item.path.stem
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a module, file order
    for item in items:
        if not TIERS & {mark.name for mark in item.iter_markers()}:
            uses_stack = STACK_FIXTURES & set(getattr(item, "fixturenames", ()))
            item.add_marker("stack" if uses_stack else "unit")


def _run_root(config: pytest.Config) -> Path:
    """The folder every process of this run shares: xdist workers' base temp is one level down."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if hasattr(config, "workerinput") else base


def _once(config: pytest.Config, name: str, start: Callable[[Path], dict[str, str]]) -> dict:
    """`start` runs in whichever process asks first; the others read what it returned."""
    root = _run_root(config)
    result = root / f"{name}.json"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            return json.loads(result.read_text())
        value = start(root)
        result.write_text(json.dumps(value))
        return value


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The stack goes down once, at the very end: in the xdist controller, after its workers,
    or in the only process (after the session's fixtures, hence trylast)."""
    if hasattr(session.config, "workerinput"):
        return
    started = _run_root(session.config) / STACK_FILE
    if started.exists():
        services(json.loads(started.read_text()), "down")


@pytest.fixture(scope="session")
def kafka_env(pytestconfig: pytest.Config) -> dict[str, str]:
    """The run's stack: the metastore and a Kafka broker."""

    def start(root: Path) -> dict[str, str]:
        env = stack_env(root / "stack")
        (root / STACK_FILE).write_text(json.dumps(env))  # so that a failed start is stopped
        ok(services(env, "up", "metastore", "kafka"))
        return env

    return _once(pytestconfig, "kafka", start)


@pytest.fixture(scope="session")
def thrift_env(pytestconfig: pytest.Config, kafka_env: dict[str, str]) -> dict[str, str]:
    """The run's stack with its Spark Thrift server (stopped with the stack)."""

    def start(_: Path) -> dict[str, str]:
        # A port picked now: one picked when the stack started may have been taken since.
        env = {**kafka_env, "THRIFT_PORT": str(free_port())}
        # It serves every module's builds for the whole run: C2 pays off, and the server's own
        # flags (THRIFT_JAVA_OPTIONS: the parallel collector) apply.
        server_env = {k: v for k, v in env.items() if k != "LAKEHOUSE_SPARK_JAVA_OPTIONS"}
        ok(services(server_env, "up", "thrift"))
        return env

    return _once(pytestconfig, "thrift", start)


@pytest.fixture(scope="session")
def registry_env(pytestconfig: pytest.Config, kafka_env: dict[str, str]) -> dict[str, str]:
    """The run's stack with the schema registry (stopped with the stack), the contract's
    schemas registered."""

    def start(_: Path) -> dict[str, str]:
        env = {**kafka_env, "REGISTRY_PORT": str(free_port())}
        ok(services(env, "up", "registry"))
        return env

    return _once(pytestconfig, "registry", start)


@pytest.fixture(scope="session")
def spark(kafka_env: dict[str, str]):
    """This process's SparkSession, configured like the `local` dbt target, on the run's
    metastore."""
    from ingest.spark_session import build_spark_session

    session = build_spark_session("lakehouse-tests", env=kafka_env)
    yield session
    session.stop()
