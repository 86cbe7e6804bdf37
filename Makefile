# lakehouse: every command a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
AIRFLOW_VENV := .venv-airflow
UV := .cache/uv/bin/uv
# Maven's own default local repository, shared by every clone, as uv's cache is: a new clone
# downloads nothing twice (docs/configuration.md).
MAVEN_REPO_LOCAL ?= $(HOME)/.m2/repository
MVN := mvn -B -s jvm/settings.xml -Dmaven.repo.local=$(MAVEN_REPO_LOCAL)

# Absolute paths, so that dbt, Spark and the services agree wherever they run
# (docs/configuration.md). Override any of them in the environment.
export LAKEHOUSE_STATE_DIR ?= $(CURDIR)/.state
export LAKEHOUSE_JARS_DIR ?= $(CURDIR)/.cache/jars
export DBT_PROFILES_DIR ?= $(CURDIR)/profiles
export SPARK_LOCAL_IP ?= 127.0.0.1
# No telemetry or version pings: the variables of lakehouse/telemetry.env, exported.
include lakehouse/telemetry.env
export $(shell sed -n 's/^\([A-Z_]*\)=.*/\1/p' lakehouse/telemetry.env)
export UV_LINK_MODE := copy

PY := $(VENV)/bin/python
DATA_STAMP := $(VENV)/.lakehouse-installed
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.lakehouse-installed
# What Cosmos renders the DAGs from (`dbt parse`): remade when the dbt project changes.
MANIFEST := target/manifest.json
DBT_PROJECT_FILES := dbt_project.yml profiles/profiles.yml $(shell find models macros seeds tests/generic -type f 2>/dev/null)
SPARK_JARS_STAMP := $(LAKEHOUSE_JARS_DIR)/spark/.complete
KAFKA_JARS_STAMP := $(LAKEHOUSE_JARS_DIR)/kafka/.complete
METASTORE_JARS_STAMP := $(LAKEHOUSE_JARS_DIR)/metastore/.complete
# The project's Java, on the profile's class path: the ingest job's contract check
# (ingest/jvm_contract.py) and the metastore check (profiles/profiles.yml).
UDF_JAR := $(LAKEHOUSE_JARS_DIR)/lakehouse/lakehouse-udf.jar
# The schema registry (jvm/registry/pom.xml): a Quarkus build of Apicurio Registry.
REGISTRY_JAR := .cache/registry/quarkus-app/quarkus-run.jar
# The embedded Spark driver's class-data archive (ingest/jvm_archive.py; the profile names
# it): the stamp says it was tried.
CLASS_ARCHIVE_STAMP := $(LAKEHOUSE_JARS_DIR)/.class-archive-tried
REGISTRY_SOURCES := jvm/registry/pom.xml jvm/settings.xml $(shell find jvm/registry/repo jvm/registry/src -type f 2>/dev/null)
UDF_SOURCES := $(shell find jvm/udf/src -name '*.java' 2>/dev/null)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --- setup -------------------------------------------------------------------------------

.PHONY: setup
setup: prerequisites $(DATA_STAMP) $(AIRFLOW_STAMP) $(SPARK_JARS_STAMP) $(KAFKA_JARS_STAMP) $(METASTORE_JARS_STAMP) $(UDF_JAR) $(CLASS_ARCHIVE_STAMP) $(REGISTRY_JAR) $(MANIFEST) ## venvs, pinned deps, jars, the schema registry and the dbt manifest (safe to re-run; fast when done)
	@mkdir -p "$(LAKEHOUSE_STATE_DIR)/tmp"
	@echo "setup: done (data venv $(VENV), Airflow venv $(AIRFLOW_VENV), jars in $(LAKEHOUSE_JARS_DIR))"

.PHONY: prerequisites
prerequisites:
	@# The locks are resolved for 3.11 (make lock): on 3.10, networkx and starlette there do not install.
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else "setup: need Python 3.11 or 3.12 as $(PYTHON) (the locks need it), found " + sys.version.split()[0])'
	@command -v java >/dev/null && command -v javac >/dev/null || { echo "setup: need a Java 17+ JDK (apt-get install openjdk-17-jdk-headless)"; exit 1; }
	@java -version 2>&1 | awk -F '"' '/version/ { split($$2, v, "."); if (v[1] < 17) { print "setup: need Java 17+, found " $$2; exit 1 } }'
	@command -v mvn >/dev/null || { echo "setup: need Maven (apt-get install maven)"; exit 1; }

$(UV):
	@echo "setup: bootstrapping uv $(UV_VERSION) into .cache/uv"
	@$(PYTHON) -m venv .cache/uv
	@.cache/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(DATA_STAMP): requirements/data.txt | $(UV)
	@echo "setup: data venv $(VENV) from requirements/data.txt"
	@[ -x $(PY) ] || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	@$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements/data.txt
	@# The project's own packages (ingest, services) on the venv's path, with no build step.
	@echo "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/lakehouse.pth"
	@scripts/activate-hook.sh $(VENV)/bin/activate "$(CURDIR)"
	@touch $@

$(AIRFLOW_STAMP): requirements/airflow.txt | $(UV)
	@echo "setup: Airflow venv $(AIRFLOW_VENV) from requirements/airflow.txt"
	@[ -x $(AIRFLOW_VENV)/bin/python ] || $(UV) venv --quiet --python $(PYTHON) $(AIRFLOW_VENV)
	@$(UV) pip sync --quiet --compile-bytecode --python $(AIRFLOW_VENV)/bin/python requirements/airflow.txt
	@touch $@

# The jars of jvm/<name>/pom.xml (spark: Delta, the Kafka connector and what Spark lacks;
# kafka: the broker; metastore: Derby's network server), from Maven Central into
# .cache/jars/<name>.
$(LAKEHOUSE_JARS_DIR)/%/.complete: jvm/%/pom.xml jvm/settings.xml
	@echo "setup: the jars of jvm/$*/pom.xml from Maven Central into $(@D)"
	@rm -rf "$(@D)"
	@mkdir -p .cache && $(MVN) -f jvm/$*/pom.xml dependency:copy-dependencies -Djars.dir="$(@D)" \
	  > .cache/maven-$*.log 2>&1 || { cat .cache/maven-$*.log; exit 1; }
	@touch $@

# Compiled against the pyspark install's own jars (Spark's UDF interface, Jackson): no download.
$(UDF_JAR): $(UDF_SOURCES) $(DATA_STAMP)
	@echo "setup: the JVM contract check -> $@"
	@rm -rf .cache/udf-classes && mkdir -p .cache/udf-classes "$(@D)"
	@javac --release 17 -d .cache/udf-classes \
	  -cp "$$($(PY) -c 'import pathlib, pyspark; print(pathlib.Path(pyspark.__file__).parent / "jars")')/*" \
	  $(UDF_SOURCES)
	@jar --create --file $@ -C .cache/udf-classes .

# An optimization: without it, drivers start as before, so a failure is said, not fatal.
$(CLASS_ARCHIVE_STAMP): $(DATA_STAMP) $(SPARK_JARS_STAMP) $(UDF_JAR) ingest/jvm_archive.py
	@echo "setup: the Spark driver's class-data archive (ingest/jvm_archive.py)"
	@$(PY) -m ingest.jvm_archive > .cache/jvm-archive.log 2>&1 \
	  || echo "setup: no class-data archive (.cache/jvm-archive.log says why); Spark drivers start without it"
	@touch $@

$(REGISTRY_JAR): $(REGISTRY_SOURCES)
	@echo "setup: the schema registry (Apicurio Registry 3.1.7, jvm/registry) -> .cache/registry"
	@mkdir -p .cache && $(MVN) -f jvm/registry/pom.xml package > .cache/maven-registry.log 2>&1 \
	  || { tail -50 .cache/maven-registry.log; exit 1; }
	@touch $@

$(MANIFEST): $(DATA_STAMP) $(DBT_PROJECT_FILES)
	@echo "setup: dbt parse -> $@ (the Airflow DAGs render from it)"
	@$(VENV)/bin/dbt parse --quiet

.PHONY: lock
lock: | $(UV) ## re-resolve requirements/*.in into the locked requirements/*.txt
	$(UV) pip compile --quiet --no-header --python-version 3.11 requirements/data.in -o requirements/data.txt
	$(UV) pip compile --quiet --no-header --python-version 3.11 requirements/airflow.in -o requirements/airflow.txt

# --- the local stack ---------------------------------------------------------------------

.PHONY: up
up: setup ## start the metastore, Kafka, the schema registry and the Spark Thrift server (no-op for what already runs)
	@$(PY) -m services up

.PHONY: schemas
schemas: setup ## register the contract's Avro schemas in the running schema registry (make up does it too)
	@$(PY) -m services.registry register

.PHONY: down
down: ## stop the local services (data is kept)
	@if [ -x $(PY) ]; then $(PY) -m services down; fi

.PHONY: status
status: ## which services run; Kafka lag per partition, table rows and freshness, the last dbt run, the event log's last runs and hourly ingest and quarantine (JSON=1 for JSON)
	@$(PY) -m services.status $(if $(JSON),--json)

# The DAGs' dbt tasks run on the Thrift server these targets start (one warm Spark for every
# task, rather than one JVM each on `local`), unless DBT_TARGET says otherwise.
AIRFLOW_DBT_TARGET = DBT_TARGET=$${DBT_TARGET:-thrift}

.PHONY: airflow
airflow: setup ## start the metastore, Kafka, the Thrift server and a local Airflow (UI on http://127.0.0.1:8080) running dags/
	@$(AIRFLOW_DBT_TARGET) $(PY) -m services up metastore kafka thrift airflow
	@echo "airflow: lakehouse_pipeline runs when events arrive (try make produce) and on its schedule; run one now: make dag-test (docs/orchestration.md)"

.PHONY: cluster
cluster: setup ## start a Spark standalone cluster (a master, two workers); use it with LAKEHOUSE_SPARK_MASTER
	@$(PY) -m services up cluster
	@echo "cluster: export LAKEHOUSE_SPARK_MASTER=<the master above> for make ingest, make up (Thrift) and dbt; make down stops it"

DAG ?= lakehouse_pipeline
.PHONY: dag-test
dag-test: setup ## one run of a DAG in this process (airflow dags test): DAG=lakehouse_pipeline CONF='{"full_refresh": true}'
	@$(PY) -m services up metastore kafka thrift
	@$(AIRFLOW_DBT_TARGET) $(PY) -m services.airflow dags test $(DAG) $(if $(CONF),--conf '$(CONF)')

# --- quality -----------------------------------------------------------------------------

.PHONY: lint
lint: $(DATA_STAMP) ## ruff and sqlfluff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/sqlfluff lint models tests

# Two pytest-xdist workers share the suite's one stack; a module stays on one worker, in file
# order (docs/testing.md). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2

.PHONY: test
test: setup lint ## set up, lint and run the whole test suite (starts and stops its own services)
	$(VENV)/bin/pytest --durations=25 --junitxml="$(LAKEHOUSE_STATE_DIR)/test-results.xml" $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

.PHONY: test-durations
test-durations: ## rewrite docs/testing.md's table of where the time goes, from the last make test
	$(PY) tests/durations.py

.PHONY: test-unit
test-unit: setup ## the tests that start no JVM and no service (docs/testing.md; make test includes them)
	$(VENV)/bin/pytest -m unit

.PHONY: test-faults
test-faults: setup ## the faults tier: the tests that kill, restart or break a service (docs/testing.md)
	$(VENV)/bin/pytest -m faults

# --- the pipeline ------------------------------------------------------------------------

.PHONY: produce
produce: setup ## publish generated shop events: make produce ARGS="--orders 5000 --seed 7 --duplicate-rate 0.05"
	@$(PY) -m services up kafka
	@$(PY) -m ingest.produce $(ARGS)

.PHONY: ingest
ingest: setup ## one availableNow run of the bronze job (Kafka -> bronze Delta, dead letters): ARGS passed on
	@$(PY) -m services up kafka
	@$(PY) -m ingest.bronze $(ARGS)

DBT := $(VENV)/bin/dbt
# dbt as the pipeline runs it: a command whose only failure is the event log's write goes on,
# with one warning (lakehouse/dbt_results.py).
DBT_PIPELINE := $(PY) -m lakehouse.dbt_results $(DBT)

.PHONY: build
build: setup ## dbt seed + dbt build on the local target; ARGS passed on: ARGS="--select silver+ --full-refresh"
	@$(PY) -m services up metastore
	$(DBT_PIPELINE) seed
	$(DBT_PIPELINE) build $(ARGS)

.PHONY: erase
erase: setup ## erase a customer's personal data from every table and file, then rebuild gold: CUSTOMER=<id> BY=<ticket or who asks>
	@test -n "$(CUSTOMER)" -a -n "$(BY)" || { echo "usage: make erase CUSTOMER=<customer id> BY=<ticket or who asks>" >&2; exit 2; }
	@$(PY) -m services up metastore
	$(DBT) --log-level-file none run-operation erase_customer --args '{customer_id: "$(CUSTOMER)", requested_by: "$(BY)"}'
	$(DBT_PIPELINE) build --select config.schema:gold

.PHONY: docs
docs: setup ## generate the dbt docs and serve them on http://127.0.0.1:8081
	@$(PY) -m services up metastore
	$(DBT) docs generate
	$(DBT) docs serve --host 127.0.0.1 --port 8081 --no-browser

.PHONY: sql
sql: setup ## a SQL shell on the warehouse (beeline while the Thrift server runs); Q="select ..." runs one query
	@$(PY) -m services up metastore
	@$(PY) -m services.sql $(if $(Q),"$(Q)")

# A realistic day of shop events with some trouble, then a smaller second batch the next day.
# Orders go as Avro through the schema registry, on schema version 1 the first day and 2 the
# second; payments stay JSON.
DEMO_FORMATS := orders=avro
DEMO_DAY_1 := --orders 3000 --seed 7 --duplicate-rate 0.03 --late-rate 0.2 --max-lateness-hours 6 \
	--malformed-rate 0.004 --v2-rate 0 --start 2026-01-01T00:00:00Z
DEMO_DAY_2 := --orders 300 --seed 8 --duplicate-rate 0.03 --late-rate 0.2 --max-lateness-hours 6 \
	--malformed-rate 0.004 --v2-rate 1 --start 2026-01-02T00:00:00Z

.PHONY: demo
demo: export LAKEHOUSE_TOPIC_FORMATS = $(DEMO_FORMATS)
demo: setup ## the whole pipeline: Kafka -> bronze -> dbt silver/gold, a report, then an incremental second batch
	@$(PY) -m services up metastore kafka registry
	@echo "demo: 1/2 a day of shop events (orders as Avro, schema version 1; payments as JSON)"
	@$(PY) -m ingest.produce $(DEMO_DAY_1) --manifest "$(LAKEHOUSE_STATE_DIR)/demo/day-1.json" > /dev/null
	@$(PY) -m ingest.bronze
	@$(DBT_PIPELINE) seed --quiet
	@$(DBT_PIPELINE) build
	@$(DBT) --quiet run-operation pipeline_report
	@echo "demo: 2/2 a second, smaller batch, orders on schema version 2: gold recomputes only what changed; silver also re-reads the last silver_lookback_hours of bronze (dbt_project.yml), and its merge updates none of those rows"
	@$(PY) -m ingest.produce $(DEMO_DAY_2) --manifest "$(LAKEHOUSE_STATE_DIR)/demo/day-2.json" > /dev/null
	@$(PY) -m ingest.bronze
	@$(DBT_PIPELINE) build
	@$(DBT) --quiet run-operation pipeline_report
	@echo "demo: done. Manifests in $(LAKEHOUSE_STATE_DIR)/demo/. Kafka, the registry and the metastore are still up: \`make down\` stops them."

# --- benchmarks --------------------------------------------------------------------------

.PHONY: bench
bench: setup ## benchmarks on private stacks -> bench/results/*.json (about an hour; docs/benchmarks.md)
	@$(PY) bench/ingest_throughput.py
	@$(PY) bench/latency.py
	@$(PY) bench/incremental_cost.py
	@$(PY) bench/dbt_overhead.py
	@$(PY) bench/dag_run.py

# --- cleaning ----------------------------------------------------------------------------

.PHONY: clean
clean: ## stop services and delete local state (.state, target); FORCE=1 skips the question, ALL=1 also drops venvs and caches
	@if [ "$${FORCE:-}" != 1 ]; then \
	  read -r -p "Delete $(LAKEHOUSE_STATE_DIR) (Kafka data, warehouse, metastore, checkpoints)$${ALL:+, venvs and caches}? [y/N] " answer; \
	  [ "$$answer" = y ] || [ "$$answer" = Y ] || { echo "clean: nothing deleted"; exit 1; }; \
	fi
	@$(MAKE) --no-print-directory down
	rm -rf "$(LAKEHOUSE_STATE_DIR)" target dbt_packages logs
	@if [ "$${ALL:-}" = 1 ]; then echo rm -rf $(VENV) $(AIRFLOW_VENV) .cache; rm -rf $(VENV) $(AIRFLOW_VENV) .cache; fi
