"""`make up` / `make down` on a private stack: idempotent, health-checked, data and schema ids
kept, and a stopped metastore said in one line."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from helpers import PROJECT_DIR, VENV_BIN, bootstrap_of, ok, run, stack_env

from ingest import config as ingest_config
from ingest.kafka_client import ensure_topics, idempotent_producer, publish
from ingest.schema_registry import contract_schemas
from ingest.spark_session import local_spark_conf
from lakehouse import settings
from services import kafka, registry, thrift
from services.process import port_is_open

pytestmark = pytest.mark.faults  # a stack of its own, started and stopped


def make(target: str, env: dict[str, str]):
    return run(["make", "--no-print-directory", target], env)


def pids(state_dir: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in sorted((state_dir / "run").glob("*.pid"))}


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    return values


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    env = stack_env(tmp_path_factory.mktemp("make-stack"))
    yield env
    make("down", env)


def sql(env: dict[str, str], query: str):
    return run(["make", "--no-print-directory", "sql", f"Q={query}"], env)


def thrift_rows(env: dict[str, str], sql: str) -> list[tuple]:
    from pyhive import hive

    with hive.connect("127.0.0.1", int(env["THRIFT_PORT"]), username="test") as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


def registry_holds_the_contract(env: dict[str, str]) -> dict:
    """The schema registry holds the contract's Avro schemas, BACKWARD, refuses a v3 that
    changes a type, and `make status` lists the subjects. What it holds."""
    stack = settings.load(env)
    schemas = registry.subjects(stack)
    assert schemas["compatibility"] == "BACKWARD"
    assert {s: (v["version"], v["rule"]) for s, v in schemas["subjects"].items()} == {
        "orders-value": (2, "BACKWARD"),
        "payments-value": (1, "BACKWARD"),
    }
    v3 = json.loads(contract_schemas(ingest_config.load(env))["orders"][2])
    v3["fields"] = [{**f, "type": "int"} if f["name"] == "status" else f for f in v3["fields"]]
    path = "/subjects/orders-value/versions"
    with pytest.raises(urllib.error.HTTPError) as refused:
        registry.request(stack, "POST", path, {"schema": json.dumps(v3)})
    assert refused.value.code == 409
    assert registry.subjects(stack) == schemas
    status = ok(make("status", env))
    latest = schemas["subjects"]["orders-value"]
    assert f"orders-value{' ' * 16} version 2 (id {latest['id']}), rule BACKWARD" in status, status
    return schemas


def test_up_twice_is_harmless_and_keeps_data_and_tables_across_down_up(env) -> None:
    state_dir = Path(env["LAKEHOUSE_STATE_DIR"])
    out = ok(make("up", env))
    assert "metastore up" in out and "kafka up" in out and "thrift up" in out
    started = pids(state_dir)
    assert set(started) == {"metastore", "kafka", "registry", "thrift"}

    schemas = registry_holds_the_contract(env)

    # The ingest job's topics and their dead-letter topics, ready for a producer.
    admin = AdminClient({"bootstrap.servers": bootstrap_of(env)})
    topics = admin.list_topics(timeout=10).topics
    for topic in ("orders", "payments", "orders.dlq", "payments.dlq"):
        assert len(topics[topic].partitions) == 3, topic

    again = ok(make("up", env))
    for name in started:
        assert f"{name} already running" in again
    assert pids(state_dir) == started

    # A newcomer's `make up`, then `make build` (local dbt processes beside the Thrift server),
    # and `make sql` answering while the build runs, then reading what it built.
    thrift_rows(env, "create table kept_table using delta as select 1 as kept")
    build = subprocess.Popen(
        # Cautious: not the relationship test of silver orders, which this build does not make.
        ["make", "--no-print-directory", "build",
         "ARGS=--select currencies --indirect-selection cautious"],
        env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        during = ok(sql(env, "select kept from kept_table"))
        assert build.poll() is None, "the build ended before the query: not at the same time"
        built, _ = build.communicate(timeout=600)
    finally:
        build.kill()
    assert build.returncode == 0 and "ERROR=0" in built, built
    assert "| 1 " in during, during
    currencies = len((PROJECT_DIR / "seeds" / "currencies.csv").read_text().splitlines()) - 1
    counted = ok(sql(env, "select count(*) from lakehouse_reference.currencies"))
    assert f"| {currencies} " in counted, counted

    bootstrap = bootstrap_of(env)
    topic = f"kept-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], partitions=2)
    sent = [f"event-{i}".encode() for i in range(50)]
    publish(idempotent_producer(bootstrap), topic, ((None, v) for v in sent))

    ok(make("down", env))
    assert pids(state_dir) == {}
    for port in ("KAFKA_PORT", "THRIFT_PORT", "METASTORE_PORT", "REGISTRY_PORT"):
        assert not port_is_open("127.0.0.1", int(env[port])), port

    # With the metastore down, dbt and the SQL shell stop at once, in one line that names it
    # and how to start it (not Hive's retries: tens of thousands of lines over 45 s).
    said = f"no metastore answers at 127.0.0.1:{env['METASTORE_PORT']}: start it with `make up`"
    dbt_show = [str(VENV_BIN / "dbt"), "--quiet", "show", "--target", "local"]
    refused = run([*dbt_show, "--inline", "select kept from kept_table"], env)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and output.count(said) == 1, output
    assert "\tat " not in output and len(output.splitlines()) < 30, output
    shell = run([str(VENV_BIN / "python"), "-m", "services.sql", "select 1"], env)
    assert shell.returncode != 0 and said in shell.stderr, shell  # `make sql` starts it first

    ok(make("up", env))
    # The same versions and ids after the restart: bronze rows refer to those ids forever.
    assert registry.subjects(settings.load(env)) == schemas
    assert sorted(consume_all(bootstrap, topic, expected=len(sent))) == sorted(sent)
    assert thrift_rows(env, "select kept from kept_table") == [(1,)]


def test_up_fails_fast_naming_a_taken_port(tmp_path) -> None:
    """The default Kafka port, 9092, held by another process (ours, or whatever holds it now)."""
    env = {**stack_env(tmp_path / "state"), "KAFKA_PORT": "9092"}
    with socket.socket() as squatter:
        if not port_is_open("127.0.0.1", 9092):
            squatter.bind(("127.0.0.1", 9092))
            squatter.listen()
        started = time.monotonic()
        result = make("up", env)
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "port 9092" in result.stderr
    assert elapsed < 60, "a taken port must be reported at once, not after a start-up timeout"
    assert pids(tmp_path / "state") == {}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KAFKA_NODES": "3", "KAFKA_CONTROLLER_PORT": "9094"}, "9094, 9094"),
        ({"KAFKA_NODES": "2", "KAFKA_PORT": "65535"}, "65537"),
        ({"KAFKA_NODES": "0"}, "1 to 5"),
    ],
)
def test_kafka_nodes_whose_ports_clash_or_overflow_are_refused(env, named) -> None:
    with pytest.raises(SystemExit, match=named):
        settings.load(env)
    assert settings.load({"KAFKA_NODES": "3"}).kafka_bootstrap.count(",") == 2


@pytest.mark.unit
def test_kafka_down_gives_up_on_nodes_left_without_a_controller_quorum() -> None:
    """A broker's controlled shutdown needs a majority of the controllers: `make down` kills
    the nodes left without one after a short grace, not after the stop timeout's minute."""
    running = {1: True, 2: True, 3: True}

    class Node:
        def __init__(self, number: int) -> None:
            self.number = number

        def running_pid(self) -> int | None:
            return self.number if running[self.number] else None

    quorum_lost = kafka._quorum_lost_for([Node(n) for n in running], grace_s=0.3)
    assert not quorum_lost()
    running[1] = False
    assert not quorum_lost(), "two of three nodes are a majority"
    running[2] = False
    assert not quorum_lost(), "the grace has just begun"
    time.sleep(0.4)
    assert quorum_lost()
    # One node is its own majority: it always shuts down cleanly.
    running[1] = True
    assert not kafka._quorum_lost_for([Node(1)], grace_s=0)()


@pytest.mark.unit
def test_the_thrift_server_picks_its_collector_unless_the_spark_flags_did(tmp_path) -> None:
    """The server's own flags (THRIFT_JAVA_OPTIONS) follow the profile's driver flags; a
    collector that LAKEHOUSE_SPARK_JAVA_OPTIONS chooses (the tests' short-lived JVMs) stands:
    a JVM given two does not start."""

    def driver_flags(**env: str) -> list[str]:
        env = {"LAKEHOUSE_STATE_DIR": str(tmp_path), **env}
        argv = thrift.command(settings.load(env), local_spark_conf(env))
        key = "spark.driver.extraJavaOptions="
        [options] = [a.removeprefix(key) for a in argv if a.startswith(key)]
        return options.split()

    default = driver_flags()
    assert default[-1] == "-XX:+UseParallelGC"
    assert any(flag.startswith("-XX:SharedArchiveFile=") for flag in default)
    serial = driver_flags(LAKEHOUSE_SPARK_JAVA_OPTIONS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    assert [f for f in serial if f.endswith("GC")] == ["-XX:+UseSerialGC"]
    assert "-XX:TieredStopAtLevel=1" in serial
    own = driver_flags(THRIFT_JAVA_OPTIONS="-XX:+UseG1GC -Xss4m")
    assert own[-2:] == ["-XX:+UseG1GC", "-Xss4m"] and "-XX:+UseParallelGC" not in own
