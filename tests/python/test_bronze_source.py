"""Where dbt reads bronze from, per target: the compiled source and the statements that register
it (macros/bronze/register_bronze.sql), without a connection (`--no-populate-cache`).

On Spark the ingest job's path is registered as `<schema>_bronze.kafka_events`; on Databricks
that needs the table's storage location (LAKEHOUSE_BRONZE_PATH), and LAKEHOUSE_BRONZE_TABLE
points the source at a table registered elsewhere on either target.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import PROJECT_DIR, VENV_BIN, run

# Placeholders: nothing here connects to a workspace.
DATABRICKS = {
    "DATABRICKS_HOST": "example.cloud.databricks.com",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/none",
    "DBT_ENV_SECRET_DATABRICKS_TOKEN": "not-a-token",
}
PROBE = "{{ source('bronze', 'kafka_events') }} | {{ bronze_registration_sql() | join('; ') }}"
CASES = {
    "spark, default": ("local", {}),
    "spark, a table elsewhere": ("local", {"LAKEHOUSE_BRONZE_TABLE": "raw.events"}),
    "spark, a catalog": ("local", {"LAKEHOUSE_BRONZE_TABLE": "main.raw.events"}),
    "databricks, a location": ("databricks", {"LAKEHOUSE_BRONZE_PATH": "s3://lake/bronze/events"}),
    "databricks, a table elsewhere": ("databricks", {"LAKEHOUSE_BRONZE_TABLE": "ops.raw.events"}),
    "databricks, a schema.table": ("databricks", {"LAKEHOUSE_BRONZE_TABLE": "raw.events"}),
    "databricks, nothing set": ("databricks", {}),
    "a name with four parts": ("databricks", {"LAKEHOUSE_BRONZE_TABLE": "a.b.c.d"}),
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """Each case's exit code and the last line it printed (the compiled probe, or the error)."""
    base = tmp_path_factory.mktemp("bronze-source")
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_BRONZE", "DATABRICKS"))
    }

    def compile_case(name: str) -> tuple[int, str]:
        target, settings = CASES[name]
        folder = base / name.replace(" ", "_").replace(",", "")
        env = {
            **inherited,
            **DATABRICKS,
            "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
            "LAKEHOUSE_SCHEMA": "lakehouse",
            "LAKEHOUSE_STATE_DIR": "/srv/lakehouse/state",
            "DBT_TARGET_PATH": str(folder / "target"),
            "DBT_LOG_PATH": str(folder / "logs"),
            **settings,
        }
        argv = [str(VENV_BIN / "dbt"), "compile", "--quiet", "--no-populate-cache"]
        result = run([*argv, "--target", target, "--inline", PROBE], env, timeout=300)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        errors = [line for line in lines if "LAKEHOUSE_BRONZE" in line and "|" not in line]
        return result.returncode, (errors or lines or [result.stderr])[-1].strip()

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(CASES, pool.map(compile_case, CASES), strict=True))


def test_spark_registers_the_ingest_jobs_path(compiled) -> None:
    assert compiled["spark, default"] == (
        0,
        "lakehouse_bronze.kafka_events | create schema if not exists lakehouse_bronze; "
        "create table if not exists lakehouse_bronze.kafka_events using delta location "
        "'/srv/lakehouse/state/bronze/kafka_events'",
    )


def test_databricks_registers_the_location_in_the_targets_catalog(compiled) -> None:
    assert compiled["databricks, a location"] == (
        0,
        "`main`.`lakehouse_bronze`.`kafka_events` | "
        "create schema if not exists main.lakehouse_bronze; "
        "create table if not exists main.lakehouse_bronze.kafka_events using delta location "
        "'s3://lake/bronze/events'",
    )


def test_a_table_registered_elsewhere_is_read_as_named_and_not_registered(compiled) -> None:
    assert compiled["spark, a table elsewhere"] == (0, "raw.events |")
    assert compiled["databricks, a table elsewhere"] == (0, "`ops`.`raw`.`events` |")
    # Two parts on Databricks: the target's catalog.
    assert compiled["databricks, a schema.table"] == (0, "`main`.`raw`.`events` |")


def test_what_cannot_resolve_fails_naming_the_setting(compiled) -> None:
    code, line = compiled["databricks, nothing set"]
    assert code != 0 and "set LAKEHOUSE_BRONZE_PATH" in line and "LAKEHOUSE_BRONZE_TABLE" in line
    code, line = compiled["spark, a catalog"]
    assert code != 0 and "LAKEHOUSE_BRONZE_TABLE=main.raw.events" in line and "schema.table" in line
    code, line = compiled["a name with four parts"]
    assert code != 0 and "expected [catalog.]schema.table" in line
