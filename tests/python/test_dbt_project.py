"""The dbt project as analysts meet it: documented, and portable to Databricks (parse only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import PROJECT_DIR, VENV_BIN, ok, run, stack_env


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    env = stack_env(tmp_path_factory.mktemp("parse"))
    ok(run([str(VENV_BIN / "dbt"), "parse", "--project-dir", str(PROJECT_DIR)], env))
    return json.loads((Path(env["DBT_TARGET_PATH"]) / "manifest.json").read_text())


def test_every_model_and_column_is_documented(manifest) -> None:
    models = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    assert len(models) >= 11
    for node in models:
        assert node["description"].strip(), f"{node['name']} has no description"
        sql = (PROJECT_DIR / node["original_file_path"]).read_text()
        assert node["columns"], f"{node['name']} documents no columns"
        for name, column in node["columns"].items():
            assert column["description"].strip(), f"{node['name']}.{name} has no description"
        if node["resource_type"] == "model":
            # What the model returns: its last CTE, `final` (the style every model follows).
            final = sql[sql.rindex("final as (") :]
            for name in node["columns"]:
                assert re.search(rf"\b{name}\b", final), f"{node['name']}.{name} is not in final"


def test_every_primary_key_is_unique_and_not_null(manifest) -> None:
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    keys = {
        "orders": "order_id",
        "payments": "payment_id",
        "order_items": "order_item_id",
        "quarantine": "quarantine_id",
        "int_event_first_deliveries": "event_id",
        "int_order_events": "event_id",
        "order_status_history": "order_status_interval_id",
        "fulfillment_daily": "fulfillment_date",
        "fct_orders": "order_id",
        "daily_revenue": "order_date",
        "dim_customers": "customer_id",
        "currencies": "currency_code",
        "exchange_rates": "concat(currency_code, '/', rate_date)",
    }
    for model, key in keys.items():
        kinds = {
            t["test_metadata"]["name"]
            for t in tests
            if t.get("test_metadata")
            # a model-level test of a key expression names it in its arguments only
            and (t.get("column_name") or t["test_metadata"]["kwargs"].get("column_name")) == key
            and any(dep.endswith(f".{model}") for dep in t["depends_on"]["nodes"])
        }
        assert {"unique", "not_null"} <= kinds, f"{model}.{key}: {kinds}"


def test_the_project_parses_for_databricks(tmp_path) -> None:
    env = {
        **stack_env(tmp_path),
        "DATABRICKS_HOST": "example.cloud.databricks.com",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/0000000000000000",
        "DBT_ENV_SECRET_DATABRICKS_TOKEN": "not-a-real-token",
    }
    out = ok(run([str(VENV_BIN / "dbt"), "parse", "--target", "databricks"], env))
    assert "Registered adapter: databricks" in out
    assert "Deprecated" not in out


def test_the_freshness_selector_keeps_every_data_gate_on_the_way_to_fct_orders(tmp_path) -> None:
    """selectors.yml: +dim_customers (fct_orders and its customers) without seeds, the seeds'
    own tests, unit tests and the tests that also read a model the loop does not build."""

    def listed(*selection: str) -> set[str]:
        keys = "unique_id resource_type depends_on"
        argv = [str(VENV_BIN / "dbt"), "--quiet", "ls", *selection, "--output", "json"]
        out = ok(run([*argv, "--output-keys", keys], stack_env(tmp_path)))
        return {line for line in out.splitlines() if line.startswith("{")}

    lineage = [json.loads(line) for line in listed("--select", "+dim_customers")]
    fresh = {json.loads(line)["unique_id"] for line in listed("--selector", "freshness")}
    seeds = {n["unique_id"] for n in lineage if n["resource_type"] == "seed"}
    built = {n["unique_id"] for n in lineage if n["resource_type"] not in ("test", "unit_test")}
    assert seeds and {"model.lakehouse.fct_orders", "model.lakehouse.dim_customers"} <= fresh
    for node in lineage:
        reads = set(node.get("depends_on", {}).get("nodes", []))
        seeds_only = node["resource_type"] == "test" and reads <= seeds
        # A test of fct_orders that also reads daily_revenue would fail once an order is new.
        reads_unbuilt = node["resource_type"] == "test" and not reads <= built
        left_out = node["resource_type"] in ("seed", "unit_test") or seeds_only or reads_unbuilt
        assert (node["unique_id"] not in fresh) is left_out, node["unique_id"]
    assert not {u for u in fresh if u.startswith("test.lakehouse.daily_revenue_agrees")}
    # Gates between two sides stay: orders' currencies must be known, fct_orders' customers too.
    assert any(u.startswith("test.lakehouse.relationships_orders_currency") for u in fresh)
    assert any(u.startswith("test.lakehouse.relationships_fct_orders_customer_id") for u in fresh)


PERSONAL_COLUMNS = {"customer_id", "customer_email_hash", "raw_value"}


def test_personal_columns_are_erasable_and_kept_out_of_delta_statistics(manifest) -> None:
    """An erasure finds what to rewrite by column meta (macros/privacy/erase_customer.sql),
    and Delta's log, which it cannot rewrite, must never hold those columns' min and max."""
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["config"]["materialized"] == "view":
            continue
        columns = node["columns"]
        personal = {c for c, v in columns.items() if (v.get("meta") or {}).get("personal_data")}
        assert personal == PERSONAL_COLUMNS & set(columns), node["name"]
        if personal:
            stats = node["config"]["tblproperties"]["delta.dataSkippingStatsColumns"].split(",")
            assert not set(stats) & personal and set(stats) <= set(columns), node["name"]
            assert node["config"]["unique_key"], node["name"]
            assert not set(node["config"]["meta"].get("zorder_by", [])) & personal, node["name"]
