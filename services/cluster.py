"""A Spark standalone cluster on this machine: a master and two workers, separate processes.

Started from the pyspark install (`bin/spark-class`), bound to SPARK_MASTER_HOST. Point the
ingest job, dbt's `local` target or the Thrift server at it with
`LAKEHOUSE_SPARK_MASTER=spark://<SPARK_MASTER_HOST>:<SPARK_MASTER_PORT>`: the profile then
runs executors on the workers, which load the Delta and Kafka jars
(spark.executor.extraClassPath) and run Python UDFs with the data venv's interpreter. The
state folder is a local path that every process on this machine sees; on a real cluster, put
the warehouse, bronze table and checkpoint on storage that every node sees (HDFS, S3, ABFS)
instead.
"""

from __future__ import annotations

import json
import os
import urllib.request

from ingest.spark_session import spark_home
from lakehouse.settings import Settings
from services.process import PortClaim, Service, require_free_ports, wait_until_healthy

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
WORKERS = 2


def _service(settings: Settings, name: str, marker: str) -> Service:
    return Service(
        name=name,
        pid_file=settings.run_dir / f"{name}.pid",
        log_file=settings.logs_dir / f"{name}.log",
        marker=marker,
    )


def services(settings: Settings) -> list[Service]:
    master = _service(
        settings,
        "spark-master",
        f"{MASTER_CLASS} --host {settings.spark_master_host} --port {settings.spark_master_port}",
    )
    workers = [
        _service(
            settings,
            f"spark-worker-{n}",
            f"{WORKER_CLASS} --host {settings.spark_master_host} "
            f"--port {settings.spark_master_port + 10 + n}",
        )
        for n in range(1, WORKERS + 1)
    ]
    return [master, *workers]


def service(settings: Settings) -> Service:
    """The master, which stands for the cluster in `services status`."""
    return services(settings)[0]


def master_url(settings: Settings) -> str:
    return settings.spark_master_url


def cluster_state(settings: Settings) -> dict | None:
    try:
        url = f"{settings.spark_master_ui_url}/json/"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _alive_workers(settings: Settings) -> int:
    state = cluster_state(settings) or {}
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def ports(settings: Settings) -> list[PortClaim]:
    host = settings.spark_master_host
    return [
        (host, settings.spark_master_port, "the Spark master", "SPARK_MASTER_PORT"),
        (host, settings.spark_master_ui_port, "the Spark master UI", "SPARK_MASTER_UI_PORT"),
    ]


def up(settings: Settings) -> str:
    master, *workers = services(settings)
    if master.running_pid() is not None:
        return f"cluster already running (master {master_url(settings)})"
    require_free_ports(ports(settings))
    spark_class = str(spark_home() / "bin" / "spark-class")
    work_dir = settings.state_dir / "spark-work"
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": settings.spark_master_host,
        "SPARK_LOCAL_DIRS": str(settings.tmp_dir / "spark-cluster"),
        "SPARK_WORKER_DIR": str(work_dir),
    }
    port_args = ["--port", str(settings.spark_master_port)]
    port_args += ["--webui-port", str(settings.spark_master_ui_port)]
    pid = master.start(
        [spark_class, MASTER_CLASS, "--host", settings.spark_master_host, *port_args],
        env,
        settings.state_dir,
    )
    wait_until_healthy(
        master, pid, lambda: cluster_state(settings) is not None, settings.start_timeout_s
    )
    for n, worker in enumerate(workers, start=1):
        pid = worker.start(
            [spark_class, WORKER_CLASS, "--host", settings.spark_master_host,
             "--port", str(settings.spark_master_port + 10 + n), "--webui-port", "0",
             "--cores", "1", "--memory", settings.spark_worker_memory, master_url(settings)],
            env,
            settings.state_dir,
        )  # fmt: skip
    wait_until_healthy(
        workers[-1], pid, lambda: _alive_workers(settings) == WORKERS, settings.start_timeout_s
    )
    ui = settings.spark_master_ui_url
    return (
        f"cluster up: master {master_url(settings)} (UI {ui}), "
        f"{WORKERS} workers with 1 core and {settings.spark_worker_memory} each"
    )


def down(settings: Settings) -> str:
    stopped = [svc.name for svc in reversed(services(settings)) if svc.stop()]
    return f"cluster stopped ({', '.join(stopped)})" if stopped else "cluster was not running"
