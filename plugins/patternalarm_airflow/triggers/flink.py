"""Fires when a Flink job is healthy: RUNNING, every task RUNNING, a checkpoint completed after it started."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class FlinkJobHealthyTrigger(BaseTrigger):
    """Polls the job until healthy (event ``healthy``), terminal (``failed``) or ``timeout``."""

    def __init__(self, *, job_id: str, timeout: float = 300.0, poll_interval: float = 3.0,
                 min_checkpoints: int = 1, flink_conn_id: str = "flink_default") -> None:
        super().__init__()
        self.job_id = job_id
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)
        self.min_checkpoints = int(min_checkpoints)
        self.flink_conn_id = flink_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"job_id": self.job_id, "timeout": self.timeout, "poll_interval": self.poll_interval,
             "min_checkpoints": self.min_checkpoints, "flink_conn_id": self.flink_conn_id},
        )

    def _health(self) -> dict[str, Any]:
        from patternalarm_airflow.hooks.flink import FlinkHook

        return FlinkHook(flink_conn_id=self.flink_conn_id).health(self.job_id).as_dict()

    def verdict(self, health: dict[str, Any], waited: float) -> dict[str, Any] | None:
        """The event a health report settles (``failed`` or ``healthy``), or None: keep waiting."""
        if health["state"] in ("FAILED", "CANCELED", "FINISHED"):
            return {"status": "failed", "waited_s": waited, "health": health}
        tasks_running = set(health["tasks"]) <= {"RUNNING"}
        if health["state"] == "RUNNING" and tasks_running and health["completed_checkpoints"] >= self.min_checkpoints:
            return {"status": "healthy", "waited_s": waited, "health": health}
        return None

    def check_now(self) -> dict[str, Any] | None:
        """One synchronous poll (before deferring): the settled event, or None (not yet, or the poll failed)."""
        try:
            return self.verdict(self._health(), 0.0)
        except Exception:  # noqa: BLE001 - the trigger polls again
            return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        last: dict[str, Any] = {}
        while time.monotonic() - started < self.timeout:
            try:
                last = await asyncio.to_thread(self._health)
            except Exception as exc:  # noqa: BLE001 - the REST API may blip while a job restarts
                self.log.warning("health poll of %s failed: %s", self.job_id, exc)
                await asyncio.sleep(self.poll_interval)
                continue
            event = self.verdict(last, round(time.monotonic() - started, 1))
            if event is not None:
                yield TriggerEvent(event)
                return
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "timeout", "waited_s": round(time.monotonic() - started, 1), "health": last})
