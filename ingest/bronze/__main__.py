"""`python -m ingest.bronze`: the command line (docs/ingest.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import ingest.bronze
from ingest import config as ingest_config
from ingest.bronze.preflight import IngestError, lag_report, preflight

log = logging.getLogger("ingest.bronze")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.bronze", description=ingest.bronze.__doc__
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--available-now", action="store_true", help="drain, then exit (default)")
    mode.add_argument("--continuous", action="store_true", help="run until SIGTERM")
    parser.add_argument("--config", help="ingest config YAML (LAKEHOUSE_INGEST_CONFIG)")
    parser.add_argument("--trigger-interval", help="continuous mode interval, e.g. '5 seconds'")
    parser.add_argument("--max-offsets-per-trigger", type=int, help="records per micro-batch")
    parser.add_argument("--starting-offsets", help="for a new checkpoint: earliest | latest")
    parser.add_argument("--progress-json", type=Path, help="append each batch's progress here")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the broker answers and the topics exist, and report the lag "
        "per partition (exit 0 or 2); no Spark",
    )
    return parser.parse_args(argv)


class _Lines(logging.Formatter):
    """The job's lines as users have always seen them: `bronze: ...`, `bronze: warning: ...`
    on stdout, `error: ...` on stderr."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.ERROR:
            return f"error: {record.getMessage()}"
        if record.levelno >= logging.WARNING:
            return f"bronze: warning: {record.getMessage()}"
        return f"bronze: {record.getMessage()}"


def configure_logging() -> None:
    """INFO and WARNING on stdout, ERROR on stderr, for the job's loggers only (not Spark's)."""
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(lambda record: record.levelno < logging.ERROR)
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.ERROR)
    for handler in (out, err):
        handler.setFormatter(_Lines())
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    try:
        conf = ingest_config.load(
            config_file=args.config,
            overrides={
                "trigger_interval": args.trigger_interval,
                "max_offsets_per_trigger": args.max_offsets_per_trigger,
                "starting_offsets": args.starting_offsets,
            },
        )
        topics = preflight(conf)  # before a JVM starts: a wrong broker or topic fails in seconds
    except (ingest_config.ConfigError, IngestError) as exc:
        log.error("%s", exc)
        return 2
    log.info("ready: %s answers; topics %s", conf.bootstrap_servers, ", ".join(topics))
    try:
        # With --check, last: Airflow keeps a task's last line (XCom), so it shows the lag.
        log.info("%s", lag_report(conf, topics))
    except Exception as exc:  # noqa: BLE001 - only --check fails on it: the lag line informs
        if args.check:
            log.error("%s", exc)
            return 2
        log.warning("no lag line: %s", exc)
    if args.check:
        return 0

    from ingest.bronze.stream import run
    from ingest.spark_session import build_spark_session

    spark = build_spark_session("lakehouse-bronze-ingest")
    try:
        return run(
            spark, conf, topics, continuous=args.continuous, progress_file=args.progress_json
        )
    except IngestError as exc:
        log.error("%s", exc)
        return 2
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
