"""Background processes with PID files: start detached, find again, health-wait, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import Settings


class ServiceError(RuntimeError):
    """A service could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class Service:
    name: str
    pid_file: Path
    log_file: Path
    # A string on the command line that only this service's process has, so that a stale PID
    # file whose PID now belongs to another process is never mistaken for the service.
    marker: str

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return None
        return pid if self.marker in cmdline else None

    def start(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,  # survives the shell that ran `make up`
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def stop(self, timeout_s: float = 60.0, give_up: Callable[[], bool] | None = None) -> bool:
        """SIGTERM (a clean shutdown), then SIGKILL after the timeout, or as soon as `give_up`
        says the clean shutdown cannot finish. False if not running."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        # The whole group, not only its leader: `airflow standalone`'s triggerer has outlived
        # it, and nothing would stop it afterwards.
        if not _wait_gone(pid, timeout_s, give_up):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    @classmethod
    def in_stack(cls, settings: Settings, name: str, marker: str) -> Service:
        """A service of the local stack: its PID and log files under the state folder."""
        return cls(
            name, settings.run_dir / f"{name}.pid", settings.logs_dir / f"{name}.log", marker
        )

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields of a /proc/<pid>/stat after the command's name (state, parent, process
    group, ...); None once the process is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    # A zombie has exited; only its exit status is left for the parent to collect.
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return fields is not None and fields[0] != "Z"


def _group_alive(pgid: int) -> bool:
    """True while a process of the group has not exited (a zombie has, as in _alive)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _wait_gone(pgid: int, timeout_s: float, give_up: Callable[[], bool] | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        if give_up is not None and give_up():
            break
        time.sleep(0.2)
    return not _group_alive(pgid)


def port_is_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


# (host, port, what binds it, the env var that moves it)
PortClaim = tuple[str, int, str, str]


def require_free_ports(claims: list[PortClaim]) -> None:
    for claim in claims:
        require_free_port(*claim)


def require_free_port(host: str, port: int, service: str, env_var: str) -> None:
    if port_is_open(host, port):
        raise ServiceError(
            f"cannot start {service}: port {port} on {host} is already in use by another "
            f"process. Stop that process, or pick another port with {env_var}=<port>."
        )


def wait_until_healthy(
    service: Service,
    pid: int,
    check: Callable[[], bool],
    timeout_s: float,
) -> None:
    """Poll `check` until it passes; fail at once if the process dies, or at the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            service.pid_file.unlink(missing_ok=True)
            raise ServiceError(
                f"{service.name} exited during start-up. Last lines of {service.log_file}:\n"
                f"{service.log_tail()}"
            )
        if check():
            return
        time.sleep(0.5)
    service.stop(timeout_s=10)
    raise ServiceError(
        f"{service.name} did not become healthy within {timeout_s:.0f}s "
        f"(LAKEHOUSE_START_TIMEOUT). Last lines of {service.log_file}:\n{service.log_tail()}"
    )
