"""`python -m services up|down|status [kafka|thrift|airflow|cluster ...]`: `make up`, `down`, ...

With no names, `up` starts Kafka and the Thrift server. Airflow starts only when named
(`make airflow`), because with the default `local` dbt target its tasks need the metastore
that a running Thrift server would hold; so does the Spark standalone cluster (`make cluster`).
`down` and `status` cover them all.
"""

from __future__ import annotations

import argparse
import sys

from services import airflow, cluster, kafka, settings, thrift
from services.process import ServiceError

SERVICES = {"kafka": kafka, "thrift": thrift, "airflow": airflow, "cluster": cluster}
UP_BY_DEFAULT = ["kafka", "thrift"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    # No `choices=`: argparse rejects an empty list for nargs="*" against choices.
    parser.add_argument(
        "names", nargs="*", metavar="{kafka,thrift,airflow,cluster}", help="default: see above"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in SERVICES]
    if unknown:
        parser.error(f"unknown service(s) {', '.join(unknown)}: choose from {', '.join(SERVICES)}")
    names = args.names or (UP_BY_DEFAULT if args.action == "up" else list(SERVICES))
    conf = settings.load()
    if args.action == "down":
        names = list(reversed(names))  # stop in the reverse order of start
    try:
        for name in names:
            module = SERVICES[name]
            if args.action == "status":
                pid = module.service(conf).running_pid()
                print(f"{name}: " + (f"running (pid {pid})" if pid else "stopped"))
            else:
                print(getattr(module, args.action)(conf), flush=True)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
