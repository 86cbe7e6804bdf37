"""The contract's Avro schemas (ingest/contract_avro.py): generated from the JSON Schemas and
current, valid Avro, each version readable by the next, and a generated event round-trips."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import fastavro
import pytest

from ingest import contract_avro
from ingest.generator import Trouble, generate
from ingest.schema_registry import avro_record

pytestmark = pytest.mark.unit


def test_the_committed_schemas_are_the_generated_ones() -> None:
    wanted = {name: contract_avro.render(s) for name, s in contract_avro.schemas().items()}
    committed = {p.name: p.read_text() for p in contract_avro.AVRO_DIR.glob("*.avsc")}
    assert committed == wanted, "stale: run `.venv/bin/python -m ingest.contract_avro`"
    assert set(wanted) == {"orders.v1.avsc", "orders.v2.avsc", "payments.v1.avsc"}


def test_generated_events_round_trip_and_v2_reads_v1() -> None:
    schemas = {
        name: fastavro.parse_schema(json.loads((contract_avro.AVRO_DIR / name).read_text()))
        for name in ("orders.v1.avsc", "orders.v2.avsc", "payments.v1.avsc")
    }
    messages, _ = generate(30, seed=3, span=timedelta(hours=2), trouble=Trouble(v2_rate=0.5))
    seen_versions = set()
    for message in messages:
        event = avro_record(message.contract, json.loads(message.value))
        version = event["schema_version"]
        seen_versions.add((message.contract, version))
        writer = schemas[f"{message.contract}.v{version}.avsc"]
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, writer, event)
        buffer.seek(0)
        reader = schemas["orders.v2.avsc"] if message.contract == "orders" else writer
        read = fastavro.schemaless_reader(buffer, writer, reader)
        # A v1 record read with the v2 schema gets v2's default for the field it lacks.
        widened = message.contract == "orders" and version == 1
        assert read == ({"channel": None, **event} if widened else event)
    assert seen_versions == {("orders", 1), ("orders", 2), ("payments", 1)}
