"""dbt on the `local` target (in-process Spark) and on the `thrift` target (a Spark Thrift server).

Both share the session's warehouse and metastore, so the table the local run builds is then
read through the Thrift server, which runs all the while. The tests run in file order.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import PROJECT_DIR, VENV_BIN, free_port, ok, run

SCHEMA = "dbt_smoke"


@pytest.fixture(scope="module")
def env(thrift_env, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("dbt")
    return {
        **thrift_env,
        "LAKEHOUSE_SCHEMA": SCHEMA,
        "DBT_TARGET_PATH": str(base / "dbt-target"),
        "DBT_LOG_PATH": str(base / "dbt-logs"),
    }


@pytest.fixture(scope="module")
def one_model_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-model dbt project on the real profiles (the lakehouse project's models need bronze)."""
    project = tmp_path_factory.mktemp("one_model_project")
    (project / "models").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: one_model\nversion: '1.0.0'\nconfig-version: 2\nprofile: lakehouse\n"
        "models:\n  one_model:\n    +materialized: table\n    +file_format: delta\n"
    )
    (project / "models" / "order_counts.sql").write_text(
        "select 'placed' as status, 2 as order_count\nunion all\nselect 'paid', 1\n"
    )
    return project


@pytest.fixture(scope="module")
def seed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-seed dbt project with the lakehouse project's seed materialization."""
    project = tmp_path_factory.mktemp("seed_project")
    (project / "seeds").mkdir()
    (project / "macros").mkdir()
    shutil.copy(PROJECT_DIR / "macros" / "seeds" / "reload_changed_seeds.sql", project / "macros")
    (project / "dbt_project.yml").write_text(
        "name: one_seed\nversion: '1.0.0'\nconfig-version: 2\nprofile: lakehouse\n"
        "seeds:\n  one_seed:\n    +file_format: delta\n"
        "    +column_types: {code: string, rate: 'decimal(9,2)'}\n"
    )
    (project / "seeds" / "seed_rates.csv").write_text("code,rate\nEUR,1.10\nGBP,1.30\n")
    return project


def dbt(env: dict[str, str], *args: str):
    return run([str(VENV_BIN / "dbt"), *args], env)


def run_results(env: dict[str, str]) -> list[dict]:
    return json.loads((Path(env["DBT_TARGET_PATH"]) / "run_results.json").read_text())["results"]


@pytest.fixture(scope="module")
def thrift(env):
    """The same environment, for the tests that go through the Thrift server."""
    return env


def thrift_rows(env: dict[str, str], sql: str) -> list[tuple]:
    from pyhive import hive

    with hive.connect("127.0.0.1", int(env["THRIFT_PORT"]), username="test") as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall()


def test_dbt_debug_on_local(env) -> None:
    out = ok(dbt(env, "debug", "--project-dir", str(PROJECT_DIR), "--target", "local"))
    assert "Connection test: [OK connection ok]" in out


def test_one_model_run_on_local(env, one_model_project) -> None:
    ok(dbt(env, "run", "--project-dir", str(one_model_project), "--target", "local"))
    assert [(r["unique_id"], r["status"]) for r in run_results(env)] == [
        ("model.one_model.order_counts", "success")
    ]


def test_dbt_debug_on_thrift(thrift) -> None:
    out = ok(dbt(thrift, "debug", "--project-dir", str(PROJECT_DIR), "--target", "thrift"))
    assert "Connection test: [OK connection ok]" in out


def test_thrift_reads_the_local_runs_delta_table(thrift) -> None:
    rows = thrift_rows(thrift, f"select status, order_count from {SCHEMA}.order_counts")
    assert sorted(rows) == [("paid", 1), ("placed", 2)]
    assert thrift_rows(thrift, f"describe detail {SCHEMA}.order_counts")[0][0] == "delta"


def test_one_model_run_on_thrift_builds_a_delta_table(thrift, one_model_project) -> None:
    thrift_rows(thrift, f"drop table if exists {SCHEMA}.order_counts")
    ok(dbt(thrift, "run", "--project-dir", str(one_model_project), "--target", "thrift"))
    assert [r["status"] for r in run_results(thrift)] == ["success"]
    extended = dict(
        (row[0], row[1]) for row in thrift_rows(thrift, f"describe extended {SCHEMA}.order_counts")
    )
    assert extended["Provider"] == "delta"
    assert sorted(thrift_rows(thrift, f"select * from {SCHEMA}.order_counts")) == [
        ("paid", 1),
        ("placed", 2),
    ]


def test_a_seed_is_loaded_again_only_when_its_file_or_its_table_changed(
    thrift, seed_project
) -> None:
    table = f"{SCHEMA}.seed_rates"

    def seed() -> str:
        ok(dbt(thrift, "seed", "--project-dir", str(seed_project), "--target", "thrift"))
        (result,) = run_results(thrift)
        assert result["status"] == "success"
        return result["message"]

    def commits() -> int:
        return len(thrift_rows(thrift, f"describe history {table}"))

    def rows() -> list[tuple]:
        return sorted(
            (code, str(rate)) for code, rate in thrift_rows(thrift, f"select * from {table}")
        )

    thrift_rows(thrift, f"drop table if exists {table}")
    assert seed() == "INSERT 2"
    assert rows() == [("EUR", "1.10"), ("GBP", "1.30")]
    loaded = commits()
    assert seed() == "UNCHANGED"
    assert commits() == loaded  # not a write more
    # A write to the table since its load: the seed is loaded again.
    thrift_rows(thrift, f"update {table} set rate = 9 where code = 'EUR'")
    assert seed() == "INSERT 2"
    assert rows() == [("EUR", "1.10"), ("GBP", "1.30")]
    # A changed file: loaded again, and left alone after that.
    (seed_project / "seeds" / "seed_rates.csv").write_text("code,rate\nEUR,1.20\n")
    assert seed() == "INSERT 1"
    assert rows() == [("EUR", "1.20")]
    assert seed() == "UNCHANGED"


def test_the_thrift_log_keeps_warnings_without_the_known_noise(thrift) -> None:
    # After the runs above: profiles/spark-log4j2.properties keeps the server's own start
    # line and drops Spark's INFO chatter and Hive's per-session warning.
    log = (Path(thrift["LAKEHOUSE_STATE_DIR"]) / "logs" / "thrift.log").read_text()
    assert " INFO HiveThriftServer2: " in log
    chatter = [
        line for line in log.splitlines() if " INFO " in line and "HiveThriftServer2" not in line
    ]
    assert not chatter, chatter[:5]
    assert "HiveConf of name" not in log


@pytest.mark.faults
def test_the_thrift_target_fails_fast_and_clearly_when_the_server_is_down(env) -> None:
    port = free_port()
    down = {**env, "THRIFT_PORT": str(port)}
    result = dbt(down, "run", "--target", "thrift", "--select", "stg_shop__orders")
    assert result.returncode != 0
    assert "failed to connect" in result.stdout
    # dbt-spark's own words do not say where; the Thrift client's line before them does.
    host = env.get("THRIFT_HOST", "127.0.0.1")
    assert f"Could not connect to any of [('{host}', {port})]" in result.stdout, result.stdout
