"""The embedded Spark (the `local` profile's settings) runs Delta: tables, MERGE, time travel; its
driver maps the class-data archive `make setup` made."""

from __future__ import annotations

from pathlib import Path

from ingest.jvm_archive import DRIVER_OPTIONS, archive_named
from ingest.spark_session import local_spark_conf


def test_local_conf_is_the_local_profile_with_absolute_paths(tmp_path) -> None:
    conf = local_spark_conf({"LAKEHOUSE_STATE_DIR": str(tmp_path), "METASTORE_PORT": "1600"})
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"].endswith("DeltaCatalog")
    assert conf["spark.sql.warehouse.dir"] == f"{tmp_path}/warehouse"
    assert f"-Djava.io.tmpdir={tmp_path}/tmp" in conf["spark.driver.extraJavaOptions"]
    assert conf["spark.driver.extraClassPath"].startswith("/")
    # The stack's metastore service, by address: no process opens the database itself.
    metastore = conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert metastore == "jdbc:derby://127.0.0.1:1600/metastore_db;create=true"
    assert conf["spark.hadoop.hive.metastore.uris"] == ""


def test_delta_table_merge_and_time_travel(spark) -> None:
    spark.sql("create database if not exists smoke")
    spark.sql("create or replace table smoke.customers (customer_id int, tier string) using delta")
    spark.sql("insert into smoke.customers values (1, 'bronze'), (2, 'silver')")
    spark.sql(
        """
        merge into smoke.customers as target
        using (select 2 as customer_id, 'gold' as tier
               union all select 3, 'bronze') as source
        on target.customer_id = source.customer_id
        when matched then update set *
        when not matched then insert *
        """
    )

    current = spark.sql("select customer_id, tier from smoke.customers order by customer_id")
    assert [tuple(r) for r in current.collect()] == [(1, "bronze"), (2, "gold"), (3, "bronze")]

    detail = spark.sql("describe detail smoke.customers").first()
    assert detail["format"] == "delta"

    history = spark.sql("describe history smoke.customers").collect()
    assert [r["operation"] for r in sorted(history, key=lambda r: r["version"])] == [
        "CREATE OR REPLACE TABLE",
        "WRITE",
        "MERGE",
    ]
    before_merge = spark.sql(
        "select customer_id, tier from smoke.customers version as of 1 order by customer_id"
    )
    assert [tuple(r) for r in before_merge.collect()] == [(1, "bronze"), (2, "silver")]


def test_the_driver_maps_the_class_archive_that_setup_made(spark) -> None:
    """`make setup` made the archive (ingest/jvm_archive.py), and a driver started with the
    profile's options maps it: a JVM that cannot use it says nothing and starts without it."""
    path = archive_named(local_spark_conf()[DRIVER_OPTIONS].split())
    assert path is not None and path.is_file(), f"no archive at {path}: .cache/jvm-archive.log"
    pid = spark.sparkContext._jvm.ProcessHandle.current().pid()
    assert str(path) in Path(f"/proc/{pid}/maps").read_text()


def test_spark_sizes_a_delta_table_from_its_log_not_the_metastore(spark) -> None:
    """Hive records a table's size in the metastore when the table is created or altered and
    never after a write; Spark would plan a table created small as a broadcast long after it
    grew. The profile's metastore listener (jvm/udf/src/lakehouse/metastore/DeltaSizeFromLog.java)
    keeps the figure out for Delta tables, so Spark sizes the table from the Delta log."""
    spark.sql("create database if not exists smoke")
    spark.sql("drop table if exists smoke.growing")
    spark.sql("create table smoke.growing using delta as select id, uuid() as note from range(10)")
    spark.sql("alter table smoke.growing set tblproperties ('lakehouse.probe' = 'altered')")
    spark.sql("insert into smoke.growing select id, uuid() as note from range(50000)")

    planned = spark.sql("select * from smoke.growing")._jdf.queryExecution().optimizedPlan()
    on_disk = spark.sql("describe detail smoke.growing").first()["sizeInBytes"]
    assert int(planned.stats().sizeInBytes()) >= on_disk > 1_000_000
