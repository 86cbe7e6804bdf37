"""`lakehouse_pipeline`: Kafka -> bronze -> dbt silver and gold, when events arrive (a Kafka
trigger: dags/lakehouse_triggers.py) and on a schedule.

ingest (the bronze job, availableNow: it checks that the broker answers and the topics exist,
logs the lag, drains what arrived and stops) -> the dbt graph (Cosmos: a `dbt build` task per
layer, staging, silver, gold, tests included, bronze's freshness gate first; a failing test
fails its task and stops the layers after it). Every seed and model is an Airflow asset,
`lakehouse://<layer>/<name>`, updated when its layer passes.

Reprocessing from bronze, without touching Kafka: trigger with params, from the UI or
`airflow dags trigger lakehouse_pipeline --conf '{"run_ingest": false, "full_refresh": true}'`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import lakehouse_alerts as alerts
from airflow.sdk import DAG, Param
from lakehouse_dbt import dbt_task_group
from lakehouse_ingest import ingest_step
from lakehouse_settings import SETTINGS, dbt_var_default
from lakehouse_triggers import pipeline_schedule

with DAG(
    dag_id="lakehouse_pipeline",
    description="Kafka -> bronze (availableNow) -> dbt silver and gold",
    schedule=pipeline_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Runs as soon as Airflow has it: `make airflow`, then `make produce`, and a run starts.
    is_paused_upon_creation=False,
    dagrun_timeout=timedelta(hours=2),
    deadline=alerts.deadline(),
    tags=["lakehouse"],
    default_args={"on_failure_callback": [alerts.log_failure, alerts.notifier()]},
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
            "",
            type="string",
            description="a dbt selector of seeds and models (e.g. 'silver+'), with their tests; "
            "empty: everything",
        ),
        "silver_lookback_hours": Param(
            dbt_var_default("silver_lookback_hours"),
            type="integer",
            minimum=0,
            description="silver re-reads this much bronze before its newest row",
        ),
    },
    doc_md=__doc__,
) as dag:
    ingest = ingest_step(
        "ingest",
        f"{SETTINGS.data_python} -m ingest.bronze --available-now",
        execution_timeout=timedelta(hours=1),
    )
    ingest >> dbt_task_group("dbt")
