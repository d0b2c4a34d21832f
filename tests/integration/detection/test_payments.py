"""Payments rules on the real stack: each "fires" instance alerts exactly once, near misses never."""

from __future__ import annotations

import pytest

from include.patternalarm.alerts import alert_id, parse_alert
from include.patternalarm.rules import load_catalog
from tests.integration.detection.conftest import DetectionJob, Outcome, play_and_settle, scenario_instances

DOMAIN = "payments"
RULES = [r.id for r in load_catalog().rules_for(DOMAIN)]


@pytest.fixture(scope="module")
def outcome(detection_job: DetectionJob) -> Outcome:
    return play_and_settle(detection_job, scenario_instances(DOMAIN))


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_fires_exactly_once_per_instance_and_not_on_near_misses(outcome: Outcome, rule_id: str) -> None:
    fires = [p for p in outcome.played if p.instance.rule_id == rule_id and p.instance.should_alert]
    near = [p for p in outcome.played if p.instance.rule_id == rule_id and not p.instance.should_alert]
    assert fires and near, f"{rule_id}: the factory must give a fires instance and near misses"
    assert outcome.problems.get(rule_id, []) == []


def test_alerts_follow_the_contract_with_recomputable_ids(outcome: Outcome) -> None:
    played = {p.instance.entity: p for p in outcome.played}
    checked = 0
    for raw in outcome.alerts:
        alert = parse_alert(raw)
        if alert.entity not in played:
            continue
        p = played[alert.entity]
        assert alert.domain == DOMAIN
        assert alert.alert_id == alert_id(alert.rule_id, alert.rule_version, alert.entity, alert.event_ids[0])
        assert alert.event_ids[0] in p.event_ids
        assert alert.first_event_time <= alert.last_event_time <= alert.detected_at
        checked += 1
    assert checked >= len([p for p in outcome.played if p.instance.should_alert])
