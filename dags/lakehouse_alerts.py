"""Failure text and alerts: one line naming what failed, logged, and one message for each
failed task (a failed data-quality test included), to a webhook or, with none set, to a Kafka
topic on the stack's broker, so the default setup alerts somewhere real.

- `LAKEHOUSE_ALERT_WEBHOOK`: a URL that gets the alert as a JSON POST. Its `text` field is the
  one-line summary, which is what a Slack incoming webhook shows (docs/orchestration.md).
- otherwise `LAKEHOUSE_ALERT_TOPIC` (default `lakehouse.alerts`), created when missing, on
  `KAFKA_BOOTSTRAP_SERVERS` with the ingest job's client settings (SASL and TLS included).

Settings are read when an alert is sent, not when a DAG file parses. Sending never raises: an
alert that cannot go out is logged, and the task's own failure stands.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Mapping
from typing import Any

from lakehouse_settings import ingest_settings

DEFAULT_TOPIC = "lakehouse.alerts"
TIMEOUT_S = 10.0

log = logging.getLogger("lakehouse.alerts")


def sla_minutes() -> float:
    """LAKEHOUSE_RUN_SLA_MINUTES: how long a pipeline run may go before it alerts (0: never)."""
    return float(os.environ.get("LAKEHOUSE_RUN_SLA_MINUTES", "60"))


def failure_facts(context: Mapping[str, Any]) -> dict[str, Any]:
    """What failed: the DAG, run, task and try, the dbt node and its failed tests (or the error)."""
    ti = context.get("ti") or context.get("task_instance")
    task_id = getattr(ti, "task_id", "?")
    exception = context.get("exception")
    facts: dict[str, Any] = {
        "dag_id": getattr(ti, "dag_id", "?"),
        "run_id": getattr(ti, "run_id", "?"),
        "task_id": task_id,
        "try_number": getattr(ti, "try_number", "?"),
        "dbt_node": None,
        "failed": [],
        "error": None,
    }
    problems = None
    if ti is not None and task_id.startswith("dbt."):
        try:  # what the dbt task's callback kept (lakehouse_dbt.record_dbt_problems)
            problems = ti.xcom_pull(task_ids=task_id, key="dbt_problems")
            facts["dbt_node"] = ti.xcom_pull(task_ids=task_id, key="dbt_node")
        except Exception:  # noqa: BLE001 - a summary must never fail the callback
            problems = None
    if problems:
        facts["failed"] = list(problems)
    elif exception is not None:
        lines = str(exception).strip().splitlines()
        facts["error"] = lines[-1][:300] if lines else type(exception).__name__
    return facts


def failure_line(facts: Mapping[str, Any]) -> str:
    """The facts as one line, for logs and alerts."""
    parts = [
        f"lakehouse: {facts['task_id']} failed",
        f"dag={facts['dag_id']}",
        f"run={facts['run_id']}",
        f"try={facts['try_number']}",
    ]
    if facts.get("dbt_node"):
        parts.append(f"dbt_node={facts['dbt_node']}")
    if facts.get("failed"):
        parts.append("failed: " + "; ".join(facts["failed"]))
    elif facts.get("error"):
        parts.append(f"error: {facts['error']}")
    return " | ".join(parts)


def failure_summary(context: Mapping[str, Any]) -> str:
    """One line naming the task, the dbt node and what failed, for logs and alerts."""
    return failure_line(failure_facts(context))


def log_failure(context: dict[str, Any]) -> None:
    """An on_failure_callback: the one line, in the task's log."""
    log.error(failure_summary(context))


def alert_payload(context: Mapping[str, Any]) -> dict[str, Any]:
    """What an alert says: the DAG, run, task, dbt node and failed tests, and the task's log."""
    facts = failure_facts(context)
    ti = context.get("ti") or context.get("task_instance")
    return {
        "text": failure_line(facts),
        **facts,
        "log_url": getattr(ti, "log_url", None),
    }


def _to_topic(payload: dict[str, Any], env: Mapping[str, str]) -> str:
    from ingest.kafka_client import ensure_topics, idempotent_producer, publish

    kafka = ingest_settings(env)

    topic = env.get("LAKEHOUSE_ALERT_TOPIC") or DEFAULT_TOPIC
    conf = kafka.client_conf()
    extra = {k: v for k, v in conf.items() if k != "bootstrap.servers"}
    ensure_topics(
        kafka.bootstrap_servers,
        [topic],
        partitions=1,
        timeout_s=TIMEOUT_S,
        extra_conf=extra,
        replication=kafka.replication,
    )
    producer = idempotent_producer(
        kafka.bootstrap_servers, {**extra, "message.timeout.ms": str(int(TIMEOUT_S * 1000))}
    )
    record = (str(payload.get("dag_id", "")), json.dumps(payload).encode())
    publish(producer, topic, [record], flush_timeout_s=TIMEOUT_S)  # raises if not delivered
    return f"Kafka topic {topic} on {conf['bootstrap.servers']}"


def _to_webhook(payload: dict[str, Any], url: str) -> str:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        if not 200 <= response.status < 300:
            raise RuntimeError(f"the webhook answered {response.status}")
    return "the webhook (LAKEHOUSE_ALERT_WEBHOOK)"


def send(payload: dict[str, Any], env: Mapping[str, str] | None = None) -> str | None:
    """Deliver one alert; where it went, or None when it could not go out (logged)."""
    env = os.environ if env is None else env
    webhook = env.get("LAKEHOUSE_ALERT_WEBHOOK", "").strip()
    try:
        where = _to_webhook(payload, webhook) if webhook else _to_topic(payload, env)
    except Exception as exc:  # noqa: BLE001 - an alert must never fail the callback
        log.error("lakehouse: the alert could not be sent (%s): %s", exc, payload["text"])
        return None
    log.info("lakehouse: alert sent to %s", where)
    return where


def send_alert(context: Mapping[str, Any]) -> None:
    """An on_failure_callback: the failure's alert."""
    send(alert_payload(context))


async def run_over_deadline(context: Mapping[str, Any] | None = None, **_: Any) -> str | None:
    """The SLA's callback (the triggerer awaits it): a run still going after
    LAKEHOUSE_RUN_SLA_MINUTES (the pipeline DAG's deadline) alerts like a failure does."""
    import asyncio

    run = (context or {}).get("dag_run") or {}
    minutes = f"{sla_minutes():g}"
    payload = {
        "text": (
            f"lakehouse: {run.get('dag_id', '?')} run {run.get('dag_run_id', '?')} is still "
            f"running after {minutes} minutes (LAKEHOUSE_RUN_SLA_MINUTES)"
        ),
        "dag_id": run.get("dag_id"),
        "run_id": run.get("dag_run_id"),
        "task_id": None,
        "sla_minutes": minutes,
        "deadline": str((context or {}).get("deadline", {}).get("deadline_time")),
    }
    return await asyncio.to_thread(send, payload)


def deadline() -> Any:
    """The pipeline's SLA: LAKEHOUSE_RUN_SLA_MINUTES after a run is queued (0: none)."""
    from datetime import timedelta

    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    minutes = sla_minutes()
    if minutes <= 0:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=AsyncCallback("lakehouse_alerts.run_over_deadline"),
    )


def notifier() -> Any:
    """The alert as an Airflow notifier (BaseNotifier), for on_failure_callback lists."""
    from airflow.sdk import BaseNotifier

    class LakehouseAlertNotifier(BaseNotifier):
        """Sends the failure's alert to the webhook or the alerts topic."""

        def notify(self, context: Any) -> None:
            send_alert(context)

    return LakehouseAlertNotifier()
