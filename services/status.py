"""`python -m services.status [--json]` (`make status`): where the pipeline stands, without Spark.

- Services: which of the metastore, Kafka, the Thrift server, Airflow and the standalone
  cluster run here, with their PIDs.
- Kafka: per topic and partition, the broker's latest offset, the offset the bronze job's
  checkpoint has committed, and the lag between them; the dead-letter topics' message counts.
- The schema registry: the global compatibility rule, and each subject's latest version, its
  schema id and the rule in force for it.
- Tables: rows, Delta version and last commit time of bronze and every silver, gold and
  reference table, read from the Delta logs (delta-rs), so no JVM starts.
- Freshness: the newest `_ingested_at` in bronze, from the Delta file statistics.
- dbt: the last run's command, time and results per status, and what failed
  (`target/run_results.json`, or `DBT_TARGET_PATH`).
- Airflow: the newest DAG runs, each with its DAG, type, state, start and duration, from
  Airflow's metadata DB in the state folder (no Airflow process needed).
- The event log (`<schema>_ops`): the last dbt invocations, and per hour the micro-batches
  ingested, their rate (rows over the seconds the job spent writing them), the dead letters and
  the quarantine rate (silver.quarantine's records
  by ingest hour over the rows ingested in that hour).

It answers in a second or two; a broker that does not answer within 5 s is reported, not waited
for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest import config as ingest_config
from ingest import lag
from lakehouse import settings as service_settings
from lakehouse.settings import PROJECT_DIR
from services import airflow, registry

KAFKA_TIMEOUT_S = 5.0
UPKEEP = {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "ADD CONSTRAINT"}


def kafka_status(conf: ingest_config.IngestConfig) -> dict[str, Any]:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {
            **conf.client_conf(),
            "group.id": "lakehouse-status",
            "enable.auto.commit": False,
            "socket.timeout.ms": int(KAFKA_TIMEOUT_S * 1000),
        }
    )
    try:
        try:
            metadata = consumer.list_topics(timeout=KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            return {
                "error": f"Kafka at {conf.bootstrap_servers} did not answer: {exc.args[0].str()}"
            }
        topics = metadata.topics
        done = lag.checkpoint_offsets(Path(conf.checkpoint_path))
        sources: dict[str, Any] = {}
        dead_letters: dict[str, int] = {}
        for topic in conf.topic_names:
            if topic not in topics:
                sources[topic] = {"error": "no such topic"}
                continue
            sources[topic] = lag.partition_lag(
                consumer,
                topic,
                list(topics[topic].partitions),
                done.get(topic, {}),
                KAFKA_TIMEOUT_S,
            )
            for partition, about in topics[topic].partitions.items():
                # -1: no leader (every replica down)
                sources[topic][str(partition)].update(leader=about.leader, isr=sorted(about.isrs))
            dlq = conf.dead_letter_topic(topic)
            if dlq in topics:
                dead_letters[dlq] = sum(
                    high - low
                    for low, high in (
                        consumer.get_watermark_offsets(
                            TopicPartition(dlq, p), timeout=KAFKA_TIMEOUT_S
                        )
                        for p in topics[dlq].partitions
                    )
                )
        return {
            "bootstrap_servers": conf.bootstrap_servers,
            "brokers": {b.id: f"{b.host}:{b.port}" for b in metadata.brokers.values()},
            "topics": sources,
            "total_lag": lag.total({t: p for t, p in sources.items() if "error" not in p}),
            "dead_letters": dead_letters,
        }
    finally:
        consumer.close()


def table_status(path: Path, freshness_column: str | None = None) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    table = DeltaTable(str(path))
    actions = pa.table(table.get_add_actions(flatten=True))
    history = table.history(20)
    # OPTIMIZE and VACUUM rewrite or delete files, but the rows stay what they were.
    changes = [h for h in history if h.get("operation") not in UPKEEP] or history[-1:]
    status: dict[str, Any] = {
        "rows": int(pc.sum(actions.column("num_records")).as_py() or 0) if actions.num_rows else 0,
        "files": actions.num_rows,
        "version": table.version(),
        "last_update_at": _iso_ms(changes[0].get("timestamp")),
        "last_update": changes[0].get("operation"),
    }
    column = f"max.{freshness_column}"
    if freshness_column and actions.num_rows and column in actions.column_names:
        newest = pc.max(actions.column(column)).as_py()
        status["newest_" + freshness_column.lstrip("_")] = newest.isoformat() if newest else None
    return status


def tables_status(state_dir: Path, bronze_path: Path, schema: str) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    if (bronze_path / "_delta_log").is_dir():
        tables["bronze.kafka_events"] = table_status(bronze_path, "_ingested_at")
    else:
        tables["bronze.kafka_events"] = {"error": f"no Delta table at {bronze_path} yet"}
    for database in sorted((state_dir / "warehouse").glob(f"{schema}_*.db")):
        layer = database.name[len(schema) + 1 : -len(".db")]
        for path in sorted(p for p in database.iterdir() if (p / "_delta_log").is_dir()):
            tables[f"{layer}.{path.name}"] = table_status(path)
    return tables


def dbt_status(target_dir: Path) -> dict[str, Any]:
    results_file = target_dir / "run_results.json"
    if not results_file.exists():
        return {"error": f"no {results_file}: dbt has not run here yet"}
    results = json.loads(results_file.read_text())
    counts: dict[str, int] = {}
    failed = []
    for result in results.get("results", []):
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        if result["status"] in ("error", "fail"):
            failed.append(f"{result['unique_id']} {result['status']}")
    return {
        "command": " ".join(results.get("args", {}).get("invocation_command", "").split()[:6])
        or results.get("args", {}).get("which"),
        "finished_at": results.get("metadata", {}).get("generated_at"),
        "elapsed_s": round(results.get("elapsed_time", 0.0), 1),
        "results": counts,
        "failed": failed,
    }


def read_delta(path: Path, columns: list[str]) -> list[dict[str, Any]]:
    """Some columns of a Delta table's rows (none if there is no table): the current version's
    files from delta-rs, read by pyarrow. (delta-rs's own reader left threads that aborted
    the process at exit.)"""
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    if not (path / "_delta_log").is_dir():
        return []
    rows = [
        row
        for uri in DeltaTable(str(path)).file_uris()
        # File by file: Spark's files (OPTIMIZE rewrites them) and delta-rs's may differ in type.
        for row in pq.read_table(uri.removeprefix("file://"), columns=columns).to_pylist()
    ]
    return [
        {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
         for k, v in row.items()}
        for row in rows
    ]  # fmt: skip


def event_log_status(
    ops_dir: Path, ingest_log: Path, quarantine: Path, runs: int = 5, hours: int = 6
) -> dict[str, Any]:
    """The last dbt invocations, and the ingest and quarantine trend of the last hours with
    micro-batches, from the event log."""
    invocations = read_delta(
        ops_dir / "dbt_invocations",
        ["command", "target_name", "selection", "ended_at", "started_at", "status", "nodes",
         "failed", "errored", "skipped"],
    )  # fmt: skip
    last = sorted(invocations, key=lambda r: r["ended_at"], reverse=True)[:runs]
    by_hour: dict[datetime, dict[str, Any]] = {}
    for batch in read_delta(ingest_log, ["batch_at", "input_rows", "dead_letters", "step_seconds"]):
        if batch["batch_at"] is None:
            continue
        hour = batch["batch_at"].replace(minute=0, second=0, microsecond=0)
        row = by_hour.setdefault(
            hour, {"batches": 0, "rows": 0, "dead_letters": 0, "seconds": 0.0, "quarantined": 0}
        )
        row["batches"] += 1
        row["rows"] += batch["input_rows"]
        row["dead_letters"] += batch["dead_letters"]
        row["seconds"] += sum(json.loads(batch["step_seconds"] or "{}").values())
    trend = sorted(by_hour)[-hours:]
    if trend:
        for record in read_delta(quarantine, ["first_seen_at"]):
            hour = record["first_seen_at"].replace(minute=0, second=0, microsecond=0)
            if hour in by_hour:
                by_hour[hour]["quarantined"] += 1
    return {
        "last_runs": [
            {**{k: v for k, v in r.items() if k != "started_at"},
             "seconds": round((r["ended_at"] - r["started_at"]).total_seconds(), 1),
             "ended_at": r["ended_at"].isoformat(timespec="seconds")}
            for r in last
        ],
        "by_hour": [
            {"hour": hour.isoformat(timespec="minutes"), **{k: v for k, v in by_hour[hour].items()
             if k != "seconds"},
             "rows_per_second": round(by_hour[hour]["rows"] / by_hour[hour]["seconds"])
             if by_hour[hour]["seconds"] else None,
             "quarantine_rate": round(by_hour[hour]["quarantined"] / by_hour[hour]["rows"], 4)
             if by_hour[hour]["rows"] else None}
            for hour in trend
        ],
    }  # fmt: skip


def _iso_ms(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def collect(env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    stack = service_settings.load(env)
    conf = ingest_config.load(env)
    schema = env.get("LAKEHOUSE_SCHEMA", "lakehouse")
    target_dir = Path(env.get("DBT_TARGET_PATH", PROJECT_DIR / "target"))
    tables = tables_status(stack.state_dir, Path(conf.bronze_path), schema)
    bronze = tables.get("bronze.kafka_events", {})
    from services.__main__ import processes

    return {
        "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "services": processes(stack),
        "kafka": kafka_status(conf),
        "registry": registry.subjects(stack),
        "tables": tables,
        "freshness": {"bronze_newest_ingested_at": bronze.get("newest_ingested_at")},
        "quarantine_rows": tables.get("silver.quarantine", {}).get("rows"),
        "dbt_last_run": dbt_status(target_dir),
        "airflow_runs": _safely(airflow_status, stack),
        "event_log": _safely(
            event_log_status,
            stack.state_dir / "warehouse" / f"{schema}_ops.db",
            Path(conf.ingest_log_path),
            stack.state_dir / "warehouse" / f"{schema}_silver.db" / "quarantine",
        ),
    }


def airflow_status(stack: service_settings.Settings) -> dict[str, Any]:
    return {"runs": airflow.recent_runs(stack)}


def _safely(read: Any, *args: Any) -> dict[str, Any]:
    """A part of the report that cannot be read says why, and the rest still shows."""
    try:
        return read(*args)
    except Exception as exc:  # noqa: BLE001 - the report must not fail on one part
        return {"error": f"{type(exc).__name__}: {exc}"}


def render_registry(schemas: dict[str, Any]) -> list[str]:
    if "error" in schemas:
        return [f"  {schemas['error']}"]
    lines = [f"  {schemas['url']}, compatibility {schemas['compatibility']}"]
    for subject, latest in schemas["subjects"].items():
        version = f"version {latest['version']} (id {latest['id']})"
        lines.append(f"  {subject:<28} {version}, rule {latest['rule']}")
    return lines if schemas["subjects"] else [*lines, "  no subjects yet"]


def render(report: dict[str, Any]) -> str:
    lines = [f"lakehouse status at {report['collected_at']}", "", "Services"]
    for name, pid in report["services"].items():
        lines.append(f"  {name}: " + (f"running (pid {pid})" if pid else "stopped"))
    lines += ["", "Kafka -> bronze"]
    kafka = report["kafka"]
    if "error" in kafka:
        lines.append(f"  {kafka['error']}")
    else:
        brokers = ", ".join(f"{n} at {a}" for n, a in sorted(kafka["brokers"].items()))
        lines.append(f"  brokers: {brokers}")
        lines.append(
            f"  {'topic':<28} {'part':>4} {'latest':>12} {'bronze':>12} {'lag':>10}"
            f" {'leader':>6}  in sync"
        )
        for topic, partitions in kafka["topics"].items():
            if "error" in partitions:
                lines.append(f"  {topic:<28} {partitions['error']}")
                continue
            for partition, p in partitions.items():
                reached = "-" if p["bronze"] is None else f"{p['bronze']:,}"
                leader = "none" if p["leader"] < 0 else p["leader"]
                lines.append(
                    f"  {topic:<28} {partition:>4} {p['latest']:>12,} {reached:>12} {p['lag']:>10,}"
                    f" {leader:>6}  {','.join(map(str, p['isr']))}"
                )
        lines.append(f"  total lag {kafka['total_lag']:,}")
        for topic, count in kafka["dead_letters"].items():
            lines.append(f"  dead letters in {topic}: {count:,}")
    lines += ["", "Schema registry", *render_registry(report["registry"])]
    lines += ["", "Tables"]
    lines.append(f"  {'table':<28} {'rows':>12} {'version':>8}  last update")
    for name, t in report["tables"].items():
        if "error" in t:
            lines.append(f"  {name:<28} {t['error']}")
        else:
            lines.append(
                f"  {name:<28} {t['rows']:>12,} {t['version']:>8}  "
                f"{t['last_update_at']} ({t['last_update']})"
            )
    newest = report["freshness"]["bronze_newest_ingested_at"]
    lines += ["", f"Freshness: newest bronze record ingested at {newest or '-'}"]
    quarantined = report["quarantine_rows"]
    lines.append(f"Quarantined rows: {'-' if quarantined is None else f'{quarantined:,}'}")
    run = report["dbt_last_run"]
    lines += ["", "Last dbt run"]
    if "error" in run:
        lines.append(f"  {run['error']}")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(run["results"].items()))
        lines.append(f"  {run['command']} at {run['finished_at']} in {run['elapsed_s']}s: {counts}")
        lines += [f"  failed: {f}" for f in run["failed"]]
    lines += ["", *render_airflow_runs(report["airflow_runs"])]
    return "\n".join([*lines, "", *render_event_log(report["event_log"])])


def render_airflow_runs(runs: dict[str, Any]) -> list[str]:
    if "error" in runs:
        return ["Airflow: the last DAG runs", f"  {runs['error']}"]
    if not runs["runs"]:
        return ["Airflow: no DAG run yet (`make airflow` starts it)"]
    lines = ["Airflow: the last DAG runs"]
    for run in runs["runs"]:
        started, ended = run["started_at"], run["ended_at"]
        took = f" in {_seconds_between(started, ended)}s" if started and ended else ""
        lines.append(
            f"  {(started or '-')[:19]} {run['dag_id']} ({run['run_type']}) {run['state']}{took}"
        )
    return lines


def _seconds_between(started: str, ended: str) -> int:
    """Whole seconds between two ISO 8601 timestamps."""
    parse = datetime.fromisoformat
    return round((parse(ended) - parse(started)).total_seconds())


def render_event_log(log: dict[str, Any]) -> list[str]:
    if "error" in log:
        return ["Event log", f"  {log['error']}"]
    lines = ["Event log: the last dbt runs"]
    for r in log["last_runs"]:
        problems = f"{r['failed']} failed, {r['errored']} errors, {r['skipped']} skipped"
        lines.append(
            f"  {r['ended_at']} {r['command']} ({r['target_name']}"
            + (f", --select {r['selection']}" if r["selection"] else "")
            + f") {r['status']}: {r['nodes']} nodes, {problems}, {r['seconds']}s"
        )
    if not log["last_runs"]:
        lines.append("  none logged yet")
    lines += ["", "Event log: ingest and quarantine by hour (UTC)"]
    header = f"  {'hour':<17} {'batches':>7} {'rows':>11} {'rows/s':>9} {'dead letters':>12}"
    lines.append(header + f" {'quarantined':>11} {'rate':>7}")
    for h in log["by_hour"]:
        rate = "-" if h["quarantine_rate"] is None else f"{h['quarantine_rate']:.2%}"
        speed = "-" if h["rows_per_second"] is None else f"{h['rows_per_second']:,}"
        lines.append(
            f"  {h['hour']:<17} {h['batches']:>7,} {h['rows']:>11,} {speed:>9} "
            f"{h['dead_letters']:>12,} {h['quarantined']:>11,} {rate:>7}"
        )
    if not log["by_hour"]:
        lines.append("  no micro-batch logged yet")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.status", description=__doc__)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        report = collect()
    except ingest_config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
