"""The Kafka-to-Delta job a user would write by hand, from every guide: the baseline of benchmark 1.

`spark.readStream.format("kafka")`, key and value cast to strings, `writeStream.format("delta")`
with a checkpoint, `availableNow`. It checks nothing and dead-letters nothing. It runs with the
bronze job's Spark settings (the `local` profile's, as build_spark_session gives them) and its
Kafka client options; what the bronze job sets for itself (its batch size,
`maxOffsetsPerTrigger`, and `minPartitions`) the naive job leaves at Spark's defaults, as its
author would: one batch for the whole backlog.

    python bench/naive_ingest.py <table path>   (the topics and broker from the usual settings)
"""

from __future__ import annotations

import sys

from ingest import config as ingest_config
from ingest.spark_session import build_spark_session


def main(table: str) -> None:
    conf = ingest_config.load()
    spark = build_spark_session("bench-naive-ingest")
    try:
        query = (
            spark.readStream.format("kafka")
            .options(**conf.spark_kafka_options())
            .option("subscribe", ",".join(conf.topic_names))
            .option("startingOffsets", "earliest")
            .load()
            .selectExpr(
                "cast(key as string) as key",
                "cast(value as string) as value",
                "topic",
                "partition",
                "offset",
                "timestamp",
            )
            .writeStream.format("delta")
            .option("checkpointLocation", f"{table}/_checkpoint")
            .trigger(availableNow=True)
            .start(table)
        )
        query.awaitTermination()
    finally:
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
