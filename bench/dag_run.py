"""Benchmark 5: the pipeline DAG on a small batch against the same work done by hand, and the
DAG started by events.

With BENCH_ORDERS orders (default 200), each part on a fresh private stack (metastore, Kafka,
Thrift server), in one run:
- plain: `python -m ingest.bronze`, then `dbt seed` + `dbt build --target thrift`, timed
  (without unit tests, as the DAG's builds);
- `make dag-test`: one `airflow dags test lakehouse_pipeline` on the `thrift` target, once
  Airflow's metadata DB exists (its one-time migration is not timed): its wall time, the run's
  own (its start to its end, from Airflow's metadata DB: without the CLI's start and DAG
  parsing) and the dbt graph's (first dbt task's start to last one's end). Goals
  (docs/benchmarks.md): the dbt graph at most 1.1x the plain seed + build, the whole run at
  most the plain ingest + seed + build + 10 s;
- event-driven: `airflow standalone` up with the pipeline unpaused (as `make airflow` leaves
  it). Its trigger first runs the pipeline for the batch already there; then a second batch
  is published, and the benchmark records the seconds until the trigger's asset event, until
  the run it starts is created, and until that run finishes.

Writes bench/results/dag_run.json. Run it with `make bench`.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from common import DBT, NO_UNIT_TESTS, bench_env, run, services, write_result

from lakehouse import settings
from services import airflow

PIPELINE = "lakehouse_pipeline"


def stack(state: Path) -> settings.Settings:
    return settings.load({"LAKEHOUSE_STATE_DIR": str(state)})


def pipeline_runs(state: Path) -> list[dict]:
    """The pipeline's runs, newest first."""
    return airflow.recent_runs(stack(state), PIPELINE, limit=100)


def finished(state: Path, run_type: str) -> int:
    return sum(
        r["run_type"] == run_type and r["state"] in ("success", "failed")
        for r in pipeline_runs(state)
    )


def last_trigger_event(state: Path) -> datetime:
    """When the Kafka trigger's newest asset event was recorded (UTC)."""
    sql = "select max(timestamp) from asset_event where extra like '%from_trigger%'"
    ((stamp,),) = airflow.metadata_rows(stack(state), sql)
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def wait(what: str, condition, timeout_s: float) -> float:
    """Seconds until `condition()` holds, polled every half second."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"bench: timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.5)
    return time.monotonic() - started


def dbt_graph_seconds(state: Path) -> float:
    """First dbt task's start to the last one's end, in the pipeline's newest run."""
    sql = (
        "select min(julianday(start_date)), max(julianday(end_date)) from task_instance "
        "where dag_id = ? and task_id like 'dbt.%' "
        "and run_id = (select run_id from dag_run where dag_id = ? order by id desc limit 1)"
    )
    ((first, last),) = airflow.metadata_rows(stack(state), sql, (PIPELINE, PIPELINE))
    return (last - first) * 86_400


def dag_run_seconds(state: Path) -> float:
    """The pipeline's newest run, from its start to its end as Airflow records them: the run
    itself, without the `airflow dags test` process's start and DAG parsing before it (a
    scheduler, running already, pays those once, not per run)."""
    sql = (
        "select julianday(start_date), julianday(end_date) from dag_run "
        "where dag_id = ? order by id desc limit 1"
    )
    ((started, ended),) = airflow.metadata_rows(stack(state), sql, (PIPELINE,))
    return (ended - started) * 86_400


def plain_run(orders: str) -> dict[str, float]:
    """What the DAG does, by hand on a fresh stack: ingest, then dbt seed + dbt build."""
    env = {**bench_env("dag-plain"), "DBT_TARGET": "thrift"}
    services(env, "up", "metastore", "kafka", "thrift")
    try:
        produce(env, orders, "5")
        print("bench: plain ingest, dbt seed + dbt build (thrift)", file=sys.stderr)
        ingest_s, _ = run([sys.executable, "-m", "ingest.bronze"], env, quiet=True)
        seed_s, _ = run([DBT, "seed", "--target", "thrift"], env, quiet=True)
        build_s, _ = run([DBT, "build", "--target", "thrift", *NO_UNIT_TESTS], env, quiet=True)
    finally:
        services(env, "down")
    return {"ingest_seconds": ingest_s, "seed_and_build_seconds": seed_s + build_s}


def produce(env: dict[str, str], orders: str, seed: str) -> None:
    run(
        [sys.executable, "-m", "ingest.produce", "--orders", orders, "--seed", seed],
        env,
        quiet=True,
    )


def main() -> None:
    orders = os.environ.get("BENCH_ORDERS", "200")
    plain = plain_run(orders)
    env = {
        **bench_env("dag"),
        "DBT_TARGET": "thrift",
        "LAKEHOUSE_TRIGGER_QUIET_SECONDS": "3",
        # No cron run in the way (catchup=False still runs the latest past time once): the
        # latest 29 February is before the DAG's start_date.
        "LAKEHOUSE_PIPELINE_SCHEDULE": "0 0 29 2 *",
    }
    state = Path(env["LAKEHOUSE_STATE_DIR"])
    services(env, "up", "metastore", "kafka", "thrift")
    try:
        produce(env, orders, "5")
        # The first Airflow command on a new home migrates its metadata DB (about 6 s, once):
        # setup, as `make airflow` does it, not the cost of a run.
        run([sys.executable, "-m", "services.airflow", "version"], env, quiet=True)
        print("bench: make dag-test (airflow dags test, thrift)", file=sys.stderr)
        dag_test_s, _ = run(
            [sys.executable, "-m", "services.airflow", "dags", "test", PIPELINE], env, quiet=True
        )
        graph_s = dbt_graph_seconds(state)
        run_s = dag_run_seconds(state)
        print("bench: event-driven run (airflow standalone)", file=sys.stderr)
        services(env, "up", "airflow")
        # The trigger's consumer group is new, so it first reads what is already there (the
        # batch above): one run for it. Wait for that run to finish before timing a new batch.
        wait("the backlog's run", lambda: finished(state, "asset_triggered") >= 1, 1800)
        earlier = len(pipeline_runs(state))
        produce(env, orders, "6")
        published_at = datetime.now(UTC)
        published = time.monotonic()
        created_s = wait("the triggered run", lambda: len(pipeline_runs(state)) > earlier, 600)
        wait("the triggered run to finish", lambda: finished(state, "asset_triggered") >= 2, 1800)
        finished_s = time.monotonic() - published
        newest = pipeline_runs(state)[0]
        run_id, run_type, final_state = newest["run_id"], newest["run_type"], newest["state"]
        event_s = (last_trigger_event(state) - published_at).total_seconds()
    finally:
        services(env, "down")
    write_result(
        "dag_run",
        {
            "orders_per_batch": int(orders),
            "plain": {k: round(v, 1) for k, v in plain.items()},
            "dag_test_seconds": round(dag_test_s, 1),
            "dag_test_dbt_graph_seconds": round(graph_s, 1),
            "dbt_graph_vs_plain_build": round(graph_s / plain["seed_and_build_seconds"], 2),
            "dbt_graph_goal": 1.1,
            "dag_test_over_plain_seconds": round(dag_test_s - sum(plain.values()), 1),
            "dag_test_run_seconds": round(run_s, 1),
            "dag_test_run_over_plain_seconds": round(run_s - sum(plain.values()), 1),
            "dag_test_over_plain_goal_seconds": 10,
            "event_driven": {
                "run_type": run_type,
                "state": final_state,
                "run_id": run_id,
                "seconds_to_trigger_event": round(event_s, 1),
                "seconds_to_run_created": round(created_s, 1),
                "seconds_to_run_finished": round(finished_s, 1),
                "trigger_quiet_seconds": 3,
            },
        },
    )


if __name__ == "__main__":
    main()
