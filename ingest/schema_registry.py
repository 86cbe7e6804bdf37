"""The schema registry as the project's clients use it (Confluent's client, any registry with
the Confluent API): the contract's Avro schemas registered under `<topic>-value`, and Avro
serializers that never register anything else.

A refusal is said in one line naming the subject, the rule and the registry's reason, and
raised as RegistryRefusedError: nothing is produced with a schema the registry refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

from ingest.config import IngestConfig
from ingest.contract_avro import AVRO_DIR
from ingest.contract_dbt import for_dbt

COMPATIBILITY_LEVELS = (
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE", "NONE",
)  # fmt: skip


# A Java registry's exception class before its message (Apicurio's): the message says it all.
_JAVA_EXCEPTION = re.compile(r"^[\w.]+Exception: ")


class RegistryRefusedError(RuntimeError):
    """The registry refused a schema, or did not answer; the message is one line."""


def client(conf: IngestConfig) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient(conf.registry_conf())


def subject(topic: str) -> str:
    """Confluent's TopicNameStrategy: the value schemas of `topic`."""
    return f"{topic}-value"


def contract_schemas(conf: IngestConfig) -> dict[str, dict[int, str]]:
    """Per topic, the contract's Avro schemas (ingest/contracts/avro/) by schema_version,
    oldest first."""
    found: dict[str, dict[int, str]] = {}
    for topic in conf.topic_names:
        by_version = {
            int(path.stem.split(".v")[-1]): path.read_text()
            for path in AVRO_DIR.glob(f"{conf.contract_of(topic)}.v*.avsc")
        }
        found[topic] = dict(sorted(by_version.items()))
    return found


def _rule_in_force(registry: Any, name: str) -> str:
    """The subject's compatibility rule, or else the global one. (Some registries answer NONE
    for a subject with no rule of its own; NONE refuses nothing, so a refusal is never its.)"""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        own = registry.get_compatibility(subject_name=name)
    except SchemaRegistryError:
        own = None
    return own if own not in (None, "NONE") else registry.get_compatibility()


def register_contract(
    conf: IngestConfig, level: str | None = None, topics: list[str] | None = None
) -> list[str]:
    """Register the contract's schemas of `topics` (default all), oldest first, after setting
    each subject's rule to `level` (None: the rule the registry holds); what was done, a line
    each. Idempotent: a schema the subject holds keeps its id."""
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    if level is not None and level not in COMPATIBILITY_LEVELS:
        raise RegistryRefusedError(
            f"compatibility {level!r}: choose one of {', '.join(COMPATIBILITY_LEVELS)}"
        )
    registry = client(conf)
    done = []
    for topic, versions in contract_schemas(conf).items():
        if topics is not None and topic not in topics:
            continue
        name = subject(topic)
        try:
            if level is not None:
                registry.set_compatibility(subject_name=name, level=level)
            rule = level or _rule_in_force(registry, name)
        except Exception as exc:  # noqa: BLE001 - a connection error of any kind
            raise RegistryRefusedError(
                f"no schema registry answers at {conf.schema_registry_url}: {exc}"
            ) from None
        for version, schema in versions.items():
            try:
                schema_id = registry.register_schema(name, Schema(schema, "AVRO"))
            except SchemaRegistryError as exc:
                raise RegistryRefusedError(
                    f"the schema registry refused {name}'s schema_version {version} under "
                    f"{rule}: {_JAVA_EXCEPTION.sub('', exc.error_message)}"
                ) from None
            done.append(f"{name}: schema_version {version} has id {schema_id}")
    return done


@cache
def _contract_fields(contract: str) -> dict[str, dict[str, Any]]:
    """A contract's fields by name, with their JSON types (once per contract, not per event)."""
    from ingest.contract import contracts

    return {f["name"]: f for f in for_dbt(contracts()[contract])["fields"]}


def avro_record(contract: str, event: dict[str, Any]) -> dict[str, Any]:
    """A JSON event as its Avro schema types it: money (numbers) as exact decimals."""

    def typed(field: dict[str, Any] | None, value: Any) -> Any:
        if field is None or value is None:
            return value
        if field["type"] == "number":
            return Decimal(str(value))
        if field["type"] == "array":
            items = {f["name"]: f for f in field["items"]}
            return [{k: typed(items.get(k), v) for k, v in item.items()} for item in value]
        return value

    fields = _contract_fields(contract)
    return {name: typed(fields.get(name), value) for name, value in event.items()}


def contract_schema_ids(conf: IngestConfig, topic: str) -> dict[int, int]:
    """Per schema_version, the id the registry gave the contract's schema under `topic`'s
    subject: found among the subject's versions by the parsed schema, so that formatting does
    not count (a lookup by text does not match on every registry)."""
    registry = client(conf)
    name = subject(topic)
    held = {}
    for number in registry.get_versions(name):
        version = registry.get_version(name, number)
        held[json.dumps(json.loads(version.schema.schema_str), sort_keys=True)] = version.schema_id
    ids = {}
    for version, text in contract_schemas(conf)[topic].items():
        key = json.dumps(json.loads(text), sort_keys=True)
        if key not in held:
            raise RegistryRefusedError(
                f"{name} does not hold the contract's schema_version {version}: "
                "run `make schemas` (or `make up`)"
            )
        ids[version] = held[key]
    return ids


def avro_serializers(conf: IngestConfig, topic: str) -> dict[int, Callable[[dict], bytes]]:
    """Per schema_version, a function that writes an event of `topic` in Confluent's wire
    format with the contract's schema of that version, by its registered id: never
    registering anything."""
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    registry = client(conf)
    context = SerializationContext(topic, MessageField.VALUE)
    contract = conf.contract_of(topic) or topic
    schemas = contract_schemas(conf)[topic]
    serializers = {}
    for version, schema_id in contract_schema_ids(conf, topic).items():
        serializer = AvroSerializer(
            registry,
            schemas[version],
            conf={"auto.register.schemas": False, "use.schema.id": schema_id},
        )
        serializers[version] = lambda event, s=serializer: s(avro_record(contract, event), context)
    return serializers
