"""The stack's schema registry: Apicurio Registry 3.1.7, whose Confluent-compatible API
(`/apis/ccompat/v7`) is what producers and the ingest job talk to (docs/design.md).

It runs from the Quarkus build `make setup` makes into .cache/registry (jvm/registry/pom.xml),
binds REGISTRY_HOST:REGISTRY_PORT (127.0.0.1:8085), and keeps its schemas in an H2 database
file under <state>/registry, so schemas and their ids survive `make down` / `make up` and a
restart of the registry alone: bronze rows refer to those ids forever. A new database gets the
global compatibility rule LAKEHOUSE_REGISTRY_COMPATIBILITY (BACKWARD, Confluent's default;
Apicurio's own is NONE); later starts leave whatever the registry holds.

Each start (and `make schemas`) registers the contract's Avro schemas
(ingest/contracts/avro/, generated from the JSON Schemas) under `<topic>-value`, oldest version
first, and sets each subject's rule to LAKEHOUSE_REGISTRY_COMPATIBILITY
(ingest/schema_registry.py). Registering a schema the subject holds already changes nothing;
one the rule refuses fails with one line naming the subject, the rule and what broke it.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from lakehouse.settings import PROJECT_DIR, Settings
from services.process import (
    PortClaim,
    Service,
    ServiceError,
    require_free_ports,
    wait_until_healthy,
)

RUN_JAR = "quarkus-app/quarkus-run.jar"
TIMEOUT_S = 5.0


def build_dir() -> Path:
    return Path(os.environ.get("LAKEHOUSE_REGISTRY_DIR", PROJECT_DIR / ".cache" / "registry"))


def data_dir(settings: Settings) -> Path:
    return settings.state_dir / "registry"


def service(settings: Settings) -> Service:
    return Service.in_stack(settings, "registry", f"-Dlakehouse.registry={data_dir(settings)}")


def ports(settings: Settings) -> list[PortClaim]:
    host, port = settings.registry_host, settings.registry_port
    return [(host, port, "the schema registry", "REGISTRY_PORT")]


def request(settings: Settings, method: str, path: str, body: Any = None) -> Any:
    """One call to the registry's Confluent-compatible API; its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(
        settings.registry_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(call, timeout=TIMEOUT_S) as answer:
        return json.load(answer)


def _healthy(settings: Settings) -> bool:
    try:
        request(settings, "GET", "/subjects")
    except (OSError, ValueError):
        return False
    return True


def _command(settings: Settings) -> list[str]:
    jar = build_dir() / RUN_JAR
    if not jar.exists():
        raise ServiceError(f"no schema registry at {jar}: run `make setup` first")
    java_home = os.environ.get("JAVA_HOME")
    database = data_dir(settings) / "registry"
    return [
        f"{java_home}/bin/java" if java_home else "java",
        "-Xmx384m",
        f"-Dlakehouse.registry={data_dir(settings)}",  # names the process for its PID file
        f"-Dquarkus.http.host={settings.registry_host}",
        f"-Dquarkus.http.port={settings.registry_port}",
        "-Dquarkus.management.enabled=false",
        "-Dquarkus.http.access-log.enabled=false",
        f"-Djava.io.tmpdir={settings.tmp_dir}",
        # A database file, not the default in-memory one: ids must outlive a restart.
        f"-Dapicurio.datasource.url=jdbc:h2:file:{database};DB_CLOSE_ON_EXIT=FALSE",
        "-Dapicurio.datasource.jdbc.initial-size=2",
        "-Dapicurio.datasource.jdbc.min-size=2",
        "-Dapicurio.datasource.jdbc.max-size=20",
        "-Dapicurio.app.name=lakehouse schema registry",
        f"-Dapicurio.storage.snapshot.location={settings.tmp_dir}",
        f"-Dapicurio.import.work-dir={settings.tmp_dir}",
        "-jar",
        str(build_dir() / RUN_JAR),
    ]


def compatibility(env: dict[str, str] | None = None) -> str:
    level = (os.environ if env is None else env).get("LAKEHOUSE_REGISTRY_COMPATIBILITY", "BACKWARD")
    from ingest.schema_registry import COMPATIBILITY_LEVELS

    if level.upper() not in COMPATIBILITY_LEVELS:
        raise ServiceError(
            f"LAKEHOUSE_REGISTRY_COMPATIBILITY={level!r}: choose one of "
            + ", ".join(COMPATIBILITY_LEVELS)
        )
    return level.upper()


def register(settings: Settings, env: dict[str, str] | None = None) -> list[str]:
    """Register the contract's schemas (ingest/schema_registry.py) in the stack's registry,
    whatever LAKEHOUSE_SCHEMA_REGISTRY_URL says (that one is for `make schemas`)."""
    from ingest import config as ingest_config
    from ingest.schema_registry import RegistryRefusedError, register_contract

    env = dict(os.environ if env is None else env)
    conf = ingest_config.load({**env, "LAKEHOUSE_SCHEMA_REGISTRY_URL": settings.registry_url})
    try:
        return register_contract(conf, compatibility(env))
    except RegistryRefusedError as exc:
        raise ServiceError(str(exc)) from None


def up(settings: Settings) -> str:
    svc = service(settings)
    pid = svc.running_pid()
    if pid is not None:
        return f"registry already running (pid {pid}) on {settings.registry_url}"
    require_free_ports(ports(settings))
    level = compatibility()
    new = not any(data_dir(settings).glob("registry*.db"))
    for folder in (data_dir(settings), settings.logs_dir, settings.tmp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    pid = svc.start(_command(settings), os.environ, data_dir(settings))
    wait_until_healthy(svc, pid, lambda: _healthy(settings), settings.start_timeout_s)
    if new:
        request(settings, "PUT", "/config", {"compatibility": level})
    subjects_done = len(register(settings))
    return (
        f"registry up (pid {pid}) on {settings.registry_url}, {subjects_done} contract schemas "
        f"registered, log {svc.log_file}"
    )


def down(settings: Settings) -> str:
    return "registry stopped" if service(settings).stop() else "registry was not running"


def subjects(settings: Settings) -> dict[str, Any]:
    """Each subject's latest version, its schema id and the compatibility rule in force
    (make status)."""
    try:
        found: dict[str, Any] = {}
        for subject in request(settings, "GET", "/subjects"):
            latest = request(settings, "GET", f"/subjects/{subject}/versions/latest")
            # The rule in force: the subject's own, or else the global one.
            rule = request(settings, "GET", f"/config/{subject}?defaultToGlobal=true")
            found[subject] = {
                "version": latest["version"],
                "id": latest["id"],
                "rule": rule["compatibilityLevel"],
            }
        level = request(settings, "GET", "/config")["compatibilityLevel"]
    except (OSError, ValueError) as exc:
        return {"error": f"no schema registry answers at {settings.registry_url}: {exc}"}
    return {"url": settings.registry_url, "compatibility": level, "subjects": found}


def main(argv: list[str]) -> int:
    """`python -m services.registry register` (`make schemas`): the contract's schemas into the
    registry at LAKEHOUSE_SCHEMA_REGISTRY_URL (default: the stack's)."""
    import sys

    from ingest import config as ingest_config
    from ingest.schema_registry import RegistryRefusedError, register_contract

    if argv != ["register"]:
        print("usage: python -m services.registry register", file=sys.stderr)
        return 2
    try:
        for line in register_contract(ingest_config.load(), compatibility()):
            print(line)
    except (ServiceError, RegistryRefusedError, ingest_config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
