"""Ingest configuration: defaults at the local stack, then YAML, env vars and flags on top."""

from __future__ import annotations

import re

import pytest

from ingest.config import ConfigError, load


def test_defaults_point_at_the_local_stack(tmp_path) -> None:
    conf = load({"LAKEHOUSE_STATE_DIR": str(tmp_path)})
    assert conf.bootstrap_servers == "127.0.0.1:9092"
    assert conf.topic_names == ["orders", "payments"]
    assert conf.starting_offsets == "earliest"
    assert conf.bronze_path == f"{tmp_path}/bronze/kafka_events"
    assert conf.checkpoint_path == f"{tmp_path}/bronze/kafka_events/_checkpoints/ingest"
    assert conf.dead_letter_topic("orders") == "orders.dlq"


def test_the_schema_registry_and_each_topics_format(tmp_path) -> None:
    """The local stack's registry by default; auth and TLS only from the environment, handed
    to Confluent's client as they are; JSON unless a topic's format says Avro."""
    import certifi
    from confluent_kafka.schema_registry import SchemaRegistryClient

    local = load({"LAKEHOUSE_STATE_DIR": str(tmp_path), "REGISTRY_PORT": "18085"})
    assert local.registry_conf() == {"url": "http://127.0.0.1:18085/apis/ccompat/v7"}
    assert (local.format_of("orders"), local.format_of("payments")) == ("json", "json")
    conf = load({
        "LAKEHOUSE_STATE_DIR": str(tmp_path),
        "LAKEHOUSE_SCHEMA_REGISTRY_URL": "https://registry.example.com",
        "LAKEHOUSE_SCHEMA_REGISTRY_OPTION_BASIC_AUTH_USER_INFO": "key:secret",
        "LAKEHOUSE_SCHEMA_REGISTRY_OPTION_SSL_CA_LOCATION": certifi.where(),  # a CA file
        "LAKEHOUSE_TOPIC_FORMATS": "orders=avro",
    })  # fmt: skip
    assert conf.registry_conf() == {
        "url": "https://registry.example.com",
        "basic.auth.user.info": "key:secret",
        "ssl.ca.location": certifi.where(),
    }
    assert (conf.format_of("orders"), conf.format_of("payments")) == ("avro", "json")
    SchemaRegistryClient(conf.registry_conf())  # Confluent's client takes them (no call made)


def test_a_topic_pattern_never_matches_dead_letter_topics(tmp_path) -> None:
    conf = load({"LAKEHOUSE_STATE_DIR": str(tmp_path), "LAKEHOUSE_TOPIC_PATTERN": "orders.*"})
    pattern = re.compile(conf.subscribe_pattern())
    assert pattern.fullmatch("orders") and pattern.fullmatch("orders.eu")
    assert not pattern.fullmatch("orders.dlq") and not pattern.fullmatch("orders.eu.dlq")
    assert not pattern.fullmatch("payments")
    assert load({"LAKEHOUSE_STATE_DIR": str(tmp_path)}).subscribe_pattern() is None


def test_yaml_then_env_then_flags(tmp_path) -> None:
    yaml_file = tmp_path / "ingest.yml"
    yaml_file.write_text(
        "topics: [orders]\ntopic_suffix: .dev\nmax_offsets_per_trigger: 1000\n"
        "kafka_options:\n  security.protocol: SASL_SSL\n"
    )
    env = {"LAKEHOUSE_STATE_DIR": str(tmp_path), "LAKEHOUSE_MAX_OFFSETS_PER_TRIGGER": "2000"}
    conf = load(env, yaml_file)
    assert conf.topic_names == ["orders.dev"]
    assert conf.contract_of("orders.dev") == "orders"
    assert conf.contract_of("orders") is None
    assert conf.max_offsets_per_trigger == 2000
    assert load(env, yaml_file, {"max_offsets_per_trigger": 3000}).max_offsets_per_trigger == 3000
    assert conf.spark_kafka_options()["kafka.security.protocol"] == "SASL_SSL"


def test_kafka_security_reaches_spark_and_the_confluent_clients(tmp_path) -> None:
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="ingest" password="s3cr\\"t";'
    )
    env = {
        "LAKEHOUSE_STATE_DIR": str(tmp_path),
        "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9093,broker-2:9093",
        "LAKEHOUSE_KAFKA_OPTION_SECURITY_PROTOCOL": "SASL_SSL",
        "LAKEHOUSE_KAFKA_OPTION_SASL_MECHANISM": "PLAIN",
        "LAKEHOUSE_KAFKA_OPTION_SASL_JAAS_CONFIG": jaas,
        "LAKEHOUSE_KAFKA_OPTION_SSL_TRUSTSTORE_LOCATION": "/etc/kafka/truststore.jks",
        "LAKEHOUSE_KAFKA_CLIENT_SSL_CA_LOCATION": "/etc/kafka/ca.pem",
    }
    conf = load(env)
    spark = conf.spark_kafka_options()
    assert spark["kafka.bootstrap.servers"] == "broker-1:9093,broker-2:9093"
    assert spark["kafka.security.protocol"] == "SASL_SSL"
    assert spark["kafka.sasl.mechanism"] == "PLAIN"
    assert spark["kafka.sasl.jaas.config"] == jaas
    assert spark["kafka.ssl.truststore.location"] == "/etc/kafka/truststore.jks"
    assert conf.client_conf() == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "ingest",
        "sasl.password": 's3cr"t',
        "ssl.ca.location": "/etc/kafka/ca.pem",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LAKEHOUSE_TOPIC_PARTITIONS": "three"}, "LAKEHOUSE_TOPIC_PARTITIONS='three'"),
        ({"LAKEHOUSE_TOPIC_PARTITIONS": "0"}, "at least 1"),
        ({"LAKEHOUSE_DEAD_LETTER": "maybe"}, "LAKEHOUSE_DEAD_LETTER='maybe'"),
        ({"LAKEHOUSE_TOPIC_PATTERN": "orders(["}, "not a regex"),
        (
            {"LAKEHOUSE_BRONZE_COMPRESSION": "lzo"},
            "LAKEHOUSE_BRONZE_COMPRESSION='lzo' is not one of",
        ),
        ({"LAKEHOUSE_INGEST_CONFIG": "/nonexistent.yml"}, "does not exist"),
        ({"LAKEHOUSE_TOPIC_FORMATS": "orders=protobuf"}, "'orders=protobuf' is not <contract>"),
        ({"LAKEHOUSE_TOPIC_FORMATS": "refunds=avro"}, "'refunds=avro' is not <contract>"),
    ],
)
def test_bad_settings_are_named(env, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load(env)
