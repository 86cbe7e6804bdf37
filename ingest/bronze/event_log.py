"""The pipeline's event log, the ingest job's part: one row per micro-batch, appended to a Delta
table at `ingest_log_path` from the driver with delta-rs (no Spark job, so it costs the stream
nothing). dbt registers the table as `<schema>_ops.ingest_batches` (macros/ops/event_log.sql,
whose DDL is COLUMNS). A failing write never fails the job: it says so once, the batch's row is
lost, and the next batch tries again (it says when the log works again)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

# The table's columns and their Spark SQL types, in order.
COLUMNS = (
    ("run_id", "string"),  # the streaming query's run: one per start of the job
    ("batch_id", "bigint"),
    ("batch_at", "timestamp"),  # when Spark started the micro-batch
    ("logged_at", "timestamp"),
    ("input_rows", "bigint"),
    ("dead_letters", "bigint"),
    ("rows_per_second", "double"),
    ("start_offsets", "string"),  # JSON: {topic: {partition: offset}}
    ("end_offsets", "string"),
    ("step_seconds", "string"),  # JSON: {step: seconds}, as in the job's progress line
)


def arrow_schema() -> Any:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "bigint": pa.int64(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([(name, types[kind]) for name, kind in COLUMNS])


@dataclass
class IngestLog:
    path: str
    failing: bool = False

    def append(self, progress: dict[str, Any], steps: dict[str, float], dead_letters: int) -> None:
        """One micro-batch's row: Spark's progress entry for it, its steps and dead letters."""
        try:
            import pyarrow as pa
            from deltalake import write_deltalake

            row = {
                "run_id": str(progress.get("runId")),
                "batch_id": int(progress["batchId"]),
                "batch_at": _timestamp(progress.get("timestamp")),
                "logged_at": datetime.now(UTC),
                "input_rows": int(progress.get("numInputRows") or 0),
                "dead_letters": dead_letters,
                "rows_per_second": float(progress.get("processedRowsPerSecond") or 0.0),
                "start_offsets": offsets(progress, "startOffset"),
                "end_offsets": offsets(progress, "endOffset"),
                "step_seconds": json.dumps({k: round(v, 3) for k, v in steps.items()}),
            }
            write_deltalake(
                self.path, pa.Table.from_pylist([row], schema=arrow_schema()), mode="append"
            )
        except Exception as exc:  # noqa: BLE001 - the log must never stop ingest
            if not self.failing:
                log.warning("the event log at %s fails, its rows are lost: %s", self.path, exc)
            self.failing = True
            return
        if self.failing:
            log.info("the event log at %s works again", self.path)
        self.failing = False


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def offsets(progress: dict[str, Any], key: str) -> str:
    """A progress entry's start or end offsets, every source's, as one JSON object."""
    merged: dict[str, Any] = {}
    for source in progress.get("sources", []):
        found = source.get(key)
        # Spark gives JSON text; a new checkpoint's first batch starts at "null".
        merged.update((json.loads(found) if isinstance(found, str) else found) or {})
    return json.dumps(merged, sort_keys=True)
