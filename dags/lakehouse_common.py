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
import sys
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

# Airflow's processes have only dags/ on sys.path: the project's packages need it too.
if str(PROJECT_DIR) not in sys.path:
    sys.path.append(str(PROJECT_DIR))
from lakehouse import settings as stack_settings  # noqa: E402 - needs the path above

_STACK = stack_settings.load()
# The paths dbt, Spark and the ingest job agree on (lakehouse/settings.py decides them).
RUNTIME_ENV = {
    "LAKEHOUSE_STATE_DIR": str(_STACK.state_dir),
    "LAKEHOUSE_JARS_DIR": str(_STACK.jars_dir),
    "DBT_PROFILES_DIR": str(PROFILES_YML.parent),
    "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}

# What every task that runs dbt or the ingest job gets.
TASK_ENV = {**RUNTIME_ENV, "DBT_TARGET": DBT_TARGET}

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
    """
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


SKIP_WHEN_NO_INGEST = (
    "{% if not params.run_ingest %}echo 'skipped: run_ingest is false'; exit 99{% endif %}\n"
)


def ingest_step(task_id: str, command: str, **extra: Any) -> Any:
    """A data-venv command of the ingest part: skipped when the run's `run_ingest` is false."""
    from airflow.providers.standard.operators.bash import BashOperator

    return BashOperator(
        task_id=task_id,
        bash_command=SKIP_WHEN_NO_INGEST + command,
        cwd=str(PROJECT_DIR),
        env=TASK_ENV,
        append_env=True,
        skip_on_exit_code=99,
        **{**RETRY_ARGS, **extra},
    )


def plan(select: str, **_: object) -> list[str] | None:
    """The dbt nodes the `select` param picks (None: all), for the graph's tasks to check."""
    import subprocess

    if not select.strip():
        return None
    listed = subprocess.run(
        [str(DBT_EXECUTABLE), "ls", "--select", select, "--output", "json",
         "--output-keys", "unique_id", "--quiet"],
        cwd=PROJECT_DIR, env={**os.environ, **RUNTIME_ENV},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        raise RuntimeError(f"dbt ls --select {select!r} failed:\n{listed.stdout}{listed.stderr}")
    nodes = [json.loads(line)["unique_id"] for line in listed.stdout.splitlines() if line.strip()]
    if not nodes:
        raise ValueError(f"--select {select!r} matches no dbt node: nothing to reprocess")
    return nodes


def dbt_task_group(group_id: str) -> Any:
    """The dbt graph as Cosmos tasks: a `dbt build` per seed and model, its tests included (one
    dbt process per node, not two: docs/benchmarks.md). A failing test fails its
    task, not retried, and stops what is downstream. Nodes the run's `select` param leaves out
    are skipped (plan, skip_unselected_nodes); gold's tasks publish assets (finish_dbt_graph)."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=PROJECT_DIR,
            manifest_path=MANIFEST if MANIFEST.exists() else None,
            project_name="lakehouse",
            env_vars=TASK_ENV,
            install_dbt_deps=False,
        ),
        profile_config=profile_config(),
        execution_config=ExecutionConfig(
            dbt_executable_path=DBT_EXECUTABLE,
            invocation_mode=InvocationMode.SUBPROCESS,
            # A test of several models runs with the last of them (`dbt build --select orders`
            # runs orders' relationship test to currencies, `--select currencies` does not).
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if MANIFEST.exists() else LoadMode.DBT_LS,
            test_behavior=TestBehavior.BUILD,
            dbt_executable_path=DBT_EXECUTABLE,
            invocation_mode=InvocationMode.SUBPROCESS,
            emit_datasets=False,
        ),
        operator_args={
            "full_refresh": "{{ params.full_refresh }}",
            "vars": {"silver_lookback_hours": "{{ params.silver_lookback_hours }}"},
            # Nodes the `select` param leaves out are skipped, and what is downstream of them
            # still runs; a failed model or test stops everything behind it.
            "pre_execute": skip_unselected_nodes,
            "callback": [record_dbt_problems, fail_failed_tests_for_good],
            "trigger_rule": "none_failed",
            **RETRY_ARGS,
        },
    )
    finish_dbt_graph(group)
    return group


def profile_config() -> Any:
    """Cosmos has no profile mapping for dbt-spark's `session` method: use our profiles.yml."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name="lakehouse", target_name=DBT_TARGET, profiles_yml_filepath=PROFILES_YML
    )


PROBLEM_STATUSES = {"error", "fail", "runtime error"}


def run_results(project_dir: str) -> list[dict[str, Any]]:
    """The results in dbt's run_results.json of a Cosmos task's dbt command (none if absent)."""
    results_file = Path(project_dir) / "target" / "run_results.json"
    try:
        return list(json.loads(results_file.read_text())["results"])
    except (OSError, ValueError, KeyError):
        return []


def record_dbt_problems(project_dir: str, context: dict[str, Any], **_: Any) -> None:
    """Cosmos callback (it runs after every dbt command, failed or not): keep what failed.

    dbt's run_results.json names each failed model and test; the failure callback reports them.
    """
    problems = []
    for result in run_results(project_dir):
        if result.get("status") in PROBLEM_STATUSES:
            node = result.get("unique_id", "?")
            detail = (result.get("message") or "").strip().splitlines()
            problems.append(
                f"{node} {result['status']}" + (f": {detail[0][:200]}" if detail else "")
            )
    if problems:
        context["ti"].xcom_push(key="dbt_problems", value=problems)


def fail_failed_tests_for_good(project_dir: str, **_: Any) -> None:
    """Cosmos callback, after record_dbt_problems: a test that failed (status `fail`: it found
    rows) fails its task without retries. It is a finding about the data, not a transient
    fault: retrying would rebuild the model, fail again and only delay the alert. A model's
    error, or a test's (`error`: its query did not run), is retried as usual."""
    from airflow.sdk.exceptions import AirflowFailException

    failed = [r.get("unique_id") for r in run_results(project_dir) if r.get("status") == "fail"]
    if failed:
        raise AirflowFailException(f"dbt tests failed (not retried): {', '.join(failed)}")


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
    from airflow.sdk.exceptions import AirflowSkipException

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
    """What Cosmos does not set per node: the assets of gold models.

    A gold model's task builds it and runs its tests, and fails if one fails, so downstream
    DAGs see only data that passed its gates.
    """
    for unique_id, task in group.tasks_map.items():
        node = group.dbt_graph.filtered_nodes[unique_id]
        fqn = node.fqn or []
        if node.resource_type.value == "model" and len(fqn) > 2 and fqn[1] == "gold":
            task.outlets = [gold_asset(fqn[-1])]
