"""The pipeline's ingest step: a data-venv command (the bronze job) as a Bash task, skipped
when a run's `run_ingest` param is false."""

from __future__ import annotations

from typing import Any

from lakehouse_settings import SETTINGS

SKIP_WHEN_NO_INGEST = (
    "{% if not params.run_ingest %}echo 'skipped: run_ingest is false'; exit 99{% endif %}\n"
)


def ingest_step(task_id: str, command: str, **extra: Any) -> Any:
    """A data-venv command of the ingest part: skipped when the run's `run_ingest` is false."""
    from airflow.providers.standard.operators.bash import BashOperator

    return BashOperator(
        task_id=task_id,
        bash_command=SKIP_WHEN_NO_INGEST + command,
        cwd=str(SETTINGS.project_dir),
        env=SETTINGS.task_env,
        append_env=True,
        skip_on_exit_code=99,
        **{**SETTINGS.retry_args, **extra},
    )
