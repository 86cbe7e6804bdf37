"""The Airflow DAGs: they load as Airflow loads them, the dbt graph is one build per layer in
dbt's order, and real runs (`airflow standalone` and `airflow dags test` on the real broker and
Spark) move events to gold when they arrive, reprocess from bronze on params, and stop at a
failing data-quality test. (That a run with nothing new changes nothing is
test_pipeline_e2e.py's rerun test, down to the files: the DAG runs the same commands.)

Airflow lives in its own venv (.venv-airflow): these tests drive it through subprocesses, and
read the DAGs through tests/python/dag_probe.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
import uuid
from datetime import timedelta

import pytest
from helpers import PROJECT_DIR, VENV_BIN, free_port, messages_in, ok, run, services
from pipeline_oracle import (
    assert_gold_matches,
    bad_total_orders,
    expected_gold,
    publish_orders,
    publish_part,
    table_rows,
)

from ingest import config as ingest_config
from ingest.generator import Trouble, generate
from ingest.kafka_client import ensure_topics
from lakehouse import settings as stack_settings
from services import airflow as airflow_service
from services.status import airflow_status, render_airflow_runs

AIRFLOW_PYTHON = PROJECT_DIR / ".venv-airflow" / "bin" / "python"
DAGS = PROJECT_DIR / "dags"
PIPELINE = "lakehouse_pipeline"
LAYER_TASKS = ["dbt.staging", "dbt.silver", "dbt.gold"]


def load_dags_module(name: str):
    """A module of dags/ as the DAG processor imports it (dags/ on the path)."""
    if str(DAGS) not in sys.path:
        sys.path.append(str(DAGS))
    spec = importlib.util.spec_from_file_location(name, DAGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    """A fresh `dbt parse` of the project (what `make setup` gives Cosmos)."""
    target = tmp_path_factory.mktemp("dbt-parse")
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target / "logs"),
    }
    ok(run([str(VENV_BIN / "dbt"), "parse", "--quiet"], env))
    return {"path": target / "manifest.json", **json.loads((target / "manifest.json").read_text())}


@pytest.fixture(scope="module")
def probe(manifest, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow-probe")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "LAKEHOUSE_DBT_MANIFEST": str(manifest["path"]),
        "LAKEHOUSE_STATE_DIR": str(home / "state"),
    }
    out = home / "probe.json"
    ok(
        run(
            [
                str(AIRFLOW_PYTHON),
                str(PROJECT_DIR / "tests/python/dag_probe.py"),
                str(DAGS),
                str(out),
            ],
            env,
        )
    )
    return json.loads(out.read_text())


# --- the DAG files ----------------------------------------------------------------------------


def test_every_dag_file_imports_without_errors_and_starts_nothing_when_parsed(probe) -> None:
    assert probe["import_errors"] == {}
    assert set(probe["dags"]) == {PIPELINE, "lakehouse_maintenance", "lakehouse_erasure"}
    assert set(probe["file_seconds"]) == {
        "lakehouse_pipeline.py", "lakehouse_maintenance.py", "lakehouse_erasure.py"
    }  # fmt: skip
    # Thin DAG files: Cosmos renders from the manifest, no `dbt ls` or other program at parse
    # time. (The parse time itself is no test: a slow machine is no failure.)
    assert probe["spawned_at_parse"] == []


def test_the_pipeline_dag_is_scheduled_one_run_at_a_time_with_operator_params(probe) -> None:
    dag = probe["dags"][PIPELINE]
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    # New events (a Kafka trigger, debounced) or the cron fallback, whichever comes first.
    assert dag["schedule"].startswith("AssetOrTimeSchedule(")
    assert "*/15 * * * *" in dag["schedule"] and "NewEventsTrigger" in dag["schedule"]
    assert "topics=['orders', 'payments']" in dag["schedule"]
    # The SLA: an hour after a run is queued, the alerts module's callback (in the triggerer).
    assert dag["deadlines"] == [{
        "reference": "DagRunQueuedAtDeadline", "minutes": 60.0,
        "callback": "lakehouse_alerts.run_over_deadline",
    }]  # fmt: skip
    assert dag["paused_at_creation"] is False
    assert set(dag["params"]) == {"run_ingest", "full_refresh", "select", "silver_lookback_hours"}
    tasks = dag["tasks"]
    # The ingest job checks the broker and topics itself before Spark starts: no task of its own.
    assert [t for t, v in tasks.items() if not v["upstream"]] == ["ingest"]
    assert tasks["ingest"]["downstream"] == ["dbt.staging"]
    assert tasks["ingest"]["retries"] == 2  # a broker restart is worth a retry
    # Bronze's freshness is a test of the staging layer's build, on when the run ingests.
    staging = tasks["dbt.staging"]
    assert staging["select"].split() == [
        "config.schema:reference", "config.schema:staging", "source:*"
    ]  # fmt: skip
    assert staging["vars"]["bronze_freshness_gate"] == "{{ params.run_ingest }}"
    # Local target: the shared metastore holds no dbt task back (no one-slot pool). A task is
    # retried on errors; a failed test fails it for good (test_a_failing_quality_test_...).
    dbt_tasks = {k: v for k, v in tasks.items() if k.startswith("dbt.")}
    assert {v["pool"] for v in dbt_tasks.values()} == {"default_pool"}
    assert {v["retries"] for v in dbt_tasks.values()} == {2}


def built_nodes(manifest: dict) -> dict[str, dict]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed") and node["package_name"] == "lakehouse"
    }


def test_the_dbt_graph_is_one_build_per_layer_in_dbt_order(probe, manifest) -> None:
    """Staging (with the seeds), silver, gold: each a `dbt build` of its schemas, after the one
    before; every seed and model is in exactly one layer, and none depends on a later layer."""
    tasks = probe["dags"][PIPELINE]["tasks"]
    assert sorted(k for k in tasks if k.startswith("dbt.")) == sorted(LAYER_TASKS)
    assert tasks["dbt.staging"]["upstream"] == ["ingest"]
    assert tasks["dbt.silver"]["upstream"] == ["dbt.staging"]
    assert tasks["dbt.gold"]["upstream"] == ["dbt.silver"]
    assert {tasks[t]["class"] for t in LAYER_TASKS} == {"LayerBuildOperator"}
    assert tasks["dbt.silver"]["select"] == "config.schema:silver"
    layers = {"reference": 0, "staging": 0, "silver": 1, "gold": 2}
    nodes = built_nodes(manifest)
    for uid, node in nodes.items():
        layer = layers[node["config"]["schema"]]  # a KeyError: a schema in no layer
        for parent in node["depends_on"].get("nodes", []):
            if parent in nodes:
                assert layers[nodes[parent]["config"]["schema"]] <= layer, f"{uid} <- {parent}"


def test_every_seed_and_model_publishes_its_asset_once_its_layer_passes(probe, manifest) -> None:
    """One naming scheme, lakehouse://<layer>/<name> (the layer is the schema's), so a
    downstream DAG can wait on silver.orders as on gold.fct_orders (docs/orchestration.md)."""
    tasks = probe["dags"][PIPELINE]["tasks"]
    outlets = [uri for t in LAYER_TASKS for uri in tasks[t]["outlets"]]
    built = [
        f"lakehouse://{n['config']['schema']}/{n['name']}" for n in built_nodes(manifest).values()
    ]
    assert sorted(outlets) == sorted(built)
    assert "lakehouse://silver/orders" in tasks["dbt.silver"]["outlets"]
    assert "lakehouse://reference/currencies" in tasks["dbt.staging"]["outlets"]
    assert "lakehouse://gold/fct_orders" in tasks["dbt.gold"]["outlets"]


def test_the_erasure_dag_erases_then_rebuilds_gold(probe) -> None:
    dag = probe["dags"]["lakehouse_erasure"]
    assert dag["schedule"] in (None, "None") and set(dag["params"]) == {
        "customer_id",
        "requested_by",
    }
    tasks = dag["tasks"]
    assert tasks["erase"]["downstream"] == ["gold"]
    assert tasks["gold"]["select"] == "config.schema:gold"


def test_the_maintenance_dag_expires_then_optimizes_then_vacuums(probe) -> None:
    tasks = probe["dags"]["lakehouse_maintenance"]["tasks"]
    assert tasks["expire"]["downstream"] == ["optimize"]
    assert tasks["optimize"]["downstream"] == ["vacuum"]
    assert {t["class"] for t in tasks.values()} == {"DbtRunOperationLocalOperator"}


def failed_test_context(project_dir) -> dict:
    """A failure callback's context for a dbt test task whose run failed one of two tests, after
    the Cosmos callback recorded the failure (record_dbt_problems)."""
    (project_dir / "target").mkdir(exist_ok=True)
    (project_dir / "target" / "run_results.json").write_text(
        json.dumps({
            "results": [
                {"unique_id": "test.lakehouse.not_null_orders_order_id.1", "status": "pass"},
                {"unique_id": "test.lakehouse.matches_items_total_orders.2", "status": "fail",
                 "message": "Got 3 results, configured to fail if != 0"},
            ]
        })
    )  # fmt: skip
    (project_dir / "target" / "manifest.json").write_text(json.dumps({"nodes": {
        "test.lakehouse.matches_items_total_orders.2": {
            "resource_type": "test", "attached_node": "model.lakehouse.orders",
            "depends_on": {"nodes": ["model.lakehouse.order_items", "model.lakehouse.orders"]},
        },
    }}))  # fmt: skip
    pushed: dict = {}
    ti = type("TaskInstance", (), {
        "task_id": "dbt.silver", "dag_id": PIPELINE, "run_id": "manual__1",
        "try_number": 1, "log_url": "http://127.0.0.1:8080/dags/x/runs/y/tasks/z",
        "xcom_push": lambda self, key, value: pushed.__setitem__(key, value),
        "xcom_pull": lambda self, task_ids, key: pushed.get(key),
    })()  # fmt: skip
    context = {"ti": ti, "exception": RuntimeError("dbt command failed")}
    load_dags_module("lakehouse_dbt").record_dbt_problems(str(project_dir), context=context)
    return context


def test_the_failure_summary_names_the_task_and_the_failed_test(tmp_path) -> None:
    line = load_dags_module("lakehouse_alerts").failure_summary(failed_test_context(tmp_path))
    assert "\n" not in line
    assert "dbt.silver failed" in line and "dbt_node=model.lakehouse.orders" in line
    assert "test.lakehouse.matches_items_total_orders.2 fail: Got 3 results" in line
    assert "not_null" not in line


def test_a_failed_test_fails_its_task_for_good_and_an_error_is_retried(tmp_path) -> None:
    """The Cosmos callback, in Airflow's venv: `fail` (a test found rows) raises Airflow's
    no-retry failure; `error` (a model or a test that did not run) leaves the retries alone."""
    (tmp_path / "target").mkdir()
    results = tmp_path / "target" / "run_results.json"
    check = (
        "import sys, lakehouse_dbt as c\n"
        "try:\n"
        f"    c.fail_failed_tests_for_good({str(tmp_path)!r})\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    outcomes = []
    for status in ("fail", "error", "pass"):
        results.write_text(json.dumps({"results": [
            {"unique_id": "model.lakehouse.orders", "status": "success"},
            {"unique_id": "test.lakehouse.matches_items_total_orders.2", "status": status},
        ]}))  # fmt: skip
        done = ok(run([str(AIRFLOW_PYTHON), "-c", check], {**os.environ, "PYTHONPATH": str(DAGS)}))
        outcomes.append(done.strip())
    assert outcomes == [
        "AirflowFailException dbt tests failed (not retried): "
        "test.lakehouse.matches_items_total_orders.2",
        "",
        "",
    ]


def test_a_layer_task_whose_only_failure_is_the_event_log_succeeds(tmp_path) -> None:
    """In Airflow's venv, the layer task's callback and exit-code check: a dbt build whose
    models and tests passed but whose event log write failed goes on; a failed test beside it
    still fails the task. (A real failing write: test_pipeline_e2e.py.)"""
    (tmp_path / "target").mkdir()
    results = tmp_path / "target" / "run_results.json"
    check = (
        "import lakehouse_dbt as c\n"
        "from types import SimpleNamespace\n"
        "from lakehouse_layer_build import LayerBuildOperator\n"
        "task = LayerBuildOperator(\n"
        "    task_id='silver', project_dir='.', profile_config=c.profile_config())\n"
        "ti = SimpleNamespace(xcom_push=lambda key, value: print('pushed', key))\n"
        f"c.record_dbt_problems({str(tmp_path)!r}, context={{'task': task, 'ti': ti}})\n"
        "try:\n"
        "    task.handle_exception_subprocess(SimpleNamespace(exit_code=1, full_output=[]))\n"
        "    print('went on')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
    )  # fmt: skip
    hook = "operation.lakehouse.lakehouse-on-run-end-"
    outcomes = []
    for test_status in ("pass", "fail"):
        results.write_text(json.dumps({"results": [
            {"unique_id": "model.lakehouse.orders", "status": "success"},
            {"unique_id": "test.lakehouse.unique_orders_order_id.1", "status": test_status},
            {"unique_id": f"{hook}0", "status": "success"},
            {"unique_id": f"{hook}1", "status": "error", "message": "Cannot write"},
            {"unique_id": f"{hook}2", "status": "skipped"},
        ]}))  # fmt: skip
        done = ok(run([str(AIRFLOW_PYTHON), "-c", check], {**os.environ, "PYTHONPATH": str(DAGS)}))
        outcomes.append([line for line in done.splitlines() if line.strip()])
    went_on, failed = outcomes
    assert went_on[-1] == "went on" and not any(line.startswith("pushed") for line in went_on)
    assert sum("event log: not written (Cannot write)" in line for line in went_on) == 1
    assert failed[-1] == "AirflowException" and "pushed dbt_problems" in failed


def test_an_alert_goes_to_the_webhook_or_else_to_the_alerts_topic(kafka_env, tmp_path) -> None:
    import http.server
    import threading

    alerts = load_dags_module("lakehouse_alerts")
    context = failed_test_context(tmp_path)
    payload = alerts.alert_payload(context)
    failed = "test.lakehouse.matches_items_total_orders.2 fail: Got 3 results"
    assert payload["failed"] == [f"{failed}, configured to fail if != 0"]
    assert payload["dbt_node"] == "model.lakehouse.orders" and payload["log_url"]
    assert payload["text"] == alerts.failure_summary(context)

    received: list[bytes] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook_env = {"LAKEHOUSE_ALERT_WEBHOOK": f"http://127.0.0.1:{server.server_port}/alert"}
        assert alerts.send(payload, hook_env) == "the webhook (LAKEHOUSE_ALERT_WEBHOOK)"
    finally:
        server.shutdown()
    assert [json.loads(body) for body in received] == [payload]

    # No webhook: the alerts topic on the stack's broker, created on first use.
    topic = f"lakehouse.alerts.{uuid.uuid4().hex[:6]}"
    kafka_settings = {**kafka_env, "LAKEHOUSE_ALERT_TOPIC": topic}
    assert alerts.send(payload, kafka_settings).startswith(f"Kafka topic {topic}")
    assert [json.loads(m["value"]) for m in messages_in(kafka_settings, [topic])] == [payload]

    # Nowhere to send it: logged, never raised (the task's failure stands).
    assert alerts.send(payload, {"LAKEHOUSE_ALERT_WEBHOOK": "http://127.0.0.1:9/none"}) is None


# --- real runs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dag_env(thrift_env, manifest, tmp_path_factory):
    """Topics, a schema and a bronze table of its own on the session's Thrift server; Airflow's
    home in the session's state folder.

    The runs use the `thrift` target: the same graph, but a task does not start a JVM of its
    own (about 25 s each on the `local` target), which keeps these runs affordable.
    """
    base = tmp_path_factory.mktemp("dags")
    env = {
        key: value
        for key, value in thrift_env.items()
        if key not in ("DBT_TARGET_PATH", "DBT_LOG_PATH")  # Cosmos reads its run's target/
    }
    env.update({
        "AIRFLOW_PORT": str(free_port()),
        "LAKEHOUSE_TOPIC_SUFFIX": f".dag{uuid.uuid4().hex[:6]}",
        "LAKEHOUSE_ALERT_TOPIC": f"lakehouse.alerts.dag{uuid.uuid4().hex[:6]}",
        "LAKEHOUSE_BRONZE_PATH": str(base / "bronze"),
        "LAKEHOUSE_SCHEMA": "dag",
        "DBT_TARGET": "thrift",
        "LAKEHOUSE_DBT_RETRIES": "0",
        "LAKEHOUSE_DBT_MANIFEST": str(manifest["path"]),
    })  # fmt: skip
    return env


def airflow(env: dict[str, str], *args: str, timeout: float = 1800):
    return run([sys.executable, "-m", "services.airflow", *args], env, timeout=timeout)


def dag_run(env: dict[str, str], conf: dict | None = None) -> tuple[int, str, dict[str, str]]:
    """One `airflow dags test` run: its exit code, output and the state of every task (read
    from the metadata DB: an Airflow CLI call costs seconds of start-up)."""
    args = ["dags", "test", PIPELINE] + (["--conf", json.dumps(conf)] if conf else [])
    result = airflow(env, *args)
    states = airflow_service.metadata_rows(
        stack_settings.load(env),
        "select task_id, state from task_instance where dag_id = ? and run_id = "
        "(select run_id from dag_run where dag_id = ? order by id desc limit 1)",
        (PIPELINE, PIPELINE),
    )
    return result.returncode, result.stdout + result.stderr, dict(states)


@pytest.fixture(scope="module")
def messages():
    trouble = Trouble(
        duplicate_rate=0.1, late_rate=0.2, max_lateness=timedelta(hours=6), malformed_rate=0.02
    )
    # Over a thousand messages: the burst that must start one run, not one per message.
    generated, _ = generate(170, seed=55, span=timedelta(hours=12), trouble=trouble)
    return generated


def pipeline_runs(env: dict[str, str]) -> list[dict]:
    """lakehouse_pipeline's runs, oldest first."""
    return airflow_service.recent_runs(stack_settings.load(env), PIPELINE, limit=100)[::-1]


def pipeline_paused(env: dict[str, str]) -> str | None:
    """Whether Airflow holds lakehouse_pipeline paused ("yes"/"no"), or None before it parsed it."""
    rows = airflow_service.metadata_rows(
        stack_settings.load(env), "select is_paused from dag where dag_id = ?", (PIPELINE,)
    )
    return ("yes" if rows[0][0] else "no") if rows else None


def wait_for(what: str, condition, timeout_s: float, every_s: float = 3.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f}s waiting for {what}"
        time.sleep(every_s)


def test_new_events_start_one_run_that_takes_them_to_gold(dag_env, messages, spark) -> None:
    """Event-driven: with Airflow's scheduler and triggerer up (`airflow standalone`, as `make
    airflow` runs it), a burst of over a thousand messages starts one
    run through the Kafka trigger, with no manual trigger, and it reaches gold. The run outlasts
    a one-minute SLA, which alerts on the alerts topic."""
    assert len(messages) > 1000
    sla_topic = f"lakehouse.alerts.sla{uuid.uuid4().hex[:6]}"
    env = {
        **dag_env,
        "LAKEHOUSE_TRIGGER_QUIET_SECONDS": "3",
        "LAKEHOUSE_RUN_SLA_MINUTES": "1",
        "LAKEHOUSE_ALERT_TOPIC": sla_topic,
        # No run of the cron fallback here: catchup=False still runs the latest past cron time,
        # and the latest 29 February (2024) is before the DAG's start_date.
        "LAKEHOUSE_PIPELINE_SCHEDULE": "0 0 29 2 *",
    }
    conf = ingest_config.load(env)
    ensure_topics(conf.bootstrap_servers, conf.topic_names, partitions=3)
    earlier = {r["run_id"] for r in pipeline_runs(env)}
    ok(services(env, "up", "airflow"))
    try:
        # Nobody unpauses it: `make airflow`, then events, and a run starts.
        paused = wait_for("the pipeline DAG in Airflow", lambda: pipeline_paused(env), 300)
        assert paused == "no"
        publish_part(env, messages)
        runs = wait_for("a finished run", lambda: [
            r for r in pipeline_runs(env)
            if r["run_id"] not in earlier and r["state"] in ("success", "failed")
        ], timeout_s=1200)  # fmt: skip
        sla_alerts = wait_for("the SLA alert", lambda: messages_in(env, [sla_topic]), 120)
    finally:
        print(services(env, "down", "airflow").stdout, file=sys.stderr)
    all_runs = [r for r in pipeline_runs(env) if r["run_id"] not in earlier]
    assert [(r["run_type"], r["state"]) for r in all_runs] == [("asset_triggered", "success")], (
        all_runs
    )
    assert runs[0]["run_id"] == all_runs[0]["run_id"]
    assert all_runs[0]["ended_at"].endswith("+00:00"), all_runs  # `make status JSON=1` says UTC
    # `make status` shows it, from Airflow's metadata DB, with Airflow stopped.
    shown = render_airflow_runs(airflow_status(stack_settings.load(env)))
    assert re.search(rf" {PIPELINE} \(asset_triggered\) success in \d+s$", shown[1]), shown
    assert_gold_matches(spark, dag_env, expected_gold(messages))
    alert = json.loads(sla_alerts[0]["value"])
    assert alert["run_id"] == runs[0]["run_id"] and "LAKEHOUSE_RUN_SLA_MINUTES" in alert["text"]


def test_params_reprocess_gold_from_bronze_without_kafka(dag_env, messages, spark) -> None:
    code, output, states = dag_run(
        dag_env, {"run_ingest": False, "full_refresh": True, "select": "path:models/gold"}
    )
    assert code == 0, output[-5000:]
    assert states["ingest"] == "skipped"
    assert states["dbt.staging"] == states["dbt.silver"] == "skipped"
    assert states["dbt.gold"] == "success"
    assert "--full-refresh" in output
    assert_gold_matches(spark, dag_env, expected_gold(messages))


def test_a_failing_quality_test_fails_its_task_and_gold_does_not_run(
    dag_env, messages, spark
) -> None:
    gold_before = {
        t: table_rows(spark, dag_env, "gold", t) for t in ("fct_orders", "dim_customers")
    }
    publish_orders(dag_env, bad_total_orders(messages))
    # Retries allowed: a failed test must still fail its task at the first try.
    code, output, states = dag_run({**dag_env, "LAKEHOUSE_DBT_RETRIES": "1"})
    assert code != 0
    assert states["dbt.silver"] == "failed"
    assert states["dbt.gold"] == "upstream_failed"
    summary = [line for line in output.splitlines() if "lakehouse: dbt.silver" in line]
    assert summary and "matches_items_total_orders_order_total" in summary[0], output[-5000:]
    # One alert, for the one failed task, on the alerts topic (no webhook is set).
    alerts = [
        json.loads(m["value"]) for m in messages_in(dag_env, [dag_env["LAKEHOUSE_ALERT_TOPIC"]])
    ]
    assert [(a["task_id"], a["try_number"]) for a in alerts] == [("dbt.silver", 1)]
    assert "matches_items_total_orders_order_total" in " ".join(alerts[0]["failed"])
    assert alerts[0]["dbt_node"] == "model.lakehouse.orders"
    assert f"/dags/{PIPELINE}/runs/" in alerts[0]["log_url"]
    for table, before in gold_before.items():
        assert table_rows(spark, dag_env, "gold", table) == before, f"{table} changed"
