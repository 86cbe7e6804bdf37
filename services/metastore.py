"""The stack's metastore: Apache Derby's network server, shared by every Spark process at once.

Hive's metastore client in each Spark process (dbt's `local` session, the Thrift server, `make
sql`, the tests) reaches it over JDBC (profiles/profiles.yml), so none of them locks the others
out, as embedded Derby did (one JVM per database). The database lives at <state>/metastore_db
and survives `make down` / `make up`. The jars come from jvm/metastore/pom.xml (`make setup`).

A new database gets Hive's schema once, from one process, before anyone else connects:
several Spark processes that meet an empty database create the schema at once and fight over
it (Hive retries, and logs thousands of lines of stack traces on the way).
"""

from __future__ import annotations

import os
import subprocess
import sys

from lakehouse.settings import Settings
from services.process import (
    PortClaim,
    Service,
    ServiceError,
    port_is_open,
    require_free_ports,
    wait_until_healthy,
)

MAIN_CLASS = "org.apache.derby.drda.NetworkServerControl"
DATABASE = "metastore_db"


def service(settings: Settings) -> Service:
    return Service.in_stack(settings, "metastore", f"-Dderby.system.home={settings.state_dir}")


def _command(settings: Settings, *action: str) -> list[str]:
    jars = settings.jars_dir / "metastore"
    if not any(jars.glob("derbynet-*.jar")):
        raise ServiceError(f"no Derby jars in {jars}: run `make setup` first")
    java_home = os.environ.get("JAVA_HOME")
    return [
        f"{java_home}/bin/java" if java_home else "java",
        "-Xmx512m",
        f"-Dderby.system.home={settings.state_dir}",
        f"-Dderby.stream.error.file={settings.logs_dir / 'derby.log'}",
        "-cp",
        f"{jars}/*",
        MAIN_CLASS,
        *action,
        "-h",
        settings.metastore_host,
        "-p",
        str(settings.metastore_port),
    ]


def _create_schema(settings: Settings) -> None:
    """Hive's tables in a new database: one Spark session, the profile's settings, asks for
    the databases (about 15 s, once)."""
    code = (
        "from ingest.spark_session import build_spark_session as b;"
        "s = b('lakehouse-metastore-init'); s.sql('show databases').collect(); s.stop()"
    )
    env = {**os.environ, **settings.child_env()}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ServiceError(
            "creating the metastore's schema failed:\n" + (done.stdout + done.stderr)[-3000:]
        )


def answers(settings: Settings) -> bool:
    """Something accepts connections at the metastore's address (ours, or one started
    elsewhere): what the Thrift server and `make sql` need before they start."""
    return port_is_open(settings.metastore_host, settings.metastore_port)


def ports(settings: Settings) -> list[PortClaim]:
    return [(settings.metastore_host, settings.metastore_port, "the metastore", "METASTORE_PORT")]


def up(settings: Settings) -> str:
    svc = service(settings)
    pid = svc.running_pid()
    if pid is not None:
        return f"metastore already running (pid {pid}) on {settings.metastore_address}"
    require_free_ports(ports(settings))
    new = not (settings.state_dir / DATABASE).exists()
    for folder in (settings.state_dir, settings.logs_dir, settings.tmp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    pid = svc.start(
        [*_command(settings, "start"), "-noSecurityManager"], os.environ, settings.state_dir
    )
    wait_until_healthy(svc, pid, lambda: answers(settings), settings.start_timeout_s)
    if new:
        _create_schema(settings)
    return f"metastore up (pid {pid}) on {settings.metastore_address}, log {svc.log_file}"


def down(settings: Settings) -> str:
    svc = service(settings)
    if svc.running_pid() is None:
        svc.stop()  # clears a stale PID file
        return "metastore was not running"
    # Derby's own shutdown closes the database cleanly (no log recovery at the next start); the
    # server's JVM then exits, so stop() below may find nothing left to signal.
    subprocess.run(_command(settings, "shutdown"), capture_output=True, timeout=60, check=False)
    svc.stop(timeout_s=20)
    return "metastore stopped"
