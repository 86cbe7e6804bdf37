"""The local stack (`make up` / `make down`): the metastore, a Kafka broker, the schema registry
and a Spark Thrift server; Airflow and a Spark standalone cluster when asked for
(`python -m services`)."""
