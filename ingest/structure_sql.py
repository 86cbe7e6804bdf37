"""A Spark SQL pre-check of the contract's structure: "certainly well-formed", or "ask Python".

The exact structure check (ingest/contract.py, JSON Schema in Python) runs as a Python UDF,
which costs far more than the rest of a micro-batch. This module compiles the same structure
schema into one SQL expression over Spark 4's VARIANT that is true only for messages the exact
check accepts too. It is sound, not complete: anything it is unsure of (a big integer, `5.0`
for an integer, a schema construct it does not know) comes out false, and the UDF decides.
In steady state every record is well-formed, so the UDF sees only the few doubtful ones.

Why "true here" implies "valid in Python": the value must be UTF-8 and one document to Spark's
strict JSON parser (no NaN, comments or duplicate keys; see parsed_value() for trailing data),
which Python's json module also parses; each type test accepts only VARIANT types that become the
matching Python type; and the date-time test is fastjsonschema's own pattern, with ASCII
digits only.
"""

from __future__ import annotations

import re
from typing import Any

from ingest import contract

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTEGERS = "('TINYINT', 'SMALLINT', 'INT', 'BIGINT')"
# fastjsonschema's date-time pattern (draft04.py), `\Z` written as Java's `\z`.
_DATE = (
    r"\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))|(?:\d\d(?:0[48]|[2468][048]|[13579][26])"
    r"|(?:[02468][048]|[13579][26])00)-02-29"
)
DATE_TIME = (
    rf"^(?:{_DATE})(t|T)(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?"
    r"(?:[+-](?:[01]\d|2[0-3]):[0-5]\d|[+-](?:[01]\d|2[0-3])[0-5]\d|z|Z)\z"
)
UNSURE = "false"


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


KNOWN_KEYWORDS = frozenset(
    {"type", "properties", "required", "items", "format", "description", "title", "$schema", "$id"}
)
_NUMBERS = f"{_INTEGERS} or {{shape}} like 'DECIMAL(%' or {{shape}} in ('DOUBLE', 'FLOAT')"
SCALARS = {
    "integer": "{shape} in " + _INTEGERS,
    "number": "{shape} in " + _NUMBERS,
    "boolean": "{shape} = 'BOOLEAN'",
}


def _string(schema: dict[str, Any], node: str) -> str:
    test = f"schema_of_variant({node}) = 'STRING'"
    if "format" in schema:
        if schema["format"] != "date-time":
            return UNSURE
        test += f" and cast({node} as string) rlike {_sql_string(DATE_TIME)}"
    return f"({test})"


def _array(schema: dict[str, Any], node: str, depth: int) -> str:
    element = f"e{depth}"
    items = schema.get("items")
    inner = _check(items, element, depth + 1) if items is not None else "true"
    if inner == UNSURE:
        return UNSURE
    each = f"forall(cast({node} as array<variant>), {element} -> {inner})"
    return f"(schema_of_variant({node}) like 'ARRAY%' and {each})"


def _object(schema: dict[str, Any], node: str, depth: int) -> str:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    if required - set(properties) or not all(_NAME.match(name) for name in properties):
        return UNSURE  # an untyped required field or an odd name: leave it to the exact check
    tests = [f"schema_of_variant({node}) like 'OBJECT%'"]
    for name, sub in properties.items():
        field = f"variant_get({node}, '$.{name}')"
        inner = _check(sub, field, depth + 1)
        if inner == UNSURE:
            return UNSURE
        tests.append(
            f"{field} is not null and {inner}"
            if name in required
            else f"({field} is null or {inner})"
        )
    return "(" + " and ".join(tests) + ")"


def _check(schema: Any, node: str, depth: int = 0) -> str:
    """SQL that is true only when the variant expression `node` matches `schema`."""
    if not isinstance(schema, dict) or depth > 8 or set(schema) - KNOWN_KEYWORDS:
        return UNSURE
    kind = schema.get("type")
    if kind in SCALARS:
        return "(" + SCALARS[kind].format(shape=f"schema_of_variant({node})") + ")"
    if kind == "string":
        return _string(schema, node)
    if kind == "array":
        return _array(schema, node, depth)
    if kind == "object":
        return _object(schema, node, depth)
    return UNSURE


def parsed_value(value_column: str = "value") -> str:
    """SQL: the binary Kafka value as a VARIANT, or null unless it is one UTF-8 JSON document.

    Spark's parser stops after the first complete value and ignores what follows, where Python
    rejects "extra data". So the text is parsed inside an array and as an object's field value:
    data after the document breaks at least one of the two (array context wants `,` or `]`
    next, object context `,` or `}`, and no continuation satisfies both).
    """
    text = f"cast({value_column} as string)"
    return (
        f"case when is_valid_utf8({text}) "
        f"and try_parse_json(concat('{{\"x\":', {text}, '}}')) is not null "
        f"then variant_get(try_parse_json(concat('[', {text}, ']')), '$[0]') end"
    )


def surely_well_formed(contract_name: str, variant_column: str) -> str:
    """SQL over parsed_value(): true only if the contract's structure check passes too."""
    schema = contract.structure_of(contract.contracts()[contract_name].schema)
    body = _check(schema, variant_column)
    if body == UNSURE:
        return UNSURE
    return f"coalesce({variant_column} is not null and {body}, false)"
