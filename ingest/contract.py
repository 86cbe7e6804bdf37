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
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import fastjsonschema
import msgspec
import orjson
from fastjsonschema.draft07 import CodeGeneratorDraft07

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
def _structure_validator(name: str) -> Callable[[Any], Any]:
    try:
        schema = contracts()[name].schema
    except KeyError:
        known = ", ".join(sorted(contracts()))
        raise KeyError(f"no contract named {name!r} (known: {known})") from None
    return fastjsonschema.compile(structure_of(schema))


def _parse(value: bytes | str | None) -> tuple[Any, str | None]:
    if value is None:
        return None, "empty message (null value)"
    try:
        # orjson: strict RFC 8259 UTF-8 JSON (no NaN, no lone surrogates), several times faster
        # than json.loads; the ingest job parses every record with it.
        return orjson.loads(value), None
    except orjson.JSONDecodeError as exc:
        strict_error = str(exc)
    # Only bad messages get here: find the clearest reason.
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else value
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc}"
    try:
        json.loads(text)
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    return None, f"not JSON: {strict_error}"


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
    fast = _fast_structure_decoder(name)
    if fast is not None and value is not None:
        try:
            fast.decode(value)
            return None
        except (msgspec.DecodeError, ValueError):  # ValueError: not UTF-8
            pass  # the full check below finds (and words) the reason
    return _check(_structure_validator(name), value)


# --- the fast path: the ingest job checks every record ---------------------------------------
#
# msgspec decodes and type-checks a message in one C pass, about 4x faster than parsing and
# running the compiled schema. It is only a shortcut for messages that keep the structure:
# each schema keyword below maps to a msgspec type that accepts no more than the schema does
# (msgspec is the stricter: 1.0 is not an integer to it, and a repeated key is checked every
# time), so a message it accepts is well-formed, and any other message gets the full check.
# A structure using a keyword not modelled here gets no fast path.

DATE_TIME_REGEX = CodeGeneratorDraft07.FORMAT_REGEXS["date-time"]  # the full check's own regex
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$comment", "examples"})


class _NoFastPathError(Exception):
    """The schema uses a keyword the fast path does not model."""


def _fast_type(schema: Any, where: str) -> Any:
    if not isinstance(schema, dict) or set(schema) - _ANNOTATIONS - {
        "type",
        "properties",
        "required",
        "items",
        "format",
    }:
        raise _NoFastPathError(where)
    kind = schema.get("type")
    fmt = schema.get("format")
    if fmt is not None and (kind, fmt) != ("string", "date-time"):
        raise _NoFastPathError(where)
    if kind == "string":
        return Annotated[str, msgspec.Meta(pattern=DATE_TIME_REGEX)] if fmt else str
    if kind == "integer":
        return int
    if kind == "number":
        return float  # takes JSON integers too; never booleans
    if kind == "array":
        return list[_fast_type(schema["items"], f"{where}[]")] if "items" in schema else list
    if kind == "object":
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        if any(not n.isidentifier() or keyword.iskeyword(n) for n in properties) or (
            set(required) - set(properties)
        ):
            raise _NoFastPathError(where)
        fields = [
            (n, _fast_type(sub, f"{where}.{n}"))
            if n in required
            else (n, _fast_type(sub, f"{where}.{n}") | msgspec.UnsetType, msgspec.UNSET)
            for n, sub in properties.items()
        ]
        # Required fields first: msgspec wants the ones with defaults last.
        fields.sort(key=len)
        return msgspec.defstruct(f"Fast_{where.replace('.', '_')}", fields)
    raise _NoFastPathError(where)


@cache
def _fast_structure_decoder(name: str) -> msgspec.json.Decoder | None:
    structure = structure_of(contracts()[name].schema)
    try:
        return msgspec.json.Decoder(_fast_type(structure, name))
    except _NoFastPathError:
        return None
