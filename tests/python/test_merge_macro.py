"""The project's merge macro (macros/merge/lakehouse_merge.sql), rendered and run on Delta.

Cases: a newer version updates; an older (late) version does not, but still lowers the kept
earliest time; duplicates in one batch collapse to the newest; null keys match null-safely;
new keys insert; without order_by the stock behaviour (update all) holds; `sync` writes
only the rows that differ and deletes the keys that are gone, with a `scope` only in the scopes
the source selects.
"""

from __future__ import annotations

import uuid

import jinja2
import pytest
from helpers import PROJECT_DIR

COLUMNS = "order_id string, status string, placed_at int, last_event_at int, last_offset int"


def merge_sql(target: str, source: str, **options) -> str:
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    macros = env.from_string((PROJECT_DIR / "macros/merge/lakehouse_merge.sql").read_text())
    return str(
        macros.module.lakehouse_merge_sql(
            target=target,
            source=source,
            unique_key="order_id",
            update_columns=["order_id", "status", "placed_at", "last_event_at", "last_offset"],
            **options,
        )
    )


@pytest.fixture
def tables(spark):
    suffix = uuid.uuid4().hex[:8]
    target, source = f"merge_target_{suffix}", f"merge_source_{suffix}"
    spark.sql(f"create table {target} ({COLUMNS}) using delta")
    spark.sql(
        f"insert into {target} values "
        "('a', 'paid', 10, 20, 5), ('b', 'paid', 10, 20, 5), (null, 'placed', 1, 1, 1)"
    )
    spark.sql(f"create table {source} ({COLUMNS}) using delta")
    yield target, source
    spark.sql(f"drop table {target}")
    spark.sql(f"drop table {source}")


def rows(spark, table: str) -> set[tuple]:
    return {tuple(r) for r in spark.table(table).collect()}


def test_newest_wins_and_kept_columns_move(spark, tables) -> None:
    target, source = tables
    spark.sql(
        f"insert into {source} values "
        # a: a newer event, twice in the batch plus an older one: the newest of them wins
        "('a', 'shipped', 15, 30, 7), ('a', 'delivered', 15, 40, 9), ('a', 'placed', 8, 12, 2), "
        # b: only a late, older event: the state stays, placed_at moves to the earlier time
        "('b', 'placed', 3, 3, 1), "
        # c: a new order
        "('c', 'placed', 50, 50, 1), "
        # the null key matches the stored null key, null-safely, and is newer
        "(null, 'paid', 1, 2, 2)"
    )
    spark.sql(
        merge_sql(
            target,
            source,
            order_by=["last_event_at", "last_offset"],
            keep_least=["placed_at"],
        )
    )
    assert rows(spark, target) == {
        ("a", "delivered", 10, 40, 9),  # newest state, placed_at stays the earlier 10
        ("b", "paid", 3, 20, 5),  # state kept, placed_at lowered to the late event's 3
        ("c", "placed", 50, 50, 1),
        (None, "paid", 1, 2, 2),
    }


def test_ties_on_event_time_are_broken_by_offset(spark, tables) -> None:
    target, source = tables
    spark.sql(f"insert into {source} values ('a', 'cancelled', 10, 20, 6), ('a', 'x', 10, 20, 4)")
    spark.sql(merge_sql(target, source, order_by=["last_event_at", "last_offset"]))
    assert ("a", "cancelled", 10, 20, 6) in rows(spark, target)


def test_replaying_the_same_batch_changes_nothing(spark, tables) -> None:
    target, source = tables
    spark.sql(f"insert into {source} values ('a', 'shipped', 15, 30, 7), ('b', 'placed', 3, 3, 1)")
    sql = merge_sql(
        target, source, order_by=["last_event_at", "last_offset"], keep_least=["placed_at"]
    )
    spark.sql(sql)
    once = rows(spark, target)
    versions = spark.sql(f"describe history {target}").count()
    spark.sql(sql)
    assert rows(spark, target) == once
    # no incoming row would change a thing, so Delta rewrites no file (an empty commit at most)
    history = spark.sql(f"describe history {target}").orderBy("version").collect()
    new = history[versions:]
    assert len(new) <= 1
    for entry in new:
        metrics = entry["operationMetrics"]
        assert metrics.get("numTargetRowsUpdated", "0") == "0"
        assert metrics.get("numTargetFilesAdded", "0") == "0"
        assert metrics.get("numTargetFilesRemoved", "0") == "0"


def test_without_order_by_it_is_the_stock_merge(spark, tables) -> None:
    target, source = tables
    spark.sql(f"insert into {source} values ('a', 'placed', 1, 1, 1), ('d', 'placed', 2, 2, 2)")
    spark.sql(merge_sql(target, source))
    assert ("a", "placed", 1, 1, 1) in rows(spark, target)  # older, but updated all the same
    assert ("d", "placed", 2, 2, 2) in rows(spark, target)


def test_sync_writes_only_what_differs_and_deletes_what_is_gone(spark, tables) -> None:
    target, source = tables
    # The whole new state: a as stored, b changed, c new; the null-key row is gone.
    spark.sql(
        f"insert into {source} values "
        "('a', 'paid', 10, 20, 5), ('b', 'shipped', 10, 30, 6), ('c', 'placed', 1, 1, 1)"
    )
    sql = merge_sql(target, source, sync=True)
    spark.sql(sql)
    assert rows(spark, target) == {
        ("a", "paid", 10, 20, 5),
        ("b", "shipped", 10, 30, 6),
        ("c", "placed", 1, 1, 1),
    }
    merge = spark.sql(f"describe history {target}").orderBy("version").collect()[-1]
    # b updated, c inserted, the null key deleted; a not written (rows: a shares b's file).
    assert merge["operationMetrics"]["numTargetRowsUpdated"] == "1"
    assert merge["operationMetrics"]["numTargetRowsInserted"] == "1"
    assert merge["operationMetrics"]["numTargetRowsDeleted"] == "1"

    versions = spark.sql(f"describe history {target}").count()
    spark.sql(sql)  # the same state again: nothing to write
    assert rows(spark, target) == {("a", "paid", 10, 20, 5), ("b", "shipped", 10, 30, 6),
                                   ("c", "placed", 1, 1, 1)}  # fmt: skip
    for entry in spark.sql(f"describe history {target}").orderBy("version").collect()[versions:]:
        metrics = entry["operationMetrics"]
        assert metrics.get("numTargetFilesAdded", "0") == "0", metrics
        assert metrics.get("numTargetFilesRemoved", "0") == "0", metrics


def test_sync_with_a_scope_replaces_the_lines_of_the_orders_it_selects(spark) -> None:
    """Order lines keyed by line: o1 shrinks from three lines to one, o2 changes a line and
    gains one, o3 is not selected, so its lines stay although the source lacks them."""
    suffix = uuid.uuid4().hex[:8]
    target, source = f"lines_target_{suffix}", f"lines_source_{suffix}"
    columns = "line_id string, order_id string, sku string, quantity int"
    for table in (target, source):
        spark.sql(f"create table {table} ({columns}) using delta")
    try:
        spark.sql(
            f"insert into {target} values ('o1-1', 'o1', 'a', 1), ('o1-2', 'o1', 'b', 1), "
            "('o1-3', 'o1', 'c', 1), ('o2-1', 'o2', 'a', 1), ('o3-1', 'o3', 'z', 9)"
        )
        spark.sql(
            f"insert into {source} values ('o1-1', 'o1', 'a', 2), "
            "('o2-1', 'o2', 'a', 1), ('o2-2', 'o2', 'd', 4)"
        )
        env = jinja2.Environment(extensions=["jinja2.ext.do"])
        macros = env.from_string((PROJECT_DIR / "macros/merge/lakehouse_merge.sql").read_text())
        sql = str(
            macros.module.lakehouse_merge_sql(
                target=target,
                source=source,
                unique_key="line_id",
                update_columns=["line_id", "order_id", "sku", "quantity"],
                sync=True,
                scope="order_id",
            )
        )
        spark.sql(sql)
        assert rows(spark, target) == {
            ("o1-1", "o1", "a", 2),
            ("o2-1", "o2", "a", 1),
            ("o2-2", "o2", "d", 4),
            ("o3-1", "o3", "z", 9),
        }
        metrics = (
            spark.sql(f"describe history {target}")
            .orderBy("version")
            .collect()[-1]["operationMetrics"]
        )
        # o1-1 updated, o2-2 inserted, o1-2 and o1-3 deleted; o2-1 and o3-1 not written.
        assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsInserted"]) == ("1", "1")
        assert metrics["numTargetRowsDeleted"] == "2"
    finally:
        for table in (target, source):
            spark.sql(f"drop table {table}")
