"""Erased customers stay erased when their events come again (docs/design.md#erasure).

An erasure (macros/privacy/erase_customer.sql) rewrites bronze and every later table, and
records the salted hashes of the customer's id and e-mail addresses in a Delta table beside
bronze. Events of the customer
still in Kafka would bring the data back on a replay, a reset checkpoint or a late delivery:
each micro-batch reads that record from the driver (delta-rs: no Spark job) and lands such
events as the erasure left the others: the id `erased`, the e-mail address empty, the Avro
bytes dropped. The event itself stays, as it still counts in aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# As macros/privacy/erase_customer.sql has them: the id's replacement, and its hash's prefix.
ERASED_ID = "erased"
HASH_PREFIX = "customer:"
# A JSON string field, in well-formed and in broken JSON alike.
FIELD = r'"{name}"\s*:\s*"([^"\\]*)"'


@dataclass(frozen=True)
class Erased:
    """The salted hashes of the erased customers' ids and of their e-mail addresses."""

    id_hashes: frozenset[str] = frozenset()
    email_hashes: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.id_hashes or self.email_hashes)


def erased_customers(path: str) -> Erased:
    """The record's hashes (none before the first erasure)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path)
    except TableNotFoundError:
        return Erased()
    rows = table.to_pyarrow_table(columns=["customer_id_hash", "email_hashes"]).to_pylist()
    return Erased(
        frozenset(r["customer_id_hash"] for r in rows if r["customer_id_hash"]),
        frozenset(h for r in rows for h in r["email_hashes"] or () if h),
    )


def customer_id_hash(customer_id: Column, salt: str) -> Column:
    from pyspark.sql import functions as sf

    return sf.sha2(sf.concat(sf.lit(HASH_PREFIX), customer_id, sf.lit(salt)), 256)


def email_hash(email: Column, salt: str) -> Column:
    """dbt's hash_email (macros/pii/hash_email.sql)."""
    from pyspark.sql import functions as sf

    return sf.sha2(sf.concat(sf.lower(sf.trim(email)), sf.lit(salt)), 256)


def anonymized(rows: DataFrame, erased: Erased, salt: str) -> DataFrame:
    """Bronze rows with the erased customers' events (by id or by address) rewritten; the rows
    as they are when no customer was erased (no value is searched then)."""
    if not erased:
        return rows
    from pyspark.sql import functions as sf

    # By pattern, not by parsing: a malformed event (cut short, a wrong type elsewhere) that
    # still names the customer is theirs too.
    customer = sf.nullif(
        sf.regexp_extract("value", FIELD.format(name="customer_id"), 1), sf.lit("")
    )
    email = sf.regexp_extract("value", FIELD.format(name="customer_email"), 1)
    # As the erasure rewrote bronze (macros/privacy/erase_customer.sql), so that a replayed
    # event comes out byte for byte as the erasure left it: the erased customer's events lose
    # their id and their address; another id's event that carries an erased address loses the
    # address and keeps its id.
    id_is_erased = sf.coalesce(
        customer_id_hash(customer, salt).isin(sorted(erased.id_hashes)), sf.lit(False)
    )
    email_is_erased = (email != "") & email_hash(email, salt).isin(sorted(erased.email_hashes))
    is_erased = id_is_erased | email_is_erased

    def quoted(text: Column) -> Column:
        return sf.concat(sf.lit('"'), text, sf.lit('"'))

    value = sf.when(
        id_is_erased, sf.replace(sf.col("value"), quoted(customer), sf.lit(f'"{ERASED_ID}"'))
    ).otherwise(sf.col("value"))
    value = sf.when(
        is_erased & (email != ""), sf.replace(value, quoted(email), sf.lit('""'))
    ).otherwise(value)
    return rows.withColumns(
        {
            "value": value,
            "value_bytes": sf.when(is_erased, sf.lit(None)).otherwise(sf.col("value_bytes")),
        }
    )
