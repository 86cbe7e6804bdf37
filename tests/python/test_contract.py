"""The contract files, checked with the reference validator (jsonschema) and our compiled one."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import jsonschema
import pytest

from ingest import contract
from ingest.generator import DEAD_LETTER_KINDS, MALFORMED_KINDS, QUARANTINE_KINDS, Trouble, generate


def reference_errors(name: str, value: bytes | None) -> list[str]:
    """Errors by jsonschema, with numbers as Decimal so that multipleOf 0.01 is exact."""
    schema = json.loads(contract.contracts()[name].path.read_text(), parse_float=Decimal)
    try:
        document = json.loads(value.decode("utf-8"), parse_float=Decimal)
    except (AttributeError, UnicodeDecodeError, ValueError) as exc:
        return [f"unparseable: {exc}"]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return [error.message for error in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def messages():
    trouble = Trouble(
        duplicate_rate=0.1,
        late_rate=0.3,
        max_lateness=timedelta(days=2),
        malformed_rate=0.3,
        v2_rate=0.5,
    )
    generated, _ = generate(400, seed=11, trouble=trouble)
    return generated


def test_contract_files_are_valid_versioned_draft7_schemas() -> None:
    found = contract.contracts()
    assert sorted(found) == ["orders", "payments"]
    assert found["orders"].version == 2
    for c in found.values():
        jsonschema.Draft7Validator.check_schema(c.schema)
        assert c.schema["$id"] == f"urn:lakehouse:contract:{c.name}:v{c.version}"


def test_every_generated_event_keeps_the_contract(messages) -> None:
    good = [m for m in messages if m.kind in ("valid", "duplicate")]
    assert len(good) > 2000
    for message in good:
        assert reference_errors(message.contract, message.value) == [], message.value
        assert contract.contract_error(message.contract, message.value) is None


def test_every_malformed_kind_breaks_the_contract(messages) -> None:
    by_kind = {kind: [m for m in messages if m.kind == kind] for kind in MALFORMED_KINDS}
    for kind, bad in by_kind.items():
        assert len(bad) >= 10, f"too few {kind} messages to be a test"
        for message in bad:
            assert reference_errors(message.contract, message.value), (kind, message.value)
            assert contract.contract_error(message.contract, message.value) is not None


def test_structure_failures_are_exactly_the_dead_letter_kinds(messages) -> None:
    for message in messages:
        error = contract.structure_error(message.contract, message.value)
        if message.kind in DEAD_LETTER_KINDS:
            assert error is not None, (message.kind, message.value)
        else:
            assert error is None, (message.kind, message.value, error)
    assert set(QUARANTINE_KINDS) | set(DEAD_LETTER_KINDS) == set(MALFORMED_KINDS)


@pytest.mark.parametrize(
    ("change", "keeps_contract"),
    [
        ({}, True),
        ({"schema_version": 2, "channel": "app"}, True),
        ({"schema_version": 1, "channel": "app"}, False),  # channel arrived with version 2
        ({"schema_version": 2, "channel": "fax"}, False),
        ({"order_total": 10.001}, False),
        ({"currency": "euro"}, False),
        ({"event_ts": "2026-01-01 10:00:00"}, False),  # no T, no offset: not RFC 3339
        ({"event_ts": "2026-01-01T10:00:00"}, False),  # no offset
        ({"items": []}, False),
        ({"unexpected": 1}, False),
    ],
)
def test_orders_contract_rules(change, keeps_contract) -> None:
    event = {
        "event_id": "0b7f6f3e-1b2c-4d5e-8f90-123456789abc",
        "event_type": "order_placed",
        "event_ts": "2026-01-01T10:00:00.250+01:00",
        "order_id": "ord-1",
        "customer_id": "cus-1",
        "customer_email": "a@example.com",
        "status": "placed",
        "currency": "EUR",
        "order_total": 39.98,
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": 19.99}],
        "schema_version": 1,
    }
    value = json.dumps({**event, **change}).encode()
    assert (reference_errors("orders", value) == []) is keeps_contract
    assert (contract.contract_error("orders", value) is None) is keeps_contract


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"event_id": ', "not JSON"),
        (b"[]", "must be object"),
    ],
)
def test_unparseable_messages_say_why(value, reason) -> None:
    assert reason in contract.structure_error("payments", value)
