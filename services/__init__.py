"""The local stack: a Kafka broker and a Spark Thrift server (`make up` / `make down`)."""
