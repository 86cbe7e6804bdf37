"""The Cosmos operator of a `dbt build` (each layer's in lakehouse_dbt.dbt_task_group, and
gold's in the erasure DAG): Cosmos's own, except that it runs no unit tests, and that a
command whose only failure is the event log's succeeds, with one warning.

Unit tests check the SQL's logic on fixed inputs, so a scheduled build would only repeat
them: as dbt advises, they run in development and CI (an analyst's `dbt build`, `make test`),
not in production (docs/orchestration.md).

A failing write to the event log never fails the pipeline (docs/dbt.md#the-event-log): the
callback lakehouse_dbt.record_dbt_problems, which runs before Cosmos judges the exit code,
sets `event_log_failure` when run_results.json shows the log's hooks were all that failed.
"""

from __future__ import annotations

from typing import Any

from cosmos.operators.local import DbtBuildLocalOperator

from lakehouse.dbt_results import warning


class LayerBuildOperator(DbtBuildLocalOperator):
    event_log_failure: str | None = None

    def add_cmd_flags(self) -> list[str]:
        return [*super().add_cmd_flags(), "--exclude-resource-type", "unit_test"]

    def handle_exception_subprocess(self, result: Any) -> None:
        if result.exit_code != 0 and self.event_log_failure is not None:
            self.log.warning(warning(self.event_log_failure))
            return
        super().handle_exception_subprocess(result)
