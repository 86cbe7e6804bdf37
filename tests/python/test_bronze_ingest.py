"""The producer CLI and the bronze job against the real broker and Spark, as users run them.

Each test uses its own topics (a topic suffix) and its own bronze table, so counts are exact.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from delta.tables import DeltaTable
from helpers import PROJECT_DIR, VENV_BIN, dead_letters, free_port, ok, run, services, stack_env

BROKER_SETTINGS = ("LAKEHOUSE_STATE_DIR", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT")
BROKER_SETTINGS += ("KAFKA_BOOTSTRAP_SERVERS",)


@pytest.fixture
def ingest_env(kafka_env, tmp_path) -> dict[str, str]:
    name = uuid.uuid4().hex[:6]
    return {
        **kafka_env,
        "LAKEHOUSE_TOPIC_SUFFIX": f".t{name}",
        "LAKEHOUSE_SCHEMA": f"t{name}",
        "LAKEHOUSE_BRONZE_PATH": str(tmp_path / "bronze"),
        "LAKEHOUSE_KAFKA_TIMEOUT": "10",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_env['KAFKA_PORT']}",
    }


def produce(env: dict[str, str], tmp_path: Path, *args: str) -> dict:
    manifest = tmp_path / f"manifest-{uuid.uuid4().hex[:6]}.json"
    ok(run([sys.executable, "-m", "ingest.produce", *args, "--manifest", str(manifest)], env))
    return json.loads(manifest.read_text())


def bronze(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "ingest.bronze", *args], env)


def read_bronze(spark, env: dict[str, str]):
    return spark.read.format("delta").load(env["LAKEHOUSE_BRONZE_PATH"])


def delta_versions(spark, env: dict[str, str]) -> int:
    return DeltaTable.forPath(spark, env["LAKEHOUSE_BRONZE_PATH"]).history().count()


def assert_appends_name_the_checkpoints_query(env: dict[str, str], last_batch: int) -> None:
    """Each append is the checkpoint's stream's, by its persistent query id: a restart from the
    same checkpoint finds its batches by it (docs/design.md#exactly-once-into-bronze)."""
    from deltalake import DeltaTable

    bronze_path = Path(env["LAKEHOUSE_BRONZE_PATH"])
    query = json.loads((bronze_path / "_checkpoints" / "ingest" / "metadata").read_text())
    app_id = f"lakehouse-bronze-{query['id']}"
    assert DeltaTable(str(bronze_path)).transaction_version(app_id) == last_batch


def test_available_now_lands_everything_once_and_dead_letters_the_malformed(
    ingest_env, thrift_env, spark, tmp_path
) -> None:
    # Subscribed by a pattern that also matches `<topic>.dlq` (issue 22): the runs after the
    # first find dead-letter topics full of letters, and must not read them.
    suffix = re.escape(ingest_env["LAKEHOUSE_TOPIC_SUFFIX"])
    env = {**ingest_env, "LAKEHOUSE_TOPIC_PATTERN": f"(orders|payments){suffix}.*"}
    first = produce(
        env,
        tmp_path,
        *("--orders", "400", "--seed", "21", "--duplicate-rate", "0.1", "--late-rate", "0.2"),
        *("--malformed-rate", "0.1", "--v2-rate", "0.3", "--oversized", "2"),
        *("--null-key-rate", "0.05"),
    )
    assert first["delivered"] == first["messages"] and first["dead_letter_expected"] > 20
    assert first["malformed"]["null_value"] and first["malformed"]["oversized"] == 2

    progress_file = tmp_path / "progress.jsonl"
    out = ok(
        bronze(env, "--max-offsets-per-trigger", "2000", "--progress-json", str(progress_file))
    )  # several batches
    assert f"{first['dead_letter_expected']:,} dead-lettered" in out
    assert "no JVM contract check" not in out  # the shortcut ran (ingest/jvm_contract.py)
    rows = read_bronze(spark, env)
    assert rows.count() == first["messages"]
    # One line per batch on stdout, and the full progress as JSON lines for scraping.
    progress = [json.loads(line) for line in progress_file.read_text().splitlines()]
    assert len(progress) > 1 and sum(p["numInputRows"] for p in progress) == first["messages"]
    assert all(
        p["name"] == "bronze_ingest" and p["durationMs"]["triggerExecution"] for p in progress
    )
    assert out.count("bronze: batch ") == len(progress)
    assert all(set(p["stepSeconds"]) == {"bronze_write", "dead_letter"} for p in progress)
    assert rows.select("topic", "partition", "offset").distinct().count() == first["messages"]
    assert rows.where("_ingested_at is null or ingest_date is null").count() == 0
    # Kept as they came: no value, no key, the 990 kB ones whole.
    assert rows.where("value is null").count() == first["malformed"]["null_value"]
    assert rows.where("key is null").count() == first["null_keys"] > 0
    assert rows.where("length(value) > 900000").count() == 2

    detail = spark.sql(f"describe detail delta.`{env['LAKEHOUSE_BRONZE_PATH']}`").first()
    assert detail["partitionColumns"] == ["ingest_date"]
    # Not append-only: an erasure rewrites a customer's events (docs/design.md#erasure).
    assert detail["properties"].get("delta.appendOnly", "false") == "false"
    stats_columns = detail["properties"]["delta.dataSkippingStatsColumns"]
    assert stats_columns == "topic,partition,offset,kafka_timestamp,_ingested_at"
    assert_appends_name_the_checkpoints_query(env, max(p["batchId"] for p in progress))

    # The dead-letter topics hold exactly the structurally malformed messages, with reasons.
    topics = [f"{name}{env['LAKEHOUSE_TOPIC_SUFFIX']}.dlq" for name in ("orders", "payments")]
    letters = dead_letters(env, topics)
    expected = {
        (m["topic"], m["partition"], m["offset"])
        for m in first["malformed_messages"]
        if m["kind"] in first["dead_letter_kinds"]
    }
    got = {
        (d["dlq.source.topic"], int(d["dlq.source.partition"]), int(d["dlq.source.offset"]))
        for d in letters
    }
    assert got == expected and len(letters) == len(expected)
    assert all(d["dlq.error"] and d["topic"] == d["dlq.source.topic"] + ".dlq" for d in letters)

    # dbt registers the path-written table in the metastore and reads it (on the session's
    # Thrift server: another Spark process than the job's).
    on_thrift = {**env, "THRIFT_PORT": thrift_env["THRIFT_PORT"]}
    ok(thrift_dbt(on_thrift, "--quiet", "run-operation", "register_bronze"))
    count = f"select count(*) as n from {env['LAKEHOUSE_SCHEMA']}_bronze.kafka_events"
    shown = ok(thrift_dbt(on_thrift, "--quiet", "show", "--output", "json", "--inline", count))
    assert json.loads(shown[shown.index("{") :])["show"] == [{"n": first["messages"]}]

    # Nothing new: nothing added, no new Delta version.
    versions = delta_versions(spark, env)
    ok(bronze(env))
    assert read_bronze(spark, env).count() == first["messages"]
    assert delta_versions(spark, env) == versions

    # New events: exactly they are added.
    second = produce(env, tmp_path, "--orders", "150", "--seed", "22")
    ok(bronze(env))
    rows = read_bronze(spark, env)
    total = first["messages"] + second["messages"]
    assert rows.count() == total
    assert rows.select("topic", "partition", "offset").distinct().count() == total
    topics = {row["topic"] for row in rows.select("topic").distinct().collect()}
    assert topics == {f"{name}{env['LAKEHOUSE_TOPIC_SUFFIX']}" for name in ("orders", "payments")}


def start_continuous(env: dict[str, str], out: object, *args: str) -> subprocess.Popen:
    """The job in continuous mode, in its own process group (so a kill takes the JVM too)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingest.bronze",
            "--continuous",
            "--trigger-interval",
            "1 second",
            *args,
        ],
        env=env,
        cwd=PROJECT_DIR,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _letter_coordinates(env: dict[str, str]) -> list[tuple[str, int, int]]:
    topics = [f"{name}{env['LAKEHOUSE_TOPIC_SUFFIX']}.dlq" for name in ("orders", "payments")]
    return sorted(
        (d["dlq.source.topic"], int(d["dlq.source.partition"]), int(d["dlq.source.offset"]))
        for d in dead_letters(env, topics)
    )


@pytest.mark.faults
def test_a_batch_replayed_after_its_bronze_write_still_publishes_its_dead_letters(
    ingest_env, spark, tmp_path
) -> None:
    """A crash between the Delta commit and the dead letters. The replay's append is skipped
    by Delta, so bronze holds no rows of the replay's timestamp; the job must then check the
    batch from Kafka, or its dead letters would be lost."""
    from dataclasses import replace

    from ingest import config as ingest_config
    from ingest.bronze.preflight import ensure_dead_letter_topics, preflight
    from ingest.bronze.writer import BatchWriter, ensure_bronze_table

    env = ingest_env
    produced = produce(env, tmp_path, "--orders", "150", "--seed", "43", "--malformed-rate", "0.2")
    conf = ingest_config.load(env)
    topics = preflight(conf)
    ensure_dead_letter_topics(conf, topics)
    ensure_bronze_table(spark, conf.bronze_path)
    batch = (
        spark.read.format("kafka")
        .options(**conf.spark_kafka_options())
        .option("subscribe", ",".join(topics))
        .options(startingOffsets="earliest", endingOffsets="latest", includeHeaders="true")
        .load()
    )
    app_id = f"lakehouse-bronze-test-{uuid.uuid4()}"
    BatchWriter(replace(conf, dead_letter=False), topics, app_id=app_id)(batch, 0)  # then "dies"
    assert _letter_coordinates(env) == []
    replayed = BatchWriter(conf, topics, app_id=app_id)
    replayed(batch, 0)

    assert read_bronze(spark, env).count() == produced["messages"]  # Delta skipped the replay
    expected = sorted(
        (m["topic"], m["partition"], m["offset"])
        for m in produced["malformed_messages"]
        if m["kind"] in produced["dead_letter_kinds"]
    )
    assert len(expected) > 5
    assert _letter_coordinates(env) == expected
    assert replayed.dead_lettered == len(expected)


@pytest.mark.parametrize("local", [True, False], ids=["delta-rs", "spark"])
def test_a_bronze_table_of_an_older_release_gets_todays_columns_and_allows_erasures(
    spark, tmp_path, monkeypatch, local
) -> None:
    """A table written before the Avro columns existed, append-only as releases then made it:
    the job brings it to today's columns, its rows kept, and lifts appendOnly. On a local path
    delta-rs reads its log; elsewhere (a cluster's file system) Spark does."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from ingest.bronze import writer
    from ingest.bronze.writer import BRONZE_COLUMNS, ensure_bronze_table

    monkeypatch.setattr(writer, "_is_local", lambda _: local)
    path = str(tmp_path / "bronze")
    older = pa.schema(
        [f for f in writer._arrow_schema() if f.name not in ("value_bytes", "value_error")]
    )
    row = {name: None for name in older.names} | {"topic": "orders", "offset": 7}
    write_deltalake(
        path,
        pa.Table.from_pylist([row], schema=older),
        configuration={"delta.appendOnly": "true"},
    )
    ensure_bronze_table(spark, path)
    table = DeltaTable(path)
    assert [f.name for f in table.schema().fields] == [name for name, _ in BRONZE_COLUMNS]
    assert table.metadata().configuration["delta.appendOnly"] == "false"
    kept = spark.read.format("delta").load(path).select("topic", "offset", "value_error")
    assert kept.collect() == [("orders", 7, None)]


def test_delta_rs_and_spark_create_the_same_bronze_table(spark, tmp_path, monkeypatch) -> None:
    """The two ways ensure_bronze_table creates bronze give one table: schema, partitioning,
    properties and protocol, as Spark reads them. Also over a bare catalog registration, what
    dbt's on-run-start leaves at the path when dbt runs before the first ingest (a table
    with no columns, which delta-rs cannot load)."""
    from delta.tables import DeltaTable

    from ingest.bronze import writer

    made = {}
    for local in (True, False):
        for registered in (False, True):
            monkeypatch.setattr(writer, "_is_local", lambda _, local=local: local)
            path = str(tmp_path / f"bronze-{local}-{registered}")
            if registered:  # as macros/bronze/register_bronze.sql does it
                name = f"default.bare_{uuid.uuid4().hex}"
                spark.sql(f"create table if not exists {name} using delta location '{path}'")
                spark.sql(f"drop table {name}")  # the catalog entry only; the log stays
            writer.ensure_bronze_table(spark, path)
            detail = DeltaTable.forPath(spark, path).detail().first()
            made[local, registered] = (
                spark.read.format("delta").load(path).schema.simpleString(),
                detail["partitionColumns"],
                detail["properties"],
                (detail["minReaderVersion"], detail["minWriterVersion"]),
            )
    first = made[True, False]
    assert all(table == first for table in made.values()), {k: v[1:] for k, v in made.items()}


def _wait_for_commits(table: Path, commits: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the ingest job ended before it was killed"
        if len(list((table / "_delta_log").glob("*.json"))) >= commits:
            return
        time.sleep(0.2)
    pytest.fail(f"fewer than {commits} Delta commits in {table} after {timeout}s")


def thrift_dbt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(VENV_BIN / "dbt"), *args, "--target", "thrift"], env, timeout=600)


def erase_the_most_frequent_customer(env: dict[str, str], spark) -> str:
    """Erase the customer with the most events in bronze (the generator's first customers
    recur throughout a backlog); their id."""
    customer = (
        spark.read.format("delta")
        .load(env["LAKEHOUSE_BRONZE_PATH"])
        .selectExpr("get_json_object(value, '$.customer_id') as customer_id")
        .where("customer_id is not null")
        .groupBy("customer_id")
        .count()
        .orderBy("count", ascending=False)
        .first()[0]
    )
    erasure = json.dumps({"customer_id": customer, "requested_by": "test"})
    ok(thrift_dbt(env, "run-operation", "erase_customer", "--args", erasure))
    return customer


def maintain_bronze(env: dict[str, str], done: list[subprocess.CompletedProcess[str]]) -> None:
    """The maintenance DAG's OPTIMIZE and VACUUM of bronze, as it runs them."""
    done.extend(thrift_dbt(env, "run-operation", op) for op in ("optimize_tables", "vacuum_tables"))


@pytest.mark.faults
def test_sigkills_an_erasure_and_bronze_maintenance_mid_backlog_lose_and_double_nothing(
    ingest_env, registry_env, thrift_env, spark, tmp_path
) -> None:
    # Orders as Avro through the registry, payments as JSON: both decode paths are killed.
    env = {
        **ingest_env,
        "REGISTRY_PORT": registry_env["REGISTRY_PORT"],
        "THRIFT_PORT": thrift_env["THRIFT_PORT"],
        "LAKEHOUSE_TOPIC_FORMATS": "orders=avro",
        "LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER": "10000",
    }
    produced = produce(
        env, tmp_path, "--orders", "20000", "--seed", "31", "--duplicate-rate", "0.05"
    )
    # Over ten batches: the four runs below land a batch or two each, and die mid-backlog.
    assert produced["messages"] > 100_000
    table = Path(env["LAKEHOUSE_BRONZE_PATH"])
    rng = random.Random(31)
    log = (tmp_path / "continuous.log").open("w")
    maintenance: list[subprocess.CompletedProcess[str]] = []
    maintainer = threading.Thread(target=maintain_bronze, args=(env, maintenance))
    commits = 1  # version 0 is the table's creation
    for run_number in range(4):
        if run_number == 2:
            # An erasure between two runs: what landed is rewritten, the rest lands rewritten.
            erased_at = time.time()
            customer = erase_the_most_frequent_customer(env, spark)
        # Each run gets a batch or two in, then dies at a random point: between batches,
        # inside the Delta write, or while dead letters are published. From the third on,
        # bronze is compacted, Z-ordered and vacuumed meanwhile.
        job = start_continuous(env, log)
        if run_number == 2:
            maintainer.start()
        commits += rng.choice((1, 2))
        _wait_for_commits(table, commits, job, timeout=240)
        time.sleep(rng.uniform(0.0, 1.5))
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
        commits = len(list((table / "_delta_log").glob("*.json")))
    maintainer.join(600)
    assert [ok(done) for done in maintenance] and len(maintenance) == 2
    operations = {h["operation"] for h in DeltaTable.forPath(spark, str(table)).history().collect()}
    assert {"MERGE", "OPTIMIZE", "VACUUM END"} <= operations, operations
    landed_before_restart = read_bronze(spark, env).count()
    assert 0 < landed_before_restart < produced["messages"], "the kills must hit mid-backlog"
    # Delta's VACUUM leaves the job's checkpoint (under bronze, in `_checkpoints`) alone, even
    # with no retention at all.
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        spark.sql(f"vacuum delta.`{table}` retain 0 hours")
    finally:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")

    ok(bronze(env))
    rows = read_bronze(spark, env)
    assert rows.count() == produced["messages"]
    assert rows.select("topic", "partition", "offset").distinct().count() == produced["messages"]
    avro = rows.where("value_format = 'avro'")
    assert avro.where("value is not null and schema_id is not null").count() == avro.count() > 0
    assert rows.where(f"value like '%{customer}%'").count() == 0
    erased = rows.where("get_json_object(value, '$.customer_id') = 'erased'")
    # Whole seconds: a float literal with more digits than microseconds fails under ANSI.
    assert erased.where(f"_ingested_at > timestamp_seconds({int(erased_at) + 1})").count() > 0, (
        "the customer's later events must land rewritten"
    )


@pytest.mark.faults
def test_a_broker_restart_during_ingest_loses_and_doubles_nothing(
    ingest_env, spark, tmp_path
) -> None:
    # A broker of its own: the session's serves other tests, maybe at this very moment.
    broker = stack_env(tmp_path / "stack")
    env = {
        **ingest_env,
        **{key: broker[key] for key in BROKER_SETTINGS},
        "LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER": "5000",
    }
    ok(services(env, "up", "kafka"))
    try:
        _ride_out_a_broker_restart(env, spark, tmp_path)
    finally:
        services(env, "down", "kafka")


def _ride_out_a_broker_restart(env: dict[str, str], spark, tmp_path: Path) -> None:
    produced = produce(env, tmp_path, "--orders", "8000", "--seed", "37")
    table = Path(env["LAKEHOUSE_BRONZE_PATH"])
    log_file = tmp_path / "continuous.log"
    job = start_continuous(env, log_file.open("w"))
    try:
        _wait_for_commits(table, 3, job, timeout=240)
        ok(services(env, "down", "kafka"))  # its data survives
        landed_before_outage = read_bronze(spark, env).count()
        assert 0 < landed_before_outage < produced["messages"], "the outage must hit mid-backlog"
        time.sleep(5)
        ok(services(env, "up", "kafka"))
        # The job either rides the outage out or fails clearly (exit 1, the error logged).
        deadline = time.monotonic() + 240
        while job.poll() is None and time.monotonic() < deadline:
            if read_bronze(spark, env).count() == produced["messages"]:
                break
            time.sleep(2)
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)
            assert job.wait(60) == 0, log_file.read_text()[-3000:]  # a clean stop
            assert "SIGTERM received" in log_file.read_text()
        else:
            assert job.returncode == 1, log_file.read_text()[-3000:]
            assert "the bronze stream failed" in log_file.read_text()
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        services(env, "up", "kafka")
    # A restart (the next scheduled run) completes the backlog.
    ok(bronze(env))
    rows = read_bronze(spark, env)
    assert rows.count() == produced["messages"]
    assert rows.select("topic", "partition", "offset").distinct().count() == produced["messages"]


@pytest.mark.faults
def test_continuous_mode_reports_every_batch_after_idle_time_and_stops_on_sigterm_mid_backlog(
    ingest_env, spark, tmp_path
) -> None:
    env = ingest_env
    bronze_path = Path(env["LAKEHOUSE_BRONZE_PATH"])
    progress_file = tmp_path / "progress.jsonl"
    first = produce(env, tmp_path, "--orders", "100", "--seed", "41")
    # Not the default codec, to see that LAKEHOUSE_BRONZE_COMPRESSION reaches the files. Small
    # batches, so the backlog below takes many back-to-back batches.
    job = start_continuous(
        {**env, "LAKEHOUSE_BRONZE_COMPRESSION": "zstd", "LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER": "400"},
        subprocess.PIPE,
        "--progress-json",
        str(progress_file),
    )
    _wait_for_commits(bronze_path, 2, job, timeout=120)
    # Idle for longer than Spark's no-data progress interval (10 s): the job then sees
    # progress updates without a batch, which must not hide the next batch.
    time.sleep(15)
    second = produce(env, tmp_path, "--orders", "100", "--seed", "42")
    total = first["messages"] + second["messages"]
    # A batch may have begun while the producer ran: wait for all of it.
    deadline = time.monotonic() + 120
    while read_bronze(spark, env).count() < total:
        assert job.poll() is None and time.monotonic() < deadline, "the second batch did not land"
        time.sleep(1)
    # A backlog of many batches, stopped in the middle: the job stops between two batches
    # instead of draining it first.
    backlog = produce(env, tmp_path, "--orders", "1500", "--seed", "43")
    total += backlog["messages"]
    commits = len(list((bronze_path / "_delta_log").glob("*.json")))
    _wait_for_commits(bronze_path, commits + 2, job, timeout=120)
    job.send_signal(signal.SIGTERM)
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 0, out
    assert "SIGTERM received" in out and "stopped before batch" in out, out[-3000:]
    # A stop asked for, in the job's words: not a query error with Spark's stack traces.
    assert "terminated with error" not in out and "Traceback" not in out, out[-3000:]
    landed = read_bronze(spark, env).count()
    assert landed < total, "the job drained the backlog before it stopped"
    assert f"{landed:,} rows in" in out, out[-2000:]
    progress = [json.loads(line) for line in progress_file.read_text().splitlines()]
    assert sum(p["numInputRows"] for p in progress) == landed
    assert out.count("bronze: batch ") == len(progress) >= 4
    data_files = [f.name for f in bronze_path.rglob("*.parquet") if "_delta_log" not in f.parts]
    assert data_files and all(name.endswith(".zstd.parquet") for name in data_files), data_files
    # The next run reads the refused batch and the rest: each record once.
    ok(bronze(env))
    rows = read_bronze(spark, env)
    assert rows.count() == total
    assert rows.select("topic", "partition", "offset").distinct().count() == total


def test_unreachable_broker_fails_fast_and_clearly(ingest_env) -> None:
    env = {
        **ingest_env,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "LAKEHOUSE_KAFKA_TIMEOUT": "4",
    }
    started = time.monotonic()
    result = bronze(env)
    assert result.returncode == 2
    assert "did not answer within 4s" in result.stderr
    assert time.monotonic() - started < 30


def test_an_unwritable_table_or_checkpoint_path_fails_fast_and_loses_nothing(
    ingest_env, spark, tmp_path
) -> None:
    env = ingest_env
    produced = produce(env, tmp_path, "--orders", "50", "--seed", "43")
    ok(bronze(env))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for setting in ("LAKEHOUSE_BRONZE_CHECKPOINT", "LAKEHOUSE_BRONZE_PATH"):
        result = bronze({**env, setting: str(blocker / "sub")})
        assert result.returncode == 2, result.stdout + result.stderr
        assert setting in result.stderr and "is not a folder" in result.stderr
    assert read_bronze(spark, env).count() == produced["messages"]
    ok(bronze(env))  # the right paths still work, and nothing new is there
    assert read_bronze(spark, env).count() == produced["messages"]


def test_missing_topic_fails_fast_naming_it(ingest_env) -> None:
    env = {**ingest_env, "LAKEHOUSE_TOPICS": "orders,no_such_topic"}
    result = bronze(env)
    assert result.returncode == 2
    suffix = env["LAKEHOUSE_TOPIC_SUFFIX"]
    assert f"no_such_topic{suffix}" in result.stderr and "do not exist" in result.stderr


def test_topics_get_the_configured_replication_or_the_clusters_default(
    ingest_env, tmp_path
) -> None:
    from confluent_kafka.admin import AdminClient

    # Two replicas asked of a one-broker cluster: creating the topic fails, and says why.
    asked = run(
        [sys.executable, "-m", "ingest.produce", "--orders", "5"],
        {**ingest_env, "LAKEHOUSE_TOPIC_REPLICATION": "2"},
    )
    assert asked.returncode != 0
    assert "replication factor of 2" in asked.stdout + asked.stderr, asked.stderr[-2000:]
    # Unset: the broker's default.replication.factor (1 here), whatever it is.
    produce(ingest_env, tmp_path, "--orders", "5", "--seed", "3")
    admin = AdminClient({"bootstrap.servers": ingest_env["KAFKA_BOOTSTRAP_SERVERS"]})
    topic = f"orders{ingest_env['LAKEHOUSE_TOPIC_SUFFIX']}"
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
    assert {len(p.replicas) for p in partitions} == {1}


def test_ingest_runs_beside_a_thrift_server(ingest_env, thrift_env, tmp_path) -> None:
    """The scheduled setup with concurrency: ingest runs while the Thrift server does, and dbt
    (target `thrift`) registers and reads what ingest wrote. Among the events, a transactional
    producer's aborted transaction, which bronze must not take."""
    env = {**ingest_env, "THRIFT_PORT": thrift_env["THRIFT_PORT"]}
    produced = produce(env, tmp_path, "--orders", "50", "--seed", "51")
    aborted = Producer(
        {
            "bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"],
            "transactional.id": f"t-{uuid.uuid4()}",
        }
    )
    aborted.init_transactions(30)
    aborted.begin_transaction()
    for n in range(20):
        aborted.produce(f"orders{env['LAKEHOUSE_TOPIC_SUFFIX']}", value=f'{{"aborted": {n}}}')
    aborted.flush(30)
    aborted.abort_transaction(30)
    ok(bronze(env))
    dbt = [str(VENV_BIN / "dbt"), "--quiet"]
    ok(run([*dbt, "run-operation", "register_bronze", "--target", "thrift"], env))
    shown = ok(
        run(
            [
                *dbt,
                *("show", "--target", "thrift", "--output", "json", "--inline"),
                f"select count(*) as n from {env['LAKEHOUSE_SCHEMA']}_bronze.kafka_events",
            ],
            env,
        )
    )
    assert json.loads(shown[shown.index("{") :])["show"] == [{"n": produced["messages"]}]
