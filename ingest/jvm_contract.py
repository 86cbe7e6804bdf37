"""The contracts' structure check in the JVM: the ingest job's shortcut past Python.

`jvm/udf/src/lakehouse/contract/FastStructureCheck.java`, built by `make setup` into
`$LAKEHOUSE_JARS_DIR/lakehouse/` (on the profile's class path), answers true only for a message
that surely keeps its contract's structure. The others (few: the bad ones) go to the Python
check (ingest/contract.py), which decides and words the reason, so the dead letters are the
same with or without the shortcut; without it, every message crosses into Python, which took
about 30% of the ingest job's time in the throughput benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from py4j.java_gateway import JavaClass
from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import Column
from pyspark.sql import functions as sf

from ingest import contract

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JAVA_CLASS = "lakehouse.contract.FastStructureCheck"
TALLY_CLASS = "lakehouse.contract.CheckTally"
TALLY_FUNCTION = "lakehouse_check_tally"


def _java_class(spark: SparkSession, name: str) -> JavaClass | None:
    found = spark.sparkContext._jvm
    for part in name.split("."):
        found = getattr(found, part)
    # py4j answers a JavaPackage for a missing class.
    return found if isinstance(found, JavaClass) else None


def register(spark: SparkSession, names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Register one SQL function per contract: ({contract: function name}, why others have none)."""
    jvm = spark.sparkContext._jvm
    check_class = _java_class(spark, JAVA_CLASS)
    if check_class is None:
        return {}, [f"{JAVA_CLASS} is not on the class path (`make setup` builds it)"]
    functions, problems = {}, []
    for name in sorted(set(names)):
        structure = contract.structure_of(contract.contracts()[name].schema)
        try:
            check = check_class(json.dumps(structure), contract.DATE_TIME_REGEX)
        except CapturedException as exc:  # a schema keyword the JVM check does not model
            problems.append(f"{name}: {str(exc).splitlines()[0]}")
            continue
        except Py4JJavaError as exc:  # the same, where pyspark does not translate the error
            problems.append(f"{name}: {exc.java_exception.getMessage()}")
            continue
        function = f"lakehouse_{name}_surely_well_formed"
        spark._jsparkSession.udf().register(
            function, check, jvm.org.apache.spark.sql.types.DataTypes.BooleanType
        )
        functions[name] = function
    return functions, problems


def surely_well_formed(
    spark: SparkSession,
    topics: Iterable[str],
    contract_of: Callable[[str], str | None],
    value: Column | None = None,
) -> tuple[Column | None, list[str]]:
    """A boolean column over Kafka rows (topic, and `value`: the binary `value` column unless
    given): true when the value surely keeps its topic's contract structure, false when the
    Python check must decide; and the reasons some topics have no shortcut. None when no topic
    has one."""
    message = sf.col("value") if value is None else value
    by_topic = {topic: contract_of(topic) for topic in topics}
    known = {name for name in by_topic.values() if name in contract.contracts()}
    functions, problems = register(spark, known)
    shortcut = None
    for topic, name in sorted(by_topic.items()):
        if name not in functions:
            continue
        when = sf.col("topic") == sf.lit(topic)
        sure = sf.call_function(functions[name], message)
        shortcut = sf.when(when, sure) if shortcut is None else shortcut.when(when, sure)
    if shortcut is None:
        return None, problems
    return shortcut.otherwise(sf.lit(False)), problems


class CheckTally:
    """The check's verdicts counted in the bronze write itself (`CheckTally.java`): after the
    write, the rows it wrote and those the check was unsure of, without reading them back."""

    def __init__(self, spark: SparkSession) -> None:
        tally_class = _java_class(spark, TALLY_CLASS)
        if tally_class is None:
            raise RuntimeError(f"{TALLY_CLASS} is not on the class path (`make setup` builds it)")
        context = spark.sparkContext._jsc.sc()
        self._rows = context.longAccumulator("lakehouse: rows the bronze write checked")
        self._unsure = context.longAccumulator("lakehouse: rows the JVM check was unsure of")
        function = tally_class.function(self._rows, self._unsure)
        spark._jsparkSession.udf().register(TALLY_FUNCTION, function)

    def passing(self, sure: Column, offset: Column) -> Column:
        """`offset` (a bigint) unchanged, each row counted, and counted as unsure unless `sure`
        is true."""
        return sf.call_function(TALLY_FUNCTION, sure, offset)

    def counts(self) -> tuple[int, int]:
        """(rows, unsure rows) counted since this tally was made; subtract two readings to get a
        write's own."""
        return int(self._rows.value()), int(self._unsure.value())
