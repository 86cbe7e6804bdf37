"""The event generator: deterministic, realistic lifecycles, and trouble counted as injected."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from ingest.generator import MALFORMED_KINDS, Trouble, generate

ORDER_STEPS = {
    "placed": {"paid", "cancelled"},
    "paid": {"shipped", "cancelled"},
    "shipped": {"delivered"},
    "delivered": set(),
    "cancelled": set(),
}
PAYMENT_STEPS = {"authorized": {"captured", "failed"}, "captured": {"refunded"}}


def test_same_seed_same_messages_other_seed_other_messages() -> None:
    trouble = Trouble(duplicate_rate=0.1, late_rate=0.2, malformed_rate=0.1, v2_rate=0.3)
    first, counts = generate(200, seed=5, trouble=trouble)
    again, counts_again = generate(200, seed=5, trouble=trouble)
    other, _ = generate(200, seed=6, trouble=trouble)
    assert first == again and counts == counts_again
    assert [m.value for m in first] != [m.value for m in other]


def test_counts_match_the_messages() -> None:
    trouble = Trouble(
        duplicate_rate=0.2,
        late_rate=0.3,
        max_lateness=timedelta(days=2),
        malformed_rate=0.1,
        v2_rate=0.25,
        null_key_rate=0.1,
        oversized=2,
    )
    messages, counts = generate(500, seed=1, trouble=trouble)
    kinds = Counter(m.kind for m in messages)
    assert counts.messages == len(messages)
    assert counts.malformed["oversized"] == 2
    assert sum(m.key is None for m in messages) == counts.null_keys > 0
    assert all(m.kind == "valid" for m in messages if m.key is None)
    assert kinds["valid"] == sum(counts.valid_events.values())
    assert kinds["duplicate"] == counts.duplicates
    assert {k: kinds[k] for k in MALFORMED_KINDS} == counts.malformed
    v2 = [m for m in messages if m.kind == "valid" and b'"schema_version":2' in m.value]
    assert len(v2) == counts.schema_v2_events > 0
    assert counts.out_of_order > 0
    # Messages are in send order, and a delayed one is sent after it happened.
    assert [m.send_at for m in messages] == sorted(m.send_at for m in messages)
    assert all(m.send_at >= m.event_ts for m in messages)


def test_no_trouble_means_clean_in_order_events() -> None:
    messages, counts = generate(300, seed=2)
    assert {m.kind for m in messages} == {"valid"}
    assert counts.out_of_order == counts.duplicates == counts.delayed == 0
    ids = [json.loads(m.value)["event_id"] for m in messages]
    assert len(ids) == len(set(ids))


def test_lifecycles_are_realistic() -> None:
    messages, counts = generate(2000, seed=3)
    orders: dict[str, list[dict]] = defaultdict(list)
    payments: dict[str, list[dict]] = defaultdict(list)
    for message in messages:
        event = json.loads(message.value)
        (orders if message.contract == "orders" else payments)[
            event["order_id"] if message.contract == "orders" else event["payment_id"]
        ].append(event)
    assert len(orders) == counts.orders == 2000

    finals = Counter()
    for events in orders.values():
        events.sort(key=lambda e: datetime.fromisoformat(e["event_ts"]))
        assert events[0]["event_type"] == "order_placed" and events[0]["status"] == "placed"
        for before, after in itertools.pairwise(events):
            assert after["status"] in ORDER_STEPS[before["status"]]
        assert len({(e["order_total"], e["currency"]) for e in events}) == 1
        total = sum(round(i["unit_price"] * 100) * i["quantity"] for i in events[0]["items"])
        assert round(events[0]["order_total"] * 100) == total
        finals[events[-1]["status"]] += 1
    for status in ("delivered", "shipped", "cancelled"):
        assert finals[status] > 0, finals
    assert finals["delivered"] > finals["cancelled"]

    statuses = Counter()
    for events in payments.values():
        events.sort(key=lambda e: datetime.fromisoformat(e["event_ts"]))
        assert events[0]["status"] == "authorized"
        for before, after in itertools.pairwise(events):
            assert after["status"] in PAYMENT_STEPS[before["status"]]
        statuses[events[-1]["status"]] += 1
    assert {"captured", "refunded", "failed"} <= set(statuses)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rates_outside_0_1_are_refused(rate) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Trouble(duplicate_rate=rate)
