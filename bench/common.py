"""What the benchmarks share: a private stack, machine facts, and writing results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakehouse import settings
from lakehouse.settings import PROJECT_DIR
from tests.private_stack import private_stack_env

RESULTS_DIR = PROJECT_DIR / "bench" / "results"
DBT = str(Path(sys.executable).parent / "dbt")  # the venv's dbt, beside this interpreter
# What the DAG's layer builds leave out (dags/lakehouse_layer_build.py): a benchmark of the
# whole project as it runs on a schedule leaves it out too.
NO_UNIT_TESTS = ("--exclude-resource-type", "unit_test")
# How busy the machine was when the benchmark began (bench_env), not when it wrote its result.
_at_start: dict[str, Any] = {}


def bench_env(name: str) -> dict[str, str]:
    """A private stack whose state folder is kept under the project's, for a look afterwards."""
    _at_start["load_average"] = os.getloadavg()
    state_root = settings.load().state_dir
    return private_stack_env(state_root / "bench" / f"{name}-{datetime.now():%Y%m%d-%H%M%S}")


def run(
    argv: list[str], env: dict[str, str], quiet: bool = False, capture: bool = True
) -> tuple[float, str]:
    """Run a command to completion; its wall time and stdout (unless it goes to the terminal,
    `capture=False`, for commands whose progress is on stdout). Fails loudly."""
    started = time.monotonic()
    done = subprocess.run(
        argv,
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE if capture else None,
        # Progress goes to the terminal, or, quiet, is kept to say why a command failed.
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = (done.stdout or "") + (done.stderr or "")[-5000:]
        raise SystemExit(f"bench: {' '.join(argv)} exited {done.returncode}\n{said}")
    return time.monotonic() - started, done.stdout or ""


def services(env: dict[str, str], *args: str) -> None:
    run([sys.executable, "-m", "services", *args], env, quiet=True)


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split()
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "python": platform.python_version(),
        "java": (java.stderr.splitlines() or ["?"])[0],
        "load_average_at_start": _at_start.get("load_average"),
        "load_average_at_finish": os.getloadavg(),
    }


def commit() -> str:
    """The code measured: HEAD, marked `-dirty` when the worktree has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def write_result(name: str, result: dict[str, Any]) -> Path:
    """One file per benchmark (`bench/results/<name>.json`): a new run replaces the last one,
    whose figures stay in git's history (docs/benchmarks.md)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    result = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        **result,
    }
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"bench: wrote {path.relative_to(PROJECT_DIR)}", file=sys.stderr)
    return path
