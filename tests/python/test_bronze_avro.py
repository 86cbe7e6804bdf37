"""The bronze job on Avro topics, against the run's broker, schema registry and Spark: each
record once with its schema id and bytes, decoded to the contract's JSON in the JVM; poison
dead-lettered with its own reason; a registry that does not answer stops the job before
anything moves, and a registry restarted gives the same ids and the same decoding."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Producer
from helpers import dead_letters, free_port, messages_in, ok, run, services

from ingest import config as ingest_config
from ingest.generator import DEFAULT_START, Trouble, generate
from ingest.schema_registry import (
    avro_record,
    avro_serializers,
    contract_schema_ids,
    register_contract,
    subject,
)

ORDERS, SEED = 60, 41
TROUBLE = Trouble(duplicate_rate=0.1, malformed_rate=0.1, v2_rate=0.5)
CENT = Decimal("0.01")
NO_MAGIC_BYTE = "not Avro in Confluent's wire format: no magic byte"


@pytest.fixture
def avro_env(registry_env, tmp_path) -> dict[str, str]:
    name = uuid.uuid4().hex[:6]
    return {
        **registry_env,
        "LAKEHOUSE_TOPIC_SUFFIX": f".avro{name}",
        "LAKEHOUSE_BRONZE_PATH": str(tmp_path / "bronze"),
        "LAKEHOUSE_KAFKA_TIMEOUT": "10",
        "LAKEHOUSE_TOPIC_FORMATS": "orders=avro",
    }


def produce(env: dict[str, str], tmp_path: Path) -> dict:
    manifest = tmp_path / f"manifest-{uuid.uuid4().hex[:6]}.json"
    argv = [sys.executable, "-m", "ingest.produce", "--orders", str(ORDERS), "--seed", str(SEED),
            "--span-hours", "4", "--duplicate-rate", "0.1", "--malformed-rate", "0.1",
            "--v2-rate", "0.5", "--manifest", str(manifest)]  # fmt: skip
    ok(run(argv, env))
    return json.loads(manifest.read_text())


def bronze(env: dict[str, str], table: Path | None = None):
    if table is not None:
        env = {**env, "LAKEHOUSE_BRONZE_PATH": str(table)}
    return run([sys.executable, "-m", "ingest.bronze"], env)


def comparable(event: dict) -> str:
    """An event as comparable text: money to the cent, as Avro's decimals carry it."""
    typed = avro_record("orders", event)
    return json.dumps(typed, sort_keys=True, default=lambda money: str(money.quantize(CENT)))


def send(env: dict[str, str], topic: str, values: dict[str, bytes]) -> dict[tuple, str]:
    """Publish raw values; their coordinates (topic, partition, offset) -> name."""
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "acks": "all"})
    where: dict[tuple, str] = {}
    for name, value in values.items():

        def delivered(error, message, name=name) -> None:
            assert error is None, error
            where[(message.topic(), message.partition(), message.offset())] = name

        producer.produce(topic, value=value, key=b"poison", on_delivery=delivered)
    assert producer.flush(30) == 0
    return where


def test_avro_lands_once_decoded_with_its_schema_id_and_poison_gets_its_reason(
    avro_env, spark, tmp_path
) -> None:
    env = avro_env
    produced = produce(env, tmp_path)
    conf = ingest_config.load(env)
    orders, payments = conf.topic_names
    ids = contract_schema_ids(conf, orders)
    register_contract(conf, topics=[payments])  # another subject's id, for the poison below
    payments_id = contract_schema_ids(conf, payments)[1]
    framed = [m["value"] for m in messages_in(env, [orders]) if (m["value"] or b"")[:1] == b"\0"]
    body = framed[0][5:]
    events, _ = generate(ORDERS, SEED, DEFAULT_START, timedelta(hours=4), TROUBLE)
    valid = [json.loads(m.value) for m in events
             if m.contract == "orders" and m.kind in ("valid", "duplicate")]  # fmt: skip
    undated = {**valid[0], "event_ts": "yesterday"}  # Avro types it a string: the decode checks
    poison = send(env, orders, {
        # An id past the int range: once it failed every batch (an int cast under ANSI).
        "unknown id": b"\0" + (2**32 - 1).to_bytes(4, "big") + body,
        "short": b"\0\1",
        "truncated": framed[0][:12],
        "another subject's": b"\0" + payments_id.to_bytes(4, "big") + body,
        "bad timestamp": avro_serializers(conf, orders)[undated["schema_version"]](undated),
    })  # fmt: skip

    out = ok(bronze(env))
    rows = spark.read.format("delta").load(env["LAKEHOUSE_BRONZE_PATH"])
    total = produced["messages"] + len(poison)
    assert rows.count() == total
    assert rows.select("topic", "partition", "offset").distinct().count() == total

    # Every Avro record once, with its schema id and its bytes as they came; decoded to the
    # contract's JSON in `value`, the same events the generator made.
    kafka = {(m["topic"], m["value"]) for m in messages_in(env, [orders])}
    order_rows = rows.where(f"topic = '{orders}'").collect()
    assert {r["value_format"] for r in order_rows} == {"avro"}
    assert {(r["topic"], r["value_bytes"]) for r in order_rows} == kafka
    decoded = [r for r in order_rows if r["value_error"] is None and r["value"] is not None]
    assert sorted(comparable(json.loads(r["value"])) for r in decoded) == sorted(
        comparable(e) for e in valid
    )
    assert all(r["schema_id"] == ids[json.loads(r["value"])["schema_version"]] for r in decoded)
    assert {json.loads(r["value"])["schema_version"] for r in decoded} == {1, 2}
    # The JSON topic is as before.
    payment_rows = rows.where(f"topic = '{payments}'")
    assert payment_rows.where("value_format = 'json' and schema_id is null").count() == (
        payment_rows.where("value_bytes is null and value_error is null").count()
    ) == payment_rows.count() > 0  # fmt: skip

    # Poison: dead-lettered with its own reason, the same one bronze keeps for quarantine, and
    # the job went on. The generator's malformed messages are not Avro at all.
    letters = dead_letters(env, [f"{orders}.dlq"])
    reasons = {
        (d["dlq.source.topic"], int(d["dlq.source.partition"]), int(d["dlq.source.offset"])):
            d["dlq.error"]
        for d in letters
    }  # fmt: skip
    by_name = {name: reasons[where] for where, name in poison.items()}
    version = {number: version for version, number in ids.items()}[
        int.from_bytes(framed[0][1:5], "big")
    ]
    assert by_name == {
        "unknown id": f"schema id {2**32 - 1} is not a schema of {subject(orders)}",
        "short": "not Avro in Confluent's wire format: shorter than its 5-byte header",
        "truncated": f"does not decode with its schema id {ids[version]} "
        f"({subject(orders)} version {version})",
        "another subject's": f"schema id {payments_id} is {subject(payments)} version 1's, "
        f"not {subject(orders)}'s",
        "bad timestamp": "wrong type: event_ts is not an RFC 3339 timestamp with an offset",
    }
    # Decoded, so its value is kept, as a JSON record's would be.
    where = next(where for where, name in poison.items() if name == "bad timestamp")
    undated_row = next(r for r in order_rows if (r["topic"], r["partition"], r["offset"]) == where)
    assert json.loads(undated_row["value"])["event_ts"] == "yesterday"
    malformed = [m for m in produced["malformed_messages"] if m["topic"] == orders]
    assert malformed and {
        reasons[(m["topic"], m["partition"], m["offset"])] for m in malformed
    } <= {NO_MAGIC_BYTE, "empty message (null value)"}
    assert len(letters) == len(malformed) + len(poison)
    error_rows = {
        (r["topic"], r["partition"], r["offset"]): r["value_error"]
        for r in order_rows
        if r["value_error"]
    }
    assert error_rows == reasons
    # Dead letters keep the record's bytes as they came.
    assert {d["value"] for d in letters} <= {r["value_bytes"] for r in order_rows}
    payment_letters = dead_letters(env, [f"{payments}.dlq"])
    assert f"{len(letters) + len(payment_letters):,} dead-lettered" in out


@pytest.mark.faults
def test_a_registry_down_stops_the_job_before_anything_moves_and_restarted_decodes_the_same(
    avro_env, spark, tmp_path
) -> None:
    # A registry of its own (its own state folder and port): the shared one serves the other
    # worker's tests meanwhile.
    port = str(free_port())
    own = {**avro_env, "LAKEHOUSE_STATE_DIR": str(tmp_path / "own"), "REGISTRY_PORT": port}
    env = {**avro_env, "REGISTRY_PORT": port}
    ok(services(own, "up", "registry"))
    try:
        produce(env, tmp_path)
        before = tmp_path / "before"
        ok(bronze(env, before))
        after = tmp_path / "after"
        ok(services(own, "down", "registry"))
        failed = bronze(env, after)
        assert failed.returncode == 2
        lines = failed.stderr.strip().splitlines()
        url = f"http://127.0.0.1:{port}"
        assert len(lines) == 1
        assert lines[0].startswith(f"error: no schema registry answers at {url}")
        assert not after.exists()  # no table, no checkpoint: no offset moved
        ok(services(own, "up", "registry"))
        ok(bronze(env, after))
    finally:
        services(own, "down", "registry")
    columns = ["topic", "partition", "offset", "value", "schema_id", "value_bytes", "value_error"]
    read = spark.read.format("delta")
    ingested_before = read.load(str(before)).select(columns).collect()
    ingested_after = read.load(str(after)).select(columns).collect()
    assert sorted(map(tuple, ingested_after)) == sorted(map(tuple, ingested_before))
