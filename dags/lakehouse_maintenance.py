"""`lakehouse_maintenance`: daily Delta upkeep through the project's dbt run-operations.

expire (bronze's events older than the dbt var `bronze_retention_days`, when set) -> optimize
(`OPTIMIZE` bronze's recent partitions and every silver, gold and event log table, with
`ZORDER BY` what readers filter on) -> vacuum (drops files older than `retain_hours`, default
7 days, so time travel keeps a week). See macros/maintenance/delta_maintenance.sql; why it is
safe beside a running ingest job: docs/design.md#bronze-maintenance.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import lakehouse_alerts as alerts
from airflow.sdk import DAG, Param
from cosmos.operators.local import DbtRunOperationLocalOperator
from lakehouse_dbt import dbt_operator_args
from lakehouse_settings import SETTINGS

with DAG(
    dag_id="lakehouse_maintenance",
    description="expire old bronze events, OPTIMIZE (ZORDER BY) and VACUUM the Delta tables",
    schedule=SETTINGS.maintenance_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    tags=["lakehouse"],
    params={
        "retain_hours": Param(
            168, type="integer", minimum=168, description="VACUUM keeps files this recent"
        ),
    },
    default_args={
        "on_failure_callback": [alerts.log_failure, alerts.notifier()],
        **SETTINGS.retry_args,
    },
    doc_md=__doc__,
) as dag:
    dbt_args = dbt_operator_args()
    expire = DbtRunOperationLocalOperator(task_id="expire", macro_name="expire_bronze", **dbt_args)
    optimize = DbtRunOperationLocalOperator(
        task_id="optimize", macro_name="optimize_tables", **dbt_args
    )
    vacuum = DbtRunOperationLocalOperator(
        task_id="vacuum",
        macro_name="vacuum_tables",
        args={"retain_hours": "{{ params.retain_hours }}"},
        **dbt_args,
    )
    expire >> optimize >> vacuum
