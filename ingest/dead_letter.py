"""Dead letters: records that break their topic's contract structure, or that bronze could not
decode (`value_error`: an Avro record, ingest/bronze/avro.py), go to `<topic>.dlq`.

The record keeps its key and value (its bytes as they came); headers carry why (`dlq.error`)
and where it came from (`dlq.source.topic`, `dlq.source.partition`, `dlq.source.offset`).
Publishing is at-least-once: a micro-batch replayed after a crash publishes its dead letters
again.
"""

# No `from __future__ import annotations` here: pandas_udf reads the type hints at runtime.

from collections.abc import Callable

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf
from pyspark.sql.functions import pandas_udf

from ingest import contract
from ingest.config import IngestConfig

HEADER_PREFIX = "dlq."


def structure_error_udf(contract_of: Callable[[str], str | None]) -> Callable[..., Column]:
    """A UDF (topic, value bytes) -> why the value breaks its topic's contract, or null."""

    @pandas_udf("string")
    def structure_error(topics: pd.Series, values: pd.Series) -> pd.Series:
        known = contract.contracts()

        def check(topic: str, value: bytes | None) -> str | None:
            name = contract_of(topic)
            if name in known:
                return contract.structure_error(name, value)
            return contract.json_error(value)  # a topic without a contract: JSON at least

        return pd.Series([check(t, v) for t, v in zip(topics, values, strict=True)], dtype=object)

    return structure_error


def _header(name: str, column: str) -> Column:
    return sf.struct(
        sf.lit(HEADER_PREFIX + name).alias("key"),
        sf.encode(sf.col(column).cast("string"), "UTF-8").alias("value"),
    )


def publish_dead_letters(
    records: DataFrame, conf: IngestConfig, surely_well_formed: Column | None = None
) -> int:
    """Publish the records (bronze rows, `checkable`) that break their contract or that bronze
    could not decode; returns how many.

    `surely_well_formed` (ingest/jvm_contract.py) spares the Python check the records it is
    true for: with clean data no row, and no Python worker, is needed at all."""
    unsure = records
    if surely_well_formed is not None:
        unsure = records.where(~surely_well_formed).persist()
    bad = None
    try:
        if unsure is not records and unsure.count() == 0:
            return 0
        check = structure_error_udf(conf.contract_of)
        error = sf.coalesce(sf.col("value_error"), check("topic", "value"))
        bad = unsure.select("*", error.alias("error"))
        bad = bad.where("error is not null").persist()
        count = bad.count()
        if count:
            (
                bad.select(
                    sf.concat("topic", sf.lit(conf.dead_letter_suffix)).alias("topic"),
                    "key",
                    sf.col("raw").alias("value"),
                    sf.array(
                        _header("error", "error"),
                        _header("source.topic", "topic"),
                        _header("source.partition", "partition"),
                        _header("source.offset", "offset"),
                    ).alias("headers"),
                )
                .write.format("kafka")
                .options(**conf.spark_kafka_options())
                .save()
            )
        return count
    finally:
        if bad is not None:
            bad.unpersist()
        if unsure is not records:
            unsure.unpersist()
