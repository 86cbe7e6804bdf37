"""The bronze table and the foreachBatch writer: each micro-batch's idempotent Delta append, then
its dead letters."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ingest import config as ingest_config
from ingest.bronze import avro, erasures

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from ingest.jvm_contract import CheckTally

log = logging.getLogger(__name__)

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
    # Added after the first release: ensure_bronze_table adds them to an older table.
    ("value_format", "string"),
    ("schema_id", "bigint"),
    ("value_bytes", "binary"),
    ("value_error", "string"),
)

# Delta collects min/max stats only on these: what readers filter bronze by (dbt's staging reads
# `_ingested_at` past each model's read mark, per topic). Stats on the raw key, value and headers
# would cost a third of the write and skip nothing, and would keep personal data in the log.
# Not append-only: an erasure rewrites events (docs/design.md#erasure).
BRONZE_TABLE_PROPERTIES = {
    "delta.dataSkippingStatsColumns": "topic,partition,offset,kafka_timestamp,_ingested_at",
}


def _arrow_schema() -> Any:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "binary": pa.binary(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "array<struct<key:string,value:binary>>": pa.list_(
            pa.struct([("key", pa.string()), ("value", pa.binary())])
        ),
    }
    return pa.schema([(name, types[kind]) for name, kind in BRONZE_COLUMNS])


def ensure_bronze_table(spark: SparkSession, path: str) -> None:
    """Create the table with its layout and properties before the first write.

    By path, with no catalog call: the ingest job needs no metastore (dbt registers the table,
    macros/bronze/register_bronze.sql), so it runs while a Thrift server holds the metastore.
    On a local path delta-rs looks and creates, with no Spark job (a Spark write of the empty
    table cost the job about 6 s before its first batch: docs/benchmarks.md); on a cluster's
    file system (HDFS, S3, ABFS through Hadoop's settings), Spark does.
    """
    if not _is_local(path):
        _ensure_with_spark(spark, path)
        return
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    if DeltaTable.is_deltatable(path):
        try:
            table = DeltaTable(path)
        except DeltaError:
            # delta-rs loads no table without columns, which a bare registration is.
            from delta.tables import DeltaTable as SparkDeltaTable

            if not _is_bare_registration(SparkDeltaTable.forPath(spark, path)):
                raise
            _create_with_spark(spark, path, replace=True)
            return
        _add_missing_columns(spark, path, {f.name for f in table.schema().fields})
        _allow_erasures(spark, path, table.metadata().configuration)
        return
    DeltaTable.create(
        path,
        _arrow_schema(),
        mode="error",
        partition_by=["ingest_date"],
        configuration=BRONZE_TABLE_PROPERTIES,
    )


def _is_local(path: str) -> bool:
    return urlparse(path).scheme in ("", "file")


def _ensure_with_spark(spark: SparkSession, path: str) -> None:
    from delta.tables import DeltaTable

    if DeltaTable.isDeltaTable(spark, path):
        table = DeltaTable.forPath(spark, path)
        if _is_bare_registration(table):
            _create_with_spark(spark, path, replace=True)
            return
        _add_missing_columns(spark, path, set(table.toDF().columns))
        _allow_erasures(spark, path, table.detail().first()["properties"])
        return
    _create_with_spark(spark, path)


def _is_bare_registration(table: Any) -> bool:
    """A table (Spark's DeltaTable) with no columns and no files: what registering bronze in
    the catalog leaves at its path when dbt runs before the first ingest (`create table ...
    using delta location`, macros/bronze/register_bronze.sql). Anything else there is not the
    job's to replace."""
    return not table.toDF().columns and table.detail().first()["numFiles"] == 0


def _create_with_spark(spark: SparkSession, path: str, replace: bool = False) -> None:
    if replace:
        log.info("bronze: %s holds a bare catalog registration: giving it bronze's layout", path)
    schema = ", ".join(f"{name} {data_type}" for name, data_type in BRONZE_COLUMNS)
    to_delta = (
        spark.createDataFrame([], schema)
        .write.format("delta")
        .partitionBy("ingest_date")
        .options(**BRONZE_TABLE_PROPERTIES)
    )
    if not replace:
        to_delta.mode("errorifexists").save(path)
        return
    to_delta.option("overwriteSchema", "true").mode("overwrite").save(path)
    # A write sets a table's properties only when it creates the table.
    properties = ", ".join(f"'{k}' = '{v}'" for k, v in BRONZE_TABLE_PROPERTIES.items())
    spark.sql(f"alter table delta.`{path}` set tblproperties ({properties})")


def _add_missing_columns(spark: SparkSession, path: str, held: set[str]) -> None:
    """Bring a table written by an older release to today's columns (they read as null in its
    old rows): a metadata-only change."""
    missing = [(name, kind) for name, kind in BRONZE_COLUMNS if name not in held]
    if missing:
        columns = ", ".join(f"{name} {kind}" for name, kind in missing)
        log.info("bronze: adding the column(s) %s to %s", columns, path)
        spark.sql(f"alter table delta.`{path}` add columns ({columns})")


def _allow_erasures(spark: SparkSession, path: str, properties: dict[str, str]) -> None:
    """Lift `delta.appendOnly`, which an older release set: an erasure rewrites events. Before
    the stream starts, so no append of this job races the metadata change. (The properties
    come from the log, not from SQL on the path, which asks the metastore first.)"""
    if properties.get("delta.appendOnly", "false").lower() == "true":
        log.info("bronze: lifting delta.appendOnly on %s, so erasures can rewrite it", path)
        spark.sql(f"alter table delta.`{path}` set tblproperties ('delta.appendOnly' = 'false')")


def _batch_timestamp(ingested_at_micros: int) -> Column:
    """The batch's `_ingested_at`: one definition for writing it and finding the rows again."""
    from pyspark.sql import functions as sf

    return sf.timestamp_micros(sf.lit(ingested_at_micros))


def bronze_rows(
    records: DataFrame,
    ingested_at_micros: int,
    avro_readers: dict[str, avro.Reader] | None = None,
    writers: dict[int, avro.WriterSchema] | None = None,
    auto_topics: frozenset[str] = frozenset(),
) -> DataFrame:
    """Kafka source rows as bronze rows; `_ingested_at` is the batch's (epoch microseconds).
    The records of `avro_readers`' topics are decoded with `writers` (ingest/bronze/avro.py);
    those of `auto_topics`, only when they start with the magic byte."""
    from pyspark.sql import functions as sf

    ingested_at = _batch_timestamp(ingested_at_micros)
    return avro.with_values(records, avro_readers or {}, writers or {}, auto_topics).select(
        sf.col("key").cast("string").alias("key"),
        sf.col("text_value").alias("value"),
        "topic",
        "partition",
        "offset",
        sf.col("timestamp").alias("kafka_timestamp"),
        sf.col("timestampType").alias("timestamp_type"),
        "headers",
        ingested_at.alias("_ingested_at"),
        sf.to_date(ingested_at).alias("ingest_date"),
        "value_format",
        "schema_id",
        "value_bytes",
        "value_error",
    )


def checkable(rows: DataFrame) -> DataFrame:
    """Bronze rows shaped for the dead-letter check: the value as the check reads it (text as
    bytes), the record's bytes as they came (`raw`), the coordinates, `value_format` and
    `value_error`."""
    from pyspark.sql import functions as sf

    value = sf.col("value").cast("binary")
    return rows.select(
        sf.col("key").cast("binary").alias("key"),
        value.alias("value"),
        sf.coalesce(sf.col("value_bytes"), value).alias("raw"),
        "topic",
        "partition",
        "offset",
        "value_format",
        "value_error",
    )


def landed_rows(spark: SparkSession, path: str, ingested_at_micros: int) -> DataFrame:
    """One batch's rows as bronze holds them, `checkable`; partition pruning and
    `_ingested_at` stats make Delta read only that batch's files."""
    from pyspark.sql import functions as sf

    ingested_at = _batch_timestamp(ingested_at_micros)
    return checkable(
        spark.read.format("delta")
        .load(path)
        .where(
            (sf.col("ingest_date") == sf.to_date(ingested_at))
            & (sf.col("_ingested_at") == ingested_at)
        )
    )


class StopRequestedError(Exception):
    """The stream was asked to stop: the batch was refused before it wrote anything."""


@dataclass
class BatchWriter:
    """foreachBatch: an idempotent Delta append, then the batch's dead letters."""

    conf: ingest_config.IngestConfig
    topics: list[str] = field(default_factory=list)
    app_id: str | None = None
    dead_lettered: int = 0
    # Dead letters by batch id, for the event log (the progress reporter takes them).
    dead_letters_of: dict[int, int] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    # Seconds each step of a batch took, by batch id: the progress line shows where time goes.
    timings: dict[int, dict[str, float]] = field(default_factory=dict)
    # The reader schema of each Avro topic, and the registry's schemas (refreshed each batch).
    avro_readers: dict[str, avro.Reader] = field(default_factory=dict)
    auto_topics: frozenset[str] = frozenset()
    registry: avro.SubjectSchemas | None = None
    # Why the stream failed, in one line, when the job can say it better than Spark's trace.
    failure: str | None = None
    # Set once SIGTERM or Ctrl-C came: the next batch is refused (see __call__), its id kept.
    stop_requested: bool = False
    stopped_before: int | None = None
    # The shortcut column by the value's type (see _shortcut), and the write's tally.
    _shortcuts: dict[str, Column | None] = field(default_factory=dict)
    _tally_ready: bool = False
    _tally: CheckTally | None = None

    def __post_init__(self) -> None:
        formats = {t: self.conf.topic_format(t) for t in self.topics}
        for topic, wire in formats.items():
            if wire in ("avro", "auto"):
                self.avro_readers[topic] = avro.reader_of(self.conf, topic)
        self.auto_topics = frozenset(t for t, wire in formats.items() if wire == "auto")
        if self.avro_readers:
            # Every topic's subject: an id of one read on another topic is named as such.
            self.registry = avro.SubjectSchemas(self.conf, self.topics)

    def _writers(self) -> dict[int, avro.WriterSchema]:
        if self.registry is None:
            return {}
        try:
            return dict(self.registry.refresh())
        except avro.RegistryUnavailableError as exc:
            self.failure = str(exc)
            raise

    def _txn_app_id(self, spark: SparkSession) -> str:
        # The query id lives in the checkpoint: a new checkpoint gets a new id, so Delta never
        # skips a batch of a fresh stream because an old one used the same batch number.
        # Spark sets it on the thread that calls foreachBatch; reading the checkpoint's
        # metadata file instead would cost a Spark job.
        if self.app_id is None:
            query_id = spark.sparkContext.getLocalProperty("sql.streaming.queryId")
            if query_id is None:
                metadata = spark.read.text(f"{self.conf.checkpoint_path}/metadata").first()[0]
                query_id = json.loads(metadata)["id"]
            self.app_id = f"lakehouse-bronze-{query_id}"
        return self.app_id

    def _shortcut(self, spark: SparkSession, text_value: bool = False) -> Column | None:
        """True where a row surely keeps its contract (None: no topic has the JVM check), over
        `checkable` rows, or over bronze rows as written (`text_value`: `value` a string)."""
        key = "text" if text_value else "bytes"
        if key not in self._shortcuts:
            from pyspark.sql import functions as sf

            from ingest.jvm_contract import surely_well_formed

            # Not for Avro topics: their records are checked as they are decoded.
            json_topics = [
                t for t in self.topics if t not in self.avro_readers or t in self.auto_topics
            ]
            value = sf.col("value").cast("binary") if text_value else sf.col("value")
            shortcut, problems = surely_well_formed(
                spark, json_topics, self.conf.contract_of, value
            )
            for problem in problems if not self._shortcuts else ():
                log.warning(
                    "no JVM contract check (%s): Python checks every message instead, which is "
                    "slower",
                    problem,
                )
            if self.avro_readers:
                # A decoded Avro record was checked as it was decoded (types by its schema,
                # timestamps by avro.value_and_error): only its value_error decides, so with
                # Avro topics alone the check reads no `value` at all.
                shortcut = sf.when(
                    sf.col("value_format") == "avro", sf.col("value_error").isNull()
                ).otherwise(sf.lit(False) if shortcut is None else shortcut)
            self._shortcuts[key] = shortcut
        return self._shortcuts[key]

    def _check_tally(self, spark: SparkSession) -> CheckTally | None:
        """The tally that checks each row in the write itself; None when there is no dead-letter
        check or no shortcut to count."""
        if not self._tally_ready:
            self._tally_ready = True
            if self.conf.dead_letter and self._shortcut(spark) is not None:
                from ingest.jvm_contract import CheckTally

                try:
                    self._tally = CheckTally(spark)
                except RuntimeError as exc:
                    log.warning("%s: each batch is read back for the contract check", exc)
        return self._tally

    def _rows(
        self,
        batch: DataFrame,
        ingested_at: int,
        writers: dict[int, avro.WriterSchema],
        erased: erasures.Erased,
    ) -> DataFrame:
        """The batch as bronze rows, erased customers' events anonymized."""
        rows = bronze_rows(batch, ingested_at, self.avro_readers, writers, self.auto_topics)
        return erasures.anonymized(rows, erased, self.conf.email_salt)

    def _dead_letters(
        self,
        batch: DataFrame,
        ingested_at: int,
        writers: dict[int, avro.WriterSchema],
        erased: erasures.Erased,
        tallied: tuple[int, int] | None,
    ) -> int:
        """Publish the batch's dead letters; `tallied`: the write's (rows, unsure rows) when the
        write counted them (CheckTally), so a clean batch is not read again."""
        from pyspark.sql import functions as sf

        from ingest.dead_letter import publish_dead_letters

        spark = batch.sparkSession
        shortcut = self._shortcut(spark)
        records = landed_rows(spark, self.conf.bronze_path, ingested_at)
        if tallied is not None and tallied[0] > 0:
            # The write ran (Delta skips a batch it already holds before reading any row) and
            # checked every row it wrote: the common case ends here, with nothing read again.
            if tallied[1] == 0:
                return 0
            return publish_dead_letters(records.where(~shortcut), self.conf)
        if shortcut is None:
            landed = not records.isEmpty()
        else:
            # One Spark job: rows landed, and all surely well-formed.
            counts = records.select(sf.count(sf.lit(1)), sf.count_if(~shortcut)).first()
            landed = counts[0] > 0
            if landed and counts[1] == 0:
                return 0
        if not landed:
            # A replayed batch that Delta skipped (it landed before a crash) has no rows of
            # this timestamp: check it from Kafka again. At-least-once, as promised.
            replayed = self._rows(batch, ingested_at, writers, erased)
            return publish_dead_letters(checkable(replayed), self.conf, shortcut)
        if shortcut is not None:
            # The count above found unsure rows: hand Python those alone, without counting
            # them again.
            records = records.where(~shortcut)
        return publish_dead_letters(records, self.conf)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        if self.stop_requested:
            # A stop between two batches of a backlog: back-to-back batches leave the driver no
            # idle moment to stop in. Failing the batch before it writes anything leaves its
            # offsets planned but uncommitted, so the next run reads them again; returning
            # without writing would commit them, and lose the batch.
            self.stopped_before = batch_id
            raise StopRequestedError(f"stopped before batch {batch_id}, as asked")
        spark = batch.sparkSession
        # The batch's own timestamp, not current_timestamp(): it finds the batch's rows in
        # bronze again, so Kafka is read once (no cache) and the check reads only `value`.
        ingested_at = time.time_ns() // 1000
        started = time.monotonic()
        writers = self._writers()
        # Read each batch, so an erasure recorded a second ago holds for this batch.
        erased = erasures.erased_customers(self.conf.erasures_path)
        rows = self._rows(batch, ingested_at, writers, erased)
        tally = self._check_tally(spark)
        if tally is not None:
            # The check rides along the write: Kafka is read once, and `value` is read back
            # only for the rows the check was unsure of.
            before = tally.counts()
            rows = rows.withColumn(
                "offset", tally.passing(self._shortcut(spark, text_value=True), rows["offset"])
            )
        (
            rows.write.format("delta")
            .mode("append")
            .option("txnAppId", self._txn_app_id(spark))
            .option("txnVersion", str(batch_id))
            .option("compression", self.conf.bronze_compression)
            .save(self.conf.bronze_path)
        )
        written = time.monotonic()
        tallied = None
        if tally is not None:
            rows_now, unsure_now = tally.counts()
            tallied = (rows_now - before[0], unsure_now - before[1])
        if self.conf.dead_letter:
            self.dead_letters_of[batch_id] = self._dead_letters(
                batch, ingested_at, writers, erased, tallied
            )
            self.dead_lettered += self.dead_letters_of[batch_id]
        self.timings[batch_id] = {
            "bronze_write": written - started,
            "dead_letter": time.monotonic() - written,
        }
        self.batches.append(batch_id)
