"""What the pipeline tests share: publishing events, reading a table as text, and the
independent computation of gold that every end-to-end check compares against.

Used by test_pipeline_e2e, test_dags, test_cluster and test_status.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from helpers import PROJECT_DIR

from ingest import config as ingest_config
from ingest.kafka_client import ensure_topics, idempotent_producer, publish
from ingest.schema_registry import avro_serializers, register_contract

# The development salt of customer_email_hash (LAKEHOUSE_EMAIL_SALT's default).
SALT = "lakehouse-dev-salt"
CENT = Decimal("0.01")
# The message kinds that are well-formed deliveries of an event (ingest.generator's, and the
# hand-made conflicts: an event_id delivered again with another payload).
VALID_KINDS = ("valid", "duplicate", "conflict")
# Hand-made Avro poison: a valid event, written as Avro, then spoiled (publish_part).
AVRO_POISON = {
    "avro_unknown_schema": lambda framed: b"\0" + (2**32 - 1).to_bytes(4, "big") + framed[5:],
    "avro_truncated": lambda framed: framed[:12],
}
ALL_TABLES = [
    ("silver", "orders"),
    ("silver", "payments"),
    ("silver", "order_items"),
    ("silver", "order_status_history"),
    ("silver", "quarantine"),
    ("gold", "fct_orders"),
    ("gold", "daily_revenue"),
    ("gold", "dim_customers"),
    ("gold", "fulfillment_daily"),
]


def publish_part(env: dict[str, str], part: list) -> None:
    """The messages to their topics; as Avro through the registry the well-formed events of a
    topic whose format (LAKEHOUSE_TOPIC_FORMATS) is avro or auto, and the AVRO_POISON kinds."""
    conf = ingest_config.load(env)
    ensure_topics(conf.bootstrap_servers, conf.topic_names, partitions=3)
    producer = idempotent_producer(conf.bootstrap_servers)
    for contract in ("orders", "payments"):
        topic = f"{contract}{conf.topic_suffix}"
        messages = [m for m in part if m.contract == contract]
        if conf.format_of(contract) == "json":
            publish(producer, topic, ((m.key, m.value) for m in messages))
            continue
        register_contract(conf, topics=[topic])
        encoders = avro_serializers(conf, topic)

        def wire(message, encoders=encoders) -> bytes | None:
            if message.kind not in VALID_KINDS and message.kind not in AVRO_POISON:
                return message.value
            event = json.loads(message.value)
            framed = encoders[event["schema_version"]](event)
            return AVRO_POISON[message.kind](framed) if message.kind in AVRO_POISON else framed

        publish(producer, topic, ((m.key, wire(m)) for m in messages))


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


def seed_rates() -> dict[str, list[tuple[date, Decimal]]]:
    """The exchange_rates seed: per currency, (rate_date, rate) in date order."""
    rates: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for row in csv.DictReader((PROJECT_DIR / "seeds/exchange_rates.csv").open()):
        rates[row["currency_code"]].append(
            (date.fromisoformat(row["rate_date"]), Decimal(row["rate_to_usd"]))
        )
    return {code: sorted(dated) for code, dated in rates.items()}


def rate_on(rates: dict[str, list[tuple[date, Decimal]]], currency: str, day: date):
    """The rate of `day`, or else the latest earlier one; None when there is none."""
    earlier = [rate for rate_date, rate in rates.get(currency, []) if rate_date <= day]
    return earlier[-1] if earlier else None


def first_deliveries(messages: list) -> tuple[list[dict], list]:
    """The ordering rule's first step (docs/design.md): each event_id once, as its first
    valid delivery said it. Also the later deliveries that said something else (conflicts,
    which quarantine keeps). Messages are in the order they were delivered."""
    first: dict[str, dict] = {}
    conflicts = []
    for message in messages:
        if message.kind not in VALID_KINDS:
            continue
        event = json.loads(message.value)
        kept = first.setdefault(event["event_id"], event)
        if kept is not event and kept != event:
            conflicts.append(message)
    return list(first.values()), conflicts


def _newest(event: dict) -> tuple[datetime, str]:
    """Which of two events of one key is newer: event time, then the greater event_id."""
    return _ts(event["event_ts"]), event["event_id"]


def latest_orders(messages: list) -> dict[str, dict]:
    """Per order: its newest event under the ordering rule, with `placed_at`, the earliest
    event time seen."""
    events, _ = first_deliveries(messages)
    orders: dict[str, dict] = {}
    for event in events:
        if "payment_id" in event:
            continue
        oid, at = event["order_id"], _ts(event["event_ts"])
        current = orders.get(oid)
        placed_at = min(at, current["placed_at"]) if current else at
        if current is None or _newest(event) > _newest(current):
            current = event
        orders[oid] = {**current, "placed_at": placed_at}
    return orders


def expected_order_items(messages: list) -> dict[str, dict]:
    """silver.order_items: the lines of each order's newest state."""
    return {
        f"{oid}-{number}": {
            "order_item_id": f"{oid}-{number}",
            "order_id": oid,
            "line_number": str(number),
            "sku": item["sku"],
            "quantity": str(item["quantity"]),
            "unit_price": _money(Decimal(str(item["unit_price"]))),
            "line_total": _money(Decimal(str(item["unit_price"])) * item["quantity"]),
            "currency": order["currency"],
        }
        for oid, order in latest_orders(messages).items()
        for number, item in enumerate(order["items"], start=1)
    }


def _status_changes(messages: list) -> dict[str, list[tuple[dict, str | None]]]:
    """Per order, the events that changed its status, in the ordering rule's sequence (event
    time, then event_id), each with the status before it."""
    by_order: dict[str, list[dict]] = defaultdict(list)
    for event in first_deliveries(messages)[0]:
        if "payment_id" not in event:
            by_order[event["order_id"]].append(event)
    changes: dict[str, list[tuple[dict, str | None]]] = {}
    for oid, events in by_order.items():
        previous = None
        changes[oid] = []
        for event in sorted(events, key=_newest):
            if event["status"] != previous:
                changes[oid].append((event, previous))
            previous = event["status"]
    return changes


def expected_status_history(messages: list) -> dict[str, dict]:
    """silver.order_status_history: one row per order and status interval."""
    rows = {}
    for oid, changes in _status_changes(messages).items():
        for number, (event, previous) in enumerate(changes):
            after = changes[number + 1][0] if number + 1 < len(changes) else None
            key = hashlib.sha256(f"{oid}|{event['event_id']}".encode()).hexdigest()
            rows[key] = {
                "order_status_interval_id": key,
                "order_id": oid,
                "status": event["status"],
                "previous_status": previous,
                "valid_from": _fmt_ts(_ts(event["event_ts"])),
                "valid_to": _fmt_ts(_ts(after["event_ts"])) if after else None,
                "is_current": _bool(after is None),
                "opened_by_event_id": event["event_id"],
                "opened_by_event_type": event["event_type"],
            }
    return rows


def _percentile(values: list[float], share: float) -> float:
    """Spark's exact `percentile`: linear between the two nearest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    lower, higher = math.floor(position), math.ceil(position)
    if lower == higher or ordered[lower] == ordered[higher]:
        return ordered[lower]
    return (higher - position) * ordered[lower] + (position - lower) * ordered[higher]


def _hours(values: list[float], share: float) -> str | None:
    if not values:
        return None
    return str(Decimal(repr(_percentile(values, share))).quantize(CENT, rounding=ROUND_HALF_UP))


def expected_fulfillment_daily(messages: list) -> dict[str, dict]:
    """gold.fulfillment_daily: per UTC day on which any order event happened, the orders that
    first reached paid, shipped and delivered, and the hours they took."""
    days: dict[date, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for event in first_deliveries(messages)[0]:
        if "payment_id" not in event:
            days[_ts(event["event_ts"]).date()]  # a day with events, if no milestone: zeros
    for changes in _status_changes(messages).values():
        first: dict[str, datetime] = {}
        for event, _ in changes:
            first.setdefault(event["status"], _ts(event["event_ts"]))
        for milestone, since in (("paid", "placed"), ("shipped", "paid"), ("delivered", None)):
            if milestone not in first:
                continue
            start = first.get(since) if since else None
            micros = None if start is None else _micros(first[milestone]) - _micros(start)
            days[first[milestone].date()][milestone].append(micros)
    rows = {}
    for day, reached in days.items():
        paid = [m / 3.6e9 for m in reached["paid"] if m is not None]
        shipped = [m / 3.6e9 for m in reached["shipped"] if m is not None]
        rows[day.isoformat()] = {
            "fulfillment_date": day.isoformat(),
            "orders_paid": str(len(reached["paid"])),
            "orders_shipped": str(len(reached["shipped"])),
            "orders_delivered": str(len(reached["delivered"])),
            "median_hours_placed_to_paid": _hours(paid, 0.5),
            "p90_hours_placed_to_paid": _hours(paid, 0.9),
            "median_hours_paid_to_shipped": _hours(shipped, 0.5),
            "p90_hours_paid_to_shipped": _hours(shipped, 0.9),
        }
    return rows


def _micros(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def expected_gold(messages: list, rates: dict | None = None) -> dict[str, dict[str, dict]]:
    """Gold from the messages; `rates` overrides the exchange_rates seed."""
    rates = seed_rates() if rates is None else rates
    newest_payment: dict[str, dict] = {}
    for event in first_deliveries(messages)[0]:
        if "payment_id" not in event:
            continue
        pid = event["payment_id"]
        if pid not in newest_payment or _newest(event) > _newest(newest_payment[pid]):
            newest_payment[pid] = event

    payments_of: dict[str, list[dict]] = defaultdict(list)
    for payment in newest_payment.values():
        payments_of[payment["order_id"]].append(payment)

    fct: dict[str, dict] = {}
    for oid, order in latest_orders(messages).items():
        paid = payments_of[oid]
        total = Decimal(str(order["order_total"]))
        captured = sum(
            (Decimal(str(p["amount"])) for p in paid if p["status"] in ("captured", "refunded")),
            Decimal(0),
        )
        refunded = sum(
            (Decimal(str(p["amount"])) for p in paid if p["status"] == "refunded"), Decimal(0)
        )
        placed_at = order["placed_at"]
        rate = rate_on(rates, order["currency"], placed_at.date())
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
            "placed_at": _fmt_ts(placed_at),
            "order_date": placed_at.date().isoformat(),
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
            {"first": row["placed_at"], "last": row["placed_at"], "count": 0, "ltv": Decimal(0),
             "newest": ("", "")},
        )  # fmt: skip
        customer["first"] = min(customer["first"], row["placed_at"])
        customer["last"] = max(customer["last"], row["placed_at"])
        customer["count"] += not cancelled
        customer["ltv"] += Decimal(0) if cancelled else Decimal(row["order_total_usd"])
        # The e-mail of the order with the newest event (ties: the greater order_id).
        newest = (row["last_event_at"], row["order_id"])
        if newest > customer["newest"]:
            customer["newest"], customer["hash"] = newest, row["customer_email_hash"]

    return {
        "fct_orders": fct,
        "daily_revenue": {
            order_date: {
                "order_date": order_date,
                "orders_placed": str(d["orders_placed"]),
                "orders_cancelled": str(d["orders_cancelled"]),
                "gross_revenue_usd": _money(d["gross"]),
                "net_paid_usd": _money(d["net"]),
            }
            for order_date, d in daily.items()
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
        "fulfillment_daily": expected_fulfillment_daily(messages),
    }


def assert_table_matches(spark, env: dict[str, str], layer: str, table: str, rows: dict) -> None:
    """Every expected row, and no other, with the expected value in each expected column."""
    actual = table_rows(spark, env, layer, table)
    assert set(actual) == set(rows), f"{table}: keys differ: {set(actual) ^ set(rows)}"
    for key, want in rows.items():
        got = {column: actual[key][column] for column in want}
        assert got == want, f"{table} {key}"


def assert_gold_matches(spark, env: dict[str, str], expected: dict[str, dict[str, dict]]) -> None:
    for table, rows in expected.items():
        assert_table_matches(spark, env, "gold", table, rows)
