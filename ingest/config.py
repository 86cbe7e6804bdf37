"""Configuration of the producer and the bronze ingest job: the one place it is defined.

Precedence, lowest first: the defaults below (they point at the local stack), a YAML file
(`--config` or LAKEHOUSE_INGEST_CONFIG; keys are the field names), env vars, command-line flags.
docs/configuration.md ("Ingest job") lists every setting.

The schema registry client's settings (basic auth, a bearer token, a TLS CA) come from env vars
LAKEHOUSE_SCHEMA_REGISTRY_OPTION_<NAME> only (`BASIC_AUTH_USER_INFO` -> `basic.auth.user.info`).

Kafka client settings for a real cluster (SASL_SSL, TLS) use the Java client's names, in the
YAML map `kafka_options` or as env vars LAKEHOUSE_KAFKA_OPTION_<NAME> (`SECURITY_PROTOCOL` ->
`security.protocol`). Spark's Kafka source and sink get them as `kafka.<name>`. The
confluent-kafka clients (producer, pre-flight checks) get the ones librdkafka shares, with the
user name and password taken out of `sasl.jaas.config`; librdkafka-only settings come from
LAKEHOUSE_KAFKA_CLIENT_<NAME> (e.g. `..._SSL_CA_LOCATION` for a PEM CA file). Secrets belong in
the environment or a secret store, never in a committed YAML file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lakehouse import settings as stack_settings

OPTION_PREFIX = "LAKEHOUSE_KAFKA_OPTION_"
CLIENT_PREFIX = "LAKEHOUSE_KAFKA_CLIENT_"
# Settings of Confluent's schema registry client (auth, TLS): environment only, never a file.
REGISTRY_OPTION_PREFIX = "LAKEHOUSE_SCHEMA_REGISTRY_OPTION_"
# Java client settings that librdkafka understands under the same name.
_SHARED_WITH_LIBRDKAFKA = frozenset(
    {
        "security.protocol",
        "sasl.mechanism",
        "ssl.endpoint.identification.algorithm",
        "client.id",
        "request.timeout.ms",
    }
)
# Parquet codecs Spark writes with the jars it ships (lzo and brotli need native libraries).
PARQUET_CODECS = ("snappy", "zstd", "lz4_raw", "gzip", "uncompressed")
# What a topic's messages are: JSON, Avro in Confluent's wire format (the schema registry), or
# either, told apart by the first byte (`auto`: a JSON text never starts with a zero byte).
WIRE_FORMATS = ("json", "avro", "auto")
_JAAS_FIELD = re.compile(r'(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"')


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class IngestConfig:
    bootstrap_servers: str
    # Contract names (orders, payments): topic = name + topic_suffix.
    topics: tuple[str, ...] = ("orders", "payments")
    topic_suffix: str = ""
    # A regex (Spark's subscribePattern) instead of the topic list; contracts by name still apply.
    topic_pattern: str | None = None
    partitions: int = 3
    # Replicas of the topics the project creates (the .dlq ones too). None: the cluster's
    # default.replication.factor, never fewer than a cluster that enforces more expects.
    replication: int | None = None
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = 500_000
    # Spark tasks per micro-batch: big Kafka partitions are split into offset ranges so that
    # every core stays busy (docs/configuration.md). None: one task per partition.
    min_partitions: int | None = None
    trigger_interval: str = "10 seconds"
    bronze_path: str = ""
    checkpoint_path: str = ""
    # The Parquet codec of bronze's files (Delta's `compression` write option).
    bronze_compression: str = "snappy"
    dead_letter: bool = True
    dead_letter_suffix: str = ".dlq"
    # The event log: a row per micro-batch in a Delta table (ingest/bronze/event_log.py).
    event_log: bool = True
    ingest_log_path: str = ""
    # The record of erased customers the job consults each batch (ingest/bronze/erasures.py),
    # and the salt of their ids' hashes (dbt's hash_email salt; its default is for development).
    erasures_path: str = ""
    email_salt: str = "lakehouse-dev-salt"
    kafka_timeout_s: float = 30.0
    # Records bronze may be behind the broker before the lag line calls a run catching up.
    max_lag: int = 500_000
    # The schema registry's Confluent-compatible API (default: the local stack's).
    schema_registry_url: str = ""
    # Per contract, the wire format of its topic: "orders=avro"; unnamed contracts are json.
    formats: tuple[str, ...] = ()
    kafka_options: Mapping[str, str] = field(default_factory=dict)
    client_options: Mapping[str, str] = field(default_factory=dict)
    # e.g. basic.auth.user.info, bearer.auth.token, ssl.ca.location (REGISTRY_OPTION_PREFIX).
    registry_options: Mapping[str, str] = field(default_factory=dict)

    def registry_conf(self) -> dict[str, str]:
        """Settings for Confluent's SchemaRegistryClient: the URL, auth and TLS."""
        return {"url": self.schema_registry_url, **self.registry_options}

    def format_of(self, contract: str) -> str:
        """The wire format of a contract's topic: json (the default), avro or auto."""
        return dict(pair.split("=", 1) for pair in self.formats).get(contract, "json")

    def topic_format(self, topic: str) -> str:
        """The wire format of a topic: its contract's, json for a topic of none."""
        return self.format_of(self.contract_of(topic) or "")

    @property
    def topic_names(self) -> list[str]:
        return [f"{name}{self.topic_suffix}" for name in self.topics]

    def contract_of(self, topic: str) -> str | None:
        """The contract name of a topic (its name less the suffix), if there is one."""
        if not topic.endswith(self.topic_suffix):
            return None
        return topic[: len(topic) - len(self.topic_suffix)]

    def dead_letter_topic(self, topic: str) -> str:
        return f"{topic}{self.dead_letter_suffix}"

    def subscribe_pattern(self) -> str | None:
        """`topic_pattern` less the dead-letter topics, in the pattern itself: the job creates
        `<topic>.dlq` after its pre-flight check, and Spark re-reads the pattern while it runs,
        so a check of the topics that exist at the start could not keep them out. Java's and
        Python's regex syntax agree on this form."""
        if not self.topic_pattern:
            return None
        return f"(?!.*{re.escape(self.dead_letter_suffix)}$)(?:{self.topic_pattern})"

    def spark_kafka_options(self) -> dict[str, str]:
        """Options for Spark's Kafka source and sink: bootstrap, timeouts, pass-through."""
        timeout_ms = str(int(self.kafka_timeout_s * 1000))
        return {
            "kafka.bootstrap.servers": self.bootstrap_servers,
            # Bound how long a call to a lost broker blocks instead of Kafka's 60 s default.
            "kafka.default.api.timeout.ms": timeout_ms,
            "kafka.request.timeout.ms": timeout_ms,
            # Records of an upstream producer's aborted transactions never reach bronze (the
            # Java client's default reads them). librdkafka's checks read committed already.
            "kafka.isolation.level": "read_committed",
            **{f"kafka.{key}": value for key, value in self.kafka_options.items()},
        }

    def client_conf(self) -> dict[str, str]:
        """Settings for confluent-kafka (librdkafka) clients."""
        conf = {"bootstrap.servers": self.bootstrap_servers}
        for key, value in self.kafka_options.items():
            if key in _SHARED_WITH_LIBRDKAFKA:
                conf[key] = value
            elif key == "sasl.jaas.config":
                for name, secret in _JAAS_FIELD.findall(value):
                    conf[f"sasl.{name}"] = secret.replace('\\"', '"')
        conf.update(self.client_options)
        return conf


def _env_options(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {
        key[len(prefix) :].lower().replace("_", "."): value
        for key, value in env.items()
        if key.startswith(prefix) and len(key) > len(prefix)
    }


def _coerce(name: str, raw: Any, kind: type) -> Any:
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in {"1", "true", "yes", "on"}:
                return True
            if str(raw).lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if kind is tuple:
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


_KINDS: dict[str, type] = {
    "bootstrap_servers": str,
    "topics": tuple,
    "topic_suffix": str,
    "topic_pattern": str,
    "partitions": int,
    "replication": int,
    "starting_offsets": str,
    "max_offsets_per_trigger": int,
    "min_partitions": int,
    "trigger_interval": str,
    "bronze_path": str,
    "checkpoint_path": str,
    "bronze_compression": str,
    "dead_letter": bool,
    "dead_letter_suffix": str,
    "event_log": bool,
    "ingest_log_path": str,
    "erasures_path": str,
    "email_salt": str,
    "kafka_timeout_s": float,
    "max_lag": int,
    "schema_registry_url": str,
    "formats": tuple,
}
# Env var of each field; docs/configuration.md documents them.
ENV_VARS = {
    "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "topics": "LAKEHOUSE_TOPICS",
    "topic_suffix": "LAKEHOUSE_TOPIC_SUFFIX",
    "topic_pattern": "LAKEHOUSE_TOPIC_PATTERN",
    "partitions": "LAKEHOUSE_TOPIC_PARTITIONS",
    "replication": "LAKEHOUSE_TOPIC_REPLICATION",
    "starting_offsets": "LAKEHOUSE_STARTING_OFFSETS",
    "max_offsets_per_trigger": "LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER",
    "min_partitions": "LAKEHOUSE_KAFKA_MIN_PARTITIONS",
    "trigger_interval": "LAKEHOUSE_TRIGGER_INTERVAL",
    "bronze_path": "LAKEHOUSE_BRONZE_PATH",
    "checkpoint_path": "LAKEHOUSE_BRONZE_CHECKPOINT",
    "bronze_compression": "LAKEHOUSE_BRONZE_COMPRESSION",
    "dead_letter": "LAKEHOUSE_DEAD_LETTER",
    "dead_letter_suffix": "LAKEHOUSE_DEAD_LETTER_SUFFIX",
    "event_log": "LAKEHOUSE_EVENT_LOG",
    "ingest_log_path": "LAKEHOUSE_INGEST_LOG_PATH",
    "erasures_path": "LAKEHOUSE_ERASURES_PATH",
    "email_salt": "LAKEHOUSE_EMAIL_SALT",
    "kafka_timeout_s": "LAKEHOUSE_KAFKA_TIMEOUT",
    "max_lag": "LAKEHOUSE_MAX_LAG",
    "schema_registry_url": "LAKEHOUSE_SCHEMA_REGISTRY_URL",
    "formats": "LAKEHOUSE_TOPIC_FORMATS",
}


def load(
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> IngestConfig:
    env = os.environ if env is None else env
    stack = stack_settings.load(env)
    values: dict[str, Any] = {}
    kafka_options: dict[str, str] = {}
    client_options: dict[str, str] = {}

    config_file = config_file or env.get("LAKEHOUSE_INGEST_CONFIG")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"ingest config file {path} does not exist")
        document = yaml.safe_load(path.read_text()) or {}
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        unknown = set(document) - set(_KINDS) - {"kafka_options", "client_options"}
        if unknown:
            raise ConfigError(f"{path}: unknown settings {sorted(unknown)}")
        for name, raw in document.items():
            if name == "kafka_options":
                kafka_options.update({str(k): str(v) for k, v in (raw or {}).items()})
            elif name == "client_options":
                client_options.update({str(k): str(v) for k, v in (raw or {}).items()})
            elif raw is not None:
                values[name] = _coerce(f"{path}: {name}", raw, _KINDS[name])

    for name, var in ENV_VARS.items():
        if env.get(var, "") != "":
            values[name] = _coerce(var, env[var], _KINDS[name])
    kafka_options.update(_env_options(env, OPTION_PREFIX))
    client_options.update(_env_options(env, CLIENT_PREFIX))
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(f"--{name.replace('_', '-')}", raw, _KINDS[name])

    config = IngestConfig(
        bootstrap_servers=values.pop("bootstrap_servers", stack.kafka_bootstrap),
        kafka_options=kafka_options,
        client_options=client_options,
        registry_options=_env_options(env, REGISTRY_OPTION_PREFIX),
        **values,
    )
    bronze = config.bronze_path or str(stack.state_dir / "bronze" / "kafka_events")
    # Under the table's folder: `_`-prefixed folders are invisible to Delta and to VACUUM.
    checkpoint = config.checkpoint_path or f"{bronze}/_checkpoints/ingest"
    registry = config.schema_registry_url or stack.registry_url
    # Beside bronze (not inside: Delta would take it for a folder of bronze), one per bronze
    # table. dbt registers it as <schema>_ops.ingest_batches (macros/ops/event_log.sql derives
    # the same default).
    ingest_log = config.ingest_log_path or f"{bronze.rstrip('/')}_ingest_log"
    # The same, for the record of erasures (macros/privacy/erase_customer.sql).
    erasures = config.erasures_path or f"{bronze.rstrip('/')}_erasures"
    config = replace(
        config,
        bronze_path=bronze,
        checkpoint_path=checkpoint,
        schema_registry_url=registry,
        ingest_log_path=ingest_log,
        erasures_path=erasures,
    )
    _validate(config)
    return config


def _validate(config: IngestConfig) -> None:
    if not config.topics and not config.topic_pattern:
        raise ConfigError("no topics: set LAKEHOUSE_TOPICS or LAKEHOUSE_TOPIC_PATTERN")
    if config.partitions < 1:
        raise ConfigError(f"LAKEHOUSE_TOPIC_PARTITIONS={config.partitions} must be at least 1")
    if config.replication is not None and config.replication < 1:
        raise ConfigError(f"LAKEHOUSE_TOPIC_REPLICATION={config.replication} must be at least 1")
    if config.max_offsets_per_trigger is not None and config.max_offsets_per_trigger < 1:
        raise ConfigError("LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER must be at least 1")
    if config.min_partitions is not None and config.min_partitions < 1:
        raise ConfigError("LAKEHOUSE_KAFKA_MIN_PARTITIONS must be at least 1")
    if config.bronze_compression not in PARQUET_CODECS:
        raise ConfigError(
            f"LAKEHOUSE_BRONZE_COMPRESSION={config.bronze_compression!r} is not one of "
            f"{', '.join(PARQUET_CODECS)}"
        )
    if config.max_lag < 0:
        raise ConfigError(f"LAKEHOUSE_MAX_LAG={config.max_lag} must be 0 or more")
    for pair in config.formats:
        name, _, wire = pair.partition("=")
        if wire not in WIRE_FORMATS or name not in config.topics:
            raise ConfigError(
                f"LAKEHOUSE_TOPIC_FORMATS: {pair!r} is not <contract>=<format> with a contract "
                f"of {', '.join(config.topics)} and a format of {', '.join(WIRE_FORMATS)}"
            )
    if config.kafka_timeout_s <= 0:
        raise ConfigError("LAKEHOUSE_KAFKA_TIMEOUT must be positive")
    if config.topic_pattern:
        try:
            re.compile(config.topic_pattern)
        except re.error as exc:
            raise ConfigError(f"LAKEHOUSE_TOPIC_PATTERN is not a regex: {exc}") from None
