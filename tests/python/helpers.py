"""Helpers for tests that run the real stack: private state folders, free ports, subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(state_dir: Path) -> dict[str, str]:
    """Environment for a private stack: its own state folder and free ports."""
    return {
        **os.environ,
        "LAKEHOUSE_STATE_DIR": str(state_dir),
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "THRIFT_PORT": str(free_port()),
        "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DBT_USE_COLORS": "false",
        "DBT_LOG_PATH": str(state_dir / "dbt-logs"),
        "DBT_TARGET_PATH": str(state_dir / "dbt-target"),
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
