"""Stopping a service stops every process it started, not only the one it was started as."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.process import Service, _alive


def test_stop_ends_a_child_that_outlives_its_leader(tmp_path: Path) -> None:
    # The leader exits on SIGTERM; its child ignores SIGTERM (as `airflow standalone`'s
    # triggerer once outlived `make down`), so only SIGKILL after the timeout ends it.
    child_file = tmp_path / "child.pid"
    service = Service("probe", tmp_path / "probe.pid", tmp_path / "probe.log", "outlives-probe")
    script = f"(trap '' TERM; echo $BASHPID > {child_file}; exec sleep 300) & wait # outlives-probe"
    service.start(["bash", "-c", script], os.environ, tmp_path)
    deadline = time.monotonic() + 10
    while not child_file.exists() or not child_file.read_text().strip():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child = int(child_file.read_text())

    assert service.stop(timeout_s=2)

    assert not _alive(child), f"the child {child} is still running"
    assert service.running_pid() is None
