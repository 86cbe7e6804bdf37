"""A local Airflow (`airflow standalone`: scheduler, DAG processor, triggerer, API server/UI).

It runs from the Airflow venv (.venv-airflow), keeps its home (SQLite metadata DB, logs,
generated admin password) in `<state>/airflow`, reads this project's `dags/`, shows no
example DAGs, and binds the UI to 127.0.0.1. Before it starts, the metadata DB is migrated.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from lakehouse.settings import PROJECT_DIR, Settings
from services.process import (
    PortClaim,
    Service,
    ServiceError,
    require_free_ports,
    wait_until_healthy,
)

ADMIN = "admin"


def airflow_bin() -> Path:
    venv = Path(os.environ.get("LAKEHOUSE_AIRFLOW_VENV", PROJECT_DIR / ".venv-airflow"))
    return venv / "bin" / "airflow"


def home(settings: Settings) -> Path:
    return settings.state_dir / "airflow"


def docs_dir(settings: Settings) -> Path:
    """The dbt docs the UI serves (Cosmos's plugin: Browse > dbt Docs, /cosmos/lakehouse/...)."""
    return home(settings) / "dbt-docs"


def service(settings: Settings) -> Service:
    return Service.in_stack(settings, "airflow", "airflow standalone")


def metadata_rows(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of a read-only query on the stack's SQLite metadata DB: no Airflow CLI to start.
    None before Airflow has made the DB and its tables."""
    database = home(settings) / "airflow.db"
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # the DB is there, its tables not yet
        return []


def recent_runs(
    settings: Settings, dag_id: str | None = None, limit: int = 5
) -> list[dict[str, str | None]]:
    """The newest DAG runs (of `dag_id`, or of every DAG), newest first: DAG, run id, type,
    state, and when it started and ended (ISO 8601 in UTC, to the second; None until then).
    `make status` shows them."""
    rows = metadata_rows(
        settings,
        "select dag_id, run_id, run_type, state, start_date, end_date from dag_run "
        "where ? is null or dag_id = ? order by id desc limit ?",
        (dag_id, dag_id, limit),
    )
    keys = ("dag_id", "run_id", "run_type", "state", "started_at", "ended_at")
    return [dict(zip(keys, (*row[:4], *map(_utc_iso, row[4:])), strict=True)) for row in rows]


def _utc_iso(stamp: str | None) -> str | None:
    """One of Airflow's SQLite timestamps (naive, in UTC, or with an offset) in ISO 8601, UTC."""
    if stamp is None:
        return None
    at = datetime.fromisoformat(stamp)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat(timespec="seconds")


def environment(settings: Settings) -> dict[str, str]:
    """Airflow's configuration, as env vars (docs/orchestration.md)."""
    airflow_home = home(settings)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        # `airflow standalone` starts its components as `airflow ...` from the PATH.
        "PATH": f"{airflow_bin().parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__API__HOST": settings.airflow_host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": settings.airflow_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
        # New and changed DAG files show up within seconds rather than minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # The machines this runs on reach no internet: no usage pings.
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "SCARF_ANALYTICS": "false",
        # What dbt, Spark and the ingest job agree on (Settings.child_env; the DAG tasks
        # inherit it).
        **settings.child_env(),
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap
        ),
        "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
        "NO_PROXY": "*",
        # The triggerer imports the DAGs' Kafka trigger (dags/lakehouse_triggers.py) by name.
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PROJECT_DIR / "dags"), os.environ.get("PYTHONPATH", "")) if p
        ),
        "AIRFLOW_CONN_KAFKA_DEFAULT": kafka_connection(),
        # Cosmos's plugin serves the project's dbt docs inside the UI.
        "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS": json.dumps(
            {"lakehouse": {"dir": str(docs_dir(settings)), "name": "dbt Docs"}}
        ),
    }


def kafka_connection(env: dict[str, str] | None = None) -> str:
    """`kafka_default`, the provider's connection type, from the ingest job's settings (SASL and
    TLS from the same env vars): what the event trigger consumes with, in a group of its own
    that never touches the bronze job's offsets (they live in its checkpoint)."""
    from ingest import config as ingest_config

    client = ingest_config.load(os.environ if env is None else env).client_conf()
    extra = {
        **client,
        "group.id": "lakehouse-pipeline-trigger",
        "enable.auto.commit": "false",
        # A new group starts from the beginning: one run for what is there, nothing missed.
        "auto.offset.reset": "earliest",
        # A topic created after the trigger started is noticed within seconds, not 5 minutes.
        "topic.metadata.refresh.interval.ms": "10000",
    }
    return json.dumps({"conn_type": "kafka", "extra": extra})


def run_cli(settings: Settings, *args: str) -> str:
    done = subprocess.run(
        [str(airflow_bin()), *args],
        env=environment(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServiceError(f"`airflow {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _schema_stamp() -> str:
    """What the metadata DB was last migrated for: the Airflow version and the database."""
    site = airflow_bin().parent.parent / "lib"
    versions = sorted(p.name for p in site.glob("python*/site-packages/apache_airflow-*.dist-info"))
    conn = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite (AIRFLOW_HOME)")
    return json.dumps({"airflow": versions, "database": conn})


def prepare(settings: Settings) -> None:
    """Migrate the metadata DB, unless it was migrated for this Airflow version already.

    `airflow db migrate` is idempotent but starts Airflow (several seconds of CPU): every
    `python -m services.airflow` command (`make dag-test`, the tests) would pay it.
    """
    if not airflow_bin().exists():
        raise ServiceError(f"no Airflow at {airflow_bin()}: run `make setup` first")
    home(settings).mkdir(parents=True, exist_ok=True)
    stamp_file = home(settings) / "migrated.json"
    stamp = _schema_stamp()
    own_sqlite = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ
    database_there = (home(settings) / "airflow.db").exists() or not own_sqlite
    if database_there and stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    run_cli(settings, "db", "migrate")
    stamp_file.write_text(stamp)


def generate_docs(settings: Settings) -> None:
    """The dbt docs for the UI, from the project as it is now: models, columns, tests and
    lineage from the manifest, without a warehouse (`make docs` adds the warehouse's catalog)."""
    dbt = Path(sys.executable).parent / "dbt"
    target = docs_dir(settings)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(PROJECT_DIR / "profiles"),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(home(settings) / "logs" / "dbt-docs"),
    }
    for args in (["parse"], ["docs", "generate", "--no-compile", "--empty-catalog"]):
        done = subprocess.run(
            [str(dbt), "--quiet", *args],
            cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ServiceError(f"`dbt {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")


def password(settings: Settings) -> str:
    try:
        passwords = json.loads(
            (home(settings) / "simple_auth_manager_passwords.json.generated").read_text()
        )
    except (FileNotFoundError, ValueError):
        return "(not generated yet)"
    return passwords.get(ADMIN, "(not generated yet)")


def _healthy(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(
            f"{settings.airflow_url}/api/v2/monitor/health", timeout=2
        ) as resp:
            health = json.load(resp)
    except (OSError, ValueError):
        return False
    return all(
        health.get(part, {}).get("status") == "healthy"
        for part in ("metadatabase", "scheduler", "dag_processor")
    )


def ports(settings: Settings) -> list[PortClaim]:
    return [(settings.airflow_host, settings.airflow_port, "Airflow", "AIRFLOW_PORT")]


def up(settings: Settings) -> str:
    svc = service(settings)
    pid = svc.running_pid()
    login = f"{settings.airflow_url} (login {ADMIN} / {password(settings)})"
    if pid is not None:
        return f"airflow already running (pid {pid}) on {login}"
    require_free_ports(ports(settings))
    prepare(settings)
    generate_docs(settings)
    pid = svc.start([str(airflow_bin()), "standalone"], environment(settings), home(settings))
    wait_until_healthy(svc, pid, lambda: _healthy(settings), max(settings.start_timeout_s, 180))
    return (
        f"airflow up (pid {pid}) on {settings.airflow_url} (login {ADMIN} / {password(settings)}), "
        f"log {svc.log_file}"
    )


def down(settings: Settings) -> str:
    return "airflow stopped" if service(settings).stop() else "airflow was not running"


def main(argv: list[str]) -> None:
    """`python -m services.airflow <airflow args>`: the Airflow CLI on this project's home."""
    from lakehouse import settings as settings_module

    conf = settings_module.load()
    prepare(conf)
    env = environment(conf)
    if argv[:2] == ["dags", "test"]:
        # Airflow 3.3.2's `dags test` fails on a DAG with a deadline alert (it looks the alert
        # up by the object instead of its id): a test run goes without the SLA.
        env["LAKEHOUSE_RUN_SLA_MINUTES"] = "0"
    os.execve(airflow_bin(), [str(airflow_bin()), *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
