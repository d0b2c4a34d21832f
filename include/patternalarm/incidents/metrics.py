"""The sink's counters, throughput and lag, shared between its loop and its status endpoint."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

#: Throughput windows reported, in seconds.
RATE_WINDOWS = (10, 60)
#: The loop must report in this often, or the sink counts as stuck.
HEARTBEAT_TIMEOUT_S = 30.0

COUNTERS = (
    "consumed",        # records read from Kafka
    "stored",          # new alert rows
    "duplicates",      # alerts already stored (replays, redeliveries)
    "dead_lettered",   # records sent to the dead-letter topic
    "silenced",        # stored alerts that matched a silence
    "attached",        # alerts added to an existing incident
    "opened",          # incidents opened
    "reopened",        # incidents re-opened
    "auto_resolved",   # incidents resolved by the quiet period
    "batches",         # database transactions that stored a batch
    "db_errors",       # failed database attempts (retried)
    "commit_errors",   # failed Kafka offset commits (the records are re-read; storing is idempotent)
    "dlq_errors",      # failed dead-letter deliveries (retried)
)


class SinkMetrics:
    """Thread-safe: the sink loop writes, the HTTP status endpoint reads ``snapshot()``."""

    def __init__(self, topic: str, group: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self.group = group
        self._clock = clock
        self._lock = threading.Lock()
        self._started_wall = time.time()
        self._started = clock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._samples: deque[tuple[float, int, int]] = deque()  # (t, consumed, stored)
        self._state = "starting"
        self._state_detail = ""
        self._heartbeat = clock()
        self._partitions: dict[int, dict[str, int | None]] = {}
        self._last_batch: dict[str, Any] | None = None
        self._last_error: dict[str, Any] | None = None
        self._sample()

    # --- written by the loop --------------------------------------------------------------------

    def set_state(self, state: str, detail: str = "") -> None:
        with self._lock:
            self._state, self._state_detail = state, detail
            self._heartbeat = self._clock()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def error(self, kind: str, message: str) -> None:
        with self._lock:
            self._last_error = {"kind": kind, "message": message[:500], "at": time.time()}

    def record_batch(self, consumed: int, summary: dict[str, int], dead_lettered: int, seconds: float) -> None:
        with self._lock:
            self._counts["consumed"] += consumed
            self._counts["stored"] += summary.get("inserted", 0)
            self._counts["duplicates"] += summary.get("duplicates", 0)
            for name in ("silenced", "attached", "opened", "reopened"):
                self._counts[name] += summary.get(name, 0)
            self._counts["dead_lettered"] += dead_lettered
            self._counts["batches"] += 1
            self._last_batch = {"records": consumed, "seconds": round(seconds, 4), "at": time.time()}
            self._sample_locked()

    def set_partitions(self, partitions: dict[int, dict[str, int | None]]) -> None:
        with self._lock:
            self._partitions = partitions

    def tick(self) -> None:
        """Called by the loop on every pass: proves it is alive and keeps rates decaying when idle."""
        with self._lock:
            self._heartbeat = self._clock()
            if not self._samples or self._heartbeat - self._samples[-1][0] >= 1.0:
                self._sample_locked()

    # --- read by the status endpoint ------------------------------------------------------------

    def _sample(self) -> None:
        with self._lock:
            self._sample_locked()

    def _sample_locked(self) -> None:
        now = self._clock()
        self._samples.append((now, self._counts["consumed"], self._counts["stored"]))
        horizon = now - max(RATE_WINDOWS) - 5
        while len(self._samples) > 2 and self._samples[1][0] < horizon:
            self._samples.popleft()

    def _rates(self, window: float) -> tuple[float, float]:
        now = self._clock()
        baseline = self._samples[0]
        for sample in self._samples:
            if sample[0] <= now - window:
                baseline = sample
            else:
                break
        elapsed = now - baseline[0]
        if elapsed <= 0:
            return 0.0, 0.0
        return ((self._counts["consumed"] - baseline[1]) / elapsed, (self._counts["stored"] - baseline[2]) / elapsed)

    def healthy(self) -> bool:
        with self._lock:
            return self._state == "consuming" and self._clock() - self._heartbeat < HEARTBEAT_TIMEOUT_S

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            rates = {}
            for window in RATE_WINDOWS:
                consumed, stored = self._rates(window)
                rates[f"{window}s"] = {"consumed_per_s": round(consumed, 2), "stored_per_s": round(stored, 2)}
            known = [p["lag"] for p in self._partitions.values() if p.get("lag") is not None]
            heartbeat_age = now - self._heartbeat
            return {
                "topic": self.topic,
                "group": self.group,
                "state": self._state,
                "detail": self._state_detail,
                "healthy": self._state == "consuming" and heartbeat_age < HEARTBEAT_TIMEOUT_S,
                "started_at": self._started_wall,
                "uptime_s": round(now - self._started, 1),
                "heartbeat_age_s": round(heartbeat_age, 1),
                "counts": dict(self._counts),
                "rates": rates,
                "lag": {"total": sum(known) if known else None,
                        "partitions": {str(p): dict(v) for p, v in sorted(self._partitions.items())}},
                "last_batch": self._last_batch,
                "last_error": self._last_error,
            }


def prometheus_text(snapshot: dict[str, Any]) -> str:
    """The snapshot in Prometheus' text exposition format."""
    labels = f'topic="{snapshot["topic"]}",group="{snapshot["group"]}"'
    lines = [
        "# HELP patternalarm_sink_up 1 when the sink is consuming and its loop is alive.",
        "# TYPE patternalarm_sink_up gauge",
        f"patternalarm_sink_up{{{labels}}} {1 if snapshot['healthy'] else 0}",
        "# HELP patternalarm_sink_records_total Records by outcome since the sink started.",
        "# TYPE patternalarm_sink_records_total counter",
    ]
    for name, value in snapshot["counts"].items():
        lines.append(f'patternalarm_sink_records_total{{{labels},outcome="{name}"}} {value}')
    lines += ["# HELP patternalarm_sink_stored_per_second New alert rows per second over a window.",
              "# TYPE patternalarm_sink_stored_per_second gauge"]
    for window, rate in snapshot["rates"].items():
        lines.append(f'patternalarm_sink_stored_per_second{{{labels},window="{window}"}} {rate["stored_per_s"]}')
    lines += ["# HELP patternalarm_sink_lag Records behind the end of the partition (committed offsets).",
              "# TYPE patternalarm_sink_lag gauge"]
    for partition, info in snapshot["lag"]["partitions"].items():
        if info.get("lag") is not None:
            lines.append(f'patternalarm_sink_lag{{{labels},partition="{partition}"}} {info["lag"]}')
    return "\n".join(lines) + "\n"
