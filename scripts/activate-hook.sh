#!/usr/bin/env bash
# Appends the project's environment to a venv's bin/activate (once), so that after
# `source .venv/bin/activate` a plain `dbt build` in the project root finds the profiles,
# the jars and the state folder, and sends no telemetry.
set -euo pipefail
activate=$1
project=$2
marker="# >>> lakehouse environment >>>"
grep -qF "$marker" "$activate" && exit 0
cat >>"$activate" <<HOOK

$marker
export DBT_PROFILES_DIR="\${DBT_PROFILES_DIR:-$project/profiles}"
export LAKEHOUSE_STATE_DIR="\${LAKEHOUSE_STATE_DIR:-$project/.state}"
export LAKEHOUSE_JARS_DIR="\${LAKEHOUSE_JARS_DIR:-$project/.cache/jars}"
export SPARK_LOCAL_IP="\${SPARK_LOCAL_IP:-127.0.0.1}"
$(sed -n 's/^[A-Z_]*=.*/export &/p' "$project/lakehouse/telemetry.env")
# <<< lakehouse environment <<<
HOOK
