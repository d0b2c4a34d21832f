"""Fires when a consumer group's lag crosses a threshold (above: a breach; below: drained)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class KafkaLagTrigger(BaseTrigger):
    """Polls ``group``'s lag on ``topics`` every ``poll_interval`` seconds.

    ``mode="above"`` fires once total lag exceeds ``threshold`` (a breach); ``mode="below"`` fires
    once it has stayed at or below ``threshold`` for ``hold_for`` seconds (drained). Gives up after
    ``timeout`` seconds with a ``timeout`` event.
    """

    def __init__(self, *, group: str, topics: list[str], threshold: int, mode: str = "above",
                 poll_interval: float = 5.0, hold_for: float = 0.0, timeout: float = 3600.0,
                 kafka_config_id: str = "kafka_default") -> None:
        super().__init__()
        if mode not in ("above", "below"):
            raise ValueError(f"mode must be 'above' or 'below', not {mode!r}")
        self.group = group
        self.topics = list(topics)
        self.threshold = int(threshold)
        self.mode = mode
        self.poll_interval = float(poll_interval)
        self.hold_for = float(hold_for)
        self.timeout = float(timeout)
        self.kafka_config_id = kafka_config_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "group": self.group, "topics": self.topics, "threshold": self.threshold, "mode": self.mode,
                "poll_interval": self.poll_interval, "hold_for": self.hold_for, "timeout": self.timeout,
                "kafka_config_id": self.kafka_config_id,
            },
        )

    def _lag(self) -> dict[str, Any]:
        from patternalarm_airflow.hooks.kafka_lag import KafkaLagHook

        return KafkaLagHook(kafka_config_id=self.kafka_config_id).lag(self.group, self.topics).as_dict()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        low_since: float | None = None
        last: dict[str, Any] = {}
        while time.monotonic() - started < self.timeout:
            try:
                last = await asyncio.to_thread(self._lag)
            except Exception as exc:  # noqa: BLE001 - a broker hiccup must not kill the watch
                self.log.warning("lag poll failed: %s", exc)
                await asyncio.sleep(self.poll_interval)
                continue
            lag = last["total_lag"]
            now = time.monotonic()
            if self.mode == "above" and lag > self.threshold:
                yield TriggerEvent({"status": "breach", "lag": lag, "threshold": self.threshold,
                                    "waited_s": round(now - started, 1), "report": last})
                return
            if self.mode == "below":
                low_since = (low_since or now) if lag <= self.threshold else None
                if low_since is not None and now - low_since >= self.hold_for:
                    yield TriggerEvent({"status": "drained", "lag": lag, "threshold": self.threshold,
                                        "waited_s": round(now - started, 1), "report": last})
                    return
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "timeout", "lag": last.get("total_lag"), "threshold": self.threshold,
                            "waited_s": round(time.monotonic() - started, 1), "report": last})
