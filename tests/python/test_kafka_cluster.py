"""A three-node Kafka cluster (KAFKA_NODES=3) on this machine, as `make up` starts it: each node
broker and controller, topics with 3 replicas and `min.insync.replicas=2`; and a leader that
dies while the producer publishes and the ingest job runs, then comes back.

The cluster is this module's own (its own state folder and ports), started once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from helpers import PROJECT_DIR, ok, run, services, stack_env

from lakehouse import settings as stack_settings
from services import kafka

pytestmark = pytest.mark.faults

NODES = 3
TOPICS = ("orders", "payments")


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive ports on 127.0.0.1 that nothing listens on."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        held = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    pytest.fail(f"no {count} consecutive free ports")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("cluster")
    first = consecutive_free_ports(2 * NODES)
    env = {
        **stack_env(state),
        "KAFKA_NODES": str(NODES),
        "KAFKA_PORT": str(first),
        "KAFKA_CONTROLLER_PORT": str(first + 1),
        "KAFKA_HEAP": "256m",
        "LAKEHOUSE_TOPIC_SUFFIX": ".cluster",
        "LAKEHOUSE_SCHEMA": "cluster",
        "LAKEHOUSE_BRONZE_PATH": str(state / "bronze"),
        "LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER": "5000",
    }
    # Clients find the cluster through every node (the settings' default).
    del env["KAFKA_BOOTSTRAP_SERVERS"]
    try:
        ok(services(env, "up", "kafka"))
        yield env
    finally:
        services(env, "down", "kafka")


def topic_names(env: dict[str, str]) -> list[str]:
    suffix = env["LAKEHOUSE_TOPIC_SUFFIX"]
    return [f"{name}{suffix}" for name in TOPICS] + [f"{name}{suffix}.dlq" for name in TOPICS]


def partitions(env: dict[str, str]) -> dict[tuple[str, int], tuple[int, list[int]]]:
    """(topic, partition) -> (leader, in-sync replicas) of the project's topics."""
    admin = AdminClient({"bootstrap.servers": stack_settings.load(env).kafka_bootstrap})
    topics = admin.list_topics(timeout=10).topics
    return {
        (topic, number): (about.leader, sorted(about.isrs))
        for topic in topic_names(env)
        for number, about in topics[topic].partitions.items()
    }


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"not within {timeout:.0f}s: {what}")


def test_up_starts_three_nodes_and_the_topics_get_three_replicas(cluster) -> None:
    report = ok(run([sys.executable, "-m", "services.status"], cluster, timeout=120))
    ports = [stack_settings.load(cluster).kafka_node_ports(n)[0] for n in range(1, NODES + 1)]
    brokers = ", ".join(f"{n} at 127.0.0.1:{port}" for n, port in enumerate(ports, start=1))
    assert f"brokers: {brokers}" in report, report
    for name in ("kafka", "kafka-2", "kafka-3"):
        assert f"{name}: running" in report, report
    assert {len(isr) for _, isr in partitions(cluster).values()} == {NODES}
    admin = AdminClient({"bootstrap.servers": stack_settings.load(cluster).kafka_bootstrap})
    resources = [ConfigResource("topic", topic) for topic in topic_names(cluster)]
    for future in admin.describe_configs(resources).values():
        assert future.result(timeout=10)["min.insync.replicas"].value == "2"
    # `make status`'s rows: a leader and three replicas in sync per partition.
    assert " 1,2,3" in report, report
    # The cluster's state cannot be started as another number of nodes.
    refused = services({**cluster, "KAFKA_NODES": "1"}, "up", "kafka")
    assert refused.returncode != 0
    assert "is a cluster of 3 node(s), not KAFKA_NODES=1" in refused.stderr, refused.stderr


def commits(table: Path) -> int:
    """Delta commits of the table (the first creates it; each micro-batch adds one)."""
    return len(list((table / "_delta_log").glob("*.json")))


def produce_until(stop: threading.Event, env: dict[str, str], folder: Path, done: list) -> None:
    """The producer publishing all along: runs of the producer CLI (200 orders each, acks=all,
    idempotent), one after another, until `stop` is set."""
    while not stop.is_set():
        chunk = len(done)
        manifest = folder / f"manifest-{chunk}.json"
        argv = [sys.executable, "-m", "ingest.produce", "--orders", "200", "--seed",
                str(100 + chunk), "--manifest", str(manifest)]  # fmt: skip
        result = run(argv, env, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        done.append(json.loads(manifest.read_text()))


def test_a_leader_killed_while_producing_and_ingesting_loses_and_doubles_nothing(
    cluster, spark, tmp_path
) -> None:
    env = cluster
    table = Path(env["LAKEHOUSE_BRONZE_PATH"])
    manifests: list[dict] = []
    stop = threading.Event()
    producer = threading.Thread(target=produce_until, args=(stop, env, tmp_path, manifests))
    producer.start()
    log = (tmp_path / "ingest.log").open("w")
    job = subprocess.Popen(
        [sys.executable, "-m", "ingest.bronze", "--continuous", "--trigger-interval", "1 second"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Both at work: a chunk published and a batch in bronze.
        wait_for(lambda: manifests and commits(table) >= 2,
                 "a chunk published and a batch in bronze", 300)  # fmt: skip
        assert job.poll() is None and producer.is_alive()
        # The orders partition that node 1 leads, if one: the node whose ports are the
        # settings' own, the hardest to bring back beside running ones.
        led = {key: leader for key, (leader, _) in partitions(env).items()}
        orders = [key for key in sorted(led) if key[0] == topic_names(env)[0]]
        busy = next((key for key in orders if led[key] == 1), orders[0])
        leader = led[busy]
        node = kafka.node_service(stack_settings.load(env), leader)
        os.killpg(node.running_pid(), signal.SIGKILL)
        wait_for(lambda: partitions(env)[busy][0] not in (leader, -1), "a new leader", 120)
        # Both go on with a node down: two more chunks published, two more batches landed.
        chunks, batches = len(manifests) + 2, commits(table) + 2
        wait_for(lambda: len(manifests) >= chunks and commits(table) >= batches,
                 "two chunks and two batches on two nodes", 300)  # fmt: skip
        assert job.poll() is None, "the ingest job must ride out the failover"
        ok(services(env, "up", "kafka"))  # starts the stopped node only
        wait_for(lambda: {len(isr) for _, isr in partitions(env).values()} == {NODES},
                 "every replica back in sync", 180)  # fmt: skip
        chunks, batches = len(manifests) + 1, commits(table) + 1
        wait_for(lambda: len(manifests) >= chunks and commits(table) >= batches,
                 "a chunk and a batch on three nodes again", 300)  # fmt: skip
        assert job.poll() is None, "the ingest job must ride out the failover"
    finally:
        stop.set()
        producer.join(600)
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)  # the job's own stop: it ends after its batch
            job.wait(300)
    ok(run([sys.executable, "-m", "ingest.bronze"], env, timeout=600))  # drain what is left

    published = sum(m["messages"] for m in manifests)
    rows = spark.read.format("delta").load(str(table))
    assert rows.count() == published
    assert rows.select("topic", "partition", "offset").distinct().count() == published
