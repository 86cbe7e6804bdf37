"""`python -m services.sql ["query"]` (`make sql`): a SQL shell on the local warehouse.

While the Thrift server runs, the shell is beeline connected to it (no Spark to start);
otherwise it is spark-sql with the `local` profile's Spark settings, on the stack's metastore.
With a query, runs it and exits.
"""

from __future__ import annotations

import os
import sys

from ingest.spark_session import local_spark_conf, spark_home
from lakehouse import settings
from services import metastore, thrift


def command(query: str | None) -> list[str]:
    conf = settings.load()
    bin_dir = spark_home() / "bin"
    run_query = ["-e", query] if query else []
    if thrift.service(conf).running_pid() is not None:
        url = f"jdbc:hive2://{conf.thrift_host}:{conf.thrift_port}/default"
        return [
            str(bin_dir / "beeline"),
            "-u",
            url,
            "-n",
            os.environ.get("USER", "lakehouse"),
            *run_query,
        ]
    if not metastore.answers(conf):
        raise SystemExit(
            f"sql: no metastore answers at {conf.metastore_address}: start it with `make up`"
            " (or `python -m services up metastore`)"
        )
    argv = [str(bin_dir / "spark-sql")]
    for key, value in local_spark_conf(stack=conf).items():
        argv += ["--conf", f"{key}={value}"]
    return [*argv, "--conf", "spark.app.name=lakehouse-sql", *run_query]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    argv_ = command(" ".join(args) if args else None)
    os.environ.setdefault("SPARK_HOME", str(spark_home()))
    os.execv(argv_[0], argv_)  # hand the terminal to the shell


if __name__ == "__main__":
    sys.exit(main())
