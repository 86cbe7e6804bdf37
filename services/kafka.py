"""A genuine Apache Kafka in KRaft mode: one node by default, or a cluster of KAFKA_NODES.

Each node is broker and controller at once, a JVM of its own, run from the jars `make setup`
copied into .cache/jars/kafka (jvm/kafka/pom.xml), with its own ports (the first node's are
KAFKA_PORT and KAFKA_CONTROLLER_PORT, each next node's two higher) and its own folder under the
state folder (`kafka`, `kafka-2`, ...). Log dirs are formatted once and kept, so topics and
data survive `make down` / `make up`. Nodes bind 127.0.0.1 only. On three nodes or more,
topics get 3 replicas and `min.insync.replicas=2` by default, Kafka's internal topics too.
Each start creates the ingest job's topics and their `.dlq` topics that do not exist yet
(LAKEHOUSE_TOPICS, _SUFFIX, _PARTITIONS, _REPLICATION); the brokers create none on their own
(auto.create.topics.enable=false), so a typo never makes one.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lakehouse.settings import Settings
from services.process import (
    PortClaim,
    Service,
    ServiceError,
    require_free_ports,
    wait_until_healthy,
)

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
"""


def node_service(settings: Settings, node: int) -> Service:
    """Node `node` (numbered from 1): `kafka`, `kafka-2`, ..."""
    name = "kafka" if node == 1 else f"kafka-{node}"
    properties = settings.kafka_node_dir(node) / "server.properties"
    return Service.in_stack(settings, name, str(properties))


def node_services(settings: Settings) -> list[Service]:
    """Every node's service: the configured ones, and those of a larger cluster the state
    was made for, so that `down` and `status` see them all."""
    nodes = max(settings.kafka_nodes, _formatted_nodes(settings) or 1)
    return [node_service(settings, node) for node in range(1, nodes + 1)]


def service(settings: Settings) -> Service:
    """The first node, the one every cluster has."""
    return node_service(settings, 1)


def _node_ports(settings: Settings, node: int) -> list[PortClaim]:
    offset = "" if node == 1 else f" (plus {2 * (node - 1)} for node {node})"
    port, controller_port = settings.kafka_node_ports(node)
    name = node_service(settings, node).name
    return [
        (settings.kafka_host, port, name, f"KAFKA_PORT{offset}"),
        (settings.kafka_host, controller_port, name, f"KAFKA_CONTROLLER_PORT{offset}"),
    ]


def ports(settings: Settings) -> list[PortClaim]:
    """The ports of the nodes that are not running: those `up` would bind (the running ones
    hold theirs)."""
    return [
        claim
        for node in range(1, settings.kafka_nodes + 1)
        if node_service(settings, node).running_pid() is None
        for claim in _node_ports(settings, node)
    ]


def server_properties(settings: Settings, node: int = 1) -> str:
    host, nodes = settings.kafka_host, settings.kafka_nodes
    port, cport = settings.kafka_node_ports(node)
    voters = ",".join(f"{n}@{host}:{settings.kafka_node_ports(n)[1]}" for n in range(1, nodes + 1))
    replicas, min_isr = min(nodes, 3), min(nodes, 2)
    return f"""\
# Written by services/kafka.py at each start from the KAFKA_* env vars; edit those, not this.
process.roles=broker,controller
node.id={node}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={settings.kafka_node_dir(node) / "data"}
num.partitions=3
# Topics are created on purpose (with their partition counts), never by a typo in a consumer.
auto.create.topics.enable=false
# A write with acks=all is acknowledged once {min_isr} of its {replicas} replicas have it.
default.replication.factor={replicas}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replicas}
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
"""


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    return str(Path(java_home) / "bin" / "java") if java_home else "java"


def _classpath(settings: Settings) -> str:
    jars = settings.jars_dir / "kafka"
    if not any(jars.glob("kafka_2.13-*.jar")):
        raise ServiceError(f"no Kafka jars in {jars}: run `make setup` first")
    return f"{jars}/*"


def _jvm_args(settings: Settings, node: int) -> list[str]:
    return [
        _java(),
        f"-Xms{settings.kafka_heap}",
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Djava.io.tmpdir={settings.tmp_dir}",
        f"-Dlog4j2.configurationFile={settings.kafka_node_dir(node) / 'log4j2.properties'}",
        "-cp",
        _classpath(settings),
    ]


def _new_cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 without padding, never starting with "-".
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _meta(settings: Settings, node: int) -> Path:
    return settings.kafka_node_dir(node) / "data" / "meta.properties"


def _formatted_nodes(settings: Settings) -> int | None:
    """How many nodes the state's cluster was made for (none before the first start). A state
    of an older release, which wrote no record of it, is a single node."""
    if not _meta(settings, 1).exists():
        return None
    try:
        return int((settings.kafka_dir / "nodes").read_text())
    except (FileNotFoundError, ValueError):
        return 1


def _check_nodes(settings: Settings) -> None:
    """A state made for one number of nodes cannot serve another: its quorum and its topics'
    replicas are those of the cluster it was made for."""
    formatted = _formatted_nodes(settings)
    if formatted is not None and formatted != settings.kafka_nodes:
        raise ServiceError(
            f"the Kafka state in {settings.state_dir} is a cluster of {formatted} node(s), not "
            f"KAFKA_NODES={settings.kafka_nodes}: set KAFKA_NODES={formatted}, or give "
            "LAKEHOUSE_STATE_DIR a new folder"
        )


def _cluster_id(settings: Settings) -> str:
    """The id the first node was formatted with, which every node shares; or a new one."""
    if _meta(settings, 1).exists():
        for line in _meta(settings, 1).read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
    return _new_cluster_id()


def _format_once(settings: Settings, node: int, cluster_id: str) -> None:
    if _meta(settings, node).exists():
        return
    properties = settings.kafka_node_dir(node) / "server.properties"
    result = subprocess.run(
        [*_jvm_args(settings, node), STORAGE_TOOL, "format", "-t", cluster_id, "-c", properties],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"formatting node {node}'s Kafka log dir failed:\n{result.stdout}{result.stderr}"
        )


def _brokers_answering(bootstrap: str) -> int:
    """How many brokers the cluster's metadata lists, asked through `bootstrap`; 0 when none
    answers."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return len(admin.list_topics(timeout=2).brokers)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return 0


def up(settings: Settings) -> str:
    _check_nodes(settings)
    nodes = range(1, settings.kafka_nodes + 1)
    stopped = [node for node in nodes if node_service(settings, node).running_pid() is None]
    if not stopped:
        pids = ", ".join(str(node_service(settings, node).running_pid()) for node in nodes)
        return f"kafka already running (pid {pids}) on {settings.kafka_bootstrap}"
    require_free_ports(ports(settings))
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    cluster_id = _cluster_id(settings)
    # Before any node is formatted: a start that fails half way is still the cluster it was.
    settings.kafka_dir.mkdir(parents=True, exist_ok=True)
    (settings.kafka_dir / "nodes").write_text(f"{settings.kafka_nodes}\n")
    for node in stopped:
        folder = settings.kafka_node_dir(node)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "server.properties").write_text(server_properties(settings, node))
        (folder / "log4j2.properties").write_text(LOG4J2)
        _format_once(settings, node, cluster_id)
    # All before any wait: a node of a cluster serves only once a majority of its
    # controllers runs.
    pids = {}
    for node in stopped:
        properties = settings.kafka_node_dir(node) / "server.properties"
        argv = [*_jvm_args(settings, node), MAIN_CLASS, str(properties)]
        pids[node] = node_service(settings, node).start(
            argv, os.environ, settings.kafka_node_dir(node)
        )
    for node, pid in pids.items():
        port = settings.kafka_node_ports(node)[0]
        wait_until_healthy(
            node_service(settings, node),
            pid,
            lambda port=port: _brokers_answering(f"{settings.kafka_host}:{port}") > 0,
            settings.start_timeout_s,
        )
    # Topics get all their replicas only once every broker has registered.
    first = stopped[0]
    wait_until_healthy(
        node_service(settings, first),
        pids[first],
        lambda: _brokers_answering(settings.kafka_bootstrap) >= settings.kafka_nodes,
        settings.start_timeout_s,
    )
    created = create_configured_topics(settings)
    topics = f", created topics {', '.join(created)}" if created else ""
    logs = ", ".join(str(node_service(settings, node).log_file) for node in stopped)
    started = ", ".join(str(pid) for pid in pids.values())
    return f"kafka up (pid {started}) on {settings.kafka_bootstrap}{topics}, log {logs}"


def create_configured_topics(settings: Settings) -> list[str]:
    """The ingest job's topics and their dead-letter topics, as configured (names, partitions,
    replication), so that a producer can publish at once; the broker itself creates none."""
    from ingest import config as ingest_config
    from ingest.kafka_client import KafkaUnavailableError, ensure_topics

    try:
        conf = ingest_config.load()
    except ingest_config.ConfigError as exc:
        raise ServiceError(f"kafka is up, but the ingest settings are wrong: {exc}") from None
    if conf.topic_pattern:  # no names to create: the producers' topics match the pattern
        return []
    names = conf.topic_names
    if conf.dead_letter:
        names = names + [conf.dead_letter_topic(topic) for topic in names]
    try:
        return ensure_topics(
            settings.kafka_bootstrap,
            names,
            partitions=conf.partitions,
            replication=conf.replication,
            timeout_s=conf.kafka_timeout_s,
        )
    except KafkaUnavailableError as exc:
        raise ServiceError(str(exc)) from None


QUORUM_LOST_GRACE_S = 5.0


def _quorum_lost_for(services: list[Service], grace_s: float) -> Callable[[], bool]:
    """A check that turns true `grace_s` after fewer than a majority of `services` are left
    running: then no controller quorum is left for a broker's controlled shutdown."""
    majority = len(services) // 2 + 1
    lock = threading.Lock()
    lost_since: list[float] = []

    def quorum_lost() -> bool:
        with lock:
            if sum(svc.running_pid() is not None for svc in services) >= majority:
                return False
            if not lost_since:
                lost_since.append(time.monotonic())
            return time.monotonic() - lost_since[0] > grace_s

    return quorum_lost


def down(settings: Settings) -> str:
    # All nodes at once. Each node is broker and controller, and a broker's controlled shutdown
    # needs a majority of the controllers: once most nodes have exited, the others cannot
    # finish theirs and would wait out the stop timeout (a minute). After a short grace they
    # are killed: what they wrote is in the page cache, and their next start recovers the logs.
    services = node_services(settings)
    quorum_lost = _quorum_lost_for(services, grace_s=QUORUM_LOST_GRACE_S)
    with ThreadPoolExecutor(len(services)) as pool:
        done = pool.map(lambda svc: svc.stop(give_up=quorum_lost), services)
        stopped = [svc.name for svc, was_running in zip(services, done, strict=True) if was_running]
    return f"{', '.join(stopped)} stopped" if stopped else "kafka was not running"
