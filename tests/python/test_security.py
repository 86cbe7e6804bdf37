"""Security basics that need no services: no credentials in the repository.

(The plain e-mail reaching no silver or gold column is checked on real data in
test_pipeline_e2e.py; Kafka security settings reaching both clients in test_ingest_config.py.)
"""

from __future__ import annotations

import re
import subprocess

from helpers import PROJECT_DIR

# Formats of real secrets, and literal values given to secret-looking keys.
SECRET_PATTERNS = {
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "Databricks token": re.compile(r"\bdapi[0-9a-f]{32}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "secret literal": re.compile(
        r"""(?ix)\b(password|passwd|secret|token|api[_-]?key|access[_-]?key)\b["']?\s*[:=]\s*
        ["']([^"'\s${}<>]{8,})["']"""
    ),
}


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_DIR, capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name]


def findings(name: str, text: str) -> list[str]:
    found = []
    for kind, pattern in SECRET_PATTERNS.items():
        for match in pattern.finditer(text):
            found.append(f"{name}: {kind}: {match.group(0)[:60]}")
    return found


def test_no_credentials_are_committed() -> None:
    files = tracked_files()
    assert "profiles/profiles.yml" in files  # the scan sees the repository
    found = []
    for name in files:
        path = PROJECT_DIR / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        found += findings(name, path.read_text(errors="replace"))
    assert found == []


def test_the_scan_finds_each_kind_of_secret() -> None:
    # Built at run time, so that this file holds no secret-shaped text itself.
    samples = {
        "AWS access key": "AKIA" + "Z" * 16,
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "Databricks token": "dapi" + "0" * 32,
        "GitHub token": "ghp_" + "a" * 36,
        "Slack token": "xoxb-" + "1" * 12,
        "secret literal": 'password: "' + "hunter2hunter2" + '"',
    }
    for kind, sample in samples.items():
        assert any(kind in f for f in findings("sample.txt", f"x = {sample}\n")), kind
    # Secrets read from the environment are how it should be done: no finding.
    assert findings("profiles.yml", "token: \"{{ env_var('DBT_ENV_SECRET_TOKEN') }}\"") == []
