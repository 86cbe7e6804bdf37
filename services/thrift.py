"""A Spark Thrift server (HiveThriftServer2) with Delta, on the local profile's Spark settings.

It shares the warehouse and the metastore (services/metastore.py, which it starts when nothing
answers at the metastore's address) with the `local` dbt target and every other Spark process,
so all see the same tables, at the same time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ingest.spark_session import local_spark_conf, spark_home
from lakehouse.settings import Settings
from services import metastore
from services.process import (
    PortClaim,
    Service,
    ServiceError,
    port_is_open,
    require_free_ports,
    wait_until_healthy,
)

MAIN_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


def service(settings: Settings) -> Service:
    return Service.in_stack(settings, "thrift", MAIN_CLASS)


# Folders the server's sessions share: made before it starts, so that concurrent sessions do
# not race to create them. (Each session's downloaded-resources folder is its own, named by
# session id in the profile: Hive deletes it when the session closes.)
SHARED_DIRS = (
    "spark.local.dir",
    "spark.hadoop.hive.exec.scratchdir",
    "spark.hadoop.hive.exec.local.scratchdir",
)


# A flag that chooses the JVM's garbage collector: a JVM given two refuses to start.
COLLECTOR = re.compile(r"-XX:\+Use\w+GC\b")


def driver_java_options(profile_options: str, server_options: str) -> str:
    """The profile's driver options, then the server's own (THRIFT_JAVA_OPTIONS). A collector
    the profile's already choose (LAKEHOUSE_SPARK_JAVA_OPTIONS) stands, and the server's is
    left out."""
    if COLLECTOR.search(profile_options):
        server_options = COLLECTOR.sub("", server_options)
    return " ".join([profile_options.strip(), *server_options.split()]).strip()


def spark_conf(settings: Settings) -> dict[str, str]:
    return local_spark_conf(stack=settings)


def command(settings: Settings, conf: dict[str, str] | None = None) -> list[str]:
    """spark-submit's argv for the server, with `conf` (the profile's Spark settings, rendered
    for `settings` unless given)."""
    conf = dict(spark_conf(settings) if conf is None else conf)
    conf["spark.app.name"] = "lakehouse-thrift"
    conf["spark.driver.memory"] = settings.thrift_driver_memory
    options = "spark.driver.extraJavaOptions"
    conf[options] = driver_java_options(conf.get(options, ""), settings.thrift_java_options)
    if not any((settings.jars_dir / "spark").glob("delta-spark_*.jar")):
        raise ServiceError(
            f"no Delta jars in {settings.jars_dir / 'spark'}: run `make setup` first"
        )
    argv = [str(spark_home() / "bin" / "spark-submit"), "--class", MAIN_CLASS]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    # `spark-internal` stands for "the class is on Spark's own class path"; --hiveconf goes to it.
    argv += [
        "spark-internal",
        "--hiveconf",
        f"hive.server2.thrift.bind.host={settings.thrift_host}",
        "--hiveconf",
        f"hive.server2.thrift.port={settings.thrift_port}",
    ]
    return argv


def _answers_sql(settings: Settings) -> bool:
    from pyhive import hive

    # PyHive logs every refused connection; only ask once the port accepts connections.
    if not port_is_open(settings.thrift_host, settings.thrift_port):
        return False
    try:
        with hive.connect(settings.thrift_host, settings.thrift_port, username="lakehouse") as conn:
            cursor = conn.cursor()
            cursor.execute("select 1")
            return cursor.fetchall() == [(1,)]
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def ports(settings: Settings) -> list[PortClaim]:
    return [(settings.thrift_host, settings.thrift_port, "the Thrift server", "THRIFT_PORT")]


def up(settings: Settings) -> str:
    svc = service(settings)
    pid = svc.running_pid()
    address = f"{settings.thrift_host}:{settings.thrift_port}"
    if pid is not None:
        return f"thrift already running (pid {pid}) on {address}"
    require_free_ports(ports(settings))
    conf = spark_conf(settings)
    argv = command(settings, conf)
    if not metastore.answers(settings):
        metastore.up(settings)
    tmp = settings.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    for key in SHARED_DIRS:
        Path(conf[key]).mkdir(parents=True, exist_ok=True)
    Path(conf["spark.hadoop.hive.downloaded.resources.dir"]).parent.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": settings.thrift_host,  # also binds the Spark UI to loopback
        "TMPDIR": str(tmp),
    }
    pid = svc.start(argv, env, settings.state_dir)
    wait_until_healthy(svc, pid, lambda: _answers_sql(settings), settings.start_timeout_s)
    return f"thrift up (pid {pid}) on {address}, log {svc.log_file}"


def down(settings: Settings) -> str:
    return "thrift stopped" if service(settings).stop() else "thrift was not running"
