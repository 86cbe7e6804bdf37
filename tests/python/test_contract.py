"""The contract files, checked with the reference validator (jsonschema) and our compiled one."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from decimal import Decimal

import jsonschema
import pytest
from helpers import PROJECT_DIR, VALID_ORDER, contract_error

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
        null_key_rate=0.05,
        oversized=3,
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
        assert contract_error(message.contract, message.value) is None


def test_every_malformed_kind_breaks_the_contract(messages) -> None:
    by_kind = {kind: [m for m in messages if m.kind == kind] for kind in MALFORMED_KINDS}
    for kind, bad in by_kind.items():
        assert len(bad) >= (3 if kind == "oversized" else 10), f"too few {kind} messages"
        if kind == "unknown_currency":
            continue  # well-formed; the currencies seed rejects it (next test)
        for message in bad:
            assert reference_errors(message.contract, message.value), (kind, message.value)
            assert contract_error(message.contract, message.value) is not None


def test_unknown_currencies_keep_the_contract_but_not_the_currencies_seed(messages) -> None:
    with (PROJECT_DIR / "seeds" / "currencies.csv").open() as seed:
        known = {row["currency_code"] for row in csv.DictReader(seed)}
    bad = [m for m in messages if m.kind == "unknown_currency"]
    assert bad, "no unknown_currency message was generated"
    for message in bad:
        assert contract_error(message.contract, message.value) is None
        assert json.loads(message.value)["currency"] not in known


def test_structure_failures_are_exactly_the_dead_letter_kinds(messages) -> None:
    for message in messages:
        error = contract.structure_error(message.contract, message.value)
        if message.kind in DEAD_LETTER_KINDS:
            assert error is not None, (message.kind, message.value)
        else:
            assert error is None, (message.kind, message.value, error)
    assert set(QUARANTINE_KINDS) | set(DEAD_LETTER_KINDS) == set(MALFORMED_KINDS)


_SAMPLES = (None, True, 0, -3, 1.0, 1.5, 2**70, "", "x", "2026-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z", "2026-01-01 00:00:00", [], {}, [{}], ["x"])  # fmt: skip


def _mutations(document: dict) -> list:
    """The document with each field (and each item's field) set to each sample, or removed."""
    found: list = [document, [document], "x", 1, None]
    for key in document:
        found += [{**document, key: sample} for sample in _SAMPLES]
        found.append({k: v for k, v in document.items() if k != key})
    for i, item in enumerate(document.get("items", [])[:2]):
        for key in item:
            for sample in (*_SAMPLES, "drop"):
                changed = {k: v for k, v in item.items() if k != key or sample != "drop"}
                if sample != "drop":
                    changed[key] = sample
                items = [*document["items"][:i], changed, *document["items"][i + 1 :]]
                found.append({**document, "items": items})
    return found


def test_the_fast_structure_check_never_accepts_what_the_full_check_rejects(messages) -> None:
    """The msgspec shortcut (contract.structure_error) against the compiled schema alone."""
    seen = {"orders": 0, "payments": 0}
    for message in (m for m in messages if m.kind == "valid"):
        if seen[message.contract] >= 40:
            continue
        seen[message.contract] += 1
        name = message.contract
        assert contract._fast_structure_decoder(name).decode(message.value)  # the shortcut runs
        full = contract._structure_validator(name)
        for mutated in _mutations(json.loads(message.value)):
            raw = json.dumps(mutated).encode()
            assert contract.structure_error(name, raw) == contract._check(full, raw), raw
    assert seen == {"orders": 40, "payments": 40}


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("null_value", "empty message (null value)"),
        ("not_utf8", "not UTF-8: "),
        ("oversized", "not JSON: "),
    ],
)
def test_raw_message_failures_name_their_reason(messages, kind: str, reason: str) -> None:
    of_kind = [m for m in messages if m.kind == kind]
    assert of_kind, f"no {kind} message was generated"
    for message in of_kind:
        assert contract.structure_error(message.contract, message.value).startswith(reason)
        if kind == "oversized":
            assert 900_000 < len(message.value) < 1_000_000  # under librdkafka's default limit


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
    value = json.dumps({**VALID_ORDER, **change}).encode()
    assert (reference_errors("orders", value) == []) is keeps_contract
    assert (contract_error("orders", value) is None) is keeps_contract


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


# --- the JVM shortcut (ingest/jvm_contract.py) -------------------------------------------------

_RAW_EDGES = (
    b'  {"x": 1}',  # leading whitespace: fine, the structure still decides
    b'\xef\xbb\xbf{"x": 1}',  # a byte-order mark: orjson refuses it
    b'{"x": "\\ud800"}',  # a lone surrogate escape: orjson refuses it
    b'{"x": "\\ud83d\\ude00"}',  # a paired one: fine, but left to Python
    b'{"x": "a\x00b"}',  # a NUL byte
    b'{"x": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8
    b'{"x": "\xc0\xaf"}',  # an overlong form
    b'{"x": 1e400}',  # overflows a double, in a field the contract does not name
    b'{"x": ' + b"9" * 400 + b"}",
    b'{"x": 1} {"x": 1}',  # two documents
    b'{"x": 1} x',  # trailing garbage
    b'{"x": 1',  # truncated
    b'{"x": [1, {"y": [}]}',
    '{"x": 1}'.encode("utf-16"),
    b"",
    b"   ",
)


def _jvm_verdicts(spark, name: str, values: list[bytes | None]) -> list[bool]:
    from pyspark.sql import functions as sf

    from ingest import jvm_contract

    functions, problems = jvm_contract.register(spark, [name])
    assert problems == [] and name in functions
    frame = spark.createDataFrame([(v,) for v in values], "value binary")
    verdicts = frame.select(sf.call_function(functions[name], "value").alias("ok")).collect()
    return [row["ok"] for row in verdicts]


def _with_edges(document: dict) -> list[bytes]:
    """Raw forms of a document that a parser might read differently from orjson."""
    text = json.dumps(document)
    body = text[1:-1]
    first_key = next(iter(document))
    return [
        *(edge.replace(b'"x"', b'"' + first_key.encode() + b'"') for edge in _RAW_EDGES),
        *(b"{" + body.encode() + b", " + edge.strip()[1:] for edge in _RAW_EDGES if edge.strip()),
        text.replace(
            f'"{first_key}"', '"\\u00' + hex(ord(first_key[0]))[2:] + first_key[1:] + '"'
        ).encode(),  # an escaped key
        ("{" + body + f', "{first_key}": 5' + "}").encode(),  # a repeated key, now a number
        text.encode() + b"\n",
        text.replace("Z", "Z\\n").encode(),  # a newline after a timestamp
        text.replace('"', '"\u2028', 1).encode(),
    ]


@pytest.mark.parametrize("name", ["orders", "payments"])
def test_the_jvm_shortcut_never_accepts_what_the_python_check_rejects(
    spark, messages, name
) -> None:
    """Every message it calls surely well-formed, the Python check finds well-formed; and it
    does call the generated valid events well-formed, so the shortcut is taken."""
    mine = [m for m in messages if m.contract == name]
    valid = [m.value for m in mine if m.kind == "valid"]
    candidates: list[bytes | None] = [m.value for m in mine]
    for value in valid[:25]:
        document = json.loads(value)
        candidates += [json.dumps(d).encode() for d in _mutations(document)]
        candidates += _with_edges(document)
    verdicts = dict(zip(candidates, _jvm_verdicts(spark, name, candidates), strict=True))
    python_ok = {v: contract.structure_error(name, v) is None for v in verdicts}
    wrongly_accepted = [v for v, ok in verdicts.items() if ok and not python_ok[v]]
    assert wrongly_accepted == []
    assert all(verdicts[v] for v in valid)
    # Not a shortcut that refuses everything: most of what Python accepts, it accepts too.
    accepted = sum(ok for v, ok in verdicts.items() if python_ok[v])
    assert accepted > 0.9 * sum(python_ok.values()), (accepted, sum(python_ok.values()))
    assert sum(not ok for ok in python_ok.values()) > 500  # and many bad ones were tried


def test_a_schema_the_jvm_shortcut_does_not_model_leaves_it_to_python(spark, monkeypatch) -> None:
    from ingest import jvm_contract

    flags = contract.Contract(
        "flags", 1, {"type": "object", "properties": {"on": {"type": "boolean"}}}
    )
    monkeypatch.setattr(contract, "contracts", lambda: {"flags": flags})
    functions, problems = jvm_contract.register(spark, ["flags"])
    assert functions == {}
    assert problems == ['flags: $.on: type "boolean" is not modelled']
    column, problems = jvm_contract.surely_well_formed(spark, ["flags-topic"], lambda _: "flags")
    assert column is None and len(problems) == 1


def test_the_tally_counts_in_the_write_the_rows_and_those_the_jvm_check_is_unsure_of(
    spark, messages, tmp_path
) -> None:
    """The check as the bronze write runs it (ingest/bronze/writer.py): every row written
    unchanged, every row counted, and the unsure rows counted again, in that write's job."""
    from ingest import jvm_contract

    texts = [
        m.value.decode(errors="ignore") for m in messages if m.contract == "orders" and m.value
    ]
    rows = [("orders", text, offset) for offset, text in enumerate(texts)]
    written = spark.createDataFrame(rows, "topic string, value string, offset bigint")
    shortcut, problems = jvm_contract.surely_well_formed(
        spark, ["orders"], lambda _: "orders", written["value"].cast("binary")
    )
    assert shortcut is not None and problems == []
    unsure = written.where(~shortcut).count()
    assert 0 < unsure < len(rows)  # the generated events hold both kinds
    tally = jvm_contract.CheckTally(spark)
    assert tally.counts() == (0, 0)
    written.withColumn("offset", tally.passing(shortcut, written["offset"])).write.parquet(
        str(tmp_path / "tallied")
    )
    assert tally.counts() == (len(rows), unsure)
    assert sorted(map(tuple, spark.read.parquet(str(tmp_path / "tallied")).collect())) == sorted(
        rows
    )
