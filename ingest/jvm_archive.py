"""`python -m ingest.jvm_archive <path>` (`make setup`): the class-data archive of the embedded
Spark's driver JVM.

A Spark driver loads thousands of classes from the jars before its first batch or query; the
JVM can map them from an archive instead (HotSpot's dynamic class-data sharing). The
profile's driver options name the archive (`profiles/profiles.yml`), so the ingest job, `local`
dbt runs, the tests' sessions and the Thrift server start from it. A JVM that finds no archive,
or one made for another JDK or class path, starts as before, silently (after a JDK upgrade,
delete `.class-archive-tried` beside it and run `make setup` again).

The archive is made by a driver that does what they do (a Delta write, merge and read, a Kafka
source), with `-XX:ArchiveClassesAtExit`: the JVM writes it when it exits. It needs no
service: the tables are paths in a temporary folder. Measured: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ingest.spark_session import build_spark_session, local_spark_conf

DRIVER_OPTIONS = "spark.driver.extraJavaOptions"


def exercise(spark, folder: Path) -> None:
    """What the drivers do, on a few rows: the classes they load land in the archive."""
    from delta.tables import DeltaTable

    table = str(folder / "events")
    rows = spark.range(100).selectExpr("id", "cast(id as string) as value", "current_date() as day")
    rows.write.format("delta").partitionBy("day").save(table)
    DeltaTable.forPath(spark, table).alias("t").merge(
        rows.alias("s"), "t.id = s.id"
    ).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()
    spark.read.format("delta").load(table).groupBy("day").count().collect()
    # A streaming query's, into Delta, and the Kafka source's (it connects only when a query
    # starts).
    spark.readStream.format("rate").load().writeStream.format("delta").option(
        "checkpointLocation", str(folder / "checkpoint")
    ).trigger(once=True).start(str(folder / "stream")).awaitTermination()
    spark.readStream.format("kafka").option("kafka.bootstrap.servers", "127.0.0.1:9").option(
        "subscribe", "none"
    ).load().selectExpr("cast(value as string)")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ingest.jvm_archive <archive path>", file=sys.stderr)
        return 2
    archive = Path(argv[0]).resolve()
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="jvm-archive-") as folder:
        env = {**os.environ, "LAKEHOUSE_STATE_DIR": str(Path(folder) / "state")}
        # The profile's driver options, but the archive is written, not read: when the JVM
        # exits, and renamed once whole, so no JVM maps half an archive.
        options = local_spark_conf(env)[DRIVER_OPTIONS].split()
        options = [o for o in options if not o.startswith("-XX:SharedArchiveFile=")]
        # Short-lived: the client compiler and the serial collector cost it the least CPU.
        options += ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
        options.append(f"-XX:ArchiveClassesAtExit={partial}")
        spark = build_spark_session(
            "lakehouse-jvm-archive", env=env, extra_conf={DRIVER_OPTIONS: " ".join(options)}
        )
        from pyspark import SparkContext

        jvm = SparkContext._gateway.proc  # type: ignore[union-attr]
        exercise(spark, Path(folder))
        spark.stop()
        jvm.stdin.close()  # the gateway's signal to exit: the JVM writes the archive as it does
        jvm.wait(timeout=300)
    if not partial.exists():
        print(f"jvm_archive: the JVM wrote no archive at {partial}", file=sys.stderr)
        return 1
    partial.replace(archive)
    print(f"jvm_archive: {archive} ({archive.stat().st_size // 2**20} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
