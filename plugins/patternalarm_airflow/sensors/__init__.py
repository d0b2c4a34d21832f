"""Deferrable sensors: ``execute()`` polls once and, unless that settles it, defers to a trigger.

Why poll first: Airflow 3 (3.3.2 here) can fail a deferred task whose trigger fires within seconds.
The worker that deferred exits and its executor reports "success"; if the scheduler drains that
report only after the trigger event has already re-queued the task, it sees a state mismatch and
marks the task failed (apache/airflow#66374, #67287, #72716; seen here in ``deploy_detection_jobs``:
a new job healthy 4.7 s after ``wait_healthy`` deferred, the report drained 6 s after the exit).
A condition that already holds is therefore settled without deferring, and a real outcome (not
healthy, lag never crossed) fails with ``AirflowFailException``, so the tasks' retries repeat only
an attempt that Airflow itself failed; the retry polls first and finds the condition settled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def settle_or_defer(sensor: Any, context: Any, trigger: Any, timeout: timedelta) -> Any:
    """Return ``sensor.execute_complete`` of ``trigger.check_now()`` when that settles it, else defer."""
    settled = trigger.check_now()
    if settled is not None:
        return sensor.execute_complete(context, settled)
    sensor.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)
    return None
