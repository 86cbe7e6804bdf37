"""The dbt graph as Airflow tasks, one Cosmos `dbt build` task per layer, and what Cosmos does
not do for us: the `select` param, bronze's freshness gate, a failed test that fails its task
for good, the failed node in the alert, and an asset per seed and model.

One `dbt build` per layer, not one per node: each dbt process pays about 3 s to start and load
the project (and 25 s more on the `local` target, which starts Spark), so a task per node made
the graph a third slower than a plain `dbt build` (docs/benchmarks.md). Within a layer, dbt
orders the nodes, runs each node's tests right after it and skips what is downstream of a
failure; between layers, Airflow does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from lakehouse_settings import SETTINGS

from lakehouse.dbt_results import event_log_failure, problems

# The graph's tasks, in build order, and the dbt schemas each builds: a node's layer is its
# schema, as in its asset's name. A seed or model in no layer would never be built by the DAG,
# so the DAG refuses to load then (nodes_by_layer).
LAYERS: dict[str, tuple[str, ...]] = {
    "staging": ("reference", "staging"),
    "silver": ("silver",),
    "gold": ("gold",),
}
BUILT_TYPES = ("model", "seed")
# The layer that also runs the sources' tests, before its models: bronze's freshness gate
# (tests/generic/freshness_gate.sql), on when the run ingests, so a stale bronze stops the
# build without a `dbt source freshness` process and task of its own.
SOURCE_TESTS_LAYER = "staging"


def layer_of(schema: str, node: str) -> str:
    """The layer of a seed or model of `schema`; a node in no layer stops the DAG loudly."""
    layer = next((layer for layer, schemas in LAYERS.items() if schema in schemas), None)
    if layer is None:
        raise ValueError(
            f"{node} is in schema {schema!r}, in no layer of dags/lakehouse_dbt.py LAYERS: "
            "the pipeline DAG would never build it"
        )
    return layer


def plan(select: str, **_: object) -> dict[str, list[str]] | None:
    """The seeds and models the `select` param picks, by layer (None: all of them). Each layer
    task asks (build_planned_nodes): a `dbt ls` each, paid only by runs with a `select`."""
    if not select.strip():
        return None
    listed = subprocess.run(
        [str(SETTINGS.dbt_executable), "ls", "--select", select, "--output", "json",
         "--output-keys", "name config", "--resource-type", "model", "--resource-type", "seed",
         "--quiet"],
        cwd=SETTINGS.project_dir, env={**os.environ, **SETTINGS.runtime_env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        raise RuntimeError(f"dbt ls --select {select!r} failed:\n{listed.stdout}{listed.stderr}")
    by_layer: dict[str, list[str]] = {layer: [] for layer in LAYERS}
    for node in (json.loads(line) for line in listed.stdout.splitlines() if line.strip()):
        by_layer[layer_of(node["config"]["schema"], node["name"])].append(node["name"])
    if not any(by_layer.values()):
        raise ValueError(f"--select {select!r} matches no seed or model: nothing to reprocess")
    return by_layer


def nodes_by_layer(manifest: Path) -> dict[str, list[tuple[str, str]]]:
    """The project's seeds and models by layer, as (schema, name), from dbt's manifest (none
    without one: the tasks still build every layer, but publish no assets)."""
    by_layer: dict[str, list[tuple[str, str]]] = {layer: [] for layer in LAYERS}
    if not manifest.exists():
        return by_layer
    for node in json.loads(manifest.read_text())["nodes"].values():
        if node["resource_type"] in BUILT_TYPES and node["package_name"] == "lakehouse":
            schema = node["config"]["schema"]
            by_layer[layer_of(schema, node["unique_id"])].append((schema, node["name"]))
    return by_layer


def dbt_task_group(group_id: str) -> Any:
    """The dbt graph: a `dbt build` task per layer, each node's tests included. A failing test
    fails its layer's task, not retried, and stops the layers after it; an error is retried.
    Seeds and models the run's `select` param leaves out are not built (build_planned_nodes);
    each layer's task publishes its seeds' and models' assets (model_asset)."""
    from airflow.sdk import TaskGroup
    from cosmos.constants import InvocationMode
    from lakehouse_layer_build import LayerBuildOperator

    by_layer = nodes_by_layer(SETTINGS.manifest)
    with TaskGroup(group_id=group_id) as group:
        previous = None
        for layer, schemas in LAYERS.items():
            task = LayerBuildOperator(
                task_id=layer,
                **dbt_operator_args(),
                invocation_mode=InvocationMode.SUBPROCESS,
                select=" ".join(
                    [f"config.schema:{schema}" for schema in schemas]
                    + (["source:*"] if layer == SOURCE_TESTS_LAYER else [])
                ),
                # A test of several models runs with the last of them: orders' relationship
                # test to the currencies seed runs in the silver layer, not in staging.
                indirect_selection="buildable",
                full_refresh="{{ params.full_refresh }}",
                vars={
                    "silver_lookback_hours": "{{ params.silver_lookback_hours }}",
                    "bronze_freshness_gate": "{{ params.run_ingest }}",
                },
                emit_datasets=False,
                outlets=[model_asset(schema, name) for schema, name in by_layer[layer]],
                pre_execute=build_planned_nodes,
                callback=[record_dbt_problems, fail_failed_tests_for_good],
                # A layer the `select` param leaves out does not stop the next.
                trigger_rule="none_failed",
                doc_md=f"`dbt build` of schema {' and '.join(schemas)}, tests included.",
                **SETTINGS.retry_args,
            )
            if previous is not None:
                previous >> task
            previous = task
    return group


def dbt_operator_args() -> dict[str, Any]:
    """What every Cosmos operator of the project's DAGs is given: the project, the profile,
    dbt and its environment."""
    return {
        "project_dir": str(SETTINGS.project_dir),
        "profile_config": profile_config(),
        "dbt_executable_path": str(SETTINGS.dbt_executable),
        "env": SETTINGS.task_env,
        "install_deps": False,
    }


def profile_config() -> Any:
    """Cosmos has no profile mapping for dbt-spark's `session` method: use our profiles.yml."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name="lakehouse",
        target_name=SETTINGS.dbt_target,
        profiles_yml_filepath=SETTINGS.profiles_yml,
    )


def build_planned_nodes(context: dict[str, Any]) -> None:
    """A layer task's pre_execute: build only the seeds and models the run's `select` param
    picks (plan; empty: the whole layer); skip the layer if it has none."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    try:
        planned = plan(context["params"]["select"])
    except (RuntimeError, ValueError) as error:  # a bad param: retrying cannot help
        raise AirflowFailException(str(error)) from error
    if planned is None:
        return
    task = context["task"]
    layer = task.task_id.rsplit(".", 1)[-1]
    if not planned.get(layer):
        raise AirflowSkipException(f"--select {context['params']['select']!r}: none in {layer}")
    task.select = " ".join(planned[layer])
    # Only what is built gets an asset event: a DAG waiting on another model must not run.
    task.outlets = [a for a in task.outlets if a.name.rsplit(".", 1)[-1] in planned[layer]]


def target_file(project_dir: str, name: str) -> Any:
    """A JSON file dbt wrote in a Cosmos task's target/ (None if absent or unreadable)."""
    try:
        return json.loads((Path(project_dir) / "target" / name).read_text())
    except (OSError, ValueError):
        return None


def run_results(project_dir: str) -> list[dict[str, Any]]:
    """The results in dbt's run_results.json of a Cosmos task's dbt command (none if absent)."""
    return list((target_file(project_dir, "run_results.json") or {}).get("results", []))


def tested_node(unique_id: str, manifest: dict[str, Any] | None) -> str:
    """The seed or model a test checks (for a test of several, the one it is attached to); the
    node itself if it is no test."""
    node = ((manifest or {}).get("nodes") or {}).get(unique_id) or {}
    if node.get("resource_type") != "test":
        return unique_id
    parents = (node.get("depends_on") or {}).get("nodes") or []
    return node.get("attached_node") or (parents[-1] if parents else unique_id)


def record_dbt_problems(project_dir: str, context: dict[str, Any], **_: Any) -> None:
    """Cosmos callback (it runs after every dbt command, failed or not): keep what failed.

    dbt's run_results.json names each failed model and test; the failure callback reports them,
    and the seed or model of the first (`dbt_node`). When the event log's hooks are all that
    failed, the task goes on (lakehouse_layer_build).
    """
    results = run_results(project_dir)
    failure = event_log_failure(results)
    if failure is not None:
        context["task"].event_log_failure = failure
        return
    lines, nodes = [], []
    for result in problems(results):
        node = result.get("unique_id", "?")
        detail = (result.get("message") or "").strip().splitlines()
        lines.append(f"{node} {result['status']}" + (f": {detail[0][:200]}" if detail else ""))
        nodes.append(node)
    if lines:
        manifest = target_file(project_dir, "manifest.json")
        context["ti"].xcom_push(key="dbt_problems", value=lines)
        context["ti"].xcom_push(key="dbt_node", value=tested_node(nodes[0], manifest))


def fail_failed_tests_for_good(project_dir: str, **_: Any) -> None:
    """Cosmos callback, after record_dbt_problems: a test that failed (status `fail`: it found
    rows) fails its task without retries. It is a finding about the data, not a transient
    fault: retrying would rebuild the layer, fail again and only delay the alert. A model's
    error, or a test's (`error`: its query did not run), is retried as usual."""
    from airflow.sdk.exceptions import AirflowFailException

    failed = [r.get("unique_id") for r in run_results(project_dir) if r.get("status") == "fail"]
    if failed:
        raise AirflowFailException(f"dbt tests failed (not retried): {', '.join(failed)}")


def model_asset(schema: str, name: str) -> Any:
    """The Airflow asset of a seed or model: `lakehouse://<schema>/<name>` (the schema less its
    prefix: staging, silver, gold, reference), named `lakehouse.<schema>.<name>`. Schedule a
    DAG on it to run when the table has been built and its layer task has passed."""
    from airflow.sdk import Asset

    return Asset(name=f"lakehouse.{schema}.{name}", uri=f"lakehouse://{schema}/{name}")
