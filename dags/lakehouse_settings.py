"""The DAGs' settings, read once from the environment into one typed object, `SETTINGS`.

No Variable or connection lookups: a DAG file must parse fast and do no I/O beyond the
manifest, dbt_project.yml's vars and lakehouse/telemetry.env (a few lines). Each variable and
its default: docs/configuration.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

FALSE_WORDS = {"0", "false", "no", "off"}

_PROJECT_DIR = Path(os.environ.get("LAKEHOUSE_PROJECT_DIR", Path(__file__).resolve().parents[1]))
# Airflow's processes have only dags/ on sys.path: the project's packages need it too.
if str(_PROJECT_DIR) not in sys.path:
    sys.path.append(str(_PROJECT_DIR))
from lakehouse import settings as stack_settings  # noqa: E402 - needs the path above


@dataclass(frozen=True)
class DagSettings:
    project_dir: Path
    data_venv: Path
    manifest: Path
    dbt_target: str
    dbt_retries: int
    pipeline_schedule: str
    pipeline_on_events: bool
    trigger_quiet_seconds: float
    trigger_max_wait_seconds: float
    maintenance_schedule: str
    runtime_env: Mapping[str, str]

    @property
    def dbt_executable(self) -> Path:
        return self.data_venv / "bin" / "dbt"

    @property
    def data_python(self) -> Path:
        return self.data_venv / "bin" / "python"

    @property
    def profiles_yml(self) -> Path:
        return self.project_dir / "profiles" / "profiles.yml"

    @property
    def task_env(self) -> dict[str, str]:
        """What every task that runs dbt or the ingest job gets."""
        return {**self.runtime_env, "DBT_TARGET": self.dbt_target}

    @property
    def retry_args(self) -> dict[str, Any]:
        return {
            "retries": self.dbt_retries,
            "retry_delay": timedelta(seconds=30),
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(minutes=10),
        }


def load(env: Mapping[str, str] | None = None) -> DagSettings:
    env = os.environ if env is None else env
    project_dir = Path(env.get("LAKEHOUSE_PROJECT_DIR", _PROJECT_DIR))
    stack = stack_settings.load(env)
    return DagSettings(
        project_dir=project_dir,
        data_venv=Path(env.get("LAKEHOUSE_DATA_VENV", project_dir / ".venv")),
        manifest=Path(env.get("LAKEHOUSE_DBT_MANIFEST", project_dir / "target" / "manifest.json")),
        dbt_target=(
            env.get("AIRFLOW_VAR_LAKEHOUSE_DBT_TARGET") or env.get("DBT_TARGET") or "local"
        ),
        dbt_retries=int(env.get("LAKEHOUSE_DBT_RETRIES", "2")),
        pipeline_schedule=env.get("LAKEHOUSE_PIPELINE_SCHEDULE", "*/15 * * * *"),
        pipeline_on_events=(
            env.get("LAKEHOUSE_PIPELINE_ON_EVENTS", "true").strip().lower() not in FALSE_WORDS
        ),
        trigger_quiet_seconds=float(env.get("LAKEHOUSE_TRIGGER_QUIET_SECONDS", "10")),
        trigger_max_wait_seconds=float(env.get("LAKEHOUSE_TRIGGER_MAX_WAIT_SECONDS", "60")),
        maintenance_schedule=env.get("LAKEHOUSE_MAINTENANCE_SCHEDULE", "@daily"),
        # What dbt, Spark and the ingest job agree on: paths, metastore, no telemetry
        # (Settings.child_env).
        runtime_env={
            **stack.child_env(),
            "DBT_PROFILES_DIR": str(project_dir / "profiles"),
            "SPARK_LOCAL_IP": env.get("SPARK_LOCAL_IP", stack_settings.LOOPBACK),
        },
    )


def dbt_var_default(name: str) -> Any:
    """A dbt var's default, as dbt_project.yml defines it (the one place it is written)."""
    import yaml

    with (SETTINGS.project_dir / "dbt_project.yml").open() as project:
        return yaml.safe_load(project)["vars"][name]


def ingest_settings(env: Mapping[str, str] | None = None) -> Any:
    """The ingest job's settings (ingest/config.py): the one place that says which topics the
    pipeline reads and how to reach the broker. Reads env vars (and the optional YAML file)."""
    from ingest import config as ingest_config

    return ingest_config.load(os.environ if env is None else env)


SETTINGS = load()
