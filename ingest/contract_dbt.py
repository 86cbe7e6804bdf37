"""The event contract for dbt: what the staging models and tests need from the JSON Schemas.

dbt cannot read JSON files, so `python -m ingest.contract_dbt` writes the newest version of each
contract (ingest/contract.py) as a Jinja macro, `event_contract(name)`, into
macros/contract/event_contracts.sql: per field, its JSON type and its value rules. The staging
models parse and check events from it (macros/contract/contract_checks.sql) and the yml tests
take their accepted values from it (`contract_values`). The file is committed, so dbt needs no
Python step; tests/python/test_contract_dbt.py fails when it is stale.
"""

from __future__ import annotations

import sys
from typing import Any

from ingest.contract import Contract, contracts
from lakehouse.settings import PROJECT_DIR

MACRO_FILE = PROJECT_DIR / "macros" / "contract" / "event_contracts.sql"

# JSON Schema value keywords -> the rule names the SQL checks use.
_RULES = {
    "enum": "enum",
    "pattern": "pattern",
    "minLength": "min_length",
    "minimum": "minimum",
    "exclusiveMinimum": "exclusive_minimum",
    "minItems": "min_items",
}
# Keywords that say nothing the SQL checks: annotations, or handled elsewhere
# (additionalProperties: json_unexpected_keys; if/then: absent_in_versions).
_IGNORED = {"description", "title", "$comment", "examples", "additionalProperties"}


class UnsupportedSchemaError(ValueError):
    """The schema uses a keyword the SQL checks do not model: add it here before using it."""


def _field(name: str, schema: dict[str, Any], required: bool, where: str) -> dict[str, Any]:
    unknown = set(schema) - set(_RULES) - _IGNORED - {"type", "format", "items", "multipleOf"}
    if unknown:
        raise UnsupportedSchemaError(f"{where}.{name}: no SQL check for {sorted(unknown)}")
    kind = schema["type"]
    if schema.get("format") == "date-time":
        # The shape check parses the timestamp itself (rfc3339_timestamp): no pattern rule.
        kind = "timestamp"
    elif "format" in schema:
        raise UnsupportedSchemaError(f"{where}.{name}: no SQL check for format {schema['format']}")
    field: dict[str, Any] = {"name": name, "type": kind, "required": required}
    for keyword, rule in _RULES.items():
        if keyword in schema and not (kind == "timestamp" and keyword == "pattern"):
            field[rule] = schema[keyword]
    if "multipleOf" in schema:
        field["decimals"] = _decimals(schema["multipleOf"], f"{where}.{name}")
    if kind == "array":
        items = schema.get("items", {})
        if items.get("type") != "object":
            raise UnsupportedSchemaError(f"{where}.{name}: only arrays of objects are modelled")
        field["items"] = _fields(items, f"{where}.{name}[]")
    return field


def _decimals(multiple_of: float, where: str) -> int:
    """multipleOf 0.01 -> 2: SQL checks it as `x = round(x, 2)`; other steps are not modelled."""
    for decimals in range(10):
        if multiple_of == 10**-decimals or abs(multiple_of - 10**-decimals) < 1e-12:
            return decimals
    raise UnsupportedSchemaError(f"{where}: multipleOf is modelled for 1, 0.1, 0.01, ... only")


def _fields(schema: dict[str, Any], where: str) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        _field(name, sub, name in required, where)
        for name, sub in schema.get("properties", {}).items()
    ]


def _absent_in_versions(schema: dict[str, Any], name: str) -> dict[str, list[int]]:
    """Fields a schema_version must not carry: `if schema_version const N then not required`."""
    rule = {key: schema[key] for key in ("if", "then", "else", "not") if key in schema}
    if not rule:
        return {}
    try:
        version = rule["if"]["properties"]["schema_version"]["const"]
        absent = rule["then"]["not"]["required"]
    except (KeyError, TypeError):
        raise UnsupportedSchemaError(
            f"{name}: the only conditional modelled is "
            '{"if": {schema_version: {"const": N}}, "then": {"not": {"required": [...]}}}'
        ) from None
    if set(rule) != {"if", "then"}:
        raise UnsupportedSchemaError(
            f"{name}: no SQL check for {sorted(set(rule) - {'if', 'then'})}"
        )
    return {field: [version] for field in absent}


def for_dbt(contract: Contract) -> dict[str, Any]:
    """What the staging SQL needs from one contract: its fields in schema order, with rules."""
    schema = contract.schema
    if schema.get("type") != "object":
        raise UnsupportedSchemaError(f"{contract.name}: a contract is a JSON object")
    fields = _fields(schema, contract.name)
    for field_name, versions in _absent_in_versions(schema, contract.name).items():
        field = next(f for f in fields if f["name"] == field_name)
        field["absent_in_versions"] = versions
    return {
        "name": contract.name,
        "version": contract.version,
        # additionalProperties: false at the top: staging names the unexpected fields.
        "closed": schema.get("additionalProperties") is False,
        "fields": fields,
    }


def _jinja(value: Any, indent: int = 0) -> str:
    """A Jinja literal for a JSON value, one field per line."""
    pad = " " * indent
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return repr(value)  # Jinja reads Python's string escapes
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return "[" + ", ".join(_jinja(v) for v in value) + "]"
        inner = ",\n".join(f"{pad}    {_jinja(v, indent + 4)}" for v in value)
        return f"[\n{inner},\n{pad}]"
    if isinstance(value, dict):
        if all(not isinstance(v, (dict, list)) or k in _RULES.values() for k, v in value.items()):
            return "{" + ", ".join(f"{k!r}: {_jinja(v)}" for k, v in value.items()) + "}"
        inner = ",\n".join(f"{pad}    {k!r}: {_jinja(v, indent + 4)}" for k, v in value.items())
        return f"{{\n{inner},\n{pad}}}"
    raise TypeError(f"no Jinja literal for {value!r}")


def render() -> str:
    """The generated macro file's text."""
    by_name = {name: for_dbt(contract) for name, contract in sorted(contracts().items())}
    sources = ", ".join(f"ingest/contracts/{c.path.name}" for _, c in sorted(contracts().items()))
    return (
        "{#-\n"
        f"    Generated from {sources}\n"
        "    by `python -m ingest.contract_dbt` (ingest/contract_dbt.py): do not edit; edit the\n"
        "    JSON Schema and run it again. tests/python/test_contract_dbt.py fails when stale.\n"
        "-#}\n\n"
        "{% macro event_contract(name) %}\n"
        f"    {{%- set contracts = {_jinja(by_name, 4)} -%}}\n"
        "    {%- if name not in contracts -%}\n"
        "        {{ exceptions.raise_compiler_error(\n"
        '            "event_contract: no contract named \'" ~ name ~ "\' (known: "\n'
        "            ~ contracts.keys() | sort | join(', ') ~ \")\") }}\n"
        "    {%- endif -%}\n"
        "    {{ return(contracts[name]) }}\n"
        "{% endmacro %}\n"
    )


def main() -> int:
    text = render()
    if MACRO_FILE.exists() and MACRO_FILE.read_text() == text:
        print(f"{MACRO_FILE.relative_to(PROJECT_DIR)} is up to date")
        return 0
    MACRO_FILE.parent.mkdir(parents=True, exist_ok=True)
    MACRO_FILE.write_text(text)
    print(f"wrote {MACRO_FILE.relative_to(PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
