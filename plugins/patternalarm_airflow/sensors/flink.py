"""Waits (deferred) until a Flink job is healthy: RUNNING, all tasks RUNNING, a checkpoint completed.

Settled synchronously when the job is already healthy (or already failed) — see ``sensors/__init__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from patternalarm_airflow.sensors import settle_or_defer
from patternalarm_airflow.triggers.flink import FlinkJobHealthyTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class FlinkJobHealthySensor(BaseSensorOperator):
    """Succeeds with the job's health report; fails when the job fails or is not healthy in ``wait_timeout_s``."""

    template_fields: Sequence[str] = ("job_id", "wait_timeout_s")

    def __init__(self, *, job_id: str, wait_timeout_s: int | str = 300, min_checkpoints: int = 1,
                 poll_interval: float = 3.0, flink_conn_id: str = "flink_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.wait_timeout_s = wait_timeout_s
        self.min_checkpoints = min_checkpoints
        self.poll_interval = poll_interval
        self.flink_conn_id = flink_conn_id

    def execute(self, context: Context) -> dict[str, Any] | None:
        trigger = FlinkJobHealthyTrigger(job_id=self.job_id, timeout=float(self.wait_timeout_s),
                                         poll_interval=self.poll_interval, min_checkpoints=self.min_checkpoints,
                                         flink_conn_id=self.flink_conn_id)
        return settle_or_defer(self, context, trigger, timedelta(seconds=float(self.wait_timeout_s) + 60))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        health = event.get("health") or {}
        if event["status"] != "healthy":
            raise AirflowFailException(f"job {self.job_id} not healthy ({event['status']} after "
                                       f"{event['waited_s']:.0f}s): state {health.get('state')}, "
                                       f"{health.get('detail')}")
        self.log.info("job %s healthy after %.0fs: %s", self.job_id, event["waited_s"], health.get("detail"))
        return health
