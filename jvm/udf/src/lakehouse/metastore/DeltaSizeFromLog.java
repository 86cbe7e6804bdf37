package lakehouse.metastore;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.hive.common.StatsSetupConst;
import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.metastore.DefaultMetaStoreFilterHookImpl;
import org.apache.hadoop.hive.metastore.api.MetaException;
import org.apache.hadoop.hive.metastore.api.NoSuchObjectException;
import org.apache.hadoop.hive.metastore.api.Table;

/**
 * Leaves the metastore's size statistics out of the Delta tables Spark reads from it, so that
 * Spark sizes a Delta table from its log, which is always current.
 *
 * <p>Hive's metastore records a table's bytes and files when the table is created and again on
 * every ALTER TABLE, by listing its folder, and never after an insert or a merge. Spark prefers
 * those figures to Delta's own, so a Delta table created small keeps its first size for good:
 * an incremental model created at 10 MB was planned as a 10 MB broadcast at 460 MB, and the
 * Thrift server ran out of memory building it. Hive's client applies this hook
 * (hive.metastore.filter.hook, set in profiles/profiles.yml) to every table it reads, with the
 * stack's Derby server or a metastore service alike; other tables keep their figures. Hive puts
 * its own hook in its place when its authorization manager is a V2 factory (its default, though
 * authorization is off), so the profile names the V1 default provider too.
 */
public final class DeltaSizeFromLog extends DefaultMetaStoreFilterHookImpl {
  private static final String PROVIDER = "spark.sql.sources.provider";

  public DeltaSizeFromLog(HiveConf conf) {
    super(conf);
  }

  @Override
  public Table filterTable(Table table) throws NoSuchObjectException {
    return withoutSizeStatistics(super.filterTable(table));
  }

  @Override
  public List<Table> filterTables(List<Table> tables) throws MetaException {
    List<Table> filtered = new ArrayList<>();
    for (Table table : super.filterTables(tables)) {
      filtered.add(withoutSizeStatistics(table));
    }
    return filtered;
  }

  private static Table withoutSizeStatistics(Table table) {
    Map<String, String> parameters = table == null ? null : table.getParameters();
    if (parameters == null || !"delta".equalsIgnoreCase(parameters.get(PROVIDER))) {
      return table;
    }
    Table copy = table.deepCopy();
    for (String statistic : StatsSetupConst.supportedStats) {
      copy.getParameters().remove(statistic);
    }
    copy.getParameters().remove(StatsSetupConst.COLUMN_STATS_ACCURATE);
    return copy;
  }
}
