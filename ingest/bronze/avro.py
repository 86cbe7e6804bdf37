"""Avro topics in bronze: Confluent's wire format decoded in the JVM, the raw bytes kept.

A record of an Avro topic is a zero byte, a 4-byte schema id, then the Avro body. Each
micro-batch, the driver asks the registry which schemas the job's subjects hold (SubjectSchemas;
why per batch and what it costs: docs/design.md, "Avro in bronze"). Spark's
`from_avro` then decodes each record with its writer schema, read as the contract's latest
Avro schema (ingest/contracts/avro/), and `to_json` gives bronze's `value` the contract's JSON,
so dbt's staging reads both formats alike. A record that is not framed, names a schema its
topic's subject does not hold, or does not decode keeps a null `value` and says why in
`value_error`: it is dead-lettered and quarantined with that reason.

"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest import config as ingest_config
from ingest import schema_registry

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# The longest a record can be and still have no Avro body: magic byte and schema id.
HEADER_BYTES = 5


class RegistryUnavailableError(RuntimeError):
    """The registry did not answer; the message is one line naming its URL."""


@dataclass(frozen=True)
class WriterSchema:
    subject: str
    version: int
    schema: str


@dataclass
class SubjectSchemas:
    """The schemas the registry holds, by id, for the subjects of the job's topics; refreshed
    each batch, each schema fetched once."""

    conf: ingest_config.IngestConfig
    topics: list[str]
    by_id: dict[int, WriterSchema] = field(default_factory=dict)
    _versions_seen: set[tuple[str, int]] = field(default_factory=set)
    _client: Any = None

    def refresh(self) -> dict[int, WriterSchema]:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        if self._client is None:
            self._client = schema_registry.client(self.conf)
        for topic in self.topics:
            subject = schema_registry.subject(topic)
            try:
                versions = self._client.get_versions(subject)
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:  # no such subject (a JSON topic's, often)
                    continue
                raise self._unavailable(exc) from None
            except Exception as exc:  # noqa: BLE001 - a connection error of any kind
                raise self._unavailable(exc) from None
            for number in versions:
                if (subject, number) in self._versions_seen:
                    continue
                try:
                    held = self._client.get_version(subject, number)
                except Exception as exc:  # noqa: BLE001
                    raise self._unavailable(exc) from None
                self.by_id[held.schema_id] = WriterSchema(subject, number, held.schema.schema_str)
                self._versions_seen.add((subject, number))
        return self.by_id

    def _unavailable(self, exc: Exception) -> RegistryUnavailableError:
        reason = " ".join(str(exc).split())
        return RegistryUnavailableError(
            f"no schema registry answers at {self.conf.schema_registry_url}: {reason}"
        )


@dataclass(frozen=True)
class Reader:
    """What a topic's records are read as: the contract's latest Avro schema, and its fields
    that are RFC 3339 timestamps (strings to Avro: the decode checks them, so a decoded record
    keeps the whole contract structure and the dead-letter check can skip it)."""

    schema: str
    timestamp_fields: tuple[str, ...]


def reader_of(conf: ingest_config.IngestConfig, topic: str) -> Reader:
    from ingest.contract import contracts
    from ingest.contract_dbt import for_dbt

    versions = schema_registry.contract_schemas(conf)[topic]
    fields = for_dbt(contracts()[conf.contract_of(topic) or topic])["fields"]
    timestamps = tuple(f["name"] for f in fields if f["type"] == "timestamp")
    return Reader(versions[max(versions)], timestamps)


def _first_required_field(schema: str) -> str:
    """A field every record of the schema has: null in the decoded struct only when decoding
    failed (from_avro's PERMISSIVE mode then answers a struct of nulls)."""
    for field_ in json.loads(schema)["fields"]:
        kind = field_["type"]
        if not (isinstance(kind, list) and "null" in kind):
            return field_["name"]
    raise ValueError("an Avro record schema with no required field")


def framed(value: Column) -> Column:
    from pyspark.sql import functions as sf

    return (sf.length(value) >= HEADER_BYTES) & (sf.hex(sf.substring(value, 1, 1)) == "00")


def schema_id(value: Column) -> Column:
    """The 4-byte id after the magic byte, as a bigint: any 4 bytes fit (an int cast of
    ff ff ff ff would fail the batch under ANSI casts, forever, on every replay)."""
    from pyspark.sql import functions as sf

    return sf.conv(sf.hex(sf.substring(value, 2, 4)), 16, 10).cast("bigint")


def decoded_struct(
    topic: str, value: Column, reader: str, writers: dict[int, WriterSchema]
) -> Column | None:
    """The record as a struct of the reader schema (from_avro with its writer schema), null
    when it is not framed or its id is not one of its subject's; None when the subject holds
    no schema. Select it as a column of its own before `value_and_error` reads it twice:
    Spark then decodes each record once."""
    from pyspark.sql import functions as sf
    from pyspark.sql.avro.functions import from_avro

    body = sf.substring(value, HEADER_BYTES + 1, 2**31 - 1)
    record_id = schema_id(value)
    struct = None
    for writer_id, writer in _own(topic, writers).items():
        branch = from_avro(body, writer.schema, {"mode": "PERMISSIVE", "avroSchema": reader})
        when = record_id == sf.lit(writer_id)
        struct = sf.when(when, branch) if struct is None else struct.when(when, branch)
    return None if struct is None else sf.when(framed(value), struct)


def _own(topic: str, writers: dict[int, WriterSchema]) -> dict[int, WriterSchema]:
    subject = schema_registry.subject(topic)
    return {i: w for i, w in sorted(writers.items()) if w.subject == subject}


def value_and_error(
    topic: str,
    value: Column,
    struct: Column | None,
    reader: Reader,
    writers: dict[int, WriterSchema],
) -> tuple[Column, Column]:
    """(the record as the contract's JSON or null, why not or null), from the Kafka value and
    its `decoded_struct` column. An id of another subject the job reads is named as such."""
    from pyspark.sql import functions as sf

    from ingest.contract import DATE_TIME_REGEX

    subject = schema_registry.subject(topic)
    record_id = schema_id(value)
    own = _own(topic, writers)
    bad_timestamp = sf.lit(None).cast("string")
    if struct is None:
        json_value, failed = sf.lit(None).cast("string"), sf.lit(False)
    else:
        json_value = sf.to_json(struct)
        failed = struct.isNotNull() & struct.getField(_first_required_field(reader.schema)).isNull()
        for name in reversed(reader.timestamp_fields):  # the first bad one is named
            text = struct.getField(name)
            bad_timestamp = sf.when(
                text.isNotNull() & ~text.rlike(DATE_TIME_REGEX),
                sf.lit(f"wrong type: {name} is not an RFC 3339 timestamp with an offset"),
            ).otherwise(bad_timestamp)
    foreign = sf.lit(None).cast("string")
    for writer_id, writer in sorted(writers.items()):
        if writer.subject != subject:
            foreign = sf.when(
                record_id == sf.lit(writer_id),
                sf.lit(f"{writer.subject} version {writer.version}'s, not {subject}'s"),
            ).otherwise(foreign)
    version_of = sf.lit(None).cast("int")
    for writer_id, writer in own.items():
        version_of = sf.when(record_id == sf.lit(writer_id), sf.lit(writer.version)).otherwise(
            version_of
        )
    is_own = (
        sf.coalesce(record_id.isin(*[sf.lit(i) for i in own]), sf.lit(False))
        if own
        else sf.lit(False)
    )
    schema_named = sf.concat(sf.lit("schema id "), record_id.cast("string"))
    undecoded = (
        sf.when(value.isNull(), sf.lit("empty message (null value)"))
        .when(
            sf.length(value) < HEADER_BYTES,
            sf.lit("not Avro in Confluent's wire format: shorter than its 5-byte header"),
        )
        .when(~framed(value), sf.lit("not Avro in Confluent's wire format: no magic byte"))
        .when(~is_own & foreign.isNotNull(), sf.concat(schema_named, sf.lit(" is "), foreign))
        .when(~is_own, sf.concat(schema_named, sf.lit(f" is not a schema of {subject}")))
        .when(
            failed,
            sf.concat(
                sf.lit("does not decode with its "),
                schema_named,
                sf.lit(f" ({subject} version "),
                version_of.cast("string"),
                sf.lit(")"),
            ),
        )
    )
    # A decoded record with a malformed timestamp keeps its value, as a JSON one does.
    return sf.when(undecoded.isNull(), json_value), sf.coalesce(undecoded, bad_timestamp)


def with_values(
    records: DataFrame,
    readers: dict[str, Reader],
    writers: dict[int, WriterSchema],
    auto: frozenset[str] = frozenset(),
) -> DataFrame:
    """Kafka source rows plus bronze's value columns: `text_value` (the value as text: the
    contract's JSON for Avro), `value_format`, `schema_id`, `value_bytes` (an Avro record's
    bytes as they came) and `value_error`. `readers`: the reader schema of each topic that
    carries Avro; of those, the `auto` topics' records are Avro only when they start with the
    magic byte, JSON otherwise."""
    from pyspark.sql import functions as sf

    value, topic = sf.col("value"), sf.col("topic")
    is_avro = sf.lit(False)
    for name in readers:
        this_topic = topic == sf.lit(name)
        is_avro = is_avro | (this_topic & framed(value) if name in auto else this_topic)
    structs = {
        name: decoded_struct(name, value, reader.schema, writers)
        for name, reader in readers.items()
    }
    decoded = records.select(
        "*",
        is_avro.alias("_is_avro"),
        *[
            sf.when(topic == sf.lit(name), struct).alias(f"_avro_{index}")
            for index, (name, struct) in enumerate(structs.items())
            if struct is not None
        ],
    )
    is_avro = sf.col("_is_avro")
    text_value = value.cast("string")
    error = sf.lit(None).cast("string")
    for index, (name, struct) in enumerate(structs.items()):
        struct_column = None if struct is None else sf.col(f"_avro_{index}")
        json_value, why = value_and_error(name, value, struct_column, readers[name], writers)
        this_topic = (topic == sf.lit(name)) & is_avro
        text_value = sf.when(this_topic, json_value).otherwise(text_value)
        error = sf.when(this_topic, why).otherwise(error)
    return decoded.select(
        *records.columns,
        text_value.alias("text_value"),
        sf.when(is_avro, sf.lit("avro")).otherwise(sf.lit("json")).alias("value_format"),
        sf.when(is_avro & framed(value), schema_id(value)).alias("schema_id"),
        sf.when(is_avro, value).alias("value_bytes"),
        error.alias("value_error"),
    )
