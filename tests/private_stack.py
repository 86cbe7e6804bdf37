"""A private stack for a test run or a benchmark: its own state folder and free ports, so that it
never touches a developer's stack. The tests' support, which the benchmarks build on (bench/
may import tests/, never the other way: tests/python/test_layout.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from lakehouse.settings import LOOPBACK, PROJECT_DIR, TELEMETRY_OFF


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different free ports: each stays bound until all are picked, since the kernel
    may hand a port it just gave out and that was closed again to the next bind."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def private_stack_env(state_dir: Path) -> dict[str, str]:
    """Environment for a private stack (tests, benchmarks): its own state folder, free ports,
    and dbt's logs and artifacts inside that folder."""
    kafka_port, controller_port, thrift_port, metastore_port, registry_port = free_ports(5)
    return {
        **os.environ,
        "LAKEHOUSE_STATE_DIR": str(state_dir),
        "KAFKA_PORT": str(kafka_port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_BOOTSTRAP_SERVERS": f"{LOOPBACK}:{kafka_port}",
        "THRIFT_PORT": str(thrift_port),
        "METASTORE_PORT": str(metastore_port),
        "REGISTRY_PORT": str(registry_port),
        "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
        "SPARK_LOCAL_IP": LOOPBACK,
        **TELEMETRY_OFF,
        "DBT_USE_COLORS": "false",
        "DBT_LOG_PATH": str(state_dir / "dbt-logs"),
        "DBT_TARGET_PATH": str(state_dir / "dbt-target"),
    }
