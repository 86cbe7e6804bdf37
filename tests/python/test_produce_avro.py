"""`make produce` with Avro topics, against the run's broker and schema registry: events in
Confluent's wire format with the contract's schema of their version, JSON topics untouched,
and a schema the registry refuses stops the producer before anything is sent."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from decimal import Decimal

from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from helpers import messages_in

from ingest import config as ingest_config
from ingest.generator import DEFAULT_START, Trouble, generate
from ingest.schema_registry import (
    avro_record,
    client,
    contract_schema_ids,
    contract_schemas,
    subject,
)

ORDERS, SEED = 25, 11
CENT = Decimal("0.01")
TROUBLE = Trouble(duplicate_rate=0.2, malformed_rate=0.1, v2_rate=0.5)


def key(event: dict) -> str:
    """An event as comparable text: money to the cent (Avro's decimals carry scale 2)."""
    return json.dumps(event, sort_keys=True, default=lambda money: str(money.quantize(CENT)))


def produce(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "ingest.produce", "--orders", str(ORDERS), "--seed", str(SEED),
            "--span-hours", "4", "--duplicate-rate", "0.2", "--malformed-rate", "0.1",
            "--v2-rate", "0.5", *args]  # fmt: skip
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False)


def test_avro_topics_carry_the_contract_schemas_and_json_topics_stay_json(registry_env) -> None:
    env = {**registry_env, "LAKEHOUSE_TOPIC_SUFFIX": f".avro{uuid.uuid4().hex[:6]}"}
    done = produce(env, "--format", "orders=avro")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["formats"] == {"orders": "avro", "payments": "json"}
    conf = ingest_config.load(env)
    orders, payments = conf.topic_names
    expected, _ = generate(ORDERS, SEED, DEFAULT_START, timedelta(hours=4), TROUBLE)
    sent = {c: [m for m in expected if m.contract == c] for c in ("orders", "payments")}

    registry = client(conf)
    ids = contract_schema_ids(conf, orders)
    decode = AvroDeserializer(registry)
    context = SerializationContext(orders, MessageField.VALUE)
    received = messages_in(env, [orders])
    assert len(received) == len(sent["orders"])
    by_value = {}
    for message in received:
        value = message["value"]
        if value and value[0] == 0 and int.from_bytes(value[1:5], "big") in ids.values():
            event = decode(value, context)
            # Each event was written with its own version's schema.
            assert int.from_bytes(value[1:5], "big") == ids[event["schema_version"]]
            by_value[key(event)] = event
    valid = [json.loads(m.value) for m in sent["orders"] if m.kind in ("valid", "duplicate")]
    assert {key(avro_record("orders", e)) for e in valid} == set(by_value)
    assert {1, 2} == {e["schema_version"] for e in by_value.values()}
    # Malformed messages go as the generator made them: not Avro at all.
    raw = [m.value for m in sent["orders"] if m.kind not in ("valid", "duplicate")]
    assert raw and sorted(v or b"" for v in raw) == sorted(
        m["value"] or b"" for m in received if m["value"] is None or m["value"][:1] != b"\x00"
    )
    # The payments topic stays JSON.
    assert sorted(m["value"] or b"" for m in messages_in(env, [payments])) == sorted(
        m.value or b"" for m in sent["payments"]
    )


def test_a_schema_the_registry_refuses_stops_the_producer_in_one_line(registry_env) -> None:
    env = {**registry_env, "LAKEHOUSE_TOPIC_SUFFIX": f".refused{uuid.uuid4().hex[:6]}"}
    conf = ingest_config.load(env)
    orders = conf.topic_names[0]
    # Someone registered an incompatible schema first: the contract's status as an int.
    taken = json.loads(contract_schemas(conf)[orders][1])
    taken["fields"] = [
        {**f, "type": "int"} if f["name"] == "status" else f for f in taken["fields"]
    ]
    client(conf).register_schema(subject(orders), Schema(json.dumps(taken), "AVRO"))
    done = produce(env, "--format", "orders=avro")
    assert done.returncode == 1 and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert f"{orders}-value" in errors[0] and "BACKWARD" in errors[0], errors
    assert "status" in errors[0] or "STRING" in errors[0].upper(), errors
    # Nothing reached Kafka: the producer stopped before it created a topic or sent a message.
    assert messages_in(env, [orders]) == []
