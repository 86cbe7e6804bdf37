"""What went wrong in a dbt command, from its run_results.json, and whether only the event log did.

The event log's writes are the project's on-run-end hooks, a statement each
(macros/ops/event_log.sql): a failing write is a hook's error in run_results.json, beside the
results of the models and tests, and dbt exits 1. The pipeline's runners (the DAG's dbt tasks,
`make build` and `make demo`) go on then, with one warning: a failing write to the log never
fails the pipeline. Run as `python -m lakehouse.dbt_results <dbt command...>`, it runs the
command and exits with its code, 0 when only the event log failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PROBLEM_STATUSES = {"error", "fail", "runtime error"}
# The on-run-end hooks' ids (dbt names them after the project and their place in the list).
EVENT_LOG_HOOK_PREFIX = "operation.lakehouse.lakehouse-on-run-end-"


def problems(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The results that failed or errored."""
    return [r for r in results if r.get("status") in PROBLEM_STATUSES]


def event_log_failure(results: Iterable[Mapping[str, Any]]) -> str | None:
    """The event log's error when it is all that went wrong (no model, seed, snapshot or test
    failed, errored or was skipped); None otherwise."""
    hooks, others = [], []
    for result in results:
        is_hook = result.get("unique_id", "").startswith(EVENT_LOG_HOOK_PREFIX)
        (hooks if is_hook else others).append(result)
    failed_hooks = problems(hooks)
    if not failed_hooks or problems(others) or any(r.get("status") == "skipped" for r in others):
        return None
    return (failed_hooks[0].get("message") or "").strip()


def warning(message: str) -> str:
    first = message.splitlines()[0][:300] if message else "no message"
    return (
        f"event log: not written ({first}); the command's results stand. "
        "LAKEHOUSE_EVENT_LOG=false turns the log off (docs/dbt.md#the-event-log)"
    )


def run(command: Sequence[str], target_dir: Path) -> int:
    """Run a dbt command; its exit code, or 0 if only the event log failed."""
    started = time.time()
    code = subprocess.run(command, check=False).returncode
    results_file = target_dir / "run_results.json"
    if code == 0 or not results_file.exists() or results_file.stat().st_mtime < started:
        return code  # no results of this command: dbt failed before or without them
    failure = event_log_failure(json.loads(results_file.read_text()).get("results", []))
    if failure is None:
        return code
    print(warning(failure), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        raise SystemExit("usage: python -m lakehouse.dbt_results <dbt> <command> [args...]")
    return run(command, Path(os.environ.get("DBT_TARGET_PATH", "target")))


if __name__ == "__main__":
    raise SystemExit(main())
