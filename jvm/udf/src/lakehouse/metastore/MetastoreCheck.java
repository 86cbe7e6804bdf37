package lakehouse.metastore;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hive.metastore.MetaStoreInitContext;
import org.apache.hadoop.hive.metastore.MetaStoreInitListener;
import org.apache.hadoop.hive.metastore.api.MetaException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops a Spark process's first metastore call at once, in one line that names the address and
 * the command that starts it, when the stack's metastore (Derby's network server) does not
 * answer.
 *
 * <p>Without it, Hive's client retries for about 45 s and logs tens of thousands of lines of
 * stack traces, then fails with an error that names no address. With it, the line is logged and
 * the caller's own error follows (dbt: "Unable to instantiate SessionHiveMetaStoreClient").
 * Hive runs this hook (hive.metastore.init.hooks, set in profiles/profiles.yml) before it opens
 * its database connection, when a process first needs the catalog: the ingest job, which needs
 * none, never runs it. A metastore service (hive.metastore.uris) does not run it either: Hive's
 * client names that address itself.
 */
public final class MetastoreCheck extends MetaStoreInitListener {
  private static final Logger LOG = LoggerFactory.getLogger(MetastoreCheck.class);
  private static final int TIMEOUT_MS = 2000;
  // Hive retries the call that runs this hook: say it once per outage, not once per retry.
  private static final AtomicBoolean SAID = new AtomicBoolean();
  private static final Pattern DERBY_NETWORK_URL =
      Pattern.compile("^jdbc:derby://([^:/;]+)(?::(\\d+))?/.*");

  public MetastoreCheck(Configuration conf) {
    super(conf);
  }

  @Override
  public void onInit(MetaStoreInitContext context) throws MetaException {
    Matcher derby =
        DERBY_NETWORK_URL.matcher(getConf().get("javax.jdo.option.ConnectionURL", "").trim());
    if (!derby.matches()) {
      return; // embedded Derby or another database: nothing of the stack's to check
    }
    String host = derby.group(1);
    int port = derby.group(2) == null ? 1527 : Integer.parseInt(derby.group(2));
    if (answers(host, port)) {
      SAID.set(false);
    } else {
      String message =
          "no metastore answers at "
              + host
              + ":"
              + port
              + ": start it with `make up` (or `python -m services up metastore`)";
      // Logged, as Spark and Hive wrap what is thrown in errors whose message is their own.
      if (!SAID.getAndSet(true)) {
        LOG.error(message);
      }
      throw new MetaException(message);
    }
  }

  private static boolean answers(String host, int port) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(host, port), TIMEOUT_MS);
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
