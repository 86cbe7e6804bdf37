"""`python -m ingest.jvm_archive` (`make setup`): the class-data archive of the embedded Spark's
driver JVM, where the profile's driver options name it.

A Spark driver loads thousands of classes from the jars before its first batch or query; the
JVM can map them from an archive instead (HotSpot's dynamic class-data sharing). The profile's
driver options name the archive (`profiles/profiles.yml`), so the ingest job, `local` dbt
runs, the tests' sessions and the Thrift server start from it. A JVM that finds no archive,
or one made for another JDK or class path, starts as before, silently (after a JDK upgrade,
delete `.class-archive-tried` in the jars folder and run `make setup` again).

The archive is made by a driver that does what they do (a Delta write, merge and read, a
stream, a Kafka source), with `-XX:ArchiveClassesAtExit`: the JVM writes it when it exits. It
needs no service: the tables are paths in a temporary folder. Measured: docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.spark_session import build_spark_session, local_spark_conf

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DRIVER_OPTIONS = "spark.driver.extraJavaOptions"
ARCHIVE_OPTION = "-XX:SharedArchiveFile="


def archive_named(options: list[str]) -> Path | None:
    """The archive a driver's JVM options name, if any."""
    named = [o.removeprefix(ARCHIVE_OPTION) for o in options if o.startswith(ARCHIVE_OPTION)]
    return Path(named[0]).resolve() if named else None


def exercise(spark: SparkSession, folder: Path) -> None:
    """What the drivers do, on a few rows: the classes they load land in the archive."""
    from delta.tables import DeltaTable

    table = str(folder / "events")
    rows = spark.range(100).selectExpr("id", "cast(id as string) as value", "current_date() as day")
    rows.write.format("delta").partitionBy("day").save(table)
    DeltaTable.forPath(spark, table).alias("t").merge(
        rows.alias("s"), "t.id = s.id"
    ).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()
    spark.read.format("delta").load(table).groupBy("day").count().collect()
    # A streaming query's, into Delta, as the ingest job triggers it, and the Kafka source's
    # (it connects only when a query starts).
    spark.readStream.format("delta").load(table).writeStream.format("delta").option(
        "checkpointLocation", str(folder / "checkpoint")
    ).trigger(availableNow=True).start(str(folder / "stream")).awaitTermination()
    spark.readStream.format("kafka").option("kafka.bootstrap.servers", "127.0.0.1:9").option(
        "subscribe", "none"
    ).load().selectExpr("cast(value as string)")


def write_archive(archive: Path, folder: Path, env: dict[str, str], options: list[str]) -> None:
    """Run the exercise in a driver that writes `archive` when its JVM exits."""
    spark = build_spark_session(
        "lakehouse-jvm-archive",
        env=env,
        extra_conf={DRIVER_OPTIONS: " ".join([*options, f"-XX:ArchiveClassesAtExit={archive}"])},
    )
    from pyspark import SparkContext

    jvm = SparkContext._gateway.proc  # type: ignore[union-attr]
    try:
        exercise(spark, folder)
        spark.stop()
        jvm.stdin.close()  # the gateway's signal to exit: the JVM writes the archive as it does
        if jvm.wait(timeout=300) != 0:
            raise RuntimeError(f"the JVM exited with {jvm.returncode}")
    finally:
        if jvm.poll() is None:  # failed: no archive from a JVM that outlives this process
            jvm.kill()
            jvm.wait()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="jvm-archive-") as folder:
        # A state folder of its own (its temp folders included): setup has made none yet.
        env = {**os.environ, "LAKEHOUSE_STATE_DIR": str(Path(folder) / "state")}
        options = local_spark_conf(env)[DRIVER_OPTIONS].split()
        archive = archive_named(options)
        if archive is None:
            print(f"jvm_archive: the profile's {DRIVER_OPTIONS} name no archive", file=sys.stderr)
            return 1
        archive.parent.mkdir(parents=True, exist_ok=True)
        # An old archive goes first: one for other jars would stay and go unused, silently.
        archive.unlink(missing_ok=True)
        partial = archive.with_name(archive.name + ".partial")
        partial.unlink(missing_ok=True)
        # The profile's options, but the archive is written, not read; renamed once whole, so
        # no JVM maps half of it. Short-lived: the client compiler and the serial collector.
        options = [o for o in options if not o.startswith(ARCHIVE_OPTION)]
        options += ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
        try:
            write_archive(partial, Path(folder), env, options)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            partial.unlink(missing_ok=True)
            print(f"jvm_archive: no archive: {exc}", file=sys.stderr)
            return 1
    if not partial.exists():
        print(f"jvm_archive: the JVM wrote no archive at {partial}", file=sys.stderr)
        return 1
    partial.replace(archive)
    print(f"jvm_archive: {archive} ({archive.stat().st_size // 2**20} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
