"""`make status` (python -m services.status): Kafka lag against the bronze checkpoint, table rows
from the Delta logs, dead letters, and the last dbt run, on a private broker and bronze table."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import VENV_BIN, ok, run
from pipeline_oracle import publish_part

from ingest.generator import DEAD_LETTER_KINDS, Trouble, generate


@pytest.fixture(scope="module")
def env(kafka_env, tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("status")
    return {
        **kafka_env,
        "LAKEHOUSE_STATE_DIR": str(base / "state"),
        "LAKEHOUSE_TOPIC_SUFFIX": f".status{uuid.uuid4().hex[:6]}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_env['KAFKA_PORT']}",
        "LAKEHOUSE_SCHEMA": "status",
        "DBT_TARGET_PATH": str(base / "dbt-target"),
        "LAKEHOUSE_EVENT_LOG": "true",  # off in most modules (helpers.stack_env)
    }


def status(env: dict[str, str]) -> dict:
    return json.loads(ok(run([sys.executable, "-m", "services.status", "--json"], env)))


def lag_of(report: dict) -> int:
    return report["kafka"]["total_lag"]


def readiness(env: dict[str, str], max_lag: int) -> str:
    """The lag line, last with `python -m ingest.bronze --check`."""
    argv = [sys.executable, "-m", "ingest.bronze", "--check"]
    out = ok(run(argv, {**env, "LAKEHOUSE_MAX_LAG": str(max_lag)}))
    return out.strip().splitlines()[-1]


def partition_lags(report: dict) -> str:
    """status's per-partition lag, as the lag line words it."""
    return "; ".join(
        f"{topic} " + " ".join(f"{p}:{v['lag']:,}" for p, v in partitions.items())
        for topic, partitions in report["kafka"]["topics"].items()
    )


def test_status_reports_lag_rows_and_dead_letters_as_ingest_catches_up(env, tmp_path) -> None:
    messages, _ = generate(
        60, seed=9, span=timedelta(hours=2), trouble=Trouble(malformed_rate=0.05)
    )
    malformed = sum(m.kind not in ("valid", "duplicate") for m in messages)
    structural = sum(m.kind in DEAD_LETTER_KINDS for m in messages)
    publish_part(env, messages[:40])

    before = status(env)
    assert lag_of(before) == 40
    assert "error" in before["tables"]["bronze.kafka_events"]
    assert "error" in before["dbt_last_run"]

    ok(run([str(VENV_BIN / "python"), "-m", "ingest.bronze"], env))
    caught_up = status(env)
    assert lag_of(caught_up) == 0
    assert caught_up["tables"]["bronze.kafka_events"]["rows"] == 40
    assert caught_up["freshness"]["bronze_newest_ingested_at"]
    for partitions in caught_up["kafka"]["topics"].values():
        assert all(p["bronze"] == p["latest"] for p in partitions.values())

    assert (
        readiness(env, max_lag=0)
        == f"bronze: lag 0 records, normal (LAKEHOUSE_MAX_LAG 0): {partition_lags(caught_up)}"
    )

    publish_part(env, messages[40:])
    behind = status(env)
    assert lag_of(behind) == len(messages) - 40
    assert behind["tables"]["bronze.kafka_events"]["rows"] == 40
    # The lag line reads the same lag per partition; over the limit, the run catches up.
    lagging = sum(p["lag"] > 0 for t in behind["kafka"]["topics"].values() for p in t.values())
    assert lagging >= 2, behind["kafka"]
    over = readiness(env, max_lag=lag_of(behind) - 1)
    assert over == (
        f"bronze: lag {lag_of(behind)} records, catching up (over LAKEHOUSE_MAX_LAG "
        f"{lag_of(behind) - 1}): {partition_lags(behind)}"
    )
    assert "normal" in readiness(env, max_lag=lag_of(behind))

    ok(run([str(VENV_BIN / "python"), "-m", "ingest.bronze"], env))
    done = status(env)
    assert lag_of(done) == 0
    assert done["tables"]["bronze.kafka_events"]["rows"] == len(messages)
    assert malformed > 0
    assert sum(done["kafka"]["dead_letters"].values()) == structural
    # The event log's hourly trend: both runs' micro-batches, rows and dead letters (no dbt
    # build here, so nothing quarantined yet, a rate of 0).
    hours = done["event_log"]["by_hour"]
    assert sum(h["rows"] for h in hours) == len(messages)
    assert sum(h["dead_letters"] for h in hours) == structural
    assert sum(h["batches"] for h in hours) >= 2 and any(h["rows_per_second"] for h in hours)
    assert done["event_log"]["last_runs"] == []
    human = ok(run([sys.executable, "-m", "services.status"], env))
    assert "Event log: ingest and quarantine by hour (UTC)" in human


def test_status_reads_the_last_dbt_run(env) -> None:
    target = env["DBT_TARGET_PATH"]
    Path(target).mkdir(parents=True, exist_ok=True)
    results = {
        "metadata": {"generated_at": "2026-11-21T10:00:00Z"},
        "elapsed_time": 12.5,
        "args": {"which": "build", "invocation_command": "dbt build --select silver+"},
        "results": [
            {"unique_id": "model.lakehouse.orders", "status": "success"},
            {"unique_id": "test.lakehouse.matches_items_total_orders", "status": "fail"},
        ],
    }
    (Path(target) / "run_results.json").write_text(json.dumps(results))
    run_status = status(env)["dbt_last_run"]
    assert run_status["results"] == {"success": 1, "fail": 1}
    assert run_status["failed"] == ["test.lakehouse.matches_items_total_orders fail"]
    assert run_status["command"].startswith("dbt build")
    human = ok(run([sys.executable, "-m", "services.status"], env))
    assert "failed: test.lakehouse.matches_items_total_orders fail" in human
    assert "total lag 0" in human
