"""Realistic shop events, deterministic for a seed: order and payment lifecycles plus trouble.

Orders go placed -> paid -> shipped -> delivered, and some are cancelled before or after they
are paid. Payments go authorized -> captured; some fail (and are retried) and cancelled paid
orders are refunded. Trouble is injected at given rates: duplicate deliveries (the same bytes
again), delayed events (sent up to `max_lateness` after they happened, so often after newer
events of the same order), malformed messages, and schema version 2 orders (with `channel`).
Messages come out in the order they are to be sent.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

CURRENCIES = (("USD", 0.55), ("EUR", 0.25), ("GBP", 0.12), ("CAD", 0.08))
PAYMENT_METHODS = (("card", 0.70), ("paypal", 0.18), ("bank_transfer", 0.08), ("gift_card", 0.04))
CHANNELS = ("web", "app", "store")
# Structure failures: dead-lettered by the ingest job (ingest/contract.py).
DEAD_LETTER_KINDS = (
    "not_json",
    "truncated_json",
    "wrong_type",
    "missing_field",
    "not_utf8",
    "null_value",
    "oversized",
)
# Value failures: well-formed, so they land in bronze and dbt quarantines them.
QUARANTINE_KINDS = ("unknown_enum", "negative_amount", "unknown_currency")
MALFORMED_KINDS = DEAD_LETTER_KINDS + QUARANTINE_KINDS
# Drawn at malformed_rate; oversized messages come only by count (Trouble.oversized).
_DRAWN_KINDS = tuple(kind for kind in MALFORMED_KINDS if kind != "oversized")
# An oversized message is cut off at this size: near the limit of what Kafka takes by default
# (librdkafka's message.max.bytes is 1,000,000; the broker's is 1,048,588).
OVERSIZED_BYTES = 990_000
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Trouble:
    duplicate_rate: float = 0.0
    late_rate: float = 0.0
    max_lateness: timedelta = timedelta(hours=2)
    malformed_rate: float = 0.0
    v2_rate: float = 0.0
    # Valid events sent without a key (a producer that forgot it): nothing may depend on it.
    null_key_rate: float = 0.0
    # How many near-limit messages (the first orders' first event, padded and cut off).
    oversized: int = 0

    def __post_init__(self) -> None:
        if self.oversized < 0:
            raise ValueError("oversized must not be negative")
        for name in ("duplicate_rate", "late_rate", "malformed_rate", "v2_rate", "null_key_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name}={rate} must be between 0 and 1")
        if self.max_lateness < timedelta(0):
            raise ValueError("max_lateness must not be negative")


@dataclass(frozen=True)
class Message:
    contract: str  # orders | payments: the topic's contract name
    key: str | None
    value: bytes | None
    kind: str  # valid | duplicate | one of MALFORMED_KINDS
    event_ts: float  # when it happened (epoch seconds); for malformed ones, their source's
    send_at: float  # when it is sent (event time, later for delayed events and duplicates)


@dataclass
class Counts:
    """What a generation holds, by kind; `out_of_order` counts events sent after a newer one
    of the same order."""

    orders: int = 0
    valid_events: dict[str, int] = field(default_factory=lambda: {"orders": 0, "payments": 0})
    duplicates: int = 0
    null_keys: int = 0
    delayed: int = 0
    out_of_order: int = 0
    schema_v2_events: int = 0
    malformed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MALFORMED_KINDS, 0))

    @property
    def messages(self) -> int:
        return sum(self.valid_events.values()) + self.duplicates + sum(self.malformed.values())

    @property
    def dead_letter_expected(self) -> int:
        return sum(self.malformed[kind] for kind in DEAD_LETTER_KINDS)


def _timestamp(epoch: float, offset_minutes: int) -> str:
    """RFC 3339 with milliseconds; most producers say Z, some send a local offset."""
    tz = timezone(timedelta(minutes=offset_minutes))
    text = datetime.fromtimestamp(epoch, tz).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for value, weight in choices:
        total += weight
        if roll < total:
            return value
    return choices[-1][0]


def _catalog() -> list[tuple[str, int]]:
    """Forty SKUs with prices in cents; the same for every seed."""
    rng = random.Random(20_260_101)
    return [(f"SKU-{n:04d}", rng.randrange(199, 25_000)) for n in range(1, 41)]


class _Order:
    """One order's lifecycle as event dicts (without event_id), in event-time order."""

    def __init__(self, rng: random.Random, number: int, seed: int, placed_at: float, v2: bool):
        self.rng = rng
        self.order_id = f"ord-{seed}-{number:07d}"
        customer = rng.randrange(max(1, number // 3 + 1))
        self.customer_id = f"cus-{seed}-{customer:06d}"
        email = f"customer{customer}@example.com"
        if rng.random() < 0.05:  # the same person, typed differently: hashing must normalise
            email = f"  {email.capitalize()} "
        self.email = email
        self.currency = _weighted(rng, CURRENCIES)
        lines = rng.sample(_CATALOG, rng.randint(1, 4))
        self.items = [
            {"sku": sku, "quantity": rng.randint(1, 3), "unit_price": cents / 100}
            for sku, cents in lines
        ]
        self.total_cents = sum(round(i["unit_price"] * 100) * i["quantity"] for i in self.items)
        self.v2 = v2
        self.channel = rng.choice(CHANNELS)
        self.offset_minutes = rng.choice((60, -300, 330)) if rng.random() < 0.1 else 0
        self.events: list[tuple[str, float, dict[str, Any]]] = []
        self._lifecycle(placed_at)

    def _order_event(self, event_type: str, status: str, at: float) -> None:
        event = {
            "event_type": event_type,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "customer_email": self.email,
            "status": status,
            "currency": self.currency,
            "order_total": self.total_cents / 100,
            "items": self.items,
            "schema_version": 2 if self.v2 else 1,
        }
        if self.v2:
            event["channel"] = self.channel
        self.events.append(("orders", at, event))

    def _payment_event(self, payment_id: str, method: str, status: str, at: float) -> None:
        event = {
            "payment_id": payment_id,
            "order_id": self.order_id,
            "amount": self.total_cents / 100,
            "currency": self.currency,
            "method": method,
            "status": status,
            "schema_version": 1,
        }
        self.events.append(("payments", at, event))

    def _lifecycle(self, t: float) -> None:
        rng, minute, hour = self.rng, 60.0, 3600.0
        self._order_event("order_placed", "placed", t)
        if rng.random() < 0.08:  # abandoned before paying
            self._order_event("order_cancelled", "cancelled", t + rng.uniform(5, 120) * minute)
            return
        method = _weighted(rng, PAYMENT_METHODS)
        attempt = 1
        t += rng.uniform(1, 30) * minute
        if rng.random() < 0.05:  # declined, then paid with another attempt
            failed_id = f"pay-{self.order_id[4:]}-{attempt}"
            self._payment_event(failed_id, method, "authorized", t)
            self._payment_event(failed_id, method, "failed", t + rng.uniform(5, 60))
            attempt += 1
            t += rng.uniform(2, 20) * minute
        payment_id = f"pay-{self.order_id[4:]}-{attempt}"
        self._payment_event(payment_id, method, "authorized", t)
        t += rng.uniform(1, 10) * minute
        self._payment_event(payment_id, method, "captured", t)
        self._order_event("order_updated", "paid", t + rng.uniform(1, 30))
        if rng.random() < 0.04:  # cancelled after paying: refunded
            t += rng.uniform(1, 24) * hour
            self._order_event("order_cancelled", "cancelled", t)
            self._payment_event(payment_id, method, "refunded", t + rng.uniform(10, 60) * minute)
            return
        t += rng.uniform(2, 48) * hour
        self._order_event("order_updated", "shipped", t)
        if rng.random() < 0.9:
            self._order_event("order_updated", "delivered", t + rng.uniform(1, 5) * 24 * hour)


_CATALOG = _catalog()


def _malformed(rng: random.Random, kind: str, contract: str, event: dict[str, Any]) -> bytes | None:
    bad = json.loads(json.dumps(event))
    money = "order_total" if contract == "orders" else "amount"
    if kind == "null_value":
        return None
    if kind == "not_utf8":  # a producer that encodes Latin-1
        bad["customer_id" if contract == "orders" else "method"] = "Ana-María"
        return json.dumps(bad, ensure_ascii=False).encode("latin-1")
    if kind == "oversized":  # a runaway payload, cut off by the producer's buffer
        bad["notes"] = "x" * OVERSIZED_BYTES
        return json.dumps(bad).encode()[:OVERSIZED_BYTES]
    if kind == "not_json":
        return f"{event['order_id']};{bad.get('status')};{bad[money]}".encode()
    if kind == "truncated_json":
        text = json.dumps(bad)
        return text[: rng.randint(1, len(text) - 2)].encode()
    if kind == "wrong_type":
        wrong = {money: str(bad[money]), "schema_version": "1", "event_ts": 1_700_000_000}
        field_name = rng.choice(sorted(wrong))
        bad[field_name] = wrong[field_name]
    elif kind == "missing_field":
        del bad[rng.choice(["event_id", "event_ts", "order_id", money, "currency", "status"])]
    elif kind == "unknown_enum":
        bad["status"] = "lost" if contract == "orders" else "pending_review"
    elif kind == "negative_amount":
        bad[money] = -abs(bad[money]) - 1.0
    elif kind == "unknown_currency":
        bad["currency"] = "XTS"  # ISO 4217's code for testing: well-formed, never accepted
    return json.dumps(bad, separators=(",", ":")).encode()


def generate(
    orders: int,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    span: timedelta = timedelta(days=1),
    trouble: Trouble = Trouble(),
    *,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[Message], Counts]:
    """All messages for `orders` orders placed within [start, start + span), in send order.

    `on_progress(orders_done)` is called every 20,000 orders.
    """
    if orders < 0:
        raise ValueError("orders must not be negative")
    rng = random.Random(seed)
    counts = Counts(orders=orders)
    messages: list[Message] = []
    start_s, span_s = start.timestamp(), span.total_seconds()
    lateness_s = trouble.max_lateness.total_seconds()

    for number in range(orders):
        if on_progress is not None and number and number % 20_000 == 0:
            on_progress(number)
        placed_at = start_s + rng.random() * span_s
        order = _Order(rng, number, seed, placed_at, rng.random() < trouble.v2_rate)
        for contract, at, body in order.events:
            event = {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_ts": _timestamp(at, order.offset_minutes),
                **body,
            }
            value = json.dumps(event, separators=(",", ":")).encode()
            send_at = at
            if rng.random() < trouble.late_rate:
                send_at += rng.uniform(0, lateness_s)
                counts.delayed += 1
            key: str | None = order.order_id
            if trouble.null_key_rate and rng.random() < trouble.null_key_rate:
                key = None
                counts.null_keys += 1
            messages.append(Message(contract, key, value, "valid", at, send_at))
            counts.valid_events[contract] += 1
            counts.schema_v2_events += contract == "orders" and order.v2
            if rng.random() < trouble.duplicate_rate:
                again = send_at + rng.uniform(1, 3600)
                messages.append(Message(contract, order.order_id, value, "duplicate", at, again))
                counts.duplicates += 1
            kinds = [rng.choice(_DRAWN_KINDS)] if rng.random() < trouble.malformed_rate else []
            if number < trouble.oversized and body is order.events[0][2]:
                kinds.append("oversized")
            for kind in kinds:
                fresh_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                bad = _malformed(rng, kind, contract, {**event, "event_id": fresh_id})
                messages.append(Message(contract, order.order_id, bad, kind, at, send_at))
                counts.malformed[kind] += 1

    messages.sort(key=lambda m: m.send_at)
    counts.out_of_order = _count_out_of_order(messages)
    return messages, counts


def _count_out_of_order(messages: list[Message]) -> int:
    newest: dict[tuple[str, str | None], float] = {}
    late = 0
    for message in messages:
        if message.kind != "valid":
            continue
        key = (message.contract, message.key)
        if message.event_ts < newest.get(key, float("-inf")):
            late += 1
        else:
            newest[key] = message.event_ts
    return late
