"""Benchmark 3: what an incremental `dbt build` costs as history grows, against a full refresh.

On a private stack (Kafka and the Thrift server, so every build runs on a warm Spark), for each
history size in BENCH_HISTORY (events in bronze; default 100000,1000000,5000000):

1. top bronze up to that many events, produced to Kafka, ingested and built (untimed) in
   chunks of PRODUCE_CHUNK_ORDERS orders, as a backlog is caught up day by day: one build over
   millions of new events at once needs more memory than the Thrift server has (docs/benchmarks.md);
   the orders are placed one after another at ORDERS_PER_DAY, the new batch's after them;
2. produce and ingest a fixed batch of BENCH_NEW_EVENTS new events (default 10000), then time
   the incremental `dbt build`: models and tests apart, and order_status_history alone, from
   dbt's run_results.json. It runs with `silver_lookback_hours: 0`: here all history was
   ingested minutes ago, so the default lookback would re-read all of it, where in production
   it re-reads only the lookback's span;
3. time a `dbt build --full-refresh` of the same warehouse (BENCH_FULL_REFRESH=0 skips it).

Goal: the incremental build at the largest history costs at most 1.5x the one at the smallest
(cost tracks new data), while the full refresh grows with history.

Writes bench/results/incremental_cost.json. `make bench` runs it; alone, it is
`.venv/bin/python bench/incremental_cost.py` (over an hour at the default sizes: bronze ends
with over 5 million events, caught up in chunks whose build times docs/benchmarks.md gives).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import DBT as DBT_BIN
from common import bench_env, run, services, write_result

DBT = [DBT_BIN, "--quiet"]
EVENTS_PER_ORDER = 5.7  # what the generator gives on average without trouble
PRODUCE_CHUNK_ORDERS = 150_000  # about 0.6 GB of generated messages held at once
# Orders are placed day after day at one shop's pace, so 5M events come to about a year, as
# they would in production. A day-grain mart recomputes the days the new batch has events on;
# with all of history on a few days, those days would be all of it.
ORDERS_PER_DAY = 2_400
START = datetime(2026, 1, 1, tzinfo=UTC)
NO_LOOKBACK = ("--vars", "{silver_lookback_hours: 0}")


def produce(env: dict[str, str], orders: int, seed: int, start: datetime) -> tuple[int, datetime]:
    """Publish `orders` orders placed from `start` on at ORDERS_PER_DAY, then ingest them; the
    events delivered, and when the next orders are placed."""
    state = Path(env["LAKEHOUSE_STATE_DIR"])
    manifest = state / f"produce-{seed}.json"
    span = timedelta(days=orders / ORDERS_PER_DAY)
    run(
        [sys.executable, "-m", "ingest.produce", "--orders", str(orders),
         "--seed", str(seed), "--start", start.isoformat(),
         "--span-hours", str(span.total_seconds() / 3600), "--manifest", str(manifest)],
        env,
        quiet=True,
    )  # fmt: skip
    run([sys.executable, "-m", "ingest.bronze"], env, quiet=True)
    return json.loads(manifest.read_text())["delivered"], start + span


def top_up(env: dict[str, str], orders: int, seed: int, start: datetime) -> tuple[int, datetime]:
    """Bring `orders` more orders into bronze and silver and gold, a chunk at a time (produce,
    ingest, build); the events delivered, and when the next orders are placed."""
    delivered = 0
    chunks = -(-orders // PRODUCE_CHUNK_ORDERS)
    for chunk, first in enumerate(range(0, orders, PRODUCE_CHUNK_ORDERS)):
        count = min(PRODUCE_CHUNK_ORDERS, orders - first)
        print(f"bench:   chunk {chunk + 1}/{chunks}: {count:,} orders", file=sys.stderr)
        events, start = produce(env, count, seed * 1000 + chunk, start)
        delivered += events
        # No lookback: all of history arrived minutes ago, so the default lookback would
        # re-read every earlier chunk.
        run([*DBT, "build", "--target", "thrift", *NO_LOOKBACK], env, quiet=True)
    return delivered, start


# Models timed on their own too: the history, whose build rewrites the histories of the
# orders that received events, must cost what new data costs like the others.
TRACKED_MODELS = ("order_status_history",)
TRACKED_KEYS = tuple(f"{name}_seconds" for name in TRACKED_MODELS)


def timed_build(env: dict[str, str], *args: str) -> dict[str, float]:
    """A `dbt build` on the thrift target: wall seconds, the models' and tests' seconds, and
    each tracked model's."""
    wall_s, _ = run([*DBT, "build", "--target", "thrift", *args], env, quiet=True)
    results = json.loads((Path(env["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    by_kind = {"model": 0.0, "test": 0.0}
    tracked = {}
    for result in results["results"]:
        kind, _, name = result["unique_id"].split(".")[:3]
        if kind in by_kind:
            by_kind[kind] += result["execution_time"]
        if kind == "model" and name in TRACKED_MODELS:
            tracked[f"{name}_seconds"] = round(result["execution_time"], 1)
    return {
        "wall_seconds": round(wall_s, 1),
        "models_seconds": round(by_kind["model"], 1),
        "tests_seconds": round(by_kind["test"], 1),
        **tracked,
    }


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_HISTORY", "100000,1000000,5000000").split(",")]
    new_events = int(os.environ.get("BENCH_NEW_EVENTS", "10000"))
    full_refresh = os.environ.get("BENCH_FULL_REFRESH", "1") != "0"
    if sizes != sorted(sizes) or sizes[0] <= 0:
        raise SystemExit("BENCH_HISTORY: growing positive sizes, e.g. 100000,1000000,5000000")
    env = bench_env("incremental")
    services(env, "up", "kafka", "thrift")
    runs = []
    history = 0
    placed_from = START
    try:
        run([*DBT, "seed", "--target", "thrift"], env, quiet=True)
        for step, size in enumerate(sizes):
            print(f"bench: bronze to {size:,} events", file=sys.stderr)
            orders = round((size - history) / EVENTS_PER_ORDER)
            topped_up, placed_from = top_up(env, orders, step + 1, placed_from)
            history += topped_up

            print(f"bench: {new_events:,} new events on {history:,}", file=sys.stderr)
            orders = round(new_events / EVENTS_PER_ORDER)
            added, placed_from = produce(env, orders, 100 + step, placed_from)
            incremental = timed_build(env, *NO_LOOKBACK)
            history += added
            result = {"history_events": history, "new_events": added, "incremental": incremental}
            if full_refresh:
                print(f"bench: full refresh on {history:,}", file=sys.stderr)
                result["full_refresh"] = timed_build(env, "--full-refresh")
            print(f"bench: {json.dumps(result)}", file=sys.stderr)
            runs.append(result)
    finally:
        services(env, "down")

    smallest, largest = runs[0], runs[-1]
    ratio = {
        key: round(largest["incremental"][key] / max(smallest["incremental"][key], 1e-9), 2)
        for key in ("wall_seconds", "models_seconds", "tests_seconds", *TRACKED_KEYS)
    }
    result = {"runs": runs, "incremental_ratio_largest_to_smallest": ratio}
    if full_refresh:
        result["full_refresh_ratio_largest_to_smallest"] = round(
            largest["full_refresh"]["wall_seconds"] / smallest["full_refresh"]["wall_seconds"], 2
        )
    result["goal"] = {"incremental_ratio_at_most": 1.5}
    write_result("incremental_cost", result)


if __name__ == "__main__":
    main()
