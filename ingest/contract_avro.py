"""The event contract as Avro schemas, generated from the JSON Schemas (ingest/contracts/), so
the contract has one source whatever the wire format.

`python -m ingest.contract_avro` writes one Avro schema per topic and schema version into
ingest/contracts/avro/ (`orders.v1.avsc`, `orders.v2.avsc`, `payments.v1.avsc`): the
fields a version may carry (a field the JSON Schema forbids in a version, `channel` in
version 1, is left out of it), in schema order. A required field is required; an optional one
is a union with null, default null, so each version is BACKWARD compatible with the one before
(a v2 reader reads v1 records). The files are committed; tests/python/test_contract_avro.py
fails when they are stale. `make up` registers them (services/schemas.py).

Types: strings stay strings, timestamps included (RFC 3339, as in JSON, so staging parses both
formats alike); enums stay strings too, as in JSON, so a new value is a staging rule, not an
incompatible schema; integers are `int`; numbers with `multipleOf: 0.01` (money) are Avro
decimals of scale 2 (`bytes`, precision 18), exact where JSON numbers are not; arrays of
objects are arrays of records.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ingest.contract import Contract, contracts
from ingest.contract_dbt import UnsupportedSchemaError, for_dbt
from lakehouse.settings import PROJECT_DIR

AVRO_DIR = PROJECT_DIR / "ingest" / "contracts" / "avro"
NAMESPACE = "lakehouse.contract"


def _record_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _type(field: dict[str, Any], where: str) -> Any:
    kind = field["type"]
    if kind in ("string", "timestamp"):
        return "string"
    if kind == "integer":
        return "int"
    if kind == "number":
        if field.get("decimals") != 2:
            raise UnsupportedSchemaError(f"{where}: Avro models numbers with 2 decimals only")
        return {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}
    if kind == "array":
        record = _record_name(where.rsplit(".", maxsplit=1)[-1].rstrip("s") or "item")
        return {
            "type": "array",
            "items": {
                "type": "record",
                "name": record,
                "fields": [_field(item, f"{where}[]") for item in field["items"]],
            },
        }
    raise UnsupportedSchemaError(f"{where}: no Avro type for {kind}")


def _field(field: dict[str, Any], where: str) -> dict[str, Any]:
    avro_type = _type(field, f"{where}.{field['name']}")
    if field["required"]:
        return {"name": field["name"], "type": avro_type}
    return {"name": field["name"], "type": ["null", avro_type], "default": None}


def for_avro(contract: Contract, version: int) -> dict[str, Any]:
    """The Avro schema of one contract's events of one schema_version."""
    fields = [
        f for f in for_dbt(contract)["fields"] if version not in f.get("absent_in_versions", [])
    ]
    schema: dict[str, Any] = {
        "type": "record",
        "name": f"{_record_name(contract.name)}Event",
        "namespace": f"{NAMESPACE}.{contract.name}",
        "doc": (
            f"{contract.name} events of schema_version {version}, generated from "
            f"ingest/contracts/{contract.path.name} by ingest/contract_avro.py"
        ),
        "fields": [_field(f, contract.name) for f in fields],
    }
    return schema


def versions(contract: Contract) -> list[int]:
    """The schema versions a contract admits (its schema_version enum)."""
    return sorted(contract.schema["properties"]["schema_version"]["enum"])


def schemas() -> dict[str, dict[str, Any]]:
    """Every generated schema, by file name (`orders.v1.avsc`)."""
    return {
        f"{name}.v{version}.avsc": for_avro(contract, version)
        for name, contract in sorted(contracts().items())
        for version in versions(contract)
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main() -> int:
    AVRO_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {name: render(schema) for name, schema in schemas().items()}
    for stale in sorted(set(p.name for p in AVRO_DIR.glob("*.avsc")) - set(wanted)):
        (AVRO_DIR / stale).unlink()
        print(f"removed ingest/contracts/avro/{stale}")
    for name, text in wanted.items():
        path = AVRO_DIR / name
        if path.exists() and path.read_text() == text:
            print(f"ingest/contracts/avro/{name} is up to date")
            continue
        path.write_text(text)
        print(f"wrote ingest/contracts/avro/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
