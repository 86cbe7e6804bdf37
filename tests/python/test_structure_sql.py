"""The SQL pre-check of the contract's structure (ingest/structure_sql.py) is sound: whatever
it calls well-formed, the exact Python check accepts too. And it is useful: it clears every
generated well-formed event, so the Python check sees only doubtful records."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from ingest import contract, structure_sql
from ingest.generator import Trouble, generate

pytestmark = pytest.mark.slow


def judged(spark, rows: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None, bool]]:
    frame = spark.createDataFrame(rows, "contract string, value binary")
    cases = " ".join(
        f"when '{name}' then {structure_sql.surely_well_formed(name, '_v')}"
        for name in contract.contracts()
    )
    result = frame.selectExpr("*", f"{structure_sql.parsed_value('value')} as _v").selectExpr(
        "contract", "value", f"case contract {cases} else false end as ok"
    )
    return [
        (r.contract, None if r.value is None else bytes(r.value), r.ok) for r in result.collect()
    ]


def unsound(results) -> list:
    return [
        (name, value, contract.structure_error(name, value))
        for name, value, ok in results
        if ok and contract.structure_error(name, value) is not None
    ]


def mutations(template: dict, rng: random.Random) -> list[bytes]:
    """Hand-picked near misses, then random damage to a well-formed message's bytes."""
    text = json.dumps(template)
    picked = [
        {**template, "order_total": "1.00"},
        {**template, "order_total": True},
        {**template, "schema_version": 2.0},
        {**template, "event_ts": "2026-02-30T00:00:00Z"},
        {**template, "event_ts": "2026-01-01 00:00:00Z"},
        {**template, "event_ts": "\uff12\uff10\uff12\uff16-01-01T00:00:00Z"},  # full-width digits
        {**template, "items": [{"sku": "a", "quantity": "1", "unit_price": 1}]},
        {**template, "items": [{"sku": "a", "unit_price": 1}]},
        {**template, "items": {"sku": "a"}},
        {**template, "channel": None},
        {**template, "customer_email": None},
        {**template, "order_total": 10**30},
        {k: v for k, v in template.items() if k != "order_id"},
    ]
    damaged = [json.dumps(doc).encode() for doc in picked]
    damaged += [
        (text + " x").encode(),
        (text + "{}").encode(),
        (text + '], ["').encode(),
        (text + ', "k": 1').encode(),
        b"\xef\xbb\xbf" + text.encode(),
        text.encode("utf-16"),
        text.replace('"ord', '"o\x01rd').encode(),
        text.replace("}", "}}", 1).encode(),
        b"NaN",
        b"[" + text.encode() + b"]",
        None,
        b"",
    ]
    raw = text.encode()
    for _ in range(1500):
        cut = rng.randrange(len(raw))
        choice = rng.random()
        if choice < 0.4:
            damaged.append(raw[:cut])
        elif choice < 0.7:
            damaged.append(raw[:cut] + bytes([rng.randrange(256)]) + raw[cut + 1 :])
        else:
            damaged.append(
                raw[:cut] + rng.choice([b"}", b"]", b",", b'"', b"\\", b" 0"]) + raw[cut:]
            )
    return damaged


def test_every_generated_message_is_judged_soundly_and_the_well_formed_ones_are_cleared(spark):
    trouble = Trouble(malformed_rate=0.3, duplicate_rate=0.1, v2_rate=0.5)
    messages, _ = generate(300, seed=21, span=timedelta(hours=6), trouble=trouble)
    results = judged(spark, [(m.contract, m.value) for m in messages])
    assert unsound(results) == []
    well_formed = [(n, v) for n, v, _ in results if contract.structure_error(n, v) is None]
    cleared = [(n, v) for n, v, ok in results if ok]
    assert well_formed and len(cleared) == len(well_formed)


def test_damaged_and_tricky_messages_are_never_called_well_formed(spark):
    rng = random.Random(5)
    messages, _ = generate(20, seed=22, span=timedelta(hours=2), trouble=Trouble(v2_rate=0.5))
    rows = []
    for name in ("orders", "payments"):
        template = json.loads(next(m.value for m in messages if m.contract == name))
        rows += [(name, value) for value in mutations(template, rng)]
    results = judged(spark, rows)
    assert unsound(results) == []
    # The damage must include messages the exact check rejects, and ones it still accepts.
    verdicts = {contract.structure_error(n, v) is None for n, v, _ in results}
    assert verdicts == {True, False}
