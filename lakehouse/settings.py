"""Where the local stack keeps its state and which addresses it binds, from env vars.

Every value has a default that works from a fresh clone; docs/configuration.md
lists them. Paths are absolute so that processes started elsewhere (Cosmos runs dbt in a
temporary copy of the project) still find the same warehouse, metastore and jars.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Where every service binds and is reached unless its *_HOST setting says otherwise.
LOOPBACK = "127.0.0.1"


def _variables(env_file: Path) -> dict[str, str]:
    """The `NAME=value` lines of a file the Makefile and shell scripts read too (so: no
    spaces, quotes or `export`; `#` starts a comment line)."""
    variables = {}
    for number, line in enumerate(env_file.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.isidentifier() or " " in value:
            raise SystemExit(f"{env_file}:{number}: expected NAME=value, got {line!r}")
        variables[name] = value
    return variables


# No telemetry or version pings (why: the file).
TELEMETRY_OFF = _variables(Path(__file__).with_name("telemetry.env"))


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    jars_dir: Path
    kafka_host: str
    kafka_port: int
    kafka_controller_port: int
    thrift_host: str
    thrift_port: int
    thrift_driver_memory: str
    kafka_heap: str
    start_timeout_s: float
    airflow_host: str = LOOPBACK
    airflow_port: int = 8080
    spark_master_host: str = LOOPBACK
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8088
    spark_worker_memory: str = "2g"
    metastore_host: str = LOOPBACK
    metastore_port: int = 1527
    registry_host: str = LOOPBACK
    registry_port: int = 8085
    kafka_nodes: int = 1
    # The Thrift server's own JVM flags: a long-running server on few cores spends less CPU
    # in the parallel collector than in G1 (docs/benchmarks.md#what-sets-latency).
    thrift_java_options: str = "-XX:+UseParallelGC"

    def kafka_node_ports(self, node: int) -> tuple[int, int]:
        """Node `node`'s (broker, controller) ports, nodes numbered from 1: the first node's are
        KAFKA_PORT and KAFKA_CONTROLLER_PORT, each next node's two higher."""
        return self.kafka_port + 2 * (node - 1), self.kafka_controller_port + 2 * (node - 1)

    def kafka_node_dir(self, node: int) -> Path:
        """Node `node`'s folder (config, log dirs): the first node's is the single node's."""
        return self.kafka_dir if node == 1 else self.state_dir / f"kafka-{node}"

    @property
    def kafka_bootstrap(self) -> str:
        """Every node's broker listener: a client that finds one node down tries the next."""
        return ",".join(
            f"{self.kafka_host}:{self.kafka_node_ports(node)[0]}"
            for node in range(1, self.kafka_nodes + 1)
        )

    def child_env(self) -> dict[str, str]:
        """The env vars a child process (dbt, Spark, a service, a DAG task) needs to agree with
        these settings: the absolute paths, the metastore's address, no telemetry."""
        return {
            "LAKEHOUSE_STATE_DIR": str(self.state_dir),
            "LAKEHOUSE_JARS_DIR": str(self.jars_dir),
            "METASTORE_HOST": self.metastore_host,
            "METASTORE_PORT": str(self.metastore_port),
            **TELEMETRY_OFF,
        }

    @property
    def metastore_address(self) -> str:
        return f"{self.metastore_host}:{self.metastore_port}"

    @property
    def registry_url(self) -> str:
        """The schema registry's Confluent-compatible API (services/registry.py)."""
        return f"http://{self.registry_host}:{self.registry_port}/apis/ccompat/v7"

    @property
    def spark_master_url(self) -> str:
        """The standalone cluster's master (services/cluster.py)."""
        return f"spark://{self.spark_master_host}:{self.spark_master_port}"

    @property
    def spark_master_ui_url(self) -> str:
        return f"http://{self.spark_master_host}:{self.spark_master_ui_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    @property
    def run_dir(self) -> Path:
        """PID files."""
        return self.state_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def tmp_dir(self) -> Path:
        """JVM and Hive scratch space: kept out of /tmp so that it is cleaned with the state."""
        return self.state_dir / "tmp"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SystemExit(f"{name}={port} is out of the port range 1-65535")
    return port


def _kafka_nodes(env: Mapping[str, str]) -> int:
    raw = env.get("KAFKA_NODES", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 5:
        raise SystemExit(f"KAFKA_NODES={raw!r}: expected a number of Kafka nodes, 1 to 5")
    return int(raw)


def _checked_kafka_ports(settings: Settings) -> Settings:
    """Every node's two ports apart and in range: node n's are the first node's plus 2(n-1)."""
    ports = [p for n in range(1, settings.kafka_nodes + 1) for p in settings.kafka_node_ports(n)]
    if len(set(ports)) < len(ports) or max(ports) > 65535:
        raise SystemExit(
            f"KAFKA_PORT={settings.kafka_port}, KAFKA_CONTROLLER_PORT="
            f"{settings.kafka_controller_port} and KAFKA_NODES={settings.kafka_nodes}: the nodes' "
            f"ports ({', '.join(map(str, ports))}) must differ and stay below 65536; node n "
            "takes both ports plus 2(n-1), so give the controller an odd offset from the broker"
        )
    return settings


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    return _checked_kafka_ports(
        Settings(
            state_dir=Path(env.get("LAKEHOUSE_STATE_DIR", PROJECT_DIR / ".state")).resolve(),
            jars_dir=Path(env.get("LAKEHOUSE_JARS_DIR", PROJECT_DIR / ".cache" / "jars")).resolve(),
            kafka_host=env.get("KAFKA_HOST", LOOPBACK),
            kafka_port=_port(env, "KAFKA_PORT", 9092),
            kafka_controller_port=_port(env, "KAFKA_CONTROLLER_PORT", 9093),
            thrift_host=env.get("THRIFT_HOST", LOOPBACK),
            thrift_port=_port(env, "THRIFT_PORT", 10000),
            thrift_driver_memory=env.get("THRIFT_DRIVER_MEMORY", "2g"),
            thrift_java_options=env.get("THRIFT_JAVA_OPTIONS", Settings.thrift_java_options),
            kafka_heap=env.get("KAFKA_HEAP", "512m"),
            start_timeout_s=float(env.get("LAKEHOUSE_START_TIMEOUT", "120")),
            airflow_host=env.get("AIRFLOW_HOST", LOOPBACK),
            airflow_port=_port(env, "AIRFLOW_PORT", 8080),
            spark_master_host=env.get("SPARK_MASTER_HOST", LOOPBACK),
            spark_master_port=_port(env, "SPARK_MASTER_PORT", 7077),
            spark_master_ui_port=_port(env, "SPARK_MASTER_UI_PORT", 8088),
            spark_worker_memory=env.get("SPARK_WORKER_MEMORY", "2g"),
            metastore_host=env.get("METASTORE_HOST", LOOPBACK),
            metastore_port=_port(env, "METASTORE_PORT", 1527),
            registry_host=env.get("REGISTRY_HOST", LOOPBACK),
            registry_port=_port(env, "REGISTRY_PORT", 8085),
            kafka_nodes=_kafka_nodes(env),
        )
    )
