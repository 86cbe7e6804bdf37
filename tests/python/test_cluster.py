"""Scale-out proof: the same ingest job and the Thrift server on a Spark standalone cluster (a
master and two workers, separate processes; `make cluster`) give the same results as local
mode: every record once in bronze, the same dead letters, and gold equal to the independent
computation. The cluster's master confirms the applications ran executors on its workers."""

from __future__ import annotations

import json
import sys
import urllib.request
import uuid
from datetime import timedelta

import pytest
from helpers import VENV_BIN, free_port, ok, run, services
from pipeline_oracle import assert_gold_matches, expected_gold, publish_part

from ingest.generator import DEAD_LETTER_KINDS, Trouble, generate

pytestmark = pytest.mark.faults  # a stack of its own, started and stopped


@pytest.fixture(scope="module")
def env(kafka_env, tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    master_port = free_port()
    env = {
        **kafka_env,
        "LAKEHOUSE_STATE_DIR": str(base / "state"),
        "THRIFT_PORT": str(free_port()),
        "SPARK_MASTER_PORT": str(master_port),
        "SPARK_MASTER_UI_PORT": str(free_port()),
        "SPARK_WORKER_MEMORY": "1g",
        "LAKEHOUSE_SPARK_MASTER": f"spark://127.0.0.1:{master_port}",
        "LAKEHOUSE_TOPIC_SUFFIX": f".cluster{uuid.uuid4().hex[:6]}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_env['KAFKA_PORT']}",
        "LAKEHOUSE_SCHEMA": "cluster",
        "DBT_LOG_PATH": str(base / "dbt-logs"),
        "DBT_TARGET_PATH": str(base / "dbt-target"),
    }
    ok(services(env, "up", "cluster"))
    try:
        yield env
    finally:
        services(env, "down", "thrift", "cluster")


def applications(env: dict[str, str]) -> dict[str, dict]:
    url = f"http://127.0.0.1:{env['SPARK_MASTER_UI_PORT']}/json/"
    with urllib.request.urlopen(url, timeout=5) as response:
        state = json.load(response)
    return {app["name"]: app for app in state["activeapps"] + state["completedapps"]}


def test_ingest_and_dbt_on_a_standalone_cluster_match_local_mode(env, spark) -> None:
    trouble = Trouble(duplicate_rate=0.1, late_rate=0.2, malformed_rate=0.03)
    messages, _ = generate(150, seed=77, span=timedelta(hours=8), trouble=trouble)
    publish_part(env, messages)

    out = ok(run([sys.executable, "-m", "ingest.bronze"], env, timeout=900))
    bronze = spark.read.format("delta").load(f"{env['LAKEHOUSE_STATE_DIR']}/bronze/kafka_events")
    assert bronze.count() == len(messages)
    assert bronze.select("topic", "partition", "offset").distinct().count() == len(messages)
    dead = sum(m.kind in DEAD_LETTER_KINDS for m in messages)
    assert f"{dead:,} dead-lettered" in out  # the Python UDF ran on the executors
    ingest_app = applications(env)["lakehouse-bronze-ingest"]
    assert ingest_app["cores"] >= 1, ingest_app

    ok(services(env, "up", "thrift"))
    dbt = str(VENV_BIN / "dbt")
    # Seeds and models: what counts here is that the cluster computes the same tables. The data
    # tests are the same SQL as on a local master, where test_pipeline_e2e runs them.
    no_tests = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    build = ok(run([dbt, "build", "--target", "thrift", *no_tests], env, timeout=1800))
    assert "ERROR=0" in build
    assert "lakehouse-thrift" in applications(env)
    assert_gold_matches(spark, env, expected_gold(messages))
