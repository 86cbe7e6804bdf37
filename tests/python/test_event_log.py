"""The ingest job's part of the event log, without Spark: a micro-batch's row as dbt registers
the table, and a log that cannot be written, which must never stop ingest. The log's rows
after real runs: test_pipeline_e2e.py (ingest and dbt) and test_dags.py (a failed gate)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from helpers import PROJECT_DIR

from ingest.bronze.event_log import COLUMNS, IngestLog
from lakehouse.dbt_results import EVENT_LOG_HOOK_PREFIX, event_log_failure

PROGRESS = {
    "runId": "3d1c0ffe-0000-4000-8000-000000000001",
    "batchId": 7,
    "timestamp": "2026-12-03T10:00:00.123Z",
    "numInputRows": 1200,
    "processedRowsPerSecond": 4000.5,
    "sources": [
        {
            "startOffset": {"orders": {"0": 10, "1": 12}},
            "endOffset": '{"orders": {"0": 610, "1": 612}}',
        },
    ],
}


def test_dbt_registers_the_columns_the_ingest_job_writes() -> None:
    macro = (PROJECT_DIR / "macros/ops/event_log.sql").read_text()
    ddl = re.search(r"ingest_batches'\) ~ ' \((.*?)\) using delta", macro, re.S)
    assert ddl, "no ingest_batches DDL in macros/ops/event_log.sql"
    columns = [tuple(c.split()) for c in ddl.group(1).replace("\n", " ").split(",")]
    assert columns == list(COLUMNS)


def test_each_batch_appends_its_row(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    log = IngestLog(str(tmp_path / "log"))
    log.append(PROGRESS, {"bronze_write": 1.25, "dead_letter": 0.5}, dead_letters=3)
    # A new checkpoint's first batch: Spark's start offsets are the JSON text "null".
    first_ever = {**PROGRESS, "batchId": 8, "sources": [{"startOffset": "null", "endOffset": "{}"}]}
    log.append(first_ever, {"bronze_write": 1.0}, dead_letters=0)
    rows = sorted(
        DeltaTable(str(tmp_path / "log")).to_pyarrow_table().to_pylist(),
        key=lambda r: r["batch_id"],
    )
    assert [r["batch_id"] for r in rows] == [7, 8] and not log.failing
    first = rows[0]
    assert (first["input_rows"], first["dead_letters"]) == (1200, 3)
    assert first["batch_at"].isoformat() == "2026-12-03T10:00:00.123000+00:00"
    assert json.loads(first["start_offsets"]) == {"orders": {"0": 10, "1": 12}}
    assert json.loads(first["end_offsets"]) == {"orders": {"0": 610, "1": 612}}
    assert json.loads(first["step_seconds"]) == {"bronze_write": 1.25, "dead_letter": 0.5}
    assert rows[1]["start_offsets"] == "{}"


def test_a_log_that_cannot_be_written_says_so_once_never_raises_and_recovers(
    tmp_path, caplog
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    log = IngestLog(str(blocked / "log"))
    with caplog.at_level(logging.INFO, logger="ingest.bronze.event_log"):
        for batch in range(3):
            log.append({**PROGRESS, "batchId": batch}, {}, dead_letters=0)
        assert log.failing
        blocked.unlink()  # the cause goes away: the next batch's row lands
        log.append({**PROGRESS, "batchId": 3}, {}, dead_letters=0)
    assert not log.failing
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "fails, its rows are lost" in lines[0] and "works again" in lines[1]


def test_only_a_failed_log_write_is_forgiven() -> None:
    """dbt's part: the pipeline goes on when the event log's hooks are all that failed
    (lakehouse/dbt_results.py); a real failing write: test_pipeline_e2e.py."""
    hook_error = {"unique_id": f"{EVENT_LOG_HOOK_PREFIX}2", "status": "error", "message": "denied"}
    hook_skipped = {"unique_id": f"{EVENT_LOG_HOOK_PREFIX}3", "status": "skipped"}
    built = {"unique_id": "model.lakehouse.orders", "status": "success"}
    assert event_log_failure([built, hook_error, hook_skipped]) == "denied"
    assert event_log_failure([built]) is None  # nothing failed
    for other in ("fail", "error", "skipped"):
        failed = {"unique_id": "test.lakehouse.unique_orders_order_id.1", "status": other}
        assert event_log_failure([built, failed, hook_error]) is None, other
    start_hook = {"unique_id": "operation.lakehouse.lakehouse-on-run-start-0", "status": "error"}
    assert event_log_failure([start_hook, hook_error]) is None
