"""Benchmark 4: what a run costs when nothing changed, and how long the DAG files take to parse.

On a private stack with a small built warehouse (BENCH_ORDERS orders, default 500): a no-change
`dbt build` on the `local` target (Spark starts in the dbt process) and on the `thrift` target
(a running server), and the Airflow DagBag's parse time per DAG file.

Writes bench/results/dbt_overhead.json. Run it with `make bench`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from common import DBT, PROJECT_DIR, bench_env, run, services, write_result


def main() -> None:
    orders = os.environ.get("BENCH_ORDERS", "500")
    env = bench_env("dbt")
    state = Path(env["LAKEHOUSE_STATE_DIR"])
    services(env, "up", "metastore", "kafka")
    try:
        run(
            [sys.executable, "-m", "ingest.produce", "--orders", orders, "--seed", "3"],
            env,
            quiet=True,
        )
        run([sys.executable, "-m", "ingest.bronze"], env, quiet=True)
        print("bench: first build (not timed)", file=sys.stderr)
        run([DBT, "seed", "--quiet"], env, quiet=True)
        run([DBT, "build", "--quiet"], env, quiet=True)
        print("bench: no-change build, local", file=sys.stderr)
        local_s, _ = run([DBT, "build", "--quiet"], env, quiet=True)
        services(env, "up", "thrift")
        run([DBT, "build", "--quiet", "--target", "thrift"], env, quiet=True)  # warms the server
        print("bench: no-change build, thrift", file=sys.stderr)
        thrift_s, _ = run([DBT, "build", "--quiet", "--target", "thrift"], env, quiet=True)
    finally:
        services(env, "down")

    print("bench: DAG parse time", file=sys.stderr)
    probe_out = state / "probe.json"
    airflow_env = {
        **env,
        "AIRFLOW_HOME": str(state / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    airflow_python = str(PROJECT_DIR / ".venv-airflow/bin/python")
    probe_script = str(PROJECT_DIR / "tests/python/dag_probe.py")
    run(
        [airflow_python, probe_script, str(PROJECT_DIR / "dags"), str(probe_out)],
        airflow_env,
        quiet=True,
    )
    probe = json.loads(probe_out.read_text())
    write_result(
        "dbt_overhead",
        {
            "orders": int(orders),
            "no_change_build_seconds": {"local": round(local_s, 1), "thrift": round(thrift_s, 1)},
            "dag_parse_seconds": {k: round(v, 3) for k, v in probe["file_seconds"].items()},
        },
    )


if __name__ == "__main__":
    main()
