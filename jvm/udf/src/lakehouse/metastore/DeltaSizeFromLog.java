package lakehouse.metastore;

import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hive.common.StatsSetupConst;
import org.apache.hadoop.hive.metastore.MetaStorePreEventListener;
import org.apache.hadoop.hive.metastore.api.Table;
import org.apache.hadoop.hive.metastore.events.PreAlterTableEvent;
import org.apache.hadoop.hive.metastore.events.PreCreateTableEvent;
import org.apache.hadoop.hive.metastore.events.PreEventContext;

/**
 * Keeps the metastore from recording a Delta table's size, so that Spark sizes the table from
 * its Delta log, which is always current.
 *
 * <p>Hive's metastore records a table's bytes and files by listing its folder when the table is
 * created and on every ALTER TABLE, and never after an insert or a merge. Spark prefers those
 * figures to Delta's own, so a Delta table created small kept its first size for good: an
 * incremental model created at 10 MB was planned as a 10 MB broadcast at 460 MB, and the Thrift
 * server ran out of memory building it. The metastore runs this listener
 * (hive.metastore.pre.event.listeners, set in profiles/profiles.yml) before it creates or alters
 * a table: for a Delta table it drops the recorded figures and asks the metastore not to take
 * new ones. Other tables keep theirs. A table created before the listener keeps its figures
 * until its next ALTER TABLE. A metastore service (hive.metastore.uris) runs its own listeners:
 * set it there.
 */
public final class DeltaSizeFromLog extends MetaStorePreEventListener {
  private static final String PROVIDER = "spark.sql.sources.provider";

  public DeltaSizeFromLog(Configuration conf) {
    super(conf);
  }

  @Override
  public void onEvent(PreEventContext context) {
    switch (context.getEventType()) {
      case CREATE_TABLE -> withoutSizeStatistics(((PreCreateTableEvent) context).getTable());
      case ALTER_TABLE -> withoutSizeStatistics(((PreAlterTableEvent) context).getNewTable());
      default -> {}
    }
  }

  private static void withoutSizeStatistics(Table table) {
    Map<String, String> parameters = table.getParameters();
    if (parameters == null || !"delta".equalsIgnoreCase(parameters.get(PROVIDER))) {
      return;
    }
    for (String statistic : StatsSetupConst.supportedStats) {
      parameters.remove(statistic);
    }
    parameters.remove(StatsSetupConst.COLUMN_STATS_ACCURATE);
    // The metastore reads and removes this marker instead of listing the table's folder.
    parameters.put(StatsSetupConst.DO_NOT_UPDATE_STATS, StatsSetupConst.TRUE);
  }
}
