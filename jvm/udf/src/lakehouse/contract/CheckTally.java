package lakehouse.contract;

import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.util.LongAccumulator;

/**
 * The contract check in the same pass as the bronze write (ingest/bronze/writer.py).
 *
 * <p>call(sure, offset) returns the offset unchanged, and counts the row, and the row again in
 * {@code unsure} when the check was not sure of it. Put over the written `offset` column, it
 * lets the job know after the write, without reading the batch back, whether any row needs the
 * Python check. The offset, not the value, passes through: a number crosses unchanged and
 * costs nothing, while a value with invalid UTF-8 would come out of a Java String repaired.
 * Spark merges a task's counts when the task succeeds and drops a failed attempt's: a count is
 * never too low, so a check is never missed.
 */
public final class CheckTally implements UDF2<Boolean, Long, Long> {
  private static final long serialVersionUID = 1L;
  private final LongAccumulator rows;
  private final LongAccumulator unsure;

  public CheckTally(LongAccumulator rows, LongAccumulator unsure) {
    this.rows = rows;
    this.unsure = unsure;
  }

  /**
   * The tally as a SQL function. Not deterministic, so the optimizer neither drops nor repeats
   * it: one count per row. Made here because Java picks the typed {@code udf(UDF2, DataType)};
   * through py4j the untyped Scala overload matches too, and which one comes first depends on
   * the JVM's reflection order (a class-data archive changed it).
   */
  public static UserDefinedFunction function(LongAccumulator rows, LongAccumulator unsure) {
    return functions.udf(new CheckTally(rows, unsure), DataTypes.LongType).asNondeterministic();
  }

  @Override
  public Long call(Boolean sure, Long offset) {
    rows.add(1);
    if (sure == null || !sure) {
      unsure.add(1);
    }
    return offset;
  }
}
