"""A genuine single-node Apache Kafka broker in KRaft mode (combined broker and controller).

The broker runs from the jars `make setup` copied into .cache/jars/kafka (jvm/kafka/pom.xml).
Its log dir is formatted once and kept under the state folder, so topics and data survive
`make down` / `make up`. It binds 127.0.0.1 only. Each start creates the ingest job's topics and
their `.dlq` topics that do not exist yet (LAKEHOUSE_TOPICS, _SUFFIX, _PARTITIONS,
_REPLICATION); the broker creates none on its own (auto.create.topics.enable=false), so a
typo never makes one.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
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


def service(settings: Settings) -> Service:
    return Service.in_stack(settings, "kafka", f"{settings.kafka_dir / 'server.properties'}")


def ports(settings: Settings) -> list[PortClaim]:
    return [
        (settings.kafka_host, settings.kafka_port, "kafka", "KAFKA_PORT"),
        (settings.kafka_host, settings.kafka_controller_port, "kafka", "KAFKA_CONTROLLER_PORT"),
    ]


def server_properties(settings: Settings) -> str:
    host, port, cport = settings.kafka_host, settings.kafka_port, settings.kafka_controller_port
    return f"""\
# Written by services/kafka.py at each start from the KAFKA_* env vars; edit those, not this.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{cport}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={settings.kafka_dir / "data"}
num.partitions=3
# Topics are created on purpose (with their partition counts), never by a typo in a consumer.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
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


def _jvm_args(settings: Settings) -> list[str]:
    return [
        _java(),
        f"-Xms{settings.kafka_heap}",
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Djava.io.tmpdir={settings.tmp_dir}",
        f"-Dlog4j2.configurationFile={settings.kafka_dir / 'log4j2.properties'}",
        "-cp",
        _classpath(settings),
    ]


def _new_cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 without padding, never starting with "-".
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _format_once(settings: Settings, properties: Path) -> None:
    if (settings.kafka_dir / "data" / "meta.properties").exists():
        return
    result = subprocess.run(
        [
            *_jvm_args(settings),
            STORAGE_TOOL,
            "format",
            "-t",
            _new_cluster_id(),
            "-c",
            str(properties),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"formatting the Kafka log dir failed:\n{result.stdout}{result.stderr}")


def _broker_answers(settings: Settings) -> bool:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    return True


def up(settings: Settings) -> str:
    svc = service(settings)
    pid = svc.running_pid()
    if pid is not None:
        return f"kafka already running (pid {pid}) on {settings.kafka_bootstrap}"
    require_free_ports(ports(settings))
    for folder in (settings.kafka_dir, settings.tmp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    properties = settings.kafka_dir / "server.properties"
    properties.write_text(server_properties(settings))
    (settings.kafka_dir / "log4j2.properties").write_text(LOG4J2)
    _format_once(settings, properties)
    pid = svc.start(
        [*_jvm_args(settings), MAIN_CLASS, str(properties)], os.environ, settings.kafka_dir
    )
    wait_until_healthy(svc, pid, lambda: _broker_answers(settings), settings.start_timeout_s)
    created = create_configured_topics(settings)
    topics = f", created topics {', '.join(created)}" if created else ""
    return f"kafka up (pid {pid}) on {settings.kafka_bootstrap}{topics}, log {svc.log_file}"


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


def down(settings: Settings) -> str:
    return "kafka stopped" if service(settings).stop() else "kafka was not running"
