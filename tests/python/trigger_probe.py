"""With the Airflow venv's Python: `trigger_probe.py <topic> [<topic> ...]` runs
dags/lakehouse_triggers.NewEventsTrigger as Airflow's triggerer does (its async generator, on
an event loop), again each time it fires, and prints one line per fire: `fire: ` and JSON,
{"at": <epoch seconds>, "messages": <count>, "waited": <seconds since its first message>}
(Airflow may log to stdout too).

Settings from the environment: TRIGGER_QUIET_SECONDS, TRIGGER_MAX_WAIT_SECONDS,
TRIGGER_IGNORED_SUFFIX, TRIGGER_DEADLINE_SECONDS (then it exits), and the Kafka connection as
the triggerer gets it (AIRFLOW_CONN_KAFKA_DEFAULT). test_trigger.py reads what it prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


async def main(topics: list[str]) -> None:
    from lakehouse_triggers import NewEventsTrigger

    deadline = time.monotonic() + float(os.environ["TRIGGER_DEADLINE_SECONDS"])
    while True:
        trigger = NewEventsTrigger(
            topics,
            quiet_seconds=float(os.environ["TRIGGER_QUIET_SECONDS"]),
            max_wait_seconds=float(os.environ["TRIGGER_MAX_WAIT_SECONDS"]),
            ignored_suffix=os.environ.get("TRIGGER_IGNORED_SUFFIX") or None,
        )
        runs = trigger.run()
        try:
            event = await asyncio.wait_for(anext(runs), deadline - time.monotonic())
        except TimeoutError:
            return
        finally:
            await runs.aclose()
        fire = {
            "at": time.time(),
            "messages": event.payload["messages"],
            "waited": event.payload["waited_seconds"],
        }
        print("fire:", json.dumps(fire), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
