"""Scenario factories: one instance that fires and near misses per rule, deterministic, on the
factory's entity (or entities named after it), valid against the event JSON Schemas, within ~90 s, and
(for the adaptive IoT rules) agreeing with the detectors' arithmetic (their Python twin)."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from include.patternalarm.events.edge import check_event
from include.patternalarm.rules import load_catalog
from include.patternalarm.scenarios import ScenarioContext, registry
from include.patternalarm.scenarios.iot import opened, sensor_params
from include.patternalarm.scenarios.payments import haversine_km

CATALOG = load_catalog(user_dir=None)
RULES = sorted(CATALOG.rules)


def instances(rule_id: str, seed: int = 1, entity: str = "ent-1"):
    rule = CATALOG.rule(rule_id)
    params = {**CATALOG.domains[rule.domain].values, **rule.values}
    return registry()[rule_id](ScenarioContext(rng=random.Random(seed), entity=entity, params=params))


def test_every_rule_has_a_factory() -> None:
    assert set(registry()) >= set(RULES)


@pytest.mark.parametrize("rule_id", RULES)
def test_factory_shape(rule_id: str) -> None:
    got = instances(rule_id)
    assert any(i.should_alert for i in got) and any(not i.should_alert for i in got)
    assert got[0].variant == "fires" and got[0].should_alert
    for inst in got:
        assert inst.rule_id == rule_id and inst.domain == CATALOG.rule(rule_id).domain
        assert inst.entity == "ent-1" and all(e.key.startswith("ent-1") for e in inst.events)
        assert all(entity.startswith("ent-1") for _, entity in inst.side_alerts)
        assert inst.duration_s <= 90, f"{inst.variant} lasts {inst.duration_s}s"
        offsets = [e.offset_s for e in inst.events]
        assert offsets == sorted(offsets)
        assert (inst.completing_index is not None) == inst.should_alert
        for n, event in enumerate(inst.events):
            payload = {**event.payload, "event_id": f"e{n}", "event_time": 1764152130123 + n}
            assert check_event(payload, inst.domain) is None, (inst.variant, n, check_event(payload, inst.domain))


@pytest.mark.parametrize("rule_id", RULES)
def test_factories_are_deterministic(rule_id: str) -> None:
    assert instances(rule_id, seed=5) == instances(rule_id, seed=5)
    assert len(instances(rule_id, seed=5)) == len(instances(rule_id, seed=6))  # the simulator relies on it


def test_payment_scenarios_stay_within_velocity() -> None:
    """No payments instance except velocity's own makes more than 4 auths in 60 s on a card."""
    for rule_id in ("card_testing", "impossible_travel"):
        for seed in range(20):
            for inst in instances(rule_id, seed=seed):
                times = [e.offset_s for e in inst.events if e.payload["event_type"] == "auth"]
                amounts = [e.payload["amount"] for e in inst.events if e.payload["event_type"] == "auth"]
                assert all(sum(1 for u in times if t <= u <= t + 60) <= 4 for t in times), inst.variant
                assert sum(amounts) <= 2500, inst.variant


def test_impossible_travel_speeds() -> None:
    for seed in range(20):
        by_variant = {i.variant: i for i in instances("impossible_travel", seed=seed)}
        for variant, fires in (("fires", True), ("fast_but_possible", False), ("below_min_distance", False)):
            a, b = by_variant[variant].events
            km = haversine_km(a.payload["lat"], a.payload["lon"], b.payload["lat"], b.payload["lon"])
            dt = max(b.offset_s - a.offset_s, 1.0)
            assert (km >= 15 and km > 900 * dt / 3600) == fires, (variant, km, dt)


KIND = {"spike": "spike", "level_shift": "level_shift", "variance_change": "variance", "drift": "drift",
        "flatline": "stuck"}
SIDE_KIND = {"level_shift": "level_shift", "spike": "spike", "variance_change": "variance"}


@pytest.mark.parametrize("rule_id", sorted(KIND))
def test_adaptive_iot_scenarios_agree_with_the_detectors(rule_id: str) -> None:
    for seed in range(10):
        for inst in instances(rule_id, seed=seed):
            values = [e.payload["value"] for e in inst.events]
            side = {SIDE_KIND[r] for r, _ in inst.side_alerts}
            hits = [(k, i) for k, i in opened(values, sensor_params(None, rule_id)) if k not in side]
            assert hits == ([(KIND[rule_id], inst.completing_index)] if inst.should_alert else []), inst.variant


def test_iot_scenario_devices_send_no_heartbeats_except_missing_heartbeat() -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for rule_id in ("out_of_range", "spike", "level_shift", "variance_change", "flatline", "drift"):
        for inst in instances(rule_id):
            kinds[rule_id] |= {e.payload["event_type"] for e in inst.events}
    assert all(k == {"reading"} for k in kinds.values())
    fires = instances("missing_heartbeat")[0]
    gaps = [b.offset_s - a.offset_s for a, b in zip(fires.events, fires.events[1:], strict=False)]
    assert max(gaps) > 30 and gaps.index(max(gaps)) == fires.completing_index
