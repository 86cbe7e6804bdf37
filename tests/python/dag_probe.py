"""With the Airflow venv's Python: `dag_probe.py <dags folder> <out.json>` loads the DAGs as
Airflow does and writes what it found as JSON.

test_dags.py (in the data venv, where dbt lives) compares it with dbt's manifest. Written:
import errors, each file's parse time as the DagBag measured it (for information: a slow
machine is no failure), the programs a parse started (a DAG file must not run dbt or anything
else when it parses), and per DAG its tasks (class, upstream and downstream ids, pool, retries,
outlets, the dbt selection and vars of a Cosmos task).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

SPAWNED: list[str] = []


class _RecordingPopen(subprocess.Popen):
    def __init__(self, args, *rest, **kwargs) -> None:
        SPAWNED.append(str(args))
        super().__init__(args, *rest, **kwargs)


def main(dags_folder: str, out: str) -> None:
    # What Airflow's DAG processor has imported before it parses a file.
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag

    sys.path.insert(0, str(Path(dags_folder).resolve()))  # as Airflow does for its dags folder
    started = time.monotonic()
    subprocess.Popen = _RecordingPopen  # type: ignore[misc]
    try:
        bag = DagBag(dag_folder=dags_folder, safe_mode=False)
    finally:
        subprocess.Popen = _RecordingPopen.__mro__[1]  # type: ignore[misc]
    report = {
        "seconds": time.monotonic() - started,
        "spawned_at_parse": SPAWNED,
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "file_seconds": {
            Path(stat.file).name: stat.duration.total_seconds()
            if hasattr(stat.duration, "total_seconds")
            else float(stat.duration)
            for stat in bag.dagbag_stats
        },
        "dags": {},
    }
    for dag_id, dag in bag.dags.items():
        dag.check_cycle() if hasattr(dag, "check_cycle") else None
        tasks = {}
        for task in dag.tasks:
            tasks[task.task_id] = {
                "class": type(task).__name__,
                "upstream": sorted(task.upstream_task_ids),
                "downstream": sorted(task.downstream_task_ids),
                "pool": task.pool,
                "retries": task.retries,
                "trigger_rule": str(task.trigger_rule),
                "outlets": [getattr(o, "uri", str(o)) for o in task.outlets],
                "select": getattr(task, "select", None),
                "vars": getattr(task, "vars", None),
            }
        report["dags"][dag_id] = {
            "schedule": str(getattr(dag, "schedule", None)),
            "deadlines": [
                {
                    "reference": type(alert.reference).__name__,
                    "minutes": alert.interval.total_seconds() / 60,
                    "callback": alert.callback.path,
                }
                for alert in (dag.deadline or [])
            ],
            "paused_at_creation": dag.is_paused_upon_creation,
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "params": sorted(dag.params.keys()),
            "tasks": tasks,
        }
    # A file, not stdout: Airflow logs to stdout.
    Path(out).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
