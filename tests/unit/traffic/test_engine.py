"""The simulator's scheduling: determinism, worker independence, scenarios at their offsets,
labelled bad events, quotas, the virtual clock under spikes (recorded in memory; no broker)."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from include.patternalarm.events import check_event, decode_event, parse_event_time
from include.patternalarm.simulator import SimulationConfig, Spike
from include.patternalarm.simulator.config import VIRTUAL_START, ConfigError
from include.patternalarm.simulator.injection import ScenarioPlanner
from include.patternalarm.topics import EVENTS
from tests.unit.traffic.scenario_fixtures import FACTORIES
from tests.unit.traffic.support import run_inline

V0 = parse_event_time(VIRTUAL_START)


def _config(**kw) -> SimulationConfig:
    base = {"seed": 42, "clock": "virtual", "rate": 200.0, "events": 3000, "scenario_interval_s": 4.0,
            "scenario_settle_s": 1.0, "bad_ratio": 0.05, "record_ground_truth": False}
    return SimulationConfig(**{**base, **kw})


def test_same_seed_same_events_whatever_the_number_of_workers() -> None:
    one, truth1, _ = run_inline(_config(), FACTORIES, workers=1)
    two, truth2, _ = run_inline(_config(), FACTORIES, workers=2)
    four, _, _ = run_inline(_config(), FACTORIES, workers=4)
    assert len(one) > 3000
    assert Counter(one) == Counter(two) == Counter(four)
    assert sorted(truth1, key=lambda r: r[0]) == sorted(truth2, key=lambda r: r[0])
    other, _, _ = run_inline(_config(seed=43), FACTORIES)
    assert len(set(one) & set(other)) == 0


def test_per_entity_order_is_kept() -> None:
    sent, _, _ = run_inline(_config(bad_ratio=0.0), FACTORIES, workers=2)
    times: dict[bytes, list[int]] = {}
    for _, key, value in sent:
        times.setdefault(key, []).append(parse_event_time(orjson.loads(value)["event_time"]))
    assert all(t == sorted(t) for t in times.values())


def test_background_quota_and_events_are_valid() -> None:
    sent, truth, reports = run_inline(_config(bad_ratio=0.0, scenarios=False, events=2001))
    assert len(sent) == 2001 and not truth
    assert sum(reports[0].per_domain.values()) == 2001
    for topic, key, value in sent:
        domain = topic.split(".")[1]
        event = orjson.loads(value)
        assert check_event(event, domain) is None
        assert key.decode() == (event.get("card_id") or event.get("account_id") or event.get("player_id")
                                or event.get("device_id"))
    shares = Counter(t for t, _, _ in sent)
    assert shares[EVENTS["payments"]] == pytest.approx(0.45 * 2001, abs=10)


def test_virtual_clock_follows_the_rate_and_its_spike() -> None:
    cfg = _config(bad_ratio=0.0, scenarios=False, events=None, duration_s=30.0, rate=100.0,
                  spikes=(Spike(5.0, 10.0, 5.0),))
    sent, _, _ = run_inline(cfg)
    # 10 s at 100/s, 5 s at 500/s, 15 s at 100/s
    assert len(sent) == 10 * 100 + 5 * 500 + 15 * 100
    offsets = [(parse_event_time(orjson.loads(v)["event_time"]) - V0) / 1000 for _, _, v in sent]
    in_spike = sum(1 for t in offsets if 10.0 <= t < 15.0)
    assert in_spike == pytest.approx(2500, abs=8)
    assert max(offsets) < 30.0


def test_scenarios_are_scheduled_at_their_offsets_on_fresh_entities() -> None:
    sent, truth, reports = run_inline(_config(bad_ratio=0.0, events=4000), FACTORIES, workers=2)
    rows = [r for r in truth if r[1] == "scenario"]
    # 4000 events at 200/s = 20 s of schedule; rounds every 4 s from 2 s; 4 instances a round
    assert {r[2] for r in rows} == {"test_card_probe", "test_sensor_flat"}
    assert len(rows) == sum(sum(v.values()) for rep in reports for v in rep.scenarios.values()) >= 12
    by_id = {orjson.loads(v)["event_id"]: (k, orjson.loads(v)) for _, k, v in sent}
    background_keys = {k for _, k, v in sent if not orjson.loads(v)["event_id"].split("-")[1].startswith("x")}
    entities = [r[5] for r in rows]
    assert len(set(entities)) == len(entities), "each instance has its own entity"
    for (_sid, _, _rule, variant, _domain, entity, should, first, last, comp_id, comp_ms, ids, _detail) in rows:
        assert entity.encode() not in background_keys
        events = [by_id[i] for i in ids]
        assert all(k == entity.encode() for k, _ in events)
        times = [parse_event_time(e["event_time"]) for _, e in events]
        assert (first, last) == (min(times), max(times))
        assert should == (variant == "fires")
        if should:
            assert comp_id == ids[-1] and comp_ms == times[-1]
        # offsets are kept exactly in event time
        assert times[1] - times[0] in (1000, 500)


def test_scenarios_that_would_not_finish_before_the_end_are_skipped() -> None:
    cfg = _config(bad_ratio=0.0, events=None, duration_s=9.0, scenario_interval_s=4.0,
                  scenario_settle_s=2.0).validated()
    planner = ScenarioPlanner(cfg, FACTORIES)
    assert len(planner.round(0)) == 4  # starts at 2 s, instances end by 2 + 3.2 + 3.5 + 2 s settle < 9 s
    assert planner.skipped == {}
    # round 1 starts at 6 s: its instances would end after 9 - 2 s
    assert planner.round(1) == []
    assert sum(planner.skipped.values()) == 4
    assert planner.round(2) == []  # would start after the end: not even planned


def test_unknown_rule_filter_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no scenario factory for rule"):
        ScenarioPlanner(_config(rules=("nope",)).validated(), FACTORIES)


def test_bad_events_are_labelled_with_the_reason_the_edge_gives() -> None:
    sent, truth, _ = run_inline(_config(bad_ratio=0.3, scenarios=False, events=3000))
    labels = [r for r in truth if r[1] != "scenario"]
    assert {r[3] for r in labels} >= {"malformed_json", "wrong_type:amount", "wrong_type:x", "wrong_type:value",
                                     "missing_field:account_id", "oversized", "unknown_domain", "bad_event_time",
                                     "late", "out_of_order", "duplicate"}
    values = Counter(v for _, _, v in sent)
    ids = {}
    for topic, _key, value in sent:
        event_id = value[13:13 + 40].split(b'"')[0].decode()  # {"event_id":"<id>"
        ids.setdefault(event_id, []).append((topic, value))
    for (_sid, kind, _rule, variant, domain, entity, should, first, _last, _c, _cm, event_ids, detail) in labels:
        assert should is False and detail["expected_reason"] == variant
        (copy_topic, value), *rest = ids[event_ids[0]]
        assert copy_topic == EVENTS[domain]
        if kind == "malformed":
            assert decode_event(value, domain)[1].reason == variant
        elif kind == "late":
            event = orjson.loads(value)
            assert check_event(event, domain) is None
            assert parse_event_time(event["event_time"]) == first == detail["sent_ms"] - detail["behind_s"] * 1000
        else:
            assert values[value] >= 2 and rest, "a duplicate is sent twice, byte for byte"
        assert entity


def test_config_rejects_what_it_cannot_run() -> None:
    from include.patternalarm.simulator import ConfigError

    for bad in ({"clock": "virtual", "rate": None}, {"bad_ratio": 0.9}, {"workers": 3}, {"domains": ("banking",)},
                {"rate": None, "spikes": (Spike(2, 1, 1),)}, {"bad_mix": {"nope": 1.0}, "bad_ratio": 0.1}):
        with pytest.raises(ConfigError):
            SimulationConfig(**{"seed": 1, **bad}).validated()


def test_window_error_measures_deviation_from_the_schedule() -> None:
    from include.patternalarm.simulator.config import RateSchedule
    from include.patternalarm.simulator.engine import window_error

    schedule = RateSchedule((Spike(2.0, 20.0, 10.0),))
    exact = [(t / 10, round(schedule.integral(t / 10) * 100)) for t in range(0, 400)]
    assert window_error(exact, schedule, 100.0, 10.0) < 0.002
    stalled = [(t, n if t < 15 else exact[150][1]) for t, n in exact]  # nothing sent after 15 s
    assert window_error(stalled, schedule, 100.0, 10.0) == pytest.approx(1.0)
    assert window_error(exact[:5], schedule, 100.0, 10.0) is None
