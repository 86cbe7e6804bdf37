"""Erasure's parts that need no Spark: the ingest job agrees with dbt on how an erased
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
