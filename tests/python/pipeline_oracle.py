"""What the pipeline tests share: publishing events, reading a table as text, and the
independent computation of gold that every end-to-end check compares against.

Used by test_pipeline_e2e, test_dags, test_cluster and test_status.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from helpers import PROJECT_DIR

from ingest import config as ingest_config
from ingest.kafka_client import ensure_topics, idempotent_producer, publish

# The development salt of customer_email_hash (LAKEHOUSE_EMAIL_SALT's default).
SALT = "lakehouse-dev-salt"
CENT = Decimal("0.01")
ALL_TABLES = [
    ("silver", "orders"),
    ("silver", "payments"),
    ("silver", "order_items"),
    ("silver", "quarantine"),
    ("gold", "fct_orders"),
    ("gold", "daily_revenue"),
    ("gold", "dim_customers"),
]


def publish_part(env: dict[str, str], part: list) -> None:
    conf = ingest_config.load(env)
    ensure_topics(conf.bootstrap_servers, conf.topic_names, partitions=3)
    producer = idempotent_producer(conf.bootstrap_servers)
    for contract in ("orders", "payments"):
        publish(
            producer,
            f"{contract}{conf.topic_suffix}",
            ((m.key, m.value) for m in part if m.contract == contract),
        )


def publish_orders(env: dict[str, str], events: list[dict]) -> None:
    """Hand-made order events to the orders topic, keyed by order_id."""
    conf = ingest_config.load(env)
    publish(
        idempotent_producer(conf.bootstrap_servers),
        f"orders{conf.topic_suffix}",
        ((e["order_id"], json.dumps(e)) for e in events),
    )


def bad_total_orders(messages: list) -> list[dict]:
    """A producer bug: three orders whose totals disagree with their items. They are
    well-formed, so the contract cannot see it; the error-severity test on silver orders does."""
    template = next(
        json.loads(m.value) for m in messages if m.kind == "valid" and m.contract == "orders"
    )
    return [
        {
            **template,
            "event_id": str(uuid.uuid4()),
            "order_id": f"bad-{n}",
            "order_total": 1.0,
            "event_ts": "2026-03-01T00:00:00Z",
            "event_type": "order_placed",
            "status": "placed",
        }
        for n in range(3)
    ]


def table_path(env: dict[str, str], layer: str, table: str) -> Path:
    if layer == "bronze":
        return Path(env["LAKEHOUSE_BRONZE_PATH"])
    schema = env["LAKEHOUSE_SCHEMA"]
    return Path(env["LAKEHOUSE_STATE_DIR"]) / "warehouse" / f"{schema}_{layer}.db" / table


def table_rows(spark, env: dict[str, str], layer: str, table: str) -> dict[str, dict]:
    """A table read by path, every value as text (timestamps to the millisecond, UTC)."""
    frame = spark.read.format("delta").load(str(table_path(env, layer, table)))
    columns = []
    for field in frame.schema.fields:
        if field.dataType.typeName() == "timestamp":
            columns.append(f"date_format({field.name}, 'yyyy-MM-dd HH:mm:ss.SSS') as {field.name}")
        else:
            columns.append(f"cast({field.name} as string) as {field.name}")
    rows = [r.asDict() for r in frame.selectExpr(*columns).collect()]
    key = frame.columns[0]
    by_key = {row[key]: row for row in rows}
    assert len(by_key) == len(rows), f"{table}: duplicate keys"
    return by_key


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _fmt_ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def expected_gold(messages: list) -> dict[str, dict[str, dict]]:
    rates = {
        row["currency_code"]: Decimal(row["rate_to_usd"])
        for row in csv.DictReader((PROJECT_DIR / "seeds/exchange_rates.csv").open())
    }
    newest_order: dict[str, dict] = {}
    first_seen: dict[str, datetime] = {}
    newest_payment: dict[str, dict] = {}
    for message in messages:
        if message.kind not in ("valid", "duplicate"):
            continue
        event = json.loads(message.value)
        at = _ts(event["event_ts"])
        if message.contract == "orders":
            oid = event["order_id"]
            first_seen[oid] = min(first_seen.get(oid, at), at)
            if oid not in newest_order or at > _ts(newest_order[oid]["event_ts"]):
                newest_order[oid] = event
        else:
            pid = event["payment_id"]
            if pid not in newest_payment or at > _ts(newest_payment[pid]["event_ts"]):
                newest_payment[pid] = event

    payments_of: dict[str, list[dict]] = defaultdict(list)
    for payment in newest_payment.values():
        payments_of[payment["order_id"]].append(payment)

    fct: dict[str, dict] = {}
    for oid, order in newest_order.items():
        paid = payments_of[oid]
        total = Decimal(str(order["order_total"]))
        captured = sum(
            (Decimal(str(p["amount"])) for p in paid if p["status"] in ("captured", "refunded")),
            Decimal(0),
        )
        refunded = sum(
            (Decimal(str(p["amount"])) for p in paid if p["status"] == "refunded"), Decimal(0)
        )
        rate = rates[order["currency"]]
        email = order["customer_email"].strip(" ").lower()
        fct[oid] = {
            "order_id": oid,
            "customer_id": order["customer_id"],
            "customer_email_hash": hashlib.sha256((email + SALT).encode()).hexdigest(),
            "status": order["status"],
            "is_cancelled": _bool(order["status"] == "cancelled"),
            "currency": order["currency"],
            "order_total": _money(total),
            "channel": order.get("channel"),
            "placed_at": _fmt_ts(first_seen[oid]),
            "order_date": first_seen[oid].date().isoformat(),
            "last_event_at": _fmt_ts(_ts(order["event_ts"])),
            "amount_captured": _money(captured),
            "amount_refunded": _money(refunded),
            "net_paid": _money(captured - refunded),
            "is_fully_paid": _bool(captured - refunded >= total),
            "payments_count": str(len(paid)),
            "rate_to_usd": str(rate.quantize(Decimal("0.000001"))),
            "order_total_usd": _money(total * rate),
            "net_paid_usd": _money((captured - refunded) * rate),
        }

    daily: dict[str, dict] = {}
    customers: dict[str, dict] = {}
    for row in fct.values():
        cancelled = row["is_cancelled"] == "true"
        day = daily.setdefault(
            row["order_date"],
            {"orders_placed": 0, "orders_cancelled": 0, "gross": Decimal(0), "net": Decimal(0)},
        )
        day["orders_placed"] += 1
        day["orders_cancelled"] += cancelled
        day["gross"] += Decimal(0) if cancelled else Decimal(row["order_total_usd"])
        day["net"] += Decimal(row["net_paid_usd"])
        customer = customers.setdefault(
            row["customer_id"],
            {"first": row["placed_at"], "last": row["placed_at"], "count": 0, "ltv": Decimal(0)},
        )
        customer["first"] = min(customer["first"], row["placed_at"])
        customer["last"] = max(customer["last"], row["placed_at"])
        customer["count"] += not cancelled
        customer["ltv"] += Decimal(0) if cancelled else Decimal(row["order_total_usd"])
        customer["hash"] = row["customer_email_hash"]

    return {
        "fct_orders": fct,
        "daily_revenue": {
            date: {
                "order_date": date,
                "orders_placed": str(d["orders_placed"]),
                "orders_cancelled": str(d["orders_cancelled"]),
                "gross_revenue_usd": _money(d["gross"]),
                "net_paid_usd": _money(d["net"]),
            }
            for date, d in daily.items()
        },
        "dim_customers": {
            cid: {
                "customer_id": cid,
                "customer_email_hash": c["hash"],
                "first_order_at": c["first"],
                "last_order_at": c["last"],
                "orders_count": str(c["count"]),
                "lifetime_value_usd": _money(c["ltv"]),
            }
            for cid, c in customers.items()
        },
    }


def assert_gold_matches(spark, env: dict[str, str], expected: dict[str, dict[str, dict]]) -> None:
    for table, rows in expected.items():
        actual = table_rows(spark, env, "gold", table)
        assert set(actual) == set(rows), f"{table}: keys differ"
        for key, want in rows.items():
            got = {column: actual[key][column] for column in want}
            assert got == want, f"{table} {key}"
