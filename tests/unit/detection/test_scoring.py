"""Scoring against ground truth: recall, precision (near misses, background, extra alerts), latency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.patternalarm.scoring import AlertRecord, TruthRecord, percentile, score

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def truth(sid: str, rule: str, entity: str, fires: bool, start: float, end: float) -> TruthRecord:
    return TruthRecord(scenario_id=sid, rule_id=rule, variant="fires" if fires else "near", entity=entity,
                       should_alert=fires, first_event_time=s(start), last_event_time=s(end),
                       completing_event_time=s(end) if fires else None)


def alert(aid: str, rule: str, entity: str, last: float, visible: float) -> AlertRecord:
    return AlertRecord(alert_id=aid, rule_id=rule, entity=entity, first_event_time=s(last - 5),
                       last_event_time=s(last), visible_at=s(visible))


def test_recall_precision_and_latency_per_rule() -> None:
    gt = [truth("1", "r", "a", True, 0, 20), truth("2", "r", "b", True, 0, 20), truth("3", "r", "c", False, 0, 20),
          truth("4", "q", "d", True, 0, 10)]
    alerts = [alert("x1", "r", "a", 20, 21.5), alert("x2", "r", "c", 20, 21.0), alert("x3", "r", "zz-bg", 30, 31),
              alert("x4", "r", "a", 20, 25.0), alert("x5", "q", "d", 10, 11.0)]
    result = score(gt, alerts)
    r = result.rules["r"]
    assert (r.fires, r.detected, r.recall) == (2, 1, 0.5)
    assert (r.true_positives, r.near_miss_alerts, r.background_alerts, r.extra) == (1, 1, 1, 1)
    assert r.precision == pytest.approx(1 / 4)
    assert r.latencies_s == [pytest.approx(1.5)]
    assert r.missed == ["2 (fires, b)"]
    q = result.rules["q"]
    assert (q.recall, q.precision, q.latencies_s) == (1.0, 1.0, [pytest.approx(1.0)])
    total = result.totals()
    assert total["fires"] == 3 and total["detected"] == 2 and total["latency_s"]["n"] == 2


def test_alerts_outside_the_instance_span_are_not_its_alerts() -> None:
    result = score([truth("1", "r", "a", True, 0, 20)], [alert("x", "r", "a", 300, 301)])
    assert result.rules["r"].detected == 0 and result.rules["r"].background_alerts == 1


def test_absence_rules_measure_from_the_silence_and_skip_end_of_stream() -> None:
    gt = [truth("1", "hb", "dev", True, 0, 60)]
    gt[0] = TruthRecord(**{**gt[0].__dict__, "completing_event_time": s(20)})
    alerts = [alert("mid", "hb", "dev", 20, 51.5),   # silence after t=20: completes at 50
              alert("end", "hb", "dev", 60, 92.0),   # after the device's last event: end of scenario
              alert("bg", "hb", "bg-dev", 170, 201)]  # a background device that stopped with the run
    result = score(gt, alerts, latency_offsets={"hb": timedelta(seconds=30)}, absence_rules=["hb"],
                   run_end=s(180), end_window=timedelta(seconds=40))
    r = result.rules["hb"]
    assert (r.detected, r.false_positives, r.end_of_stream) == (1, 0, 2)
    assert r.latencies_s == [pytest.approx(1.5)]


def test_only_the_requested_rules_are_scored() -> None:
    result = score([truth("1", "r", "a", True, 0, 1)], [alert("x", "q", "b", 1, 2)], rules=["r"])
    assert set(result.rules) == {"r"}


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile(list(range(101)), 99) == pytest.approx(99)
