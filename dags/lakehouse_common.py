"""What the lakehouse DAGs share: paths, the dbt target, Cosmos configs, callbacks.

Configuration comes from the environment, read once when a DAG file parses (no Variable or
connection lookups there: a DAG file must parse fast and do no I/O beyond the manifest). Each
variable and its default: docs/configuration.md.

The `local` target runs Spark inside each dbt process (about 25 s to start each); the stack's
metastore serves any number of them at once, so no pool holds the tasks back. The `thrift`
target runs them on one long-running Spark instead.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(os.environ.get("LAKEHOUSE_PROJECT_DIR", Path(__file__).resolve().parents[1]))
DATA_VENV = Path(os.environ.get("LAKEHOUSE_DATA_VENV", PROJECT_DIR / ".venv"))
DBT_EXECUTABLE = DATA_VENV / "bin" / "dbt"
DATA_PYTHON = DATA_VENV / "bin" / "python"
PROFILES_YML = PROJECT_DIR / "profiles" / "profiles.yml"
MANIFEST = Path(os.environ.get("LAKEHOUSE_DBT_MANIFEST", PROJECT_DIR / "target" / "manifest.json"))

DBT_TARGET = (
    os.environ.get("AIRFLOW_VAR_LAKEHOUSE_DBT_TARGET") or os.environ.get("DBT_TARGET") or "local"
)
RETRIES = int(os.environ.get("LAKEHOUSE_DBT_RETRIES", "2"))
FALSE_WORDS = {"0", "false", "no", "off"}

# The paths dbt, Spark and the ingest job agree on (as the Makefile sets them).
RUNTIME_ENV = {
    "LAKEHOUSE_STATE_DIR": os.environ.get("LAKEHOUSE_STATE_DIR", str(PROJECT_DIR / ".state")),
    "LAKEHOUSE_JARS_DIR": os.environ.get("LAKEHOUSE_JARS_DIR", str(PROJECT_DIR / ".cache/jars")),
    "DBT_PROFILES_DIR": str(PROFILES_YML.parent),
    "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}

RETRY_ARGS: dict[str, Any] = {
    "retries": RETRIES,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

log = logging.getLogger("lakehouse")


def ingest_settings(env: Mapping[str, str] | None = None) -> Any:
    """The ingest job's settings (ingest/config.py): the one place that says which topics the
    pipeline reads and how to reach the broker. Reads env vars (and the optional YAML file).
    Puts the project on sys.path first: Airflow's processes have only dags/ there."""
    import sys

    if str(PROJECT_DIR) not in sys.path:
        sys.path.append(str(PROJECT_DIR))
    from ingest import config as ingest_config

    return ingest_config.load(os.environ if env is None else env)


def pipeline_schedule() -> Any:
    """When lakehouse_pipeline runs: on the cron schedule (LAKEHOUSE_PIPELINE_SCHEDULE) and, unless
    LAKEHOUSE_PIPELINE_ON_EVENTS is false, within seconds of new events on its topics."""
    cron = os.environ.get("LAKEHOUSE_PIPELINE_SCHEDULE", "*/15 * * * *")
    if os.environ.get("LAKEHOUSE_PIPELINE_ON_EVENTS", "true").strip().lower() in FALSE_WORDS:
        return cron
    import lakehouse_triggers
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    settings = ingest_settings()
    # librdkafka subscribes to a regex when the name starts with ^.
    topics = [f"^{settings.topic_pattern}"] if settings.topic_pattern else settings.topic_names
    watched = lakehouse_triggers.new_events_asset(
        topics,
        ignored_suffix=settings.dead_letter_suffix if settings.dead_letter else None,
        quiet_seconds=float(os.environ.get("LAKEHOUSE_TRIGGER_QUIET_SECONDS", "10")),
        max_wait_seconds=float(os.environ.get("LAKEHOUSE_TRIGGER_MAX_WAIT_SECONDS", "60")),
    )
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=[watched]
    )


def profile_config() -> Any:
    """Cosmos has no profile mapping for dbt-spark's `session` method: use our profiles.yml."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name="lakehouse", target_name=DBT_TARGET, profiles_yml_filepath=PROFILES_YML
    )


PROBLEM_STATUSES = {"error", "fail", "runtime error"}


def record_dbt_problems(project_dir: str, context: dict[str, Any], **_: Any) -> None:
    """Cosmos callback (it runs after every dbt command, failed or not): keep what failed.

    dbt's run_results.json names each failed model and test; the failure callback reports them.
    """
    results_file = Path(project_dir) / "target" / "run_results.json"
    try:
        results = json.loads(results_file.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return
    problems = []
    for result in results:
        if result.get("status") in PROBLEM_STATUSES:
            node = result.get("unique_id", "?")
            detail = (result.get("message") or "").strip().splitlines()
            problems.append(
                f"{node} {result['status']}" + (f": {detail[0][:200]}" if detail else "")
            )
    if problems:
        context["ti"].xcom_push(key="dbt_problems", value=problems)


def failure_facts(context: Mapping[str, Any]) -> dict[str, Any]:
    """What failed: the DAG, run, task and try, the dbt node and its failed tests (or the error)."""
    ti = context.get("ti") or context.get("task_instance")
    task_id = getattr(ti, "task_id", "?")
    node = (getattr(context.get("task"), "extra_context", None) or {}).get("dbt_node_config", {})
    exception = context.get("exception")
    facts: dict[str, Any] = {
        "dag_id": getattr(ti, "dag_id", "?"),
        "run_id": getattr(ti, "run_id", "?"),
        "task_id": task_id,
        "try_number": getattr(ti, "try_number", "?"),
        "dbt_node": node.get("unique_id"),
        "failed": [],
        "error": None,
    }
    problems = None
    if ti is not None and node:
        try:
            problems = ti.xcom_pull(task_ids=task_id, key="dbt_problems")
        except Exception:  # noqa: BLE001 - a summary must never fail the callback
            problems = None
    if problems:
        facts["failed"] = list(problems)
    elif exception is not None:
        lines = str(exception).strip().splitlines()
        facts["error"] = lines[-1][:300] if lines else type(exception).__name__
    return facts


def failure_line(facts: Mapping[str, Any]) -> str:
    """The facts as one line, for logs and alerts."""
    parts = [
        f"lakehouse: {facts['task_id']} failed",
        f"dag={facts['dag_id']}",
        f"run={facts['run_id']}",
        f"try={facts['try_number']}",
    ]
    if facts.get("dbt_node"):
        parts.append(f"dbt_node={facts['dbt_node']}")
    if facts.get("failed"):
        parts.append("failed: " + "; ".join(facts["failed"]))
    elif facts.get("error"):
        parts.append(f"error: {facts['error']}")
    return " | ".join(parts)


def failure_summary(context: Mapping[str, Any]) -> str:
    """One line naming the task, the dbt node and what failed, for logs and alerts."""
    return failure_line(failure_facts(context))


def log_failure(context: dict[str, Any]) -> None:
    log.error(failure_summary(context))


def skip_unselected_nodes(context: dict[str, Any]) -> None:
    """Cosmos tasks' pre_execute: run only the dbt nodes the run's `select` param picked.

    The `plan` task resolves the selector with `dbt ls`; no selector (None) means all nodes.
    """
    from airflow.exceptions import AirflowSkipException

    selected = context["ti"].xcom_pull(task_ids="plan")
    if selected is None:
        return
    node = context["task"].extra_context.get("dbt_node_config", {}).get("unique_id")
    if node not in selected:
        raise AirflowSkipException(f"{node} is not in --select {context['params']['select']!r}")


def gold_asset(model: str) -> Any:
    """The Airflow asset a gold model publishes: schedule downstream DAGs on it."""
    from airflow.sdk import Asset

    return Asset(name=f"lakehouse.gold.{model}", uri=f"lakehouse://gold/{model}")


def finish_dbt_graph(group: Any) -> None:
    """What Cosmos does not set per node: no retries for tests, assets on gold models.

    A failing test is a finding about the data, not a transient fault: retrying it would only
    delay the alert. A gold model's asset is updated by its last task (its tests, when it has
    any), so downstream DAGs see only data that passed its gates.
    """
    from airflow.sdk import TaskGroup

    for unique_id, node_task in group.tasks_map.items():
        tasks = (
            list(node_task.children.values()) if isinstance(node_task, TaskGroup) else [node_task]
        )
        for task in tasks:
            if type(task).__name__.startswith("DbtTest"):
                task.retries = 0
        node = group.dbt_graph.filtered_nodes[unique_id]
        fqn = node.fqn or []
        if node.resource_type.value == "model" and len(fqn) > 2 and fqn[1] == "gold":
            last = next(
                t for t in tasks if not (t.downstream_task_ids & {u.task_id for u in tasks})
            )
            last.outlets = [gold_asset(fqn[-1])]
