"""The dbt graph as Airflow tasks (Cosmos), and what Cosmos does not do for us: the `select`
param, a failed test that fails its task for good, and an asset per model.

The `local` target runs Spark inside each dbt process (about 25 s to start each); the stack's
metastore serves any number of them at once, so no pool holds the tasks back. The `thrift`
target runs them on one long-running Spark instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from lakehouse_settings import SETTINGS

PROBLEM_STATUSES = {"error", "fail", "runtime error"}


def plan(select: str, **_: object) -> list[str] | None:
    """The dbt nodes the `select` param picks (None: all), for the graph's tasks to check."""
    if not select.strip():
        return None
    listed = subprocess.run(
        [str(SETTINGS.dbt_executable), "ls", "--select", select, "--output", "json",
         "--output-keys", "unique_id", "--quiet"],
        cwd=SETTINGS.project_dir, env={**os.environ, **SETTINGS.runtime_env},
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
    are skipped (plan, skip_unselected_nodes); every seed and model publishes an asset
    (publish_assets)."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

    manifest = SETTINGS.manifest if SETTINGS.manifest.exists() else None
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=SETTINGS.project_dir,
            manifest_path=manifest,
            project_name="lakehouse",
            env_vars=SETTINGS.task_env,
            install_dbt_deps=False,
        ),
        profile_config=profile_config(),
        execution_config=ExecutionConfig(
            dbt_executable_path=SETTINGS.dbt_executable,
            invocation_mode=InvocationMode.SUBPROCESS,
            # A test of several models runs with the last of them (`dbt build --select orders`
            # runs orders' relationship test to currencies, `--select currencies` does not).
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if manifest else LoadMode.DBT_LS,
            test_behavior=TestBehavior.BUILD,
            dbt_executable_path=SETTINGS.dbt_executable,
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
            **SETTINGS.retry_args,
        },
    )
    publish_assets(group)
    return group


def profile_config() -> Any:
    """Cosmos has no profile mapping for dbt-spark's `session` method: use our profiles.yml."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name="lakehouse",
        target_name=SETTINGS.dbt_target,
        profiles_yml_filepath=SETTINGS.profiles_yml,
    )


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


def model_asset(layer: str, name: str) -> Any:
    """The Airflow asset of a seed or model: `lakehouse://<layer>/<name>` (its schema's layer:
    staging, silver, gold, reference), named `lakehouse.<layer>.<name>`. Schedule a DAG on it
    to run when the table has been built and has passed its tests."""
    from airflow.sdk import Asset

    return Asset(name=f"lakehouse.{layer}.{name}", uri=f"lakehouse://{layer}/{name}")


def publish_assets(group: Any) -> None:
    """What Cosmos does not set per node here: an asset for every seed and model.

    A node's task builds it and runs its tests, and fails if one fails, so downstream DAGs
    see only data that passed its gates. (Cosmos's own assets come from OpenLineage, which has
    no namespace for dbt-spark's `session` method.)
    """
    for unique_id, task in group.tasks_map.items():
        node = group.dbt_graph.filtered_nodes[unique_id]
        if node.resource_type.value in ("model", "seed"):
            layer = node.config.get("schema") or (node.fqn or ["", "default"])[1]
            task.outlets = [model_asset(layer, node.name)]
