"""The event contract: one JSON Schema per topic in ingest/contracts/<topic>.v<version>.json.

Two checks come from each schema:
- `structure`: the message is a JSON object with every required field, each of its type
  (strings, numbers, integers, arrays, RFC 3339 timestamps). A message that fails it cannot be
  parsed downstream: the ingest job dead-letters it (bronze still keeps it).
- `contract`: the whole schema, value rules included (enums, non-negative money, currency
  codes, non-empty ids). A message that fails only value rules is well-formed: it lands in
  bronze and dbt quarantines it with a reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
_FILE_NAME = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.json$")

# Keywords about values rather than shape: dropped from the schema to get the structure check.
VALUE_KEYWORDS = frozenset(
    {
        "enum",
        "const",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "additionalProperties",
        "if",
        "then",
        "else",
        "not",
    }
)


@dataclass(frozen=True)
class Contract:
    name: str
    version: int
    schema: dict[str, Any]

    @property
    def path(self) -> Path:
        return CONTRACTS_DIR / f"{self.name}.v{self.version}.json"


def structure_of(schema: Any) -> Any:
    """The schema without its value rules: shape, required fields and types only."""
    if isinstance(schema, dict):
        return {
            key: (
                {prop: structure_of(sub) for prop, sub in value.items()}
                if key == "properties"
                else structure_of(value)
            )
            for key, value in schema.items()
            if key not in VALUE_KEYWORDS
        }
    if isinstance(schema, list):
        return [structure_of(item) for item in schema]
    return schema


@cache
def contracts() -> dict[str, Contract]:
    """The newest version of each topic's contract, by contract name (orders, payments)."""
    newest: dict[str, Contract] = {}
    for path in sorted(CONTRACTS_DIR.glob("*.json")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path.name}: contract files are named <topic>.v<version>.json")
        contract = Contract(match["name"], int(match["version"]), json.loads(path.read_text()))
        if contract.name not in newest or contract.version > newest[contract.name].version:
            newest[contract.name] = contract
    return newest


@cache
def _validators(name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    try:
        schema = contracts()[name].schema
    except KeyError:
        known = ", ".join(sorted(contracts()))
        raise KeyError(f"no contract named {name!r} (known: {known})") from None
    return fastjsonschema.compile(structure_of(schema)), fastjsonschema.compile(schema)


def _parse(value: bytes | str | None) -> tuple[Any, str | None]:
    if value is None:
        return None, "empty message (null value)"
    try:
        # Decode first: json.loads would take bytes for UTF-16 or UTF-32, the contract says UTF-8.
        text = value.decode("utf-8") if isinstance(value, bytes) else value
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc}"
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"not JSON: {exc}"


def _check(validate: Callable[[Any], Any], value: bytes | str | None) -> str | None:
    document, error = _parse(value)
    if error is not None:
        return error
    try:
        validate(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        return exc.message
    return None


def json_error(value: bytes | str | None) -> str | None:
    """Why the message is not UTF-8 JSON, or None when it is."""
    return _parse(value)[1]


def structure_error(name: str, value: bytes | str | None) -> str | None:
    """Why the message breaks the contract's structure, or None when it is well-formed."""
    return _check(_validators(name)[0], value)


def contract_error(name: str, value: bytes | str | None) -> str | None:
    """Why the message breaks the contract (structure or values), or None when it keeps it."""
    return _check(_validators(name)[1], value)
