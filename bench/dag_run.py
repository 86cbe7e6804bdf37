"""Benchmark 5: the pipeline DAG on a small batch, run by hand and started by events.

On a private stack (metastore, Kafka, Thrift server) with BENCH_ORDERS orders (default 200):
- `make dag-test`: one `airflow dags test lakehouse_pipeline` on the `thrift` target, wall time
  (the goal: under 3 minutes on the 2-core machine);
- event-driven: `airflow standalone` up with the pipeline unpaused (as `make airflow` leaves
  it), a second batch published, then the seconds until the Kafka trigger's run is created
  and until it finishes.

Writes bench/results/dag_run.json. Run it with `make bench`.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

from common import bench_env, run, services, write_result

PIPELINE = "lakehouse_pipeline"


def pipeline_runs(state: Path) -> list[tuple[str, str, str]]:
    """(run_id, run_type, state) of each pipeline run, from Airflow's SQLite metadata DB."""
    database = state / "airflow" / "airflow.db"
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(
                "select run_id, run_type, state from dag_run where dag_id = ? order by id",
                (PIPELINE,),
            ).fetchall()
    except sqlite3.OperationalError:
        return []


def wait(what: str, condition, timeout_s: float) -> float:
    """Seconds until `condition()` holds, polled every half second."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"bench: timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - started


def produce(env: dict[str, str], orders: str, seed: str) -> None:
    run(
        [sys.executable, "-m", "ingest.produce", "--orders", orders, "--seed", seed],
        env,
        quiet=True,
    )


def main() -> None:
    orders = os.environ.get("BENCH_ORDERS", "200")
    env = {**bench_env("dag"), "DBT_TARGET": "thrift", "LAKEHOUSE_TRIGGER_QUIET_SECONDS": "3"}
    state = Path(env["LAKEHOUSE_STATE_DIR"])
    services(env, "up", "metastore", "kafka", "thrift")
    try:
        produce(env, orders, "5")
        print("bench: make dag-test (airflow dags test, thrift)", file=sys.stderr)
        dag_test_s, _ = run(
            [sys.executable, "-m", "services.airflow", "dags", "test", PIPELINE], env, quiet=True
        )
        print("bench: event-driven run (airflow standalone)", file=sys.stderr)
        services(env, "up", "airflow")
        earlier = len(pipeline_runs(state))
        produce(env, orders, "6")
        published = time.monotonic()
        created_s = wait("the triggered run", lambda: len(pipeline_runs(state)) > earlier, 600)
        wait(
            "the triggered run to finish",
            lambda: pipeline_runs(state)[-1][2] in ("success", "failed"),
            1800,
        )
        finished_s = time.monotonic() - published
        run_id, run_type, final_state = pipeline_runs(state)[-1]
    finally:
        services(env, "down")
    write_result(
        "dag_run",
        {
            "orders_per_batch": int(orders),
            "dag_test_seconds": round(dag_test_s, 1),
            "event_driven": {
                "run_type": run_type,
                "state": final_state,
                "run_id": run_id,
                "seconds_to_run_created": round(created_s, 1),
                "seconds_to_run_finished": round(finished_s, 1),
                "trigger_quiet_seconds": 3,
            },
        },
    )


if __name__ == "__main__":
    main()
