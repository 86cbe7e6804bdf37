"""The contract as dbt sees it (ingest/contract_dbt.py, macros/contract/): generated from the
JSON Schemas and current, and staging's checks rendered from it agree with the schemas, rule by
rule, on Spark."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
from helpers import PROJECT_DIR, VALID_ORDER, VENV_BIN, contract_error, ok, run

from ingest import contract, contract_dbt

VALID = {
    "orders": {**VALID_ORDER, "schema_version": 2, "channel": "web"},
    "payments": {
        "event_id": "0b7f6f3e-1b2c-4d5e-8f90-123456789abd",
        "event_ts": "2026-01-01T10:05:00Z",
        "payment_id": "pay-1",
        "order_id": "ord-1",
        "amount": 39.98,
        "currency": "EUR",
        "method": "card",
        "status": "captured",
        "schema_version": 1,
    },
}
ITEM = VALID["orders"]["items"][0]

# One change per value rule of the schemas (and the one conditional), and the reason staging
# gives: the first rule broken, as docs/contract.md describes.
CASES = [
    ("orders", {"event_id": "E-1"}, "malformed event_id: E-1"),
    ("orders", {"event_type": "order_lost"}, "unknown event_type: order_lost"),
    ("orders", {"order_id": ""}, "empty order_id"),
    ("orders", {"customer_id": ""}, "empty customer_id"),
    ("orders", {"status": "lost"}, "unknown status: lost"),
    ("orders", {"currency": "euro"}, "malformed currency: euro"),
    ("orders", {"order_total": -1}, "negative order_total"),
    ("orders", {"order_total": 1.001}, "order_total has more than 2 decimals"),
    ("orders", {"items": []}, "no items"),
    ("orders", {"items": [{**ITEM, "sku": ""}]}, "empty items[].sku"),
    ("orders", {"items": [ITEM, {**ITEM, "quantity": 0}]}, "items[].quantity not positive"),
    ("orders", {"items": [{**ITEM, "unit_price": -2}]}, "negative items[].unit_price"),
    (
        "orders",
        {"items": [{**ITEM, "unit_price": 0.001}]},
        "items[].unit_price has more than 2 decimals",
    ),
    ("orders", {"schema_version": 3}, "unknown schema_version: 3"),
    ("orders", {"channel": 5}, "wrong type: channel is BIGINT, expected string"),
    ("orders", {"schema_version": 1}, "channel needs schema_version 2"),
    ("orders", {"channel": "fax"}, "unknown channel: fax"),
    ("orders", {"coupon": "X"}, "unexpected field: coupon"),
    ("orders", {"status": 7}, "wrong type: status is BIGINT, expected string"),
    ("orders", {"status": "lost", "currency": "euro"}, "unknown status: lost"),
    ("payments", {"payment_id": ""}, "empty payment_id"),
    ("payments", {"amount": -0.5}, "negative amount"),
    ("payments", {"method": "cash"}, "unknown method: cash"),
    ("payments", {"status": "pending"}, "unknown status: pending"),
    ("payments", {"schema_version": 2}, "unknown schema_version: 2"),
]

PROBE = """
{%- set c = event_contract('NAME') -%}
with
parsed as (select {{ kafka_event_columns('value') }} from contract_probe_NAME),
typed as (
    select *, {{ contract_columns(c) }}, {{ contract_structure_error(c) }} as structure_error
    from parsed
)
select kafka_offset, {{ contract_invalid_reason(c) }} as invalid_reason from typed
"""


def test_the_dbt_contract_is_generated_from_the_current_schemas() -> None:
    assert contract_dbt.MACRO_FILE.read_text() == contract_dbt.render(), (
        "macros/contract/event_contracts.sql is stale: run `python -m ingest.contract_dbt`"
    )


def test_a_rule_the_sql_does_not_model_is_refused() -> None:
    orders = contract.contracts()["orders"]
    schema = {**orders.schema, "properties": {"x": {"type": "string", "maxLength": 3}}}
    with pytest.raises(contract_dbt.UnsupportedSchemaError, match=r"orders\.x.*maxLength"):
        contract_dbt.for_dbt(contract.Contract("orders", 2, schema))


@pytest.fixture(scope="module")
def staging_reasons(spark, tmp_path_factory) -> dict[tuple[str, int], str | None]:
    """Staging's invalid_reason for the valid events and every case, by (contract, case)."""
    base = tmp_path_factory.mktemp("contract-sql")
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
        "DBT_TARGET_PATH": str(base / "target"),
        "DBT_LOG_PATH": str(base / "logs"),
    }
    # One dbt compile renders both contracts' probes (a dbt start-up is most of the cost).
    split = "-- next contract --"
    inline = split.join(PROBE.replace("NAME", name) for name in VALID)
    argv = [str(VENV_BIN / "dbt"), "compile", "--quiet", "--no-populate-cache", "--inline", inline]
    compiled = dict(zip(VALID, ok(run(argv, env, timeout=300)).split(split), strict=True))
    reasons = {}
    for name, sql in compiled.items():
        values = [VALID[name]] + [{**VALID[name], **change} for c, change, _ in CASES if c == name]
        rows = [
            ("probe", 0, i, datetime(2026, 1, 1), datetime(2026, 1, 1), json.dumps(v), "json")
            for i, v in enumerate(values)
        ]
        spark.createDataFrame(
            rows,
            "topic string, partition int, offset long, kafka_timestamp timestamp, "
            "_ingested_at timestamp, value string, value_format string",
        ).selectExpr(
            "*",
            "to_date(_ingested_at) as ingest_date",
            "cast(null as int) as schema_id",
            "cast(null as binary) as value_bytes",
            "cast(null as string) as value_error",
        ).createOrReplaceTempView(f"contract_probe_{name}")
        for row in spark.sql(sql).collect():
            reasons[name, row["kafka_offset"]] = row["invalid_reason"]
    return reasons


def test_staging_accepts_the_valid_events(staging_reasons) -> None:
    assert staging_reasons["orders", 0] is None
    assert staging_reasons["payments", 0] is None


@pytest.mark.parametrize(("name", "change", "reason"), CASES, ids=[c[2] for c in CASES])
def test_staging_gives_the_first_rule_broken(staging_reasons, name, change, reason) -> None:
    index = [c for c in CASES if c[0] == name].index((name, change, reason)) + 1
    assert staging_reasons[name, index] == reason
    # The schema agrees: every case breaks the contract.
    value = json.dumps({**VALID[name], **change}).encode()
    assert contract_error(name, value) is not None
