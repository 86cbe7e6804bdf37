"""`lakehouse_pipeline`: Kafka -> bronze -> dbt silver and gold, when events arrive (a Kafka
trigger: dags/lakehouse_triggers.py) and on a schedule.

readiness (broker answers, topics exist) -> ingest (the bronze job, availableNow: it drains
what arrived and stops) -> dbt source freshness -> plan (resolves the `select` param) -> the dbt
graph (Cosmos: a task per seed and model, its tests right after it; a failing test stops what
is downstream). Gold models are Airflow assets, updated when their tests pass.

Reprocessing from bronze, without touching Kafka: trigger with params, from the UI or
`airflow dags trigger lakehouse_pipeline --conf '{"run_ingest": false, "full_refresh": true}'`.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from typing import Any

import lakehouse_alerts as alerts
import lakehouse_common as common
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param
from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

SKIP_WHEN_NO_INGEST = (
    "{% if not params.run_ingest %}echo 'skipped: run_ingest is false'; exit 99{% endif %}\n"
)


COMMON_ENV = {**common.RUNTIME_ENV, "DBT_TARGET": common.DBT_TARGET}


def ingest_step(task_id: str, command: str, **extra: Any) -> BashOperator:
    """A data-venv command of the ingest part: skipped when the run's `run_ingest` is false."""
    return BashOperator(
        task_id=task_id,
        bash_command=SKIP_WHEN_NO_INGEST + command,
        cwd=str(common.PROJECT_DIR),
        env=COMMON_ENV,
        append_env=True,
        skip_on_exit_code=99,
        **{**common.RETRY_ARGS, **extra},
    )


def plan(select: str, **_: object) -> list[str] | None:
    """The dbt nodes the `select` param picks (None: all), for the graph's tasks to check."""
    import subprocess

    if not select.strip():
        return None
    listed = subprocess.run(
        [str(common.DBT_EXECUTABLE), "ls", "--select", select, "--output", "json",
         "--output-keys", "unique_id", "--quiet"],
        cwd=common.PROJECT_DIR, env={**os.environ, **common.RUNTIME_ENV},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        raise RuntimeError(f"dbt ls --select {select!r} failed:\n{listed.stdout}{listed.stderr}")
    nodes = [json.loads(line)["unique_id"] for line in listed.stdout.splitlines() if line.strip()]
    if not nodes:
        raise ValueError(f"--select {select!r} matches no dbt node: nothing to reprocess")
    return nodes


with DAG(
    dag_id="lakehouse_pipeline",
    description="Kafka -> bronze (availableNow) -> dbt silver and gold",
    schedule=common.pipeline_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Runs as soon as Airflow has it: `make airflow`, then `make produce`, and a run starts.
    is_paused_upon_creation=False,
    dagrun_timeout=timedelta(hours=2),
    deadline=alerts.deadline(),
    tags=["lakehouse"],
    default_args={"on_failure_callback": [common.log_failure, alerts.notifier()]},
    params={
        "run_ingest": Param(
            True,
            type="boolean",
            description="ingest from Kafka first; false reprocesses bronze only",
        ),
        "full_refresh": Param(
            False, type="boolean", description="rebuild incremental models from bronze"
        ),
        "select": Param(
            "", type="string", description="a dbt selector (e.g. 'silver+'); empty: everything"
        ),
        "silver_lookback_hours": Param(
            1,
            type="integer",
            minimum=0,
            description="silver re-reads this much bronze before its newest row",
        ),
    },
    doc_md=__doc__,
) as dag:
    readiness = ingest_step("readiness", f"{common.DATA_PYTHON} -m ingest.bronze --check")
    ingest = ingest_step(
        "ingest",
        f"{common.DATA_PYTHON} -m ingest.bronze --available-now",
        execution_timeout=timedelta(hours=1),
    )
    # A stale source is a finding about the data, as a failing test is: not retried.
    freshness = ingest_step(
        "source_freshness",
        f"{common.DBT_EXECUTABLE} source freshness --target {common.DBT_TARGET}",
        retries=0,
    )
    plan_nodes = PythonOperator(
        task_id="plan",
        python_callable=plan,
        op_kwargs={"select": "{{ params.select }}"},
        trigger_rule="none_failed",
    )

    dbt_graph = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=common.PROJECT_DIR,
            manifest_path=common.MANIFEST if common.MANIFEST.exists() else None,
            project_name="lakehouse",
            env_vars=COMMON_ENV,
            install_dbt_deps=False,
        ),
        profile_config=common.profile_config(),
        execution_config=ExecutionConfig(
            dbt_executable_path=common.DBT_EXECUTABLE,
            invocation_mode=InvocationMode.SUBPROCESS,
            # A test of several models runs after the last of them (`dbt test --select orders`
            # runs orders' relationship test to currencies, `--select currencies` does not).
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if common.MANIFEST.exists() else LoadMode.DBT_LS,
            test_behavior=TestBehavior.AFTER_EACH,
            dbt_executable_path=common.DBT_EXECUTABLE,
            invocation_mode=InvocationMode.SUBPROCESS,
            emit_datasets=False,
        ),
        operator_args={
            "full_refresh": "{{ params.full_refresh }}",
            "vars": {"silver_lookback_hours": "{{ params.silver_lookback_hours }}"},
            # Nodes the `select` param leaves out are skipped, and what is downstream of them
            # still runs; a failed model or test stops everything behind it.
            "pre_execute": common.skip_unselected_nodes,
            "callback": common.record_dbt_problems,
            "trigger_rule": "none_failed",
            **common.RETRY_ARGS,
        },
    )

    readiness >> ingest >> freshness >> plan_nodes >> dbt_graph
    common.finish_dbt_graph(dbt_graph)
