"""Running simulator workers in-process for unit tests of the scheduling (no broker involved:
the recorder below only keeps what the worker hands to its producer; Kafka itself is exercised by
tests/integration/traffic)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from include.patternalarm.simulator.config import LANES, SimulationConfig
from include.patternalarm.simulator.engine import N_COUNTERS, TruthRow, Worker, WorkerReport


class Recorder:
    """Stands where the confluent-kafka Producer goes: keeps (topic, key, value) in send order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, key, value))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


class ListSink:
    def __init__(self) -> None:
        self.truth: list[TruthRow] = []
        self.reports: list[WorkerReport] = []

    def put(self, item: tuple[str, Any]) -> None:
        kind, payload = item
        if kind == "truth":
            self.truth.extend(payload)
        else:
            self.reports.append(payload)


def run_inline(config: SimulationConfig, factories: Mapping[str, Any] | None = None, workers: int = 1,
               rule_params: Mapping[str, Any] | None = None,
               ) -> tuple[list[tuple[str, bytes, bytes]], list[TruthRow], list[WorkerReport]]:
    """Run every worker of ``config`` one after the other; returns what was sent, the ground truth, reports."""
    config = config.validated()
    sent: list[tuple[str, bytes, bytes]] = []
    sink = ListSink()
    for w in range(workers):
        lanes: Sequence[int] = [lane for lane in range(LANES) if lane % workers == w]
        recorder = Recorder()
        worker = Worker(config, w, lanes, recorder, factories or {}, rule_params or {}, [0] * (N_COUNTERS * workers),
                        sink, threading.Event())
        sink.reports.append(worker.run())
        sent.extend(recorder.sent)
    return sent, sink.truth, sink.reports
