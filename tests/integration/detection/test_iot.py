"""IoT rules on the real stack: each "fires" instance alerts exactly once, near misses never;
missing_heartbeat (a session-window absence) alerts silence_s after the last event."""

from __future__ import annotations

import pytest

from include.patternalarm.alerts import parse_time
from include.patternalarm.rules import load_catalog
from tests.integration.detection.conftest import DetectionJob, Outcome, iso, play_and_settle, scenario_instances

DOMAIN = "iot"
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


def test_missing_heartbeat_anchors_on_the_last_event_before_the_silence(outcome: Outcome) -> None:
    (fires,) = [p for p in outcome.played if p.instance.rule_id == "missing_heartbeat" and p.instance.should_alert]
    completing = fires.times_ms[fires.instance.completing_index]
    alerts = [a for a in outcome.alerts if a["entity"] == fires.instance.entity
              and a["last_event_time"] == iso(completing)]
    assert len(alerts) == 1
    assert alerts[0]["evidence"]["event_ids"] == [fires.event_ids[fires.instance.completing_index]]
    assert parse_time(alerts[0]["first_event_time"]) <= parse_time(alerts[0]["last_event_time"])
    # the device's final silence is also reported (end of scenario): the rule sees every silence
    trailing = [a for a in outcome.alerts if a["entity"] == fires.instance.entity
                and a["last_event_time"] == iso(fires.last_ms)]
    assert len(trailing) == 1
