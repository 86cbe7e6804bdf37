"""The streaming query: Kafka -> foreachBatch(BatchWriter), until drained or stopped."""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest import config as ingest_config
from ingest.bronze.event_log import IngestLog
from ingest.bronze.preflight import ensure_dead_letter_topics
from ingest.bronze.progress import ProgressReporter
from ingest.bronze.writer import BatchWriter, ensure_bronze_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)


def read_topics(spark: SparkSession, conf: ingest_config.IngestConfig) -> DataFrame:
    reader = spark.readStream.format("kafka").options(**conf.spark_kafka_options())
    subscribe_pattern = conf.subscribe_pattern()
    if subscribe_pattern:
        reader = reader.option("subscribePattern", subscribe_pattern)
    else:
        reader = reader.option("subscribe", ",".join(conf.topic_names))
    reader = reader.option("startingOffsets", conf.starting_offsets)
    reader = reader.option("includeHeaders", "true")
    if conf.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(conf.max_offsets_per_trigger))
    if conf.min_partitions:
        reader = reader.option("minPartitions", str(conf.min_partitions))
    return reader.load()


@dataclass
class _Stop:
    requested: bool = False

    def __call__(self, signum: int, _frame: Any) -> None:
        log.info("%s received, stopping after this batch", signal.Signals(signum).name)
        self.requested = True


def _refuse_next_batch(spark: SparkSession, query: StreamingQuery, writer: BatchWriter) -> None:
    """Make the writer refuse the next batch (its offsets stay uncommitted), quieting Spark's
    report of it: a stop asked for is no query error with two stack traces. A real failure of
    the batch still running is said by the job's own error line (run())."""
    writer.stop_requested = True
    try:
        jvm = spark.sparkContext._jvm
        logger = query._jsq.streamingQuery().getClass().getName()
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
            logger, jvm.org.apache.logging.log4j.Level.OFF
        )
    except Exception as exc:  # noqa: BLE001 - only the noise of the stop depends on it
        log.debug("Spark's report of the refused batch stays on: %s", exc)


def run(
    spark: SparkSession,
    conf: ingest_config.IngestConfig,
    topics: list[str],
    continuous: bool,
    progress_file: Path | None = None,
) -> int:
    """Stream `topics` (as preflight() found them) into bronze until done or stopped."""
    from pyspark.errors import StreamingQueryException

    ensure_dead_letter_topics(conf, topics)
    ensure_bronze_table(spark, conf.bronze_path)
    writer = BatchWriter(conf, topics)
    stream = (
        read_topics(spark, conf)
        .writeStream.foreachBatch(writer)
        .option("checkpointLocation", conf.checkpoint_path)
        .queryName("bronze_ingest")
    )
    stream = (
        stream.trigger(processingTime=conf.trigger_interval)
        if continuous
        else stream.trigger(availableNow=True)
    )
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    mode = f"continuous, every {conf.trigger_interval}" if continuous else "availableNow"
    log.info("%s -> %s (%s)", ", ".join(topics), conf.bronze_path, mode)
    started = time.monotonic()
    query: StreamingQuery = stream.start()
    event_log = IngestLog(conf.ingest_log_path) if conf.event_log else None
    progress = ProgressReporter(query, writer, continuous, progress_file, event_log)
    while query.isActive:
        try:
            query.awaitTermination(1)
        except StreamingQueryException:
            break  # said below, in the job's words
        progress.report()
        if stop.requested and not writer.stop_requested:
            _refuse_next_batch(spark, query, writer)
        if writer.stop_requested and not query.status["isTriggerActive"]:
            query.stop()
    progress.report()
    elapsed = time.monotonic() - started
    error = query.exception()
    if writer.stopped_before is not None and "StopRequestedError" in str(error):
        log.info(
            "stopped before batch %d: its offsets are read again by the next run",
            writer.stopped_before,
        )
    elif error is not None:
        # A failure the job words itself (the registry down) in its one line, not Spark's trace.
        log.error("%s", writer.failure or f"the bronze stream failed: {error}")
        return 1
    rows = progress.rows
    log.info(
        "done: %d batch(es), %s rows in %.1fs (%s rows/s), %s dead-lettered",
        len(writer.batches),
        f"{rows:,}",
        elapsed,
        f"{rows / max(elapsed, 1e-9):,.0f}",
        f"{writer.dead_lettered:,}",
    )
    return 0
