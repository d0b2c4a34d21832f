"""Chaos pieces that need no stack: config bounds, latency phases, the poison verdict, the report's escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.patternalarm.chaos import EXPERIMENTS, QUICK, ChaosConfig, ChaosError
from include.patternalarm.chaos.measure import latency_by_phase
from include.patternalarm.chaos.poison import ALERTS, Poison, alert_poison, event_poison, verify
from include.patternalarm.chaos.report import render_batch, render_index

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_eight_experiments_and_the_quick_subset() -> None:
    assert len(EXPERIMENTS) == 8 and set(QUICK) == {"taskmanager_kill", "sink_kill", "poison_input"}
    assert all(e.proves and e.title and e.limit_s > 0 for e in EXPERIMENTS.values())


@pytest.mark.parametrize("changes", [{"rate_per_min": 60_000}, {"rate_per_min": 10}, {"steady_s": 1},
                                     {"fault_s": 0}, {"after_s": 5000}])
def test_config_bounds(changes: dict) -> None:
    with pytest.raises(ChaosError):
        ChaosConfig(**changes).validated()
    assert ChaosConfig().validated().rate_per_min == 50_000  # the seed rate is the default and the maximum


def test_latency_phases_split_at_the_fault_and_the_recovery() -> None:
    latencies = [(T0 + timedelta(seconds=s), v) for s, v in ((-30, 2.0), (5, 40.0), (70, 3.0), (80, 4.0))]
    phases = latency_by_phase(latencies, T0, T0 + timedelta(seconds=60))
    assert [phases[p]["n"] for p in ("before", "during", "after")] == [1, 1, 2]
    assert phases["during"]["p99"] == 40.0 and phases["after"]["max"] == 4.0
    assert latency_by_phase(latencies, T0, None)["during"]["n"] == 3  # never recovered: all "during"


def test_poison_verdict_needs_every_record_dead_lettered_with_its_reason() -> None:
    records = [Poison("events.payments", "k1", b"x", "*", "a"), Poison(ALERTS, "k2", b"y", "invalid_alert", "b"),
               Poison(ALERTS, "k3", b'{"entity": "probe-t-a|b"}', "stored", "c"),
               Poison("events.iot", "k4", None, "skipped", "tombstone")]
    ok = verify(records, {"k1": "malformed_json"}, {"k2": "invalid_alert"}, {"probe-t-a|b"})
    assert (ok["sent"], ok["handled"], ok["skipped_tombstones"], ok["missing"], ok["wrong_reason"]) == (3, 3, 1, [], [])
    bad = verify(records, {}, {"k2": "oversized"}, set())
    assert bad["handled"] == 0 and len(bad["missing"]) == 2 and len(bad["wrong_reason"]) == 1


def test_poison_sets_cover_every_domain_and_both_topics() -> None:
    events, alerts = event_poison("t1"), alert_poison("t1")
    assert {p.topic for p in events} == {"events.payments", "events.gaming", "events.iot"}
    assert {p.expect for p in alerts} >= {"invalid_alert", "unmappable_row", "malformed_json", "stored"}
    assert len({p.key for p in events + alerts}) == len(events) + len(alerts)
    assert [p.key for p in alert_poison("t1")] == [p.key for p in alerts]  # rebuilt identically from the tag


def test_the_report_escapes_what_it_shows() -> None:
    batch = {"batch_id": "chaos-20261202T120000-abcd", "requested_by": "<script>", "seconds": 1.0,
             "config": {"rate_per_min": 1000}, "passed": False,
             "experiments": [{"experiment": "sink_kill", "status": "failed", "failures": ["<img src=x>"],
                              "notes": {"x": "<b>"}, "latency_s": {}}]}
    page = render_batch(batch)
    assert "<script>" not in page and "<img src=x>" not in page and "&lt;img src=x&gt;" in page
    assert "chaos-20261202T120000-abcd/index.html" in render_index([batch])


def test_the_platform_keeps_up_only_when_every_job_reports_a_small_total_lag() -> None:
    from include.patternalarm.chaos.measure import caught_up

    assert caught_up({"payments": 300, "gaming": 100, "iot": 0}, 500)
    assert not caught_up({"payments": 450, "gaming": 100, "iot": 0}, 500)  # the sum counts
    assert not caught_up({"payments": 0, "gaming": None, "iot": 0}, 500)  # a job that does not report yet
    assert not caught_up({}, 500)  # Flink did not answer


def test_a_scheduled_run_created_by_an_unpause_runs_nothing() -> None:
    from include.patternalarm.chaos.runner import late_slot

    slot = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    # created by the scheduler at its slot: runs, even when it starts late behind another run
    assert late_slot("scheduled", slot, slot + timedelta(seconds=4), slot + timedelta(minutes=50)) is None
    # created 22 minutes after its slot (the DAG was unpaused then, as a test's trigger does): nothing runs
    reason = late_slot("scheduled", slot, slot + timedelta(minutes=22), slot + timedelta(minutes=22))
    assert reason is not None and "created 22 min after" in reason and "trigger one" in reason
    # a manual run always runs
    assert late_slot("manual", slot, slot + timedelta(minutes=22), slot + timedelta(minutes=22)) is None
    # Airflow did not say when it created the run: only a run starting 30 minutes late is refused
    assert late_slot("scheduled", slot, None, slot + timedelta(minutes=10)) is None
    assert "is unknown" in late_slot("scheduled", slot, None, slot + timedelta(minutes=31))


def test_the_tail_ends_once_nothing_is_missing_and_not_before(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from include.patternalarm.chaos import runner

    answers = iter([RuntimeError("database down"), {"lost": 3}, {"lost": 1}, {"lost": 0}])
    asked = []

    def scored(_settings: object, run_id: str) -> dict:
        asked.append(run_id)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(runner, "TAIL_CHECK_S", 0.01)
    monkeypatch.setattr(runner, "score", scored)
    stop, early = threading.Event(), threading.Event()
    runner._end_tail_when_detected(None, "sim-run", stop, early)  # type: ignore[arg-type]
    assert stop.is_set() and early.is_set() and asked == ["sim-run"] * 4  # asked again after the error

    # stopped from outside (the tail's own duration): returns without claiming every scenario alerted
    monkeypatch.setattr(runner, "score", lambda *_: {"lost": 2})
    stop, early = threading.Event(), threading.Event()
    threading.Timer(0.05, stop.set).start()
    runner._end_tail_when_detected(None, "sim-run", stop, early)  # type: ignore[arg-type]
    assert stop.is_set() and not early.is_set()
