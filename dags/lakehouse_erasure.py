"""`lakehouse_erasure`: erase a customer's personal data, on request (a ticket queue triggers
it: `airflow dags trigger lakehouse_erasure --conf '{"customer_id": "...", "requested_by":
"ticket-981"}'`).

erase (`dbt run-operation erase_customer`: bronze, silver and gold rewritten, their old files
vacuumed, the erasure recorded so that replays stay erased) -> gold (`dbt build` of gold: the
aggregates take the customer's orders as `erased`). How and why: docs/design.md#erasure. dbt
writes no log file for the erase (its SQL names the customer); the run's conf and this
task's log do, as the request does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import lakehouse_alerts as alerts
from airflow.sdk import DAG, Param
from cosmos.operators.local import DbtRunOperationLocalOperator
from lakehouse_dbt import dbt_operator_args, record_dbt_problems
from lakehouse_layer_build import LayerBuildOperator
from lakehouse_settings import SETTINGS

with DAG(
    dag_id="lakehouse_erasure",
    description="Erase a customer's personal data from every table and file, then rebuild gold",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    tags=["lakehouse"],
    params={
        "customer_id": Param(type="string", minLength=1, description="the customer to erase"),
        "requested_by": Param(
            type="string", minLength=1, description="who asks: a ticket, a person (recorded)"
        ),
    },
    default_args={
        "on_failure_callback": [alerts.log_failure, alerts.notifier()],
        **SETTINGS.retry_args,
    },
    doc_md=__doc__,
) as dag:
    dbt_args = dbt_operator_args()
    erase = DbtRunOperationLocalOperator(
        task_id="erase",
        macro_name="erase_customer",
        args={
            "customer_id": "{{ params.customer_id }}",
            "requested_by": "{{ params.requested_by }}",
        },
        dbt_cmd_global_flags=["--log-level-file", "none"],
        **dbt_args,
    )
    gold = LayerBuildOperator(
        task_id="gold",
        select="config.schema:gold",
        emit_datasets=False,
        callback=[record_dbt_problems],
        **dbt_args,
    )
    erase >> gold
