"""The whole pipeline on the real stack: generated events with duplicates, late and out-of-order
events and malformed messages -> Kafka -> bronze -> dbt -> silver and gold, checked
against an independent Python computation of the same definitions, every row and column.

Then: a full refresh gives the same rows as the incremental history, and a bad batch that
breaks an error-severity test stops gold.

The first batch builds on the `local` target (Spark in the dbt process); the second on both
targets at once while the ingest job runs, then on the session's Thrift server (`thrift`), as
everything after it: one warehouse, one metastore, both targets, as analysts mix them. The
steps share the session's stack (their own topics, bronze and schema) and run in file order.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import VENV_BIN, dead_letters, ok, run
from pipeline_oracle import (
    ALL_TABLES,
    assert_gold_matches,
    bad_total_orders,
    expected_gold,
    publish_orders,
    publish_part,
    table_path,
    table_rows,
)

from ingest import config as ingest_config
from ingest.generator import DEAD_LETTER_KINDS, DEFAULT_START, MALFORMED_KINDS, Trouble, generate

SCHEMA = "e2e"
# The rates the reliability suite promises to survive (docs/reliability.md).
TROUBLE = Trouble(
    duplicate_rate=0.2,
    late_rate=0.3,
    max_lateness=timedelta(hours=48),
    malformed_rate=0.03,
    null_key_rate=0.05,
    oversized=1,
)
# The reason staging gives each malformed kind (the start of quarantine.invalid_reason).
QUARANTINE_REASONS = {
    "not_json": "not JSON",
    "truncated_json": "not JSON",
    "oversized": "not JSON",
    "not_utf8": "not UTF-8",
    "null_value": "empty message (null value)",
    "wrong_type": "wrong type: ",
    "missing_field": "missing field: ",
    "unknown_enum": "unknown status: ",
    "negative_amount": "negative ",
    "unknown_currency": "unknown currency: ",
}


EMAIL = re.compile(r"(?<![^\s@\"])[^\s@\"]++@[^\s@\"]+\.[a-z]{2,}")  # linear: see redact_emails


@pytest.fixture(scope="module")
def env(thrift_env, tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("e2e")
    return {
        **thrift_env,
        "DBT_TARGET": "thrift",
        "LAKEHOUSE_TOPIC_SUFFIX": f".e2e{uuid.uuid4().hex[:6]}",
        "LAKEHOUSE_BRONZE_PATH": str(base / "bronze"),
        "LAKEHOUSE_SCHEMA": SCHEMA,
        "DBT_LOG_PATH": str(base / "dbt-logs"),
        "DBT_TARGET_PATH": str(base / "dbt-target"),
    }


@pytest.fixture(scope="module")
def messages():
    """240 orders on schema version 1, then 160 on version 2 (with `channel`): the producers
    switch mid-stream, after silver exists, while late version 1 events keep coming."""
    v1, _ = generate(240, seed=101, span=timedelta(hours=30), trouble=TROUBLE)
    v2, _ = generate(
        160,
        seed=102,
        start=DEFAULT_START + timedelta(hours=30),
        span=timedelta(hours=20),
        trouble=replace(TROUBLE, v2_rate=1.0),
    )
    return sorted(v1 + v2, key=lambda m: m.send_at)


def is_v2(message) -> bool:
    return message.value is not None and b'"schema_version":2' in message.value


def dbt(env: dict[str, str], *args: str):
    return run([str(VENV_BIN / "dbt"), *args], env, timeout=1200)


def ingest(env: dict[str, str]) -> None:
    ok(run([str(VENV_BIN / "python"), "-m", "ingest.bronze"], env))


def at_once(*commands: list[str], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands at the same time; their results, in order."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda argv: run(argv, env, timeout=1200), commands))


# --- the independent computation -------------------------------------------------------------


# --- the steps -------------------------------------------------------------------------------


def test_two_batches_then_gold_equals_an_independent_computation(env, messages, spark) -> None:
    # Two parts, cut where schema version 2 starts: late version 1 events arrive in both.
    cut = next(i for i, m in enumerate(messages) if is_v2(m))
    assert 0.25 < cut / len(messages) < 0.8
    assert any(m.kind == "valid" and not is_v2(m) for m in messages[cut:])
    publish_part(env, messages[:cut])
    ingest(env)
    first = ok(dbt(env, "build", "--target", "local"))  # seeds included
    assert "ERROR=0" in first and "target='local'" in first
    assert_gold_matches(spark, env, expected_gold(messages[:cut]))
    # Silver has the column before any event carries it.
    assert {row["channel"] for row in table_rows(spark, env, "silver", "orders").values()} == {None}

    publish_part(env, messages[cut:])
    # While the ingest job lands the batch, two builds of different models at once, one per
    # target, each with its own dbt artifacts: one metastore serves the three Spark processes.
    # The last build takes in what arrived after they read bronze.
    base = Path(env["DBT_TARGET_PATH"]).parent
    ingesting, *builds = at_once(
        [str(VENV_BIN / "python"), "-m", "ingest.bronze"],
        *(
            [str(VENV_BIN / "dbt"), "build", "--target", target, "--select", *models,
             "--target-path", str(base / f"target-{target}"),
             "--log-path", str(base / f"logs-{target}")]
            for target, models in (
                ("thrift", ["stg_shop__orders", "orders", "order_items"]),
                ("local", ["stg_shop__payments", "payments"]),
            )
        ),
        env=env,
    )  # fmt: skip
    ok(ingesting)
    assert all("ERROR=0" in ok(build) for build in builds)
    second = ok(dbt(env, "build"))
    assert "ERROR=0" in second and "target='thrift'" in second
    assert_gold_matches(spark, env, expected_gold(messages))
    channels = Counter(
        row["channel"] for row in table_rows(spark, env, "silver", "orders").values()
    )
    assert channels[None] >= 200 and sum(channels.values()) - channels[None] >= 150

    # Contract failures are quarantined, each once, never in silver.
    quarantine = table_rows(spark, env, "silver", "quarantine")
    assert len(quarantine) == sum(m.kind not in ("valid", "duplicate") for m in messages)
    orders = table_rows(spark, env, "silver", "orders")
    assert len(orders) == len(expected_gold(messages)["fct_orders"])


def test_every_produced_message_is_accounted_for_once(env, messages, spark) -> None:
    """Reconciliation: produced = bronze = valid (in silver) + quarantined (with a reason);
    the dead-lettered are exactly the quarantined structure failures."""
    assert set(QUARANTINE_REASONS) == set(MALFORMED_KINDS)
    kinds = Counter(m.kind for m in messages)
    assert all(kinds[kind] for kind in MALFORMED_KINDS), f"a kind is missing: {kinds}"
    assert sum(m.key is None for m in messages) > 0

    bronze = spark.read.format("delta").load(env["LAKEHOUSE_BRONZE_PATH"])
    coordinates = bronze.select("topic", "partition", "offset").distinct().count()
    assert bronze.count() == coordinates == len(messages)
    assert bronze.where("key is null").count() == sum(m.key is None for m in messages)

    quarantine = table_rows(spark, env, "silver", "quarantine")
    reasons = Counter(
        next(
            (r for r in QUARANTINE_REASONS.values() if row["invalid_reason"].startswith(r)),
            row["invalid_reason"],
        )
        for row in quarantine.values()
    )
    assert reasons == Counter(
        QUARANTINE_REASONS[m.kind] for m in messages if m.kind in MALFORMED_KINDS
    )

    valid = [json.loads(m.value) for m in messages if m.kind in ("valid", "duplicate")]
    assert len(messages) - len(quarantine) == len(valid)
    silver_ids = {
        "order_id": set(table_rows(spark, env, "silver", "orders")),
        "payment_id": set(table_rows(spark, env, "silver", "payments")),
    }
    for event in valid:
        key = "payment_id" if "payment_id" in event else "order_id"
        assert event[key] in silver_ids[key], event

    conf = ingest_config.load(env)
    letters = dead_letters(env, [conf.dead_letter_topic(t) for t in conf.topic_names])
    assert len(letters) == sum(m.kind in DEAD_LETTER_KINDS for m in messages)
    malformed = {qid for qid, row in quarantine.items() if row["is_malformed"] == "true"}
    sources = {
        f"{d['dlq.source.topic']}/{d['dlq.source.partition']}/{d['dlq.source.offset']}"
        for d in letters
    }
    assert sources == malformed
    assert all(d["dlq.error"] for d in letters)
    assert max(len(d["value"] or b"") for d in letters) > 900_000  # the oversized ones


def test_no_plain_email_reaches_silver_or_gold(env, messages, spark) -> None:
    emails = {
        json.loads(m.value)["customer_email"]
        for m in messages
        if m.kind == "valid" and m.contract == "orders"
    }
    assert emails
    for layer, table in ALL_TABLES:
        for row in table_rows(spark, env, layer, table).values():
            for column, value in row.items():
                assert not (value and EMAIL.search(value)), f"{layer}.{table}.{column}: {value}"
                assert value not in emails


def delta_versions(env: dict[str, str], layer: str, table: str) -> dict[int, list[dict]]:
    """Each commit of the table's Delta log: its file actions (add, remove)."""
    log = table_path(env, layer, table) / "_delta_log"
    return {
        int(commit.stem): [
            action
            for line in commit.read_text().splitlines()
            for action in [json.loads(line)]
            if "add" in action or "remove" in action
        ]
        for commit in log.glob("*.json")
    }


def test_a_rerun_with_no_new_data_changes_no_row(env, spark) -> None:
    tables = [("bronze", "kafka_events"), *ALL_TABLES]
    before = {t: table_rows(spark, env, *t) for t in ALL_TABLES}
    versions_before = {t: max(delta_versions(env, *t)) for t in tables}
    ingest(env)
    ok(dbt(env, "build"))
    for t in ALL_TABLES:
        assert table_rows(spark, env, *t) == before[t], f"{t} changed"
    # No commit with data: constraint and property changes may commit, without files.
    for t in tables:
        new = {v: a for v, a in delta_versions(env, *t).items() if v > versions_before[t]}
        written = {v: actions for v, actions in new.items() if actions}
        assert not written, f"{t}: a run with nothing new wrote files: {written}"
    # Nor did quarantine move its read mark (a table property): it read nothing new.
    log = table_path(env, "silver", "quarantine") / "_delta_log"
    moved = [
        commit.name
        for commit in log.glob("*.json")
        if int(commit.stem) > versions_before[("silver", "quarantine")]
        and "metaData" in commit.read_text()
    ]
    assert not moved, f"quarantine's mark moved on a run with nothing new: {moved}"


def test_staging_tests_judge_only_the_rows_the_next_build_reads(env, spark) -> None:
    # Bronze holds quarantined records, all read by the last build. With no lookback the
    # rate gate sees nothing new and passes even at a limit of 0%; with a lookback longer
    # than the history it sees them all, and the same limit fails.
    gate = ["test", "--select", "quarantine_rate_orders"]
    ok(dbt(env, *gate, "--vars", "{silver_lookback_hours: 0, quarantine_error_pct: 0}"))
    wide = dbt(env, *gate, "--vars", "{silver_lookback_hours: 100000, quarantine_error_pct: 0}")
    assert wide.returncode != 0 and "quarantine_rate_orders" in wide.stdout, wide.stdout[-3000:]

    # Quarantine keeps only invalid rows, so it records how far it has read: the newest
    # _ingested_at in bronze, which the last build read.
    bronze = table_path(env, "bronze", "kafka_events")
    newest = spark.sql(f"select unix_micros(max(_ingested_at)) from delta.`{bronze}`").first()[0]
    quarantine = table_path(env, "silver", "quarantine")
    properties = dict(spark.sql(f"show tblproperties delta.`{quarantine}`").collect())
    assert int(properties["lakehouse.ingested_through"]) == newest


def test_only_a_model_that_records_a_read_mark_is_asked_for_it(env) -> None:
    # Each incremental read and each staging test looks up its model's high-water mark; only
    # quarantine (meta.read_mark: 'recorded') also keeps a mark in a table
    # property, so only it costs a `show tblproperties` round trip.
    out = ok(dbt(env, "--debug", "compile", "--select", "stg_shop__orders", "orders", "quarantine"))
    lines = out.splitlines()
    assert sum("select cast(max(" in line for line in lines) >= 5, "no mark was looked up"
    asked = [line.split()[-1] for line in lines if "show tblproperties" in line]
    assert asked, "quarantine's mark was not looked up"
    assert all(relation.endswith(".quarantine") for relation in asked), asked


def test_full_refresh_gives_the_same_silver_and_gold(env, spark) -> None:
    tables = ALL_TABLES
    incremental = {t: table_rows(spark, env, *t) for t in tables}
    ok(dbt(env, "build", "--full-refresh"))
    for t in tables:
        assert table_rows(spark, env, *t) == incremental[t], f"{t} differs after a full refresh"


def test_a_bad_batch_stops_gold_and_names_the_test(env, messages, spark) -> None:
    # A producer bug: totals that disagree with their items. The contract cannot see it,
    # the error-severity test on silver orders does.
    gold_before = {t: table_rows(spark, env, "gold", t) for t in ("fct_orders", "dim_customers")}
    bad = bad_total_orders(messages)
    publish_orders(env, bad)
    ingest(env)
    result = dbt(env, "build")
    assert result.returncode != 0
    assert "matches_items_total_orders_order_total" in result.stdout
    # dbt always prints SKIP=<n>: what counts is that the gold models are among the skipped.
    assert int(re.search(r"SKIP=(\d+)", result.stdout).group(1)) >= 3
    for model in ("fct_orders", "dim_customers", "daily_revenue"):
        assert re.search(rf"SKIP relation {SCHEMA}_gold\.{model}\b", result.stdout), model
    for table, before in gold_before.items():
        assert table_rows(spark, env, "gold", table) == before, f"{table} changed"

    # The producer fixes its bug and sends the orders' corrected state: the next run recovers.
    corrected = [
        {
            **event,
            "event_id": str(uuid.uuid4()),
            "event_ts": "2026-03-01T00:05:00Z",
            "event_type": "order_updated",
            "order_total": float(
                sum(Decimal(str(i["unit_price"])) * i["quantity"] for i in event["items"])
            ),
        }
        for event in bad
    ]
    publish_orders(env, corrected)
    ingest(env)
    recovered = ok(dbt(env, "build"))
    assert "ERROR=0" in recovered
    fct = table_rows(spark, env, "gold", "fct_orders")
    for event in corrected:
        assert Decimal(fct[event["order_id"]]["order_total"]) == Decimal(str(event["order_total"]))


def test_docs_generate_on_the_built_warehouse(env) -> None:
    ok(dbt(env, "docs", "generate"))
    catalog = json.loads((Path(env["DBT_TARGET_PATH"]) / "catalog.json").read_text())
    assert "model.lakehouse.fct_orders" in catalog["nodes"]


def test_maintenance_run_operations(env, spark) -> None:
    ok(dbt(env, "run-operation", "optimize_tables"))
    ok(dbt(env, "run-operation", "vacuum_tables", "--args", "{retain_hours: 168}"))
    path = Path(env["LAKEHOUSE_STATE_DIR"]) / "warehouse" / f"{SCHEMA}_gold.db" / "fct_orders"
    history = spark.sql(f"describe history delta.`{path}`").collect()
    optimize = [h for h in history if h["operation"] == "OPTIMIZE"]
    assert optimize and "order_date" in optimize[0]["operationParameters"]["zOrderBy"]
    assert {"VACUUM START", "VACUUM END"} <= {h["operation"] for h in history}
