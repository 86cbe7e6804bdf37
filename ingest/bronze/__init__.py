"""`python -m ingest.bronze` (`make ingest`): Kafka topics -> the bronze Delta table, exactly once.

Every record lands raw in bronze (key and value as strings, Kafka coordinates, headers,
`_ingested_at`, partitioned by `ingest_date`): parsing happens in dbt, so a bad payload never
stops ingest. An Avro topic's records (Confluent's wire format) are decoded in the JVM to the
contract's JSON, their bytes and schema id kept (`avro`). Records that break the contract's
structure (not JSON, missing required fields, wrong types: ingest/contract.py; Avro that does
not decode) are also published to `<topic>.dlq` with the error and their source coordinates in
headers.

Each micro-batch reads Kafka once, for the Delta append; the dead-letter check then reads the
batch's `value`s back from bronze (its files alone, found by the batch's `_ingested_at`), and a
check in the JVM (ingest/jvm_contract.py) spares Python the well-formed ones.

Exactly once: one stable checkpoint per bronze table, and each micro-batch's Delta append is
idempotent (`txnAppId` = the checkpoint's query id, `txnVersion` = the batch id), so a batch
replayed after a crash is skipped by Delta. The dead-letter topic is at-least-once.

Modes: `--available-now` (the default; drain what is there, then exit 0: the scheduled mode)
and `--continuous` (a processing-time trigger; SIGTERM or Ctrl-C stop it after the running
batch). `--check` only runs the pre-flight check (broker answers, topics exist) and reports
bronze's lag per partition (over LAKEHOUSE_MAX_LAG: catching up), without Spark; a run logs
the same lag line before it starts Spark. Exit codes: 0 done, 1 the stream failed, 2 bad
configuration, or Kafka or (with an Avro topic) the schema registry not reachable.

Modules: `preflight` (checks before a JVM starts), `writer` (the table, and each micro-batch's
append and dead letters), `avro` (the registry's schemas and the decode), `progress` (one line
per batch), `stream` (the streaming query) and `__main__` (the command line). The design:
docs/design.md.
"""
