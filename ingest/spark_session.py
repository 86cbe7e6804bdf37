"""The embedded Spark, configured exactly as the `local` dbt target (profiles/profiles.yml).

One definition serves dbt, the ingest job, the tests and the Thrift server, so a table
written by one is readable by the others: same Delta jars and extension, same warehouse,
same metastore.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from lakehouse import settings as stack_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PROFILES_YML = stack_settings.PROJECT_DIR / "profiles" / "profiles.yml"
_UNSET = object()


def _render(template: str, env: Mapping[str, str]) -> str:
    """Render like dbt renders profiles: `env_var(name, default)` and the `as_number` filter."""

    def env_var(name: str, default: Any = _UNSET) -> str:
        if name in env:
            return env[name]
        if default is _UNSET:
            raise KeyError(f"env var {name} is required by {PROFILES_YML}")
        return str(default)

    jinja = jinja2.Environment(undefined=jinja2.StrictUndefined)
    jinja.globals["env_var"] = env_var
    jinja.filters["as_number"] = int
    return jinja.from_string(template).render()


def local_spark_conf(
    env: Mapping[str, str] | None = None, stack: stack_settings.Settings | None = None
) -> dict[str, str]:
    """The `local` target's server_side_parameters, rendered with `stack`'s absolute paths and
    metastore (the settings `env` gives, unless given)."""
    env = dict(os.environ if env is None else env)
    env.update((stack or stack_settings.load(env)).child_env())
    # This file's profile, so files it names beside itself (the Spark logging config) are
    # found whatever DBT_PROFILES_DIR says.
    env["DBT_PROFILES_DIR"] = str(PROFILES_YML.parent)
    profile = yaml.safe_load(PROFILES_YML.read_text())["lakehouse"]["outputs"]["local"]
    params: dict[str, Any] = profile["server_side_parameters"]
    return {key: _render(str(value), env) for key, value in params.items()}


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def build_spark_session(
    app_name: str,
    env: Mapping[str, str] | None = None,
    extra_conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession with the local profile's settings (plus `extra_conf`), Hive catalog on."""
    from pyspark.sql import SparkSession

    stack = stack_settings.load(env)
    conf = {
        **local_spark_conf(env, stack),
        "spark.app.name": app_name,
        **(extra_conf or {}),
    }
    state_dir = stack.state_dir
    (state_dir / "tmp").mkdir(parents=True, exist_ok=True)  # java.io.tmpdir must exist
    # Python workers (UDFs) run this interpreter, with this venv's packages; pyspark reads the
    # env var in this process, not the spark.pyspark.python setting.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # The address the profile binds the driver to; unset, Spark warns that the host name
    # resolves to a loopback address.
    os.environ.setdefault(
        "SPARK_LOCAL_IP", conf.get("spark.driver.bindAddress", stack_settings.LOOPBACK)
    )
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
