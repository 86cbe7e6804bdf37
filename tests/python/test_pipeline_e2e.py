"""The whole pipeline on the real stack: generated events with duplicates, late and out-of-order
events and malformed messages, plus hand-made changes of shape and owner across the two
batches -> Kafka -> bronze -> dbt -> silver and gold, checked against an independent Python
computation of the same definitions, every row and column, after each build.

Then: a bad batch that breaks an error-severity test stops gold; an erased customer is gone
from every file, a re-run with nothing new writes nothing, and a replay of every record and a
full refresh give the same rows as the incremental history.

The builds run on the session's Thrift server (`thrift`), except while the ingest job lands
the second batch: then two builds run at once, one on each target (`local`: Spark in the dbt
process). One warehouse, one metastore, both targets, as analysts mix them. The steps share
the session's stack (their own topics, bronze and schema) and run in file order.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import VENV_BIN, dead_letters, ok, run
from pipeline_oracle import (
    ALL_TABLES,
    AVRO_POISON,
    SALT,
    VALID_KINDS,
    assert_gold_matches,
    assert_table_matches,
    bad_total_orders,
    expected_gold,
    expected_order_items,
    expected_status_history,
    publish_orders,
    publish_part,
    seed_rates,
    table_path,
    table_rows,
)

from ingest import config as ingest_config
from ingest.generator import (
    DEAD_LETTER_KINDS,
    DEFAULT_START,
    MALFORMED_KINDS,
    Message,
    Trouble,
    generate,
)
from ingest.schema_registry import contract_schema_ids

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
# Every kind quarantine keeps, with its reason: the malformed, and a later delivery of an
# event_id with another payload (the first delivery stays in silver).
QUARANTINED = {
    **QUARANTINE_REASONS,
    "conflict": "conflicting duplicate: ",
    "avro_unknown_schema": "schema id ",
    "avro_truncated": "does not decode with its schema id ",
}


EMAIL = re.compile(r"(?<![^\s@\"])[^\s@\"]++@[^\s@\"]+\.[a-z]{2,}")  # linear: see redact_emails


@pytest.fixture(scope="module")
def env(thrift_env, registry_env, tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("e2e")
    return {
        **thrift_env,
        "REGISTRY_PORT": registry_env["REGISTRY_PORT"],
        # The orders topic carries Avro through the registry (pipeline_oracle.publish_part)
        # and JSON (the malformed messages, the hand-made bad totals): `auto` reads both.
        "LAKEHOUSE_TOPIC_FORMATS": "orders=auto",
        "DBT_TARGET": "thrift",
        "LAKEHOUSE_TOPIC_SUFFIX": f".e2e{uuid.uuid4().hex[:6]}",
        "LAKEHOUSE_BRONZE_PATH": str(base / "bronze"),
        "LAKEHOUSE_SCHEMA": SCHEMA,
        "DBT_LOG_PATH": str(base / "dbt-logs"),
        "DBT_TARGET_PATH": str(base / "dbt-target"),
        "LAKEHOUSE_EVENT_LOG": "true",  # off in the other modules (helpers.stack_env)
    }


@pytest.fixture(scope="module")
def batches():
    """The two batches. Generated: 240 orders on schema version 1, then 160 on version 2 (with
    `channel`), cut where version 2 starts: the producers switch mid-stream, after silver
    exists, while late version 1 events keep coming. Then the hand-made changes of each batch
    (shape_changes)."""
    v1, _ = generate(240, seed=101, span=timedelta(hours=30), trouble=TROUBLE)
    v2, _ = generate(
        160,
        seed=102,
        start=DEFAULT_START + timedelta(hours=30),
        span=timedelta(hours=20),
        trouble=replace(TROUBLE, v2_rate=1.0),
    )
    generated = sorted(v1 + v2, key=lambda m: m.send_at)
    cut = next(i for i, m in enumerate(generated) if is_v2(m))
    assert 0.25 < cut / len(generated) < 0.8
    assert any(m.kind == "valid" and not is_v2(m) for m in generated[cut:])
    first, second = shape_changes()
    return generated[:cut] + first, generated[cut:] + second


@pytest.fixture(scope="module")
def messages(batches):
    return batches[0] + batches[1]


def _email_hash(email: str) -> str:
    return hashlib.sha256((email.strip(" ").lower() + SALT).encode()).hexdigest()


def shape_changes() -> tuple[list[Message], list[Message]]:
    """Orders that change shape and owner between the two batches (docs/design.md's rules):
    chg-1's items shrink (and a quantity changes), chg-2's grow (and a sku changes), chg-3
    moves from customer a to b, chg-4's late order_placed moves it to an earlier day (and
    rate), chg-5 has two events at one event time whose loser is delivered again, chg-6's
    event_id comes again with another payload, chg-8's late paid event splits the placed
    interval of its status history that the first batch built, chg-9's late shipped event
    moves its first shipped to an earlier day and leaves the later day, the only one of its own
    shipped event, with no milestone (fulfillment_daily recomputes that day too). Customer
    a's e-mail changes:
    the old one's hash is the greater, so max() would keep it. Each order keyed by its id (one
    partition).
    """
    ids = iter(uuid.UUID(int=n, version=4) for n in range(1, 1000))
    old = "a.old@example.com"
    new = next(  # an e-mail whose hash sorts before the old one's
        email
        for n in range(100)
        for email in [f"a.new{n}@example.com"]
        if _email_hash(email) < _email_hash(old)
    )
    line = {  # sku: (unit_price)
        "SKU-A": 12.5, "SKU-B": 3.0, "SKU-C": 40.0, "SKU-D": 7.25,
    }  # fmt: skip

    def items(*lines: tuple[str, int]) -> list[dict]:
        return [{"sku": sku, "quantity": q, "unit_price": line[sku]} for sku, q in lines]

    def order(oid, customer, when, change, lines, *, currency="EUR", eid=None) -> dict:
        """customer: (its letter, e-mail); change: (event_type, status)."""
        body = items(*lines)
        return {
            "event_id": str(eid or next(ids)),
            "event_ts": when,
            "event_type": change[0],
            "order_id": oid,
            "customer_id": f"cus-chg-{customer[0]}",
            "customer_email": customer[1],
            "status": change[1],
            "currency": currency,
            "order_total": float(sum(Decimal(str(i["unit_price"])) * i["quantity"] for i in body)),
            "items": body,
            "schema_version": 1,
        }

    tie_low, tie_high = sorted(str(next(ids)) for _ in range(2))
    reused = str(next(ids))
    a_old, a_new, b, c, d, e = (("a", old), ("a", new), ("b", "b@example.com"),
                                ("c", "c@example.com"), ("d", "d@example.com"),
                                ("e", "e@example.com"))  # fmt: skip
    placed, paid = ("order_placed", "placed"), ("order_updated", "paid")
    shipped = ("order_updated", "shipped")
    first = [
        order("chg-7", a_old, "2026-01-01T09:00:00Z", placed, [("SKU-A", 1)]),
        order("chg-8", d, "2026-01-01T08:00:00Z", placed, [("SKU-C", 1)]),
        order("chg-8", d, "2026-01-01T12:00:00Z", shipped, [("SKU-C", 1)]),
        order("chg-1", a_old, "2026-01-01T10:00:00Z", placed,
              [("SKU-A", 1), ("SKU-B", 2), ("SKU-C", 1)]),
        order("chg-2", b, "2026-01-02T08:00:00Z", placed, [("SKU-B", 1)]),
        order("chg-3", a_old, "2026-01-01T11:00:00Z", placed, [("SKU-C", 2)]),
        order("chg-4", c, "2026-01-02T10:00:00Z", paid, [("SKU-D", 4)], currency="GBP"),
        order("chg-5", d, "2026-01-01T14:00:00Z", placed, [("SKU-A", 2)]),
        # A tie on event time: the greater event_id wins, sent first or not.
        order("chg-5", d, "2026-01-01T15:00:00Z", ("order_cancelled", "cancelled"),
              [("SKU-A", 2)], eid=tie_low),
        order("chg-5", d, "2026-01-01T15:00:00Z", paid, [("SKU-A", 2)], eid=tie_high),
        order("chg-6", e, "2026-01-01T16:00:00Z", placed, [("SKU-B", 3)], eid=reused),
        order("chg-9", d, "2026-01-01T09:30:00Z", placed, [("SKU-B", 1)]),
        order("chg-9", d, "2026-01-01T10:30:00Z", paid, [("SKU-B", 1)]),
        order("chg-9", d, "2026-02-15T09:00:00Z", shipped, [("SKU-B", 1)]),
    ]  # fmt: skip
    second = [
        order("chg-1", a_new, "2026-01-01T12:00:00Z", paid, [("SKU-A", 2)]),
        order("chg-2", b, "2026-01-02T09:00:00Z", paid,
              [("SKU-B", 1), ("SKU-D", 1), ("SKU-A", 3)]),
        order("chg-3", b, "2026-01-01T13:00:00Z", paid, [("SKU-C", 2)]),
        order("chg-4", c, "2026-01-01T22:00:00Z", placed, [("SKU-D", 4)], currency="GBP"),
        order("chg-8", d, "2026-01-01T10:00:00Z", paid, [("SKU-C", 1)]),
        order("chg-9", d, "2026-01-01T11:30:00Z", shipped, [("SKU-B", 1)]),
    ]  # fmt: skip
    redelivered = next(m for m in first if m["event_id"] == tie_low)
    conflict = {**first[-1], "event_ts": "2026-01-01T18:00:00Z", "status": "shipped",
                "event_type": "order_updated"}  # fmt: skip

    def message(event: dict, kind: str = "valid") -> Message:
        at = datetime.fromisoformat(event["event_ts"]).timestamp()
        value = json.dumps(event, separators=(",", ":")).encode()
        return Message("orders", event["order_id"], value, kind, at, at)

    # Avro poison (pipeline_oracle.AVRO_POISON): quarantined and dead-lettered, never silver.
    poison = [
        message(order("avro-1", e, "2026-01-02T10:00:00Z", placed, [("SKU-A", 1)]), kind)
        for kind in AVRO_POISON
    ]
    return (
        [message(event) for event in first],
        [message(event) for event in second]
        + [message(redelivered, "duplicate"), message(conflict, "conflict"), *poison],
    )


def is_v2(message) -> bool:
    return message.value is not None and b'"schema_version":2' in message.value


def dbt(env: dict[str, str], *args: str):
    return run([str(VENV_BIN / "dbt"), *args], env, timeout=1200)


def ingest(env: dict[str, str]) -> None:
    ok(run([str(VENV_BIN / "python"), "-m", "ingest.bronze"], env))


def erase(env: dict[str, str], customer: str, requested_by: str) -> None:
    """As a data team runs it: `make erase` (the run-operation, then gold rebuilt)."""
    erasure = run(["make", "--no-print-directory", "erase", f"CUSTOMER={customer}",
                   f"BY={requested_by}"], env, timeout=1200)  # fmt: skip
    assert erasure.returncode == 0, erasure.stdout[-5000:] + erasure.stderr[-3000:]


def event_log(spark, env: dict[str, str], table: str, where: str) -> list[dict]:
    """Rows of a dbt event log table (`<schema>_ops`), read by path."""
    frame = spark.read.format("delta").load(str(table_path(env, "ops", table)))
    return [row.asDict() for row in frame.where(where).collect()]


def at_once(*commands: list[str], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands at the same time; their results, in order."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda argv: run(argv, env, timeout=1200), commands))


# --- the steps -------------------------------------------------------------------------------


def assert_silver_and_gold_match(spark, env: dict[str, str], messages: list) -> None:
    assert_table_matches(spark, env, "silver", "order_items", expected_order_items(messages))
    history = expected_status_history(messages)
    assert_table_matches(spark, env, "silver", "order_status_history", history)
    assert_gold_matches(spark, env, expected_gold(messages))


def test_two_batches_then_gold_equals_an_independent_computation(env, batches, spark) -> None:
    first, second = batches
    publish_part(env, first)
    ingest(env)
    built = ok(dbt(env, "build"))  # seeds included
    assert "ERROR=0" in built and "target='thrift'" in built
    assert_silver_and_gold_match(spark, env, first)
    # Silver has the column before any event carries it.
    assert {row["channel"] for row in table_rows(spark, env, "silver", "orders").values()} == {None}

    publish_part(env, second)
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
                ("thrift", ["int_order_deliveries", "int_event_first_deliveries", "orders",
                            "order_items"]),
                ("local", ["payments"]),
            )
        ),
        env=env,
    )  # fmt: skip
    ok(ingesting)
    assert all("ERROR=0" in ok(build) for build in builds)
    rebuilt = ok(dbt(env, "build"))
    assert "ERROR=0" in rebuilt and "target='thrift'" in rebuilt
    messages = first + second
    assert_silver_and_gold_match(spark, env, messages)
    channels = Counter(
        row["channel"] for row in table_rows(spark, env, "silver", "orders").values()
    )
    assert channels[None] >= 200 and sum(channels.values()) - channels[None] >= 150

    # The well-formed orders came as Avro (v1, then v2 with late v1), the rest as JSON: each
    # Avro record in bronze once, with the registry's id of its version's schema.
    conf = ingest_config.load(env)
    ids = contract_schema_ids(conf, conf.topic_names[0])
    bronze = spark.read.format("delta").load(env["LAKEHOUSE_BRONZE_PATH"])
    avro = bronze.where("value_format = 'avro'").collect()
    sent = [m for m in messages if m.contract == "orders" and m.kind in VALID_KINDS]
    assert len(avro) == len(sent) + len(AVRO_POISON)
    decoded = [row for row in avro if row["value_error"] is None]
    assert len(decoded) == len(sent)
    assert all(
        ids[json.loads(row["value"])["schema_version"]] == row["schema_id"] for row in decoded
    )
    assert {json.loads(row["value"])["schema_version"] for row in decoded} == {1, 2}

    # Contract failures and conflicts are quarantined, each once, never in silver.
    quarantine = table_rows(spark, env, "silver", "quarantine")
    assert len(quarantine) == sum(m.kind not in ("valid", "duplicate") for m in messages)
    orders = table_rows(spark, env, "silver", "orders")
    assert len(orders) == len(expected_gold(messages)["fct_orders"])


def test_orders_that_change_shape_and_owner_are_right_in_every_mart(env, messages, spark) -> None:
    """What the oracle's agreement above means for the hand-made changes (shape_changes)."""
    items = table_rows(spark, env, "silver", "order_items")
    lines = {oid: sorted(k for k, r in items.items() if r["order_id"] == oid)
             for oid in ("chg-1", "chg-2")}  # fmt: skip
    assert lines == {"chg-1": ["chg-1-1"], "chg-2": ["chg-2-1", "chg-2-2", "chg-2-3"]}
    assert items["chg-1-1"]["quantity"] == "2"
    fct = table_rows(spark, env, "gold", "fct_orders")
    assert fct["chg-3"]["customer_id"] == "cus-chg-b"
    assert fct["chg-4"]["order_date"] == "2026-01-01"
    assert fct["chg-5"]["status"] == "paid"  # the tie's winner, though its loser came again
    assert fct["chg-6"]["status"] == "placed"  # the first delivery of a reused event_id
    history = table_rows(spark, env, "silver", "order_status_history")
    in_sequence = sorted(history.values(), key=lambda r: (r["valid_from"], r["opened_by_event_id"]))
    intervals = {
        oid: [(r["valid_from"][11:16], r["valid_to"] and r["valid_to"][11:16], r["status"])
              for r in in_sequence if r["order_id"] == oid]
        for oid in ("chg-5", "chg-8")
    }  # fmt: skip
    assert intervals == {
        # The late paid event split the first batch's placed interval.
        "chg-8": [("08:00", "10:00", "placed"), ("10:00", "12:00", "paid"),
                  ("12:00", None, "shipped")],
        # A tie on event time, in event_id order: the loser's interval lasts no time.
        "chg-5": [("14:00", "15:00", "placed"), ("15:00", "15:00", "cancelled"),
                  ("15:00", None, "paid")],
    }  # fmt: skip
    # chg-9's first shipped moved to 1 January: 15 February keeps its event, and no milestone.
    fulfillment = table_rows(spark, env, "gold", "fulfillment_daily")
    assert fulfillment["2026-02-15"]["orders_shipped"] == "0"
    customers = table_rows(spark, env, "gold", "dim_customers")
    assert customers["cus-chg-a"]["orders_count"] == "2"  # chg-1 and chg-7; chg-3 moved
    assert customers["cus-chg-b"]["orders_count"] == "2"
    newest_email = next(
        event["customer_email"]
        for m in messages
        if m.key == "chg-1"
        for event in [json.loads(m.value)]
        if event["event_type"] == "order_updated"
    )
    assert customers["cus-chg-a"]["customer_email_hash"] == _email_hash(newest_email)
    conflict = next(m for m in messages if m.kind == "conflict")
    quarantined = [r for r in table_rows(spark, env, "silver", "quarantine").values()
                   if r["invalid_reason"].startswith(QUARANTINED["conflict"])]  # fmt: skip
    assert len(quarantined) == 1
    assert json.loads(conflict.value)["event_id"] in quarantined[0]["raw_value"]


def test_a_corrected_rate_flows_into_the_days_it_covers(env, messages, spark) -> None:
    # The rates feed corrects EUR's rate of Friday 2 January, which the weekend after takes too.
    seed = table_path(env, "reference", "exchange_rates")
    spark.sql(
        f"update delta.`{seed}` set rate_to_usd = 2.0 "
        "where currency_code = 'EUR' and rate_date = date'2026-01-02'"
    )
    ok(dbt(env, "build", "--select", "fct_orders+"))
    rates = seed_rates()
    rates["EUR"] = [(day, Decimal(2) if day == date(2026, 1, 2) else rate)
                    for day, rate in rates["EUR"]]  # fmt: skip
    corrected = expected_gold(messages, rates)
    assert_gold_matches(spark, env, corrected)
    covered = {r["order_date"] for r in corrected["fct_orders"].values()
               if r["currency"] == "EUR" and r["rate_to_usd"] == "2.000000"}  # fmt: skip
    assert {"2026-01-02", "2026-01-03"} <= covered  # a Friday, and the Saturday it covers
    # The seed again (dbt build re-seeds it): the rates flow back.
    ok(dbt(env, "build", "--select", "exchange_rates+"))
    assert_gold_matches(spark, env, expected_gold(messages))


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
            (r for r in QUARANTINED.values() if row["invalid_reason"].startswith(r)),
            row["invalid_reason"],
        )
        for row in quarantine.values()
    )
    assert reasons == Counter(QUARANTINED[m.kind] for m in messages if m.kind in QUARANTINED)

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
    dead = sum(m.kind in DEAD_LETTER_KINDS or m.kind in AVRO_POISON for m in messages)
    assert len(letters) == dead
    malformed = {qid for qid, row in quarantine.items() if row["is_malformed"] == "true"}
    sources = {
        f"{d['dlq.source.topic']}/{d['dlq.source.partition']}/{d['dlq.source.offset']}"
        for d in letters
    }
    assert sources == malformed
    assert all(d["dlq.error"] for d in letters)
    assert max(len(d["value"] or b"") for d in letters) > 900_000  # the oversized ones

    # The event log's micro-batches add up to bronze and to the dead letters, and every build
    # so far is in it.
    batches = spark.read.format("delta").load(conf.ingest_log_path)
    totals = batches.selectExpr("sum(input_rows) as rows", "sum(dead_letters) as dead").first()
    assert (totals["rows"], totals["dead"]) == (len(messages), dead)
    assert batches.select("run_id", "batch_id").distinct().count() == batches.count()
    # dbt registered it in the metastore, with the columns the job writes.
    assert spark.table(f"{SCHEMA}_ops.ingest_batches").count() == batches.count()


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


def test_staging_tests_judge_only_the_rows_the_next_build_reads(env, spark) -> None:
    # Bronze holds quarantined records, all read by the first test's last whole build (nothing
    # was ingested since). With no lookback the rate gate sees nothing new and passes even at
    # a limit of 0%, and the duplicate gate finds no rate in no rows; with a lookback longer
    # than the history it sees them all, and the same limit fails.
    gate = ["test", "--select", "quarantine_rate_orders"]
    no_lookback = "{silver_lookback_hours: 0, quarantine_error_pct: 0}"
    ok(dbt(env, *gate, "duplicate_rate_orders", "--vars", no_lookback))
    wide = dbt(env, *gate, "--vars", "{silver_lookback_hours: 100000, quarantine_error_pct: 0}")
    assert wide.returncode != 0 and "quarantine_rate_orders" in wide.stdout, wide.stdout[-3000:]

    # Quarantine keeps only invalid rows, so it records how far it has read: the newest
    # _ingested_at in bronze, which that build read.
    bronze = table_path(env, "bronze", "kafka_events")
    newest = spark.sql(f"select unix_micros(max(_ingested_at)) from delta.`{bronze}`").first()[0]
    quarantine = table_path(env, "silver", "quarantine")
    properties = dict(spark.sql(f"show tblproperties delta.`{quarantine}`").collect())
    assert int(properties["lakehouse.ingested_through"]) == newest


def test_only_a_model_that_records_a_read_mark_is_asked_for_it(env) -> None:
    # Each incremental read and each gate looks up its model's read mark; only
    # quarantine (meta.read_mark: 'recorded') also keeps a mark in a table
    # property, so only it costs a `show tblproperties` round trip.
    out = ok(
        dbt(env, "--debug", "compile", "--select", "int_order_deliveries", "orders", "quarantine")
    )
    lines = out.splitlines()
    # The three models look theirs up once each, and each of int_order_deliveries' two gates
    # (quarantine_rate_orders, duplicate_rate_orders) and two key tests looks up orders'.
    assert sum("select cast(max(" in line for line in lines) >= 7, "no mark was looked up"
    asked = [line.split()[-1] for line in lines if "show tblproperties" in line]
    assert asked, "quarantine's mark was not looked up"
    assert all(relation.endswith(".quarantine") for relation in asked), asked


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
    # The event log has this build (run_results.json's invocation): the test that failed,
    # with its failures, and the gold models skipped.
    invocation = json.loads((Path(env["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    invocation_id = invocation["metadata"]["invocation_id"]
    logged = event_log(spark, env, "dbt_invocations", f"invocation_id = '{invocation_id}'")
    assert [(r["command"], r["status"]) for r in logged] == [("build", "error")]
    assert logged[0]["failed"] >= 1 and logged[0]["skipped"] >= 3
    nodes = {
        r["unique_id"]: r
        for r in event_log(spark, env, "dbt_node_results", f"invocation_id = '{invocation_id}'")
    }
    # run_results.json also lists the project's hooks, which the log does not.
    built = [r for r in invocation["results"] if not r["unique_id"].startswith("operation.")]
    assert len(nodes) == logged[0]["nodes"] == len(built)
    gate = next(r for uid, r in nodes.items() if "matches_items_total_orders_order_total" in uid)
    assert gate["status"] == "fail" and gate["failures"] == len(bad)
    assert {nodes[f"model.lakehouse.{m}"]["status"] for m in ("fct_orders", "daily_revenue")} == {
        "skipped"
    }

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
    # dbt-spark reads the columns from the metastore, where Delta stores them only when the
    # profile says so: a table that only incremental builds made had none there.
    ok(dbt(env, "docs", "generate"))
    target = Path(env["DBT_TARGET_PATH"])
    catalog = json.loads((target / "catalog.json").read_text())["nodes"]
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    built = {uid: n for uid, n in nodes.items() if n["resource_type"] in ("model", "seed")}
    assert "model.lakehouse.fct_orders" in built
    for uid, node in built.items():
        columns = {c.lower() for c in catalog.get(uid, {}).get("columns", {})}
        assert columns == {c.lower() for c in node["columns"]}, uid


def test_maintenance_run_operations(env, spark) -> None:
    # One event ingested 30 days ago: the retention of 7 days expires it, and only it.
    bronze_path = env["LAKEHOUSE_BRONZE_PATH"]
    bronze = spark.read.format("delta").load(bronze_path)
    events = bronze.count()
    bronze.limit(1).selectExpr(
        *[c for c in bronze.columns if c not in ("_ingested_at", "ingest_date")],
        "_ingested_at - interval 30 days as _ingested_at",
        "date_sub(current_date(), 30) as ingest_date",
    ).select(*bronze.columns).write.format("delta").mode("append").save(bronze_path)
    expired = ok(dbt(env, "run-operation", "expire_bronze", "--vars",
                     "{bronze_retention_days: 7}"))  # fmt: skip
    assert "bronze: deleted 1 events ingested over 7 days ago" in expired, expired
    assert spark.read.format("delta").load(bronze_path).count() == events
    ok(dbt(env, "run-operation", "optimize_tables"))
    ok(dbt(env, "run-operation", "vacuum_tables", "--args", "{retain_hours: 168}"))
    history = spark.sql(f"describe history delta.`{bronze_path}`").collect()
    optimize = [h for h in history if h["operation"] == "OPTIMIZE"]
    assert optimize and json.loads(optimize[0]["operationParameters"]["zOrderBy"]) == [
        "topic", "_ingested_at"]  # fmt: skip
    assert "VACUUM END" in {h["operation"] for h in history}
    path = Path(env["LAKEHOUSE_STATE_DIR"]) / "warehouse" / f"{SCHEMA}_gold.db" / "fct_orders"
    history = spark.sql(f"describe history delta.`{path}`").collect()
    optimize = [h for h in history if h["operation"] == "OPTIMIZE"]
    assert optimize and "order_date" in optimize[0]["operationParameters"]["zOrderBy"]
    assert {"VACUUM START", "VACUUM END"} <= {h["operation"] for h in history}
    # The event log's tables too, the ingest job's (written by delta-rs) among them.
    for table in ("dbt_node_results", "ingest_batches"):
        logged = spark.sql(f"describe history {SCHEMA}_ops.{table}").collect()
        assert {"OPTIMIZE", "VACUUM END"} <= {h["operation"] for h in logged}, table
    # A table made before a constraint was declared lacks it: the run-operation adds it, once.
    orders = f"{SCHEMA}_silver.orders"
    spark.sql(f"alter table {orders} drop constraint fields_present")
    added = ok(dbt(env, "run-operation", "add_missing_constraints"))
    assert added.count("adding constraint") == 1 and "constraint fields_present" in added, added
    held = {r["key"] for r in spark.sql(f"show tblproperties {orders}").collect()}
    assert "delta.constraints.fields_present" in held
    assert "adding constraint" not in ok(dbt(env, "run-operation", "add_missing_constraints"))


def test_a_failing_event_log_write_keeps_the_results_and_the_pipeline_going(env, spark) -> None:
    # A log table changed by hand: a constraint no new invocation meets.
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    invocations = f"{SCHEMA}_ops.dbt_invocations"
    spark.sql(f"alter table {invocations} add constraint before_now check "
              f"(started_at < timestamp'{now}+00:00')")  # fmt: skip
    try:
        # As `make build` runs dbt (lakehouse/dbt_results.py): dbt exits 1, the runner 0.
        seeded = run([str(VENV_BIN / "python"), "-m", "lakehouse.dbt_results",
                      str(VENV_BIN / "dbt"), "seed"], env, timeout=600)  # fmt: skip
    finally:
        spark.sql(f"alter table {invocations} drop constraint before_now")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert seeded.stderr.count("event log: not written") == 1, seeded.stderr
    # dbt kept its run_results.json: the seeds' results, and the log's hook that failed.
    results = json.loads((Path(env["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    seeds = {uid: s for uid, s in statuses.items() if uid.startswith("seed.")}
    hooks = [s for uid, s in sorted(statuses.items()) if "on-run-end" in uid]
    assert seeds and set(seeds.values()) == {"success"}, statuses
    assert hooks == ["success", "success", "error", "skipped", "skipped", "skipped"], hooks


def test_a_stale_bronze_fails_the_freshness_gate_where_it_is_on(env) -> None:
    # Off by default, the gate passes in every build of this module. On, with thresholds
    # below zero (any bronze is stale), it fails as dbt's error.
    stale = "{bronze_freshness_gate: true, bronze_freshness_warn_hours: -2, "
    gated = dbt(env, "test", "--select", "bronze_is_fresh", "--vars",
                stale + "bronze_freshness_error_hours: -1}")  # fmt: skip
    assert gated.returncode != 0, gated.stdout
    assert re.search(r"FAIL \d+ bronze_is_fresh", gated.stdout), gated.stdout


def texts_holding(root: Path, needles: list[str]) -> list[str]:
    """The files under `root` that hold a needle in clear (case-insensitive): Parquet files
    (the tables' data and Delta's checkpoints) by their decoded values, the rest by bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            # As bytes: bronze keeps values that are not UTF-8.
            text = repr(table.cast(pa.schema([
                f.with_type(pa.binary()) if pa.types.is_string(f.type) else f
                for f in table.schema
            ])).to_pylist())  # fmt: skip
        else:
            text = path.read_bytes().decode("utf-8", "replace")
        if any(needle in text.lower() for needle in needles):
            found.append(str(path.relative_to(root)))
    return found


def assert_nothing_holds(env: dict[str, str], needles: list[str]) -> None:
    """No file of any table (the warehouse's, bronze and the Delta tables beside it), live or
    left by an old version, nor of Delta's logs holds them: so no table and no version that
    can still be read back in time holds them either."""
    bronze = env["LAKEHOUSE_BRONZE_PATH"]
    # This module's schemas only: other modules write the shared warehouse meanwhile.
    schemas = sorted((Path(env["LAKEHOUSE_STATE_DIR"]) / "warehouse").glob(f"{SCHEMA}_*.db"))
    assert schemas
    for root in (*schemas, *(Path(bronze + s) for s in ("", "_ingest_log", "_erasures"))):
        assert texts_holding(root, needles) == [], root


def addresses_in_bronze(spark, env: dict[str, str]) -> dict[str, set[str]]:
    """Each customer id's e-mail addresses in bronze, as an erasure must find them."""
    bronze = spark.read.format("delta").load(env["LAKEHOUSE_BRONZE_PATH"])
    found: dict[str, set[str]] = defaultdict(set)
    for customer, email in bronze.selectExpr(
        "get_json_object(value, '$.customer_id')", "get_json_object(value, '$.customer_email')"
    ).collect():
        if customer and email and email.strip():
            found[customer].add(email.strip().lower())
    return found


def sharing_an_address(addresses: dict[str, set[str]]) -> set[str]:
    """The customers one of whose addresses another customer's events carry too."""
    owners = Counter(email for emails in addresses.values() for email in emails)
    return {
        customer for customer, emails in addresses.items() if any(owners[e] > 1 for e in emails)
    }


@pytest.fixture(scope="module")
def erased() -> dict:
    """What the erasure test erased (`needles`), for the steps after it."""
    return {}


def test_an_erased_customer_is_gone_from_every_file(env, spark, erased) -> None:
    orders = table_rows(spark, env, "silver", "orders")
    owners = Counter(r["customer_id"] for r in orders.values())
    # A customer whose addresses nobody else's events carry: a full refresh then rebuilds the
    # tables as the erasure left them (another customer who shares an erased address keeps
    # its hash until a full refresh: docs/design.md#erasure). The replay step erases one who
    # shares.
    addresses = addresses_in_bronze(spark, env)
    shared = sharing_an_address(addresses)
    customer = next(c for c, n in owners.most_common() if n >= 2 and c not in shared)
    needles = [customer.lower(), *addresses[customer]]
    assert texts_holding(Path(env["LAKEHOUSE_BRONZE_PATH"]), needles), "nothing to erase"
    gold = {t: table_rows(spark, env, "gold", t) for t in ("fct_orders", "dim_customers")}
    totals = {t: table_rows(spark, env, "gold", t) for t in ("daily_revenue", "fulfillment_daily")}

    erase(env, customer, "ticket-e2e")
    assert_nothing_holds(env, needles)
    # The other customers' gold rows as they were; the customer's orders still count, as
    # `erased`, so the aggregates are unchanged.
    fct = table_rows(spark, env, "gold", "fct_orders")
    assert set(fct) == set(gold["fct_orders"])
    for order_id, before in gold["fct_orders"].items():
        if before["customer_id"] == customer:
            assert fct[order_id]["customer_id"] == "erased"
            assert {**fct[order_id], "customer_id": customer,
                    "customer_email_hash": before["customer_email_hash"]} == before  # fmt: skip
        else:
            assert fct[order_id] == before, order_id
    dim = table_rows(spark, env, "gold", "dim_customers")
    assert {k: v for k, v in dim.items() if k != "erased"} == {
        k: v for k, v in gold["dim_customers"].items() if k != customer
    }
    assert dim["erased"]["orders_count"] == gold["dim_customers"][customer]["orders_count"]
    for table, before in totals.items():
        assert table_rows(spark, env, "gold", table) == before, table
    # The record: who asked and what was rewritten, with the id's hash only.
    record = spark.read.format("delta").load(env["LAKEHOUSE_BRONZE_PATH"] + "_erasures")
    steps = {r["step"]: r.asDict() for r in record.collect()}
    assert set(steps) == {"requested", "done"} and steps["done"]["requested_by"] == "ticket-e2e"
    rewritten = json.loads(steps["done"]["rows_rewritten"])
    assert rewritten[f"{SCHEMA}_gold.fct_orders"] == owners[customer]
    # The digests of the rewritten first deliveries, recomputed (the next step's re-run needs them).
    assert rewritten[f"{SCHEMA}_silver.int_event_first_deliveries"] > 0, rewritten

    erased["needles"] = needles


def test_a_rerun_with_no_new_data_changes_no_row(env, spark, erased) -> None:
    # The next scheduled run after the erasure: the rewritten events are not read as new.
    assert erased, "runs after test_an_erased_customer_is_gone_from_every_file"
    tables = [("bronze", "kafka_events"), *ALL_TABLES]
    before = {t: table_rows(spark, env, *t) for t in ALL_TABLES}
    versions_before = {t: max(delta_versions(env, *t)) for t in tables}
    ingest(env)
    ok(dbt(env, "build"))
    for t in ALL_TABLES:
        assert table_rows(spark, env, *t) == before[t], f"{t} changed"
    assert_nothing_holds(env, erased["needles"])
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


def test_a_replay_then_a_full_refresh_give_the_same_tables_and_the_erased_stay_gone(
    env, spark, erased
) -> None:
    """The module's full refresh: from a bronze that holds every record twice (a reset
    checkpoint), beside a compaction of bronze, it gives the incremental builds' tables."""
    assert erased, "runs after test_an_erased_customer_is_gone_from_every_file"
    needles = erased["needles"]
    incremental = {t: table_rows(spark, env, *t) for t in ALL_TABLES}
    # The events are still in Kafka: a new checkpoint re-reads them all, and the ingest job
    # lands the customer's already rewritten.
    checkpoint = Path(env["LAKEHOUSE_BRONZE_PATH"]) / "_checkpoints" / "ingest"
    subprocess.run(["rm", "-rf", str(checkpoint)], check=True)
    ingest(env)
    assert_nothing_holds(env, needles)
    # The next scheduled build reads the second deliveries: each says what the first said.
    ok(dbt(env, "build"))
    for table, before in incremental.items():
        assert table_rows(spark, env, *table) == before, f"{table} differs after the replay"
    # A full refresh from that bronze reads each record at its first landing: the same tables.
    # Beside it, the maintenance DAG's compaction of bronze (its SQL, on the whole table: the
    # replay's many small files), which must not disturb a build reading bronze.
    bronze_path = env["LAKEHOUSE_BRONZE_PATH"]
    dbt_log = Path(env["DBT_LOG_PATH"]) / "dbt.log"
    logged = dbt_log.stat().st_size
    with ThreadPoolExecutor(1) as pool:
        build = pool.submit(dbt, env, "build", "--full-refresh")
        # Once the build is into silver, which reads bronze through staging.
        deadline = time.monotonic() + 600
        while f"model {SCHEMA}_silver.".encode() not in dbt_log.read_bytes()[logged:]:
            assert not build.done() and time.monotonic() < deadline, "no silver model started"
            time.sleep(0.5)
        spark.sql(f"optimize delta.`{bronze_path}` zorder by (topic, _ingested_at)")
        assert not build.done(), "the build ended before the compaction: they did not overlap"
        ok(build.result())
    history = spark.sql(f"describe history delta.`{bronze_path}` limit 1").first()
    assert history["operation"] == "OPTIMIZE", history
    assert_nothing_holds(env, needles)
    for table, before in incremental.items():
        assert table_rows(spark, env, *table) == before, f"{table} differs after a full refresh"
    # An erasure, on this bronze, of a customer whose address another customer's events carry
    # too: it is gone from theirs as well.
    addresses = addresses_in_bronze(spark, env)
    sharing = sharing_an_address(addresses) - {"erased"}
    assert sharing, "no two customers' events carry one address: the batches changed"
    other = min(sharing)
    erase(env, other, "ticket-e2e-2")
    assert_nothing_holds(env, [*needles, other.lower(), *addresses[other]])
