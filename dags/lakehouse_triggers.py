"""When `lakehouse_pipeline` runs (pipeline_schedule): on a cron schedule and when events
arrive, through an Airflow asset watched by a Kafka trigger.

`NewEventsTrigger` runs in Airflow's triggerer. It consumes the pipeline's topics with its own
consumer group (the `kafka_default` connection's `group.id`, `lakehouse-pipeline-trigger` as
`make airflow` sets it up), only to notice that something arrived: the bronze job reads Kafka
with its own checkpoint, which stays the only record of what was ingested, and no offset this
trigger commits moves it.

Debounce: after the first new message it keeps reading until the topics have been quiet for
`quiet_seconds`, or `max_wait_seconds` have passed since the first, whichever comes first,
whatever the traffic: it checks both after every batch it reads, empty or not, so a steady
stream that is never quiet still fires within `max_wait_seconds`. Then it commits and fires
one event. A burst of a thousand messages is one asset event, so one run; messages that
arrive during a run fire the next (the DAG runs one at a time). The triggerer then starts the
trigger again for the next burst.

It reads in batches (`consume(batch_size, poll_timeout)`), one thread hop per batch, not per
message, so it keeps up with a flood (tests/python/test_trigger.py).

The triggerer imports this module by name: `make airflow` puts dags/ on its PYTHONPATH
(docs/orchestration.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent


class NewEventsTrigger(BaseEventTrigger):
    """Fires once per burst of new messages on `topics`."""

    def __init__(
        self,
        topics: Sequence[str],
        *,
        kafka_config_id: str = "kafka_default",
        quiet_seconds: float = 10.0,
        max_wait_seconds: float = 60.0,
        poll_timeout: float = 1.0,
        batch_size: int = 10_000,
        ignored_suffix: str | None = None,
    ) -> None:
        super().__init__()
        self.topics = list(topics)
        # Dead letters (<topic>.dlq) that a pattern also matches: the ingest job writes them,
        # and a run must not start the next one.
        self.ignored_suffix = ignored_suffix
        self.kafka_config_id = kafka_config_id
        self.quiet_seconds = quiet_seconds
        self.max_wait_seconds = max_wait_seconds
        self.poll_timeout = poll_timeout
        self.batch_size = batch_size

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "lakehouse_triggers.NewEventsTrigger",
            {
                "topics": self.topics,
                "kafka_config_id": self.kafka_config_id,
                "quiet_seconds": self.quiet_seconds,
                "max_wait_seconds": self.max_wait_seconds,
                "poll_timeout": self.poll_timeout,
                "batch_size": self.batch_size,
                "ignored_suffix": self.ignored_suffix,
            },
        )

    def _new_messages(self, batch: Sequence[Any], partition_eof: int) -> int:
        """How many messages of a consumed batch are new events (not dead letters); a
        consumer error other than a partition's end raises."""
        new = 0
        for message in batch:
            error = message.error()
            if error is not None:
                if error.code() == partition_eof:
                    continue
                raise RuntimeError(f"Kafka consumer error: {error}")
            if not (self.ignored_suffix and message.topic().endswith(self.ignored_suffix)):
                new += 1
        return new

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
        from asgiref.sync import sync_to_async
        from confluent_kafka import KafkaError

        hook = KafkaConsumerHook(topics=self.topics, kafka_config_id=self.kafka_config_id)
        consumer = await sync_to_async(hook.get_consumer)()
        consume = sync_to_async(consumer.consume)
        try:
            count, first, last = 0, 0.0, 0.0
            while True:
                batch = await consume(self.batch_size, self.poll_timeout)
                now = time.monotonic()
                new = self._new_messages(batch, KafkaError._PARTITION_EOF)
                if new:
                    count += new
                    first, last = first or now, now
                quiet = now - last >= self.quiet_seconds
                if count and (quiet or now - first >= self.max_wait_seconds):
                    await sync_to_async(consumer.commit)(asynchronous=False)
                    self.log.info("%d new message(s) on %s", count, ", ".join(self.topics))
                    waited = round(now - first, 3)  # since the first new message
                    yield TriggerEvent(
                        {"messages": count, "topics": self.topics, "waited_seconds": waited}
                    )
                    return
                await asyncio.sleep(0)
        finally:
            await sync_to_async(consumer.close)()


def new_events_asset(
    topics: Sequence[str],
    quiet_seconds: float,
    max_wait_seconds: float,
    ignored_suffix: str | None = None,
) -> Any:
    """The asset that new events on `topics` update; schedule a DAG on it."""
    from airflow.sdk import Asset, AssetWatcher

    trigger = NewEventsTrigger(
        topics=topics,
        quiet_seconds=quiet_seconds,
        max_wait_seconds=max_wait_seconds,
        ignored_suffix=ignored_suffix,
    )
    return Asset(
        name="lakehouse.kafka.new_events",
        uri="lakehouse://kafka/new_events",
        watchers=[AssetWatcher(name="lakehouse_new_events", trigger=trigger)],
    )


def pipeline_schedule() -> Any:
    """When lakehouse_pipeline runs: on the cron schedule (LAKEHOUSE_PIPELINE_SCHEDULE) and, unless
    LAKEHOUSE_PIPELINE_ON_EVENTS is false, within seconds of new events on its topics."""
    from lakehouse_settings import SETTINGS, ingest_settings

    if not SETTINGS.pipeline_on_events:
        return SETTINGS.pipeline_schedule
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    settings = ingest_settings()
    # librdkafka subscribes to a regex when the name starts with ^.
    topics = [f"^{settings.topic_pattern}"] if settings.topic_pattern else settings.topic_names
    watched = new_events_asset(
        topics,
        ignored_suffix=settings.dead_letter_suffix if settings.dead_letter else None,
        quiet_seconds=SETTINGS.trigger_quiet_seconds,
        max_wait_seconds=SETTINGS.trigger_max_wait_seconds,
    )
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(SETTINGS.pipeline_schedule, timezone="UTC"),
        assets=[watched],
    )
