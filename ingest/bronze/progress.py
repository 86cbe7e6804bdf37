"""One line per micro-batch: rows, rate, where the time went and the offsets reached; and its
row in the event log."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.bronze.event_log import IngestLog

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

    from ingest.bronze.writer import BatchWriter

log = logging.getLogger(__name__)


@dataclass
class ProgressReporter:
    """Logs each batch that foreachBatch wrote (writer.timings) once Spark's progress for it is
    out, and counts the rows.

    Spark also posts progress for a trigger that ran no batch (every 10 s while idle), under
    the id the next batch will take: only an entry with `addBatch` time is a batch. The latest
    progress is one entry; recentProgress, the last 100, is read only when more than one batch
    waits, so an idle job's polling costs nothing as it runs on."""

    query: StreamingQuery
    writer: BatchWriter
    continuous: bool
    progress_file: Path | None = None
    event_log: IngestLog | None = None
    rows: int = 0

    def report(self) -> None:
        waiting = sorted(self.writer.timings)
        latest = self.query.lastProgress
        if not waiting or latest is None:
            return
        if len(waiting) == 1 and latest["batchId"] == waiting[0]:
            entries = [latest]
        elif len(waiting) > 1 or latest["batchId"] > waiting[0]:
            entries = self.query.recentProgress
        else:
            return  # the batch's progress is not out yet
        for entry in entries:
            if entry["batchId"] in self.writer.timings and "addBatch" in entry["durationMs"]:
                self.rows += entry["numInputRows"]
                steps = self.writer.timings.pop(entry["batchId"])
                dead_letters = self.writer.dead_letters_of.pop(entry["batchId"], 0)
                if entry["numInputRows"] or not self.continuous:
                    self._log(entry, steps)
                    if self.event_log is not None:
                        self.event_log.append(entry, steps, dead_letters)

    def _log(self, progress: dict[str, Any], steps: dict[str, float]) -> None:
        ends = {}
        for source in progress.get("sources", []):
            end = source.get("endOffset")
            if isinstance(end, str):
                end = json.loads(end)
            for topic, partitions in (end or {}).items():
                ends[topic] = sum(partitions.values())
        rate = progress.get("processedRowsPerSecond") or 0.0
        took = ", ".join(f"{name.replace('_', ' ')} {s:.1f}s" for name, s in steps.items())
        log.info(
            "batch %s: %s rows, %s rows/s (%s), offsets %s",
            progress["batchId"],
            f"{progress['numInputRows']:,}",
            f"{rate:,.0f}",
            took or "nothing to write",
            ends,
        )
        if self.progress_file is not None:
            with self.progress_file.open("a") as out:
                # pyspark 4's progress holds UUIDs and timestamps: write them as their strings.
                out.write(json.dumps({**progress, "stepSeconds": steps}, default=str) + "\n")
