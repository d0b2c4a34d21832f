"""The sink's counters and windowed throughput (with a fake clock), and its Prometheus text."""

from __future__ import annotations

from include.patternalarm.incidents.metrics import SinkMetrics, prometheus_text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_over_windows_and_decay_when_idle() -> None:
    clock = Clock()
    metrics = SinkMetrics("alerts", "g", clock=clock)
    metrics.set_state("consuming")
    for _ in range(10):
        clock.now += 1
        metrics.record_batch(100, {"inserted": 90, "duplicates": 10}, dead_lettered=0, seconds=0.01)
    snap = metrics.snapshot()
    assert snap["counts"]["consumed"] == 1000 and snap["counts"]["stored"] == 900
    assert snap["counts"]["duplicates"] == 100 and snap["counts"]["batches"] == 10
    assert snap["rates"]["10s"]["stored_per_s"] == 90.0
    assert snap["rates"]["10s"]["consumed_per_s"] == 100.0
    for _ in range(15):  # idle: the loop ticks, nothing is stored
        clock.now += 1
        metrics.tick()
    assert metrics.snapshot()["rates"]["10s"]["stored_per_s"] == 0.0
    assert 0 < metrics.snapshot()["rates"]["60s"]["stored_per_s"] < 90


def test_health_needs_consuming_and_a_recent_heartbeat() -> None:
    clock = Clock()
    metrics = SinkMetrics("alerts", "g", clock=clock)
    assert not metrics.healthy()  # starting
    metrics.set_state("consuming")
    assert metrics.healthy()
    clock.now += 31
    assert not metrics.healthy()
    metrics.tick()
    assert metrics.healthy()
    metrics.set_state("waiting_for_database", "connection refused")
    snap = metrics.snapshot()
    assert not snap["healthy"] and snap["detail"] == "connection refused"


def test_lag_total_and_prometheus_text() -> None:
    metrics = SinkMetrics("alerts", "grp", clock=Clock())
    metrics.set_state("consuming")
    metrics.set_partitions({0: {"committed": 5, "low": 0, "high": 8, "lag": 3},
                            1: {"committed": None, "low": 0, "high": 2, "lag": 2}})
    snap = metrics.snapshot()
    assert snap["lag"]["total"] == 5
    text = prometheus_text(snap)
    assert 'patternalarm_sink_up{topic="alerts",group="grp"} 1' in text
    assert 'patternalarm_sink_lag{topic="alerts",group="grp",partition="0"} 3' in text
    assert 'outcome="stored"' in text
