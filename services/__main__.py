"""`python -m services up|down|status [metastore|kafka|registry|thrift|airflow|cluster ...]`.

With no names (`make up`), `up` starts the metastore, Kafka, the schema registry and the Thrift
server; Airflow and the Spark
standalone cluster start only when named (`make airflow`, `make cluster`). The Thrift server
starts the metastore it needs. `down` and `status` cover them all.
"""

from __future__ import annotations

import argparse
import sys

from lakehouse import settings
from services import airflow, cluster, kafka, metastore, registry, thrift
from services.process import ServiceError, require_free_ports

SERVICES = {
    "metastore": metastore,
    "kafka": kafka,
    "registry": registry,
    "thrift": thrift,
    "airflow": airflow,
    "cluster": cluster,
}
UP_BY_DEFAULT = ["metastore", "kafka", "registry", "thrift"]


def processes(conf: settings.Settings) -> dict[str, int | None]:
    """Each service's process, each Kafka node apart: its PID, or None when stopped."""
    found: dict[str, int | None] = {}
    for name, module in SERVICES.items():
        if name == "kafka":
            found.update({svc.name: svc.running_pid() for svc in kafka.node_services(conf)})
        else:
            found[name] = module.service(conf).running_pid()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    # No `choices=`: argparse rejects an empty list for nargs="*" against choices.
    parser.add_argument(
        "names", nargs="*", metavar="{" + ",".join(SERVICES) + "}", help="default: see above"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in SERVICES]
    if unknown:
        parser.error(f"unknown service(s) {', '.join(unknown)}: choose from {', '.join(SERVICES)}")
    names = args.names or (UP_BY_DEFAULT if args.action == "up" else list(SERVICES))
    conf = settings.load()
    if args.action == "down":
        names = list(reversed(names))  # stop in the reverse order of start
    started: list[str] = []
    try:
        if args.action == "up":  # every port first: a taken one fails before anything starts
            for name in names:
                module = SERVICES[name]
                if module.service(conf).running_pid() is None:
                    require_free_ports(module.ports(conf))
        if args.action == "status":
            for name, pid in processes(conf).items():
                if name in names or name.split("-")[0] in names:
                    print(f"{name}: " + (f"running (pid {pid})" if pid else "stopped"))
            return 0
        for name in names:
            module = SERVICES[name]
            running = module.service(conf).running_pid() is not None
            print(getattr(module, args.action)(conf), flush=True)
            if args.action == "up" and not running:
                started.append(name)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # All or nothing: what this command started goes down again.
        for name in reversed(started):
            print(SERVICES[name].down(conf), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
