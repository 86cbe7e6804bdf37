"""Benchmark 2: event-to-gold latency, with ingest running continuously and dbt in a loop.

On a private stack (Kafka and the Thrift server):
- the bronze job runs `--continuous` (a micro-batch every BENCH_TRIGGER, default 10 seconds,
  the job's own default);
- before the timed phases, with the job running and orders trickling in as they will in a
  phase (not counted), each selection is built BENCH_WARMUP_ROUNDS times (default 3),
  untimed: the loop should meet a warm Thrift server and a warm ingest job, as long-running
  ones are;
- `dbt build --target thrift` runs back to back, the tightest schedule, once per selection in
  BENCH_SELECTIONS, one phase each. The default, `all,selector:freshness`: the whole
  project as the DAG builds it (seeds, models and every data test; no unit tests); then
  fct_orders, dim_customers and what they are built from, with every data gate on the way,
  but no seeds and no unit tests (selectors.yml);
- in each phase a trickle producer publishes one marked order (`order_placed`, order_id
  `lat-<phase>-<n>`) every BENCH_TRICKLE_SECONDS (default 3) for BENCH_MINUTES (default 5);
- a watcher reads fct_orders' Delta log and files with delta-rs every half second and notes
  when each marked order appears.

Reports, per selection, p50, p95 and the maximum of (visible in fct_orders - published), and
the dbt loop's build times. Writes bench/results/latency.json. `make bench` runs it.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from common import DBT as DBT_BIN
from common import NO_UNIT_TESTS, PROJECT_DIR, bench_env, run, services, write_result
from deltalake import DeltaTable

from ingest import config as ingest_config
from ingest.generator import generate
from ingest.kafka_client import idempotent_producer, publish

DBT = [DBT_BIN, "--quiet"]


def marked_order(template: dict, phase: int, number: int) -> dict:
    """A valid order_placed event, new order id, happening now."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {**template, "event_id": str(uuid.uuid4()),
            "order_id": f"lat-{phase}-{number:05d}", "event_ts": now}  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def first_day(env: dict[str, str]) -> None:
    """Orders in every table, built once (not timed)."""
    print("bench: a first day of orders, built (not timed)", file=sys.stderr)
    run([sys.executable, "-m", "ingest.produce", "--orders", "200", "--seed", "5"], env,
        quiet=True)  # fmt: skip
    run([sys.executable, "-m", "ingest.bronze"], env, quiet=True)
    run([*DBT, "seed", "--target", "thrift"], env, quiet=True)
    run(build_command("all"), env, quiet=True)


def warm_up(env: dict[str, str], selections: list[str], rounds: int, trickle_s: float) -> None:
    """Untimed builds of each selection while orders trickle in (phase 0, not counted), so
    that the loop meets a warm Thrift server and a warm ingest job.

    A Thrift server runs for days; right after its start its JVM is still compiling Spark's
    code paths (by hand, freshness builds on a fresh server: the first took 41 s, the fourth
    to sixth 27 s, while the JIT compiler's CPU fell from 21 s a build to 5). Builds of no new
    data leave the paths that merge new rows cold, and an ingest job started with the first
    phase would pay its own start in that phase: docs/benchmarks.md, "What sets latency"."""
    stop = threading.Event()
    feeder = threading.Thread(target=trickle, args=(env, 0, {}, trickle_s), kwargs={"stop": stop})
    feeder.start()
    try:
        for number in range(1, rounds + 1):
            for selection in selections:
                print(f"bench: warm-up {number}/{rounds}: dbt build {selection} (not timed)",
                      file=sys.stderr)  # fmt: skip
                run(build_command(selection), env, quiet=True)
    finally:
        stop.set()
        feeder.join()


def trickle(
    env: dict[str, str],
    phase: int,
    sent: dict[str, float],
    every_s: float,
    *,
    minutes: float | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Publish a marked order every `every_s` seconds, for `minutes` or until `stop` is set;
    note when each was sent."""
    conf = ingest_config.load(env)
    producer = idempotent_producer(conf.bootstrap_servers)
    messages, _ = generate(1, seed=9)
    template = next(json.loads(m.value) for m in messages if m.contract == "orders")
    stop = stop or threading.Event()
    deadline = time.monotonic() + minutes * 60 if minutes is not None else float("inf")
    while time.monotonic() < deadline and not stop.is_set():
        event = marked_order(template, phase, len(sent))
        publish(producer, conf.topic_names[0], [(event["order_id"], json.dumps(event))])
        sent[event["order_id"]] = time.time()
        stop.wait(every_s)


def fct_orders_path(env: dict[str, str]) -> Path:
    return Path(env["LAKEHOUSE_STATE_DIR"]) / "warehouse" / "lakehouse_gold.db" / "fct_orders"


def build_command(selection: str) -> list[str]:
    """`dbt build` on thrift of `all` (the whole project as the DAG builds it: no unit tests), a
    named selector (`selector:<name>`, selectors.yml) or a `--select` expression."""
    command = [*DBT, "build", "--target", "thrift"]
    if selection == "all":
        return [*command, *NO_UNIT_TESTS]
    if selection.startswith("selector:"):
        return [*command, "--selector", selection.removeprefix("selector:")]
    return [*command, "--select", selection]


def summary(sent: dict[str, float], seen: dict[str, float], builds: list[float],
            failed_builds: list[float]) -> dict:  # fmt: skip
    latencies = [seen[o] - sent[o] for o in sent if o in seen]
    return {
        "marked_orders": len(sent),
        "reached_gold": len(latencies),
        "latency_seconds": {
            "p50": round(percentile(latencies, 0.5), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "max": round(max(latencies), 1),
        }
        if latencies
        else None,
        "dbt_build_seconds": {
            "builds": len(builds),
            "failed_builds": len(failed_builds),
            "mean": round(statistics.mean(builds), 1) if builds else None,
            "max": round(max(builds), 1) if builds else None,
        },
    }


def phase(
    env: dict[str, str], number: int, selection: str, *, minutes: float, trickle_s: float
) -> dict:
    """One selection's loop: marked orders trickle in while dbt builds it back to back."""
    fct_orders = fct_orders_path(env)
    stop = threading.Event()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    builds: list[float] = []
    failed_builds: list[float] = []

    def build_loop() -> None:
        # A failed build is counted and the loop goes on, as the next scheduled run would.
        while not stop.is_set():
            started = time.monotonic()
            done = subprocess.run(
                build_command(selection),
                env=env,
                cwd=PROJECT_DIR,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            elapsed = time.monotonic() - started
            (builds if done.returncode == 0 else failed_builds).append(elapsed)

    def watch() -> None:
        while not stop.is_set():
            if fct_orders.exists():
                table = DeltaTable(str(fct_orders)).to_pyarrow_table(columns=["order_id"])
                now = time.time()
                for order_id in table.column("order_id").to_pylist():
                    if order_id in sent and order_id not in seen:
                        seen[order_id] = now
            time.sleep(0.5)

    print(f"bench: phase {number}, dbt build selecting {selection}", file=sys.stderr)
    loops = [threading.Thread(target=f, daemon=True) for f in (build_loop, watch)]
    try:
        for loop in loops:
            loop.start()
        print(f"bench: a marked order every {trickle_s:g} s for {minutes:g} min", file=sys.stderr)
        trickle(env, number, sent, trickle_s, minutes=minutes)
        wait_until = time.monotonic() + 300
        while len(seen) < len(sent) and time.monotonic() < wait_until:
            time.sleep(1)
    finally:
        stop.set()
        for loop in loops:
            loop.join(timeout=600)  # the running build ends before the next phase
    result = summary(sent, seen, builds, failed_builds)
    print(f"bench: {selection}: {json.dumps(result)}", file=sys.stderr)
    return result


def main() -> None:
    minutes = float(os.environ.get("BENCH_MINUTES", "5"))
    trickle_s = float(os.environ.get("BENCH_TRICKLE_SECONDS", "3"))
    # The ingest job's own default (LAKEHOUSE_TRIGGER_INTERVAL).
    trigger = os.environ.get("BENCH_TRIGGER", "10 seconds")
    selections = os.environ.get("BENCH_SELECTIONS", "all,selector:freshness").split(",")
    warm_up_rounds = int(os.environ.get("BENCH_WARMUP_ROUNDS", "3"))
    env = bench_env("latency")
    services(env, "up", "kafka", "thrift")
    ingest_proc: subprocess.Popen | None = None
    phases: dict[str, dict] = {}

    try:
        first_day(env)
        ingest_proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.bronze", "--continuous", "--trigger-interval", trigger],
            env=env,
            cwd=PROJECT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        warm_up(env, selections, warm_up_rounds, trickle_s)
        for number, selection in enumerate(selections, start=1):
            phases[selection] = phase(env, number, selection, minutes=minutes, trickle_s=trickle_s)
    finally:
        if ingest_proc is not None:
            ingest_proc.send_signal(signal.SIGTERM)
            ingest_proc.wait(timeout=120)
        services(env, "down")

    if not any(p["reached_gold"] for p in phases.values()):
        raise SystemExit("bench: no marked order reached fct_orders")
    write_result(
        "latency",
        {
            "trigger": trigger,
            "warm_up_builds_per_selection": warm_up_rounds,
            "trickle_seconds": trickle_s,
            "minutes_per_phase": minutes,
            "by_selection": phases,
            "goal": {"p95_seconds_under": 60},
        },
    )


if __name__ == "__main__":
    main()
