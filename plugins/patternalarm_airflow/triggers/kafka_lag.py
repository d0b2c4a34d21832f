"""Fires when consumer-group lag crosses a threshold (above: a breach; below: drained)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class KafkaLagTrigger(BaseTrigger):
    """Polls the lag of each group in ``groups`` (group id → its topics) every ``poll_interval`` seconds.

    ``mode="above"`` fires as soon as any group's total lag exceeds ``threshold`` (event ``breach``,
    naming the groups); ``mode="below"`` fires once every group has stayed at or below ``threshold``
    for ``hold_for`` seconds (``drained``). After ``timeout`` seconds it fires ``timeout`` with the
    last reading, so a caller can also use it as "nothing happened for a while".
    """

    def __init__(self, *, groups: dict[str, list[str]], threshold: int, mode: str = "above",
                 poll_interval: float = 5.0, hold_for: float = 0.0, timeout: float = 3600.0,
                 kafka_config_id: str = "kafka_default") -> None:
        super().__init__()
        if mode not in ("above", "below"):
            raise ValueError(f"mode must be 'above' or 'below', not {mode!r}")
        if not groups or not all(groups.values()):
            raise ValueError("groups must map each consumer group id to a non-empty list of topics")
        self.groups = {group: list(topics) for group, topics in groups.items()}
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
                "groups": self.groups, "threshold": self.threshold, "mode": self.mode,
                "poll_interval": self.poll_interval, "hold_for": self.hold_for, "timeout": self.timeout,
                "kafka_config_id": self.kafka_config_id,
            },
        )

    def _lags(self) -> dict[str, int]:
        from patternalarm_airflow.hooks.kafka_lag import KafkaLagHook

        hook = KafkaLagHook(kafka_config_id=self.kafka_config_id)
        return {group: hook.lag(group, topics).total for group, topics in self.groups.items()}

    def breach(self, lags: dict[str, int], waited: float) -> dict[str, Any] | None:
        """The ``breach`` event when any group's lag is above the threshold, else None."""
        breached = sorted(g for g, lag in lags.items() if lag > self.threshold)
        if not breached:
            return None
        return {"status": "breach", "groups": breached, "lags": lags, "threshold": self.threshold, "waited_s": waited,
                "at": time.time()}

    def check_now(self) -> dict[str, Any] | None:
        """One synchronous poll (before deferring): a breach already there (``mode="above"``), else None. A
        drain (``below``) must hold for ``hold_for`` seconds, so only the trigger judges it."""
        if self.mode != "above":
            return None
        try:
            return self.breach(self._lags(), 0.0)
        except Exception:  # noqa: BLE001 - the trigger polls again
            return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        low_since: float | None = None
        lags: dict[str, int] = {}
        while time.monotonic() - started < self.timeout:
            try:
                lags = await asyncio.to_thread(self._lags)
            except Exception as exc:  # noqa: BLE001 - a broker hiccup must not kill the watch
                self.log.warning("lag poll failed: %s", exc)
                await asyncio.sleep(self.poll_interval)
                continue
            now = time.monotonic()
            waited = round(now - started, 1)
            if self.mode == "above":
                event = self.breach(lags, waited)
                if event is not None:
                    yield TriggerEvent(event)
                    return
            else:
                low_since = (low_since or now) if all(lag <= self.threshold for lag in lags.values()) else None
                if low_since is not None and now - low_since >= self.hold_for:
                    yield TriggerEvent({"status": "drained", "groups": sorted(lags), "lags": lags,
                                        "threshold": self.threshold, "waited_s": waited, "at": time.time()})
                    return
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "timeout", "groups": [], "lags": lags, "threshold": self.threshold,
                            "waited_s": round(time.monotonic() - started, 1), "at": time.time()})
