"""The incremental strategies' macros (macros/merge/strategies.sql), rendered with Jinja as
dbt-spark tests its macros: no Spark, with dbt's context stubbed. What the statements do to
Delta tables: test_merge_macro.py and the end-to-end builds."""

from __future__ import annotations

from typing import Any
from unittest import mock

import jinja2
import jinja2.runtime
import pytest
from helpers import PROJECT_DIR

pytestmark = pytest.mark.unit

MERGE = PROJECT_DIR / "macros/merge/lakehouse_merge.sql"
STRATEGIES = PROJECT_DIR / "macros/merge/strategies.sql"


class Returned(Exception):  # noqa: N818 - dbt's return() is control flow, not an error
    """dbt's return(): ends the macro with a value."""

    def __init__(self, value: Any) -> None:
        self.value = value


class CompilerError(Exception):
    pass


class ReturningMacro(jinja2.runtime.Macro):
    """A macro call that ends at dbt's return() with its value, as dbt's MacroGenerator does."""

    def _invoke(self, arguments: list, autoescape: bool) -> Any:
        try:
            return super()._invoke(arguments, autoescape)
        except Returned as returned:
            return returned.value


def _return(value: Any) -> None:
    raise Returned(value)


def _raise(message: str) -> None:
    raise CompilerError(message)


class Column:
    def __init__(self, name: str) -> None:
        self.name = name


def render(macro: str, *args: Any, meta: dict | None = None) -> Any:
    """Call one macro of strategies.sql with dbt's context stubbed; its returned value."""
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    handed_back: list = []

    class Dbt:
        @staticmethod
        def dbt_spark_validate_get_incremental_strategy(strategy: str, file_format: str) -> str:
            handed_back.append(("validate", strategy, file_format))
            return f"dbt-spark:{strategy}"

        @staticmethod
        def dbt_spark_get_incremental_sql(strategy: str, *_: Any) -> str:
            handed_back.append(("sql", strategy))
            return f"dbt-spark sql for {strategy}"

    class Adapter:
        @staticmethod
        def get_columns_in_relation(_: Any) -> list[Column]:
            return [Column(c) for c in ("order_id", "status", "placed_at", "last_event_at")]

        @staticmethod
        def get_incremental_strategy_macro(_: Any, strategy: str):
            return lambda arg_dict: render(f"get_incremental_{strategy}_sql", arg_dict, meta=meta)

    settings = {"meta": meta or {}}
    env.globals.update(
        {
            "return": _return,
            "exceptions": type("Exceptions", (), {"raise_compiler_error": staticmethod(_raise)}),
            "config": type("Config", (), {"get": staticmethod(settings.get)}),
            "adapter": Adapter,
            "dbt": Dbt,
            "context": {},
            "sql_header": None,
            "get_merge_update_columns": lambda *_: [],
        }
    )
    # The compiled templates import Macro from jinja2.runtime when they load.
    with mock.patch.object(jinja2.runtime, "Macro", ReturningMacro):
        merge = env.from_string(MERGE.read_text()).module
        env.globals["lakehouse_merge_sql"] = merge.lakehouse_merge_sql
        result = getattr(env.from_string(STRATEGIES.read_text()).module, macro)(*args)
    return (result, handed_back) if macro.startswith("dbt_spark_") else result


ARGS = {
    "target_relation": "silver.orders",
    "temp_relation": "orders__dbt_tmp",
    "unique_key": "order_id",
    "dest_columns": None,
    "incremental_predicates": None,
}


def test_latest_wins_merges_the_newest_version_per_key() -> None:
    meta = {"latest_wins": {"order_by": ["last_event_at"], "keep_least": ["placed_at"]}}
    sql = " ".join(str(render("get_incremental_latest_wins_sql", ARGS, meta=meta)).split())
    assert "merge into silver.orders as dbt_internal_dest" in sql
    assert "partition by order_id order by last_event_at desc" in sql
    assert "dbt_internal_source.order_id <=> dbt_internal_dest.order_id" in sql
    assert "placed_at = least(dbt_internal_dest.placed_at, dbt_internal_source.placed_at)" in sql
    assert "then delete" not in sql


def test_latest_wins_says_what_its_config_lacks_or_does_not_know() -> None:
    with pytest.raises(CompilerError, match=r"needs meta\.latest_wins\.order_by"):
        render("get_incremental_latest_wins_sql", ARGS, meta={})
    typo = {"latest_wins": {"order_by": ["last_event_at"], "keep_lest": ["placed_at"]}}
    with pytest.raises(CompilerError, match="unknown keep_lest"):
        render("get_incremental_latest_wins_sql", ARGS, meta=typo)


def test_sync_writes_what_differs_and_deletes_the_keys_that_are_gone() -> None:
    sql = " ".join(str(render("get_incremental_sync_sql", ARGS)).split())
    assert "when matched and dbt_internal_source.dbt_merge_is_gone then delete" in sql
    assert "left anti join silver.orders as dbt_internal_dest" in sql


def test_sync_with_a_scope_deletes_only_in_the_scopes_it_selects() -> None:
    meta = {"sync": {"scope": "order_id"}}
    args = {**ARGS, "unique_key": "status"}
    sql = " ".join(str(render("get_incremental_sync_sql", args, meta=meta)).split())
    assert (
        "left semi join (select distinct order_id from orders__dbt_tmp) as dbt_merge_scopes "
        "on dbt_internal_dest.order_id <=> dbt_merge_scopes.order_id"
    ) in sql
    with pytest.raises(CompilerError, match="unknown scopes"):
        render("get_incremental_sync_sql", args, meta={"sync": {"scopes": "order_id"}})
    with pytest.raises(CompilerError, match="scope order_ids is not a column"):
        render("get_incremental_sync_sql", args, meta={"sync": {"scope": "order_ids"}})


def test_dbt_spark_takes_our_strategies_and_hands_back_every_other() -> None:
    assert render("dbt_spark_validate_get_incremental_strategy", "latest_wins", "delta") == (
        "latest_wins",
        [],
    )
    with pytest.raises(CompilerError, match="set file_format delta"):
        render("dbt_spark_validate_get_incremental_strategy", "sync", "parquet")
    assert render("dbt_spark_validate_get_incremental_strategy", "merge", "delta") == (
        "dbt-spark:merge",
        [("validate", "merge", "delta")],
    )
    sql, handed_back = render(
        "dbt_spark_get_incremental_sql", "sync", "tmp", "target", None, "order_id", None
    )
    assert "dbt_merge_is_gone" in str(sql) and handed_back == []
    assert render("dbt_spark_get_incremental_sql", "append", "tmp", "target", None, None, None) == (
        "dbt-spark sql for append",
        [("sql", "append")],
    )
