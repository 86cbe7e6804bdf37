"""`python -m ingest.bronze` (`make ingest`): Kafka topics -> the bronze Delta table, exactly once.

Every record lands raw in bronze (key and value as strings, Kafka coordinates, headers,
`_ingested_at`, partitioned by `ingest_date`): parsing happens in dbt, so a bad payload never
stops ingest. Records that break the contract's structure (not JSON, missing required fields,
wrong types: ingest/contract.py) are also published to `<topic>.dlq` with the error and their
source coordinates in headers.

Each micro-batch reads Kafka once, for the Delta append; the dead-letter check then reads the
batch's `value`s back from bronze (its files alone, found by the batch's `_ingested_at`), and a
check in the JVM (ingest/jvm_contract.py) spares Python the well-formed ones.

Exactly once: one stable checkpoint per bronze table, and each micro-batch's Delta append is
idempotent (`txnAppId` = the checkpoint's query id, `txnVersion` = the batch id), so a batch
replayed after a crash is skipped by Delta. The dead-letter topic is at-least-once.

Modes: `--available-now` (the default; drain what is there, then exit 0: the scheduled mode)
and `--continuous` (a processing-time trigger; SIGTERM or Ctrl-C stop it after the running
batch). `--check` only runs the pre-flight check (broker answers, topics exist): the
orchestrator's readiness task. Exit codes: 0 done, 1 the stream failed, 2 bad configuration
or Kafka not reachable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ingest import config as ingest_config
from ingest.kafka_client import KafkaUnavailableError, ensure_topics

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

BRONZE_COLUMNS = (
    ("key", "string"),
    ("value", "string"),
    ("topic", "string"),
    ("partition", "int"),
    ("offset", "bigint"),
    ("kafka_timestamp", "timestamp"),
    ("timestamp_type", "int"),
    ("headers", "array<struct<key:string,value:binary>>"),
    ("_ingested_at", "timestamp"),
    ("ingest_date", "date"),
)

# Delta collects min/max stats only on these: what readers filter bronze by (dbt's staging reads
# `_ingested_at` past its high-water mark, per topic). Stats on the raw key, value and headers
# would cost a third of the write and skip nothing.
BRONZE_TABLE_PROPERTIES = {
    "delta.appendOnly": "true",
    "delta.dataSkippingStatsColumns": "topic,partition,offset,kafka_timestamp,_ingested_at",
}


class IngestError(RuntimeError):
    """Configuration or Kafka trouble found before the stream starts (exit code 2)."""


# --- before the stream: fail fast and clearly ------------------------------------------------


def check_writable(what: str, path: str, setting: str) -> None:
    """A local path (no URI scheme) must be creatable and writable before Spark starts."""
    if "://" in path and not path.startswith("file://"):
        return  # object stores and HDFS: Spark reports their errors itself
    target = Path(path.removeprefix("file://"))
    existing = next((p for p in (target, *target.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        problem = "is not a folder" if existing and not existing.is_dir() else "is not writable"
        raise IngestError(
            f"cannot write the {what} at {target}: {existing} {problem}. "
            f"Fix {setting} or LAKEHOUSE_STATE_DIR."
        )


def preflight(conf: ingest_config.IngestConfig) -> list[str]:
    """The source topics, after checking the paths and that the broker answers and has them."""
    check_writable("bronze table", conf.bronze_path, "LAKEHOUSE_BRONZE_PATH")
    check_writable("checkpoint", conf.checkpoint_path, "LAKEHOUSE_BRONZE_CHECKPOINT")
    admin = AdminClient(conf.client_conf())
    try:
        existing = set(admin.list_topics(timeout=conf.kafka_timeout_s).topics)
    except KafkaException as exc:
        raise IngestError(
            f"Kafka at {conf.bootstrap_servers} did not answer within {conf.kafka_timeout_s:.0f}s "
            f"({exc.args[0].str()}). Is the broker up (`make up`), and KAFKA_BOOTSTRAP_SERVERS "
            "right?"
        ) from None
    subscribe_pattern = conf.subscribe_pattern()
    if subscribe_pattern:
        pattern = re.compile(subscribe_pattern)
        topics = sorted(t for t in existing if pattern.fullmatch(t))
        if not topics:
            raise IngestError(f"no topic matches LAKEHOUSE_TOPIC_PATTERN {conf.topic_pattern!r}")
        return topics
    missing = [t for t in conf.topic_names if t not in existing]
    if missing:
        raise IngestError(
            f"topic(s) {', '.join(missing)} do not exist on {conf.bootstrap_servers}. Create "
            "them (`make produce` does), or fix LAKEHOUSE_TOPICS / LAKEHOUSE_TOPIC_SUFFIX."
        )
    return conf.topic_names


def ensure_dead_letter_topics(conf: ingest_config.IngestConfig, topics: list[str]) -> None:
    if not conf.dead_letter:
        return
    extra = conf.client_conf()
    bootstrap = extra.pop("bootstrap.servers")
    try:
        ensure_topics(
            bootstrap,
            [conf.dead_letter_topic(t) for t in topics],
            partitions=conf.partitions,
            replication=conf.replication,
            timeout_s=conf.kafka_timeout_s,
            extra_conf=extra,
        )
    except KafkaUnavailableError as exc:
        raise IngestError(str(exc)) from None


def ensure_bronze_table(spark: SparkSession, path: str) -> None:
    """Create the table with its layout and properties before the first write.

    By path, with no catalog call: the ingest job needs no metastore (dbt registers the table,
    macros/bronze/register_bronze.sql), so it runs while a Thrift server holds the metastore.
    """
    from delta.tables import DeltaTable

    if DeltaTable.isDeltaTable(spark, path):
        return
    schema = ", ".join(f"{name} {data_type}" for name, data_type in BRONZE_COLUMNS)
    (
        spark.createDataFrame([], schema)
        .write.format("delta")
        .partitionBy("ingest_date")
        .options(**BRONZE_TABLE_PROPERTIES)
        .mode("errorifexists")
        .save(path)
    )


# --- the stream ------------------------------------------------------------------------------


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


def _batch_timestamp(ingested_at_micros: int) -> Column:
    """The batch's `_ingested_at`: one definition for writing it and finding the rows again."""
    from pyspark.sql import functions as sf

    return sf.timestamp_micros(sf.lit(ingested_at_micros))


def bronze_rows(records: DataFrame, ingested_at_micros: int) -> DataFrame:
    """Kafka source rows as bronze rows; `_ingested_at` is the batch's (epoch microseconds)."""
    from pyspark.sql import functions as sf

    ingested_at = _batch_timestamp(ingested_at_micros)
    return records.select(
        sf.col("key").cast("string").alias("key"),
        sf.col("value").cast("string").alias("value"),
        "topic",
        "partition",
        "offset",
        sf.col("timestamp").alias("kafka_timestamp"),
        sf.col("timestampType").alias("timestamp_type"),
        "headers",
        ingested_at.alias("_ingested_at"),
        sf.to_date(ingested_at).alias("ingest_date"),
    )


def landed_rows(spark: SparkSession, path: str, ingested_at_micros: int) -> DataFrame:
    """One batch's rows as bronze holds them, shaped as Kafka source rows for the dead-letter
    check; partition pruning and `_ingested_at` stats make Delta read only that batch's files."""
    from pyspark.sql import functions as sf

    ingested_at = _batch_timestamp(ingested_at_micros)
    return (
        spark.read.format("delta")
        .load(path)
        .where(
            (sf.col("ingest_date") == sf.to_date(ingested_at))
            & (sf.col("_ingested_at") == ingested_at)
        )
        .select(
            sf.col("key").cast("binary").alias("key"),
            sf.col("value").cast("binary").alias("value"),
            "topic",
            "partition",
            "offset",
        )
    )


@dataclass
class BatchWriter:
    """foreachBatch: an idempotent Delta append, then the batch's dead letters."""

    conf: ingest_config.IngestConfig
    topics: list[str] = field(default_factory=list)
    app_id: str | None = None
    dead_lettered: int = 0
    batches: list[int] = field(default_factory=list)
    # Seconds each step of a batch took, by batch id: the progress line shows where time goes.
    timings: dict[int, dict[str, float]] = field(default_factory=dict)
    _shortcut_ready: bool = False
    _shortcut_column: Column | None = None

    def _txn_app_id(self, spark: SparkSession) -> str:
        # The query id lives in the checkpoint: a new checkpoint gets a new id, so Delta never
        # skips a batch of a fresh stream because an old one used the same batch number.
        if self.app_id is None:
            metadata = spark.read.text(f"{self.conf.checkpoint_path}/metadata").first()[0]
            self.app_id = f"lakehouse-bronze-{json.loads(metadata)['id']}"
        return self.app_id

    def _shortcut(self, spark: SparkSession) -> Column | None:
        if not self._shortcut_ready:
            from ingest.jvm_contract import surely_well_formed

            self._shortcut_column, problems = surely_well_formed(
                spark, self.topics, self.conf.contract_of
            )
            for problem in problems:
                print(f"bronze: warning: no JVM contract check ({problem}): Python checks every "
                      "message instead, which is slower", flush=True)  # fmt: skip
            self._shortcut_ready = True
        return self._shortcut_column

    def _dead_letters(self, batch: DataFrame, ingested_at: int) -> int:
        from pyspark.sql import functions as sf

        from ingest.dead_letter import publish_dead_letters

        spark = batch.sparkSession
        shortcut = self._shortcut(spark)
        records = landed_rows(spark, self.conf.bronze_path, ingested_at)
        if shortcut is None:
            landed = not records.isEmpty()
        else:
            # One Spark job for the common case: rows landed, and all surely well-formed.
            counts = records.select(sf.count(sf.lit(1)), sf.count_if(~shortcut)).first()
            landed = counts[0] > 0
            if landed and counts[1] == 0:
                return 0
        if not landed:
            # A replayed batch that Delta skipped (it landed before a crash) has no rows of
            # this timestamp: check it from Kafka again. At-least-once, as promised.
            return publish_dead_letters(batch, self.conf, shortcut)
        if shortcut is not None:
            # The count above found unsure rows: hand Python those alone, without counting
            # them again.
            records = records.where(~shortcut)
        return publish_dead_letters(records, self.conf)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        # The batch's own timestamp, not current_timestamp(): it finds the batch's rows in
        # bronze again, so Kafka is read once (no cache) and the check reads only `value`.
        ingested_at = time.time_ns() // 1000
        started = time.monotonic()
        (
            bronze_rows(batch, ingested_at)
            .write.format("delta")
            .mode("append")
            .option("txnAppId", self._txn_app_id(spark))
            .option("txnVersion", str(batch_id))
            .option("compression", self.conf.bronze_compression)
            .save(self.conf.bronze_path)
        )
        written = time.monotonic()
        if self.conf.dead_letter:
            self.dead_lettered += self._dead_letters(batch, ingested_at)
        self.timings[batch_id] = {
            "bronze_write": written - started,
            "dead_letter": time.monotonic() - written,
        }
        self.batches.append(batch_id)


@dataclass
class _Stop:
    requested: bool = False

    def __call__(self, signum: int, _frame: Any) -> None:
        print(f"bronze: {signal.Signals(signum).name} received, stopping after this batch")
        self.requested = True


def _log_progress(
    progress: dict[str, Any], steps: dict[str, float], progress_file: Path | None
) -> None:
    ends = {}
    for source in progress.get("sources", []):
        end = source.get("endOffset")
        if isinstance(end, str):
            end = json.loads(end)
        for topic, partitions in (end or {}).items():
            ends[topic] = sum(partitions.values())
    rate = progress.get("processedRowsPerSecond") or 0.0
    took = ", ".join(f"{name.replace('_', ' ')} {s:.1f}s" for name, s in steps.items())
    print(
        f"bronze: batch {progress['batchId']}: {progress['numInputRows']:,} rows, "
        f"{rate:,.0f} rows/s ({took or 'nothing to write'}), offsets {ends}",
        flush=True,
    )
    if progress_file is not None:
        with progress_file.open("a") as out:
            # pyspark 4's progress holds UUIDs and timestamps: write them as their strings.
            out.write(json.dumps({**progress, "stepSeconds": steps}, default=str) + "\n")


def run(
    spark: SparkSession,
    conf: ingest_config.IngestConfig,
    topics: list[str],
    continuous: bool,
    progress_file: Path | None = None,
) -> int:
    """Stream `topics` (as preflight() found them) into bronze until done or stopped."""
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
    print(f"bronze: {', '.join(topics)} -> {conf.bronze_path} ({mode})", flush=True)
    started = time.monotonic()
    query: StreamingQuery = stream.start()
    rows = 0

    def report() -> None:
        """Log each batch that foreachBatch wrote (writer.timings) once its progress is out.

        Spark also posts progress for a trigger that ran no batch (every 10 s while idle),
        under the id the next batch will take: only an entry with `addBatch` time is a batch.
        The latest progress is one entry; recentProgress, the last 100, is read only when
        more than one batch waits, so an idle job's polling costs nothing as it runs on."""
        nonlocal rows
        waiting = sorted(writer.timings)
        latest = query.lastProgress
        if not waiting or latest is None:
            return
        if len(waiting) == 1 and latest["batchId"] == waiting[0]:
            entries = [latest]
        elif len(waiting) > 1 or latest["batchId"] > waiting[0]:
            entries = query.recentProgress
        else:
            return  # the batch's progress is not out yet
        for entry in entries:
            if entry["batchId"] in writer.timings and "addBatch" in entry["durationMs"]:
                rows += entry["numInputRows"]
                steps = writer.timings.pop(entry["batchId"])
                if entry["numInputRows"] or not continuous:
                    _log_progress(entry, steps, progress_file)

    while query.isActive:
        query.awaitTermination(1)
        report()
        if stop.requested and not query.status["isTriggerActive"]:
            query.stop()
    report()
    elapsed = time.monotonic() - started
    if query.exception() is not None:
        print(f"error: the bronze stream failed: {query.exception()}", file=sys.stderr)
        return 1
    print(
        f"bronze: done: {len(writer.batches)} batch(es), {rows:,} rows in {elapsed:.1f}s "
        f"({rows / max(elapsed, 1e-9):,.0f} rows/s), {writer.dead_lettered:,} dead-lettered",
        flush=True,
    )
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ingest.bronze", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--available-now", action="store_true", help="drain, then exit (default)")
    mode.add_argument("--continuous", action="store_true", help="run until SIGTERM")
    parser.add_argument("--config", help="ingest config YAML (LAKEHOUSE_INGEST_CONFIG)")
    parser.add_argument("--trigger-interval", help="continuous mode interval, e.g. '5 seconds'")
    parser.add_argument("--max-offsets-per-trigger", type=int, help="records per micro-batch")
    parser.add_argument("--starting-offsets", help="for a new checkpoint: earliest | latest")
    parser.add_argument("--progress-json", type=Path, help="append each batch's progress here")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the broker answers and the topics exist (exit 0 or 2); no Spark",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        conf = ingest_config.load(
            config_file=args.config,
            overrides={
                "trigger_interval": args.trigger_interval,
                "max_offsets_per_trigger": args.max_offsets_per_trigger,
                "starting_offsets": args.starting_offsets,
            },
        )
        topics = preflight(conf)  # before a JVM starts: a wrong broker or topic fails in seconds
    except (ingest_config.ConfigError, IngestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"bronze: ready: {conf.bootstrap_servers} answers; topics {', '.join(topics)}")
        return 0

    from ingest.spark_session import build_spark_session

    spark = build_spark_session("lakehouse-bronze-ingest")
    try:
        return run(
            spark, conf, topics, continuous=args.continuous, progress_file=args.progress_json
        )
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
