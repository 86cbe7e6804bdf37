"""Erasure's parts apart from a pipeline: the ingest job agrees with dbt on how an erased
customer is recorded, and reads the record. The erasure itself, with a replay from Kafka and a
full refresh after it: test_pipeline_e2e.py."""

from __future__ import annotations

import hashlib
import re

import pyarrow as pa
from helpers import PROJECT_DIR

from ingest import config as ingest_config
from ingest.bronze import erasures

MACRO = (PROJECT_DIR / "macros" / "privacy" / "erase_customer.sql").read_text()


def test_the_ingest_job_hashes_and_replaces_ids_as_the_erasure_does() -> None:
    assert f"return('{erasures.ERASED_ID}')" in MACRO
    hashed = re.search(
        r"sha2\(concat\('([^']*)', \{\{ customer_id \}\}, "
        r"'\{\{ env_var\(\"LAKEHOUSE_EMAIL_SALT\", \"([^\"]*)\"\)",
        MACRO,
    )
    assert hashed, "no customer_id_hash in macros/privacy/erase_customer.sql"
    assert hashed.group(1) == erasures.HASH_PREFIX
    assert hashed.group(2) == ingest_config.IngestConfig.email_salt


def test_the_erasure_finds_a_field_by_the_ingest_jobs_pattern(spark) -> None:
    # The macro's pattern is a SQL literal: Spark's parser, not Python's, says what it holds.
    literal = re.search(r"regexp_extract\(\{\{ text \}\}, ('[^\n]*'), 1\)", MACRO)
    assert literal, "no json_string_field in macros/privacy/erase_customer.sql"
    sql = literal.group(1).replace("{{ name }}", "customer_email")
    assert spark.sql(f"select {sql} as p").first()["p"] == erasures.FIELD.format(
        name="customer_email"
    )


def test_the_record_is_read_from_its_table_and_absent_before_the_first_erasure(tmp_path) -> None:
    from deltalake import write_deltalake

    path = str(tmp_path / "erasures")
    assert not erasures.erased_customers(path)
    digest = hashlib.sha256(b"customer:c-1lakehouse-dev-salt").hexdigest()
    email = hashlib.sha256(b"c1@example.comlakehouse-dev-salt").hexdigest()
    write_deltalake(path, pa.table({
        "customer_id_hash": [digest, digest, None],
        "email_hashes": [[email], [], None],
        "step": ["requested", "done", "x"],
    }))  # fmt: skip
    erased = erasures.erased_customers(path)
    assert erased.id_hashes == {digest} and erased.email_hashes == {email}


def test_the_record_lives_beside_bronze_unless_set() -> None:
    conf = ingest_config.load({"LAKEHOUSE_BRONZE_PATH": "/data/bronze/events"})
    assert conf.erasures_path == "/data/bronze/events_erasures"
    conf = ingest_config.load({"LAKEHOUSE_BRONZE_PATH": "/b", "LAKEHOUSE_ERASURES_PATH": "/e"})
    assert conf.erasures_path == "/e"


def test_the_ingest_job_rewrites_an_id_or_an_address_only_where_it_is_the_erased_one(spark) -> None:
    # As the erasure rewrote bronze: the customer's events lose id and address; an erased
    # address in another customer's event goes, that customer's id stays (so events come
    # again byte for byte as the erasure left them).
    salt = ingest_config.IngestConfig.email_salt
    erased = erasures.Erased(
        frozenset({hashlib.sha256(f"customer:c-1{salt}".encode()).hexdigest()}),
        frozenset({hashlib.sha256(f"c1@example.com{salt}".encode()).hexdigest()}),
    )
    values = {
        "theirs": '{"customer_id":"c-1","customer_email":"C1@example.com ","x":"c-1"}',
        "address": '{"customer_id":"c-2","customer_email":"c1@example.com"}',
        "id only": '{"customer_id": "c-1", "customer_email": "other@example.com"}',
        "cut short": '{"customer_id":"c-1","customer_em',
        "other": '{"customer_id":"c-2","customer_email":"c2@example.com"}',
    }
    rows = spark.createDataFrame(
        [(name, value, b"\x00avro") for name, value in values.items()],
        "name string, value string, value_bytes binary",
    )
    out = {r["name"]: r for r in erasures.anonymized(rows, erased, salt).collect()}
    assert out["theirs"]["value"] == '{"customer_id":"erased","customer_email":"","x":"erased"}'
    assert out["address"]["value"] == '{"customer_id":"c-2","customer_email":""}'
    # Their own event with an address the record does not hold (a new one): it goes too.
    assert out["id only"]["value"] == '{"customer_id": "erased", "customer_email": ""}'
    assert out["cut short"]["value"] == '{"customer_id":"erased","customer_em'
    assert out["other"]["value"] == values["other"]
    assert [name for name, r in out.items() if r["value_bytes"] is not None] == ["other"]
