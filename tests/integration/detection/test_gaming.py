"""Gaming rules on the real stack: each "fires" instance alerts exactly once, near misses never."""

from __future__ import annotations

import pytest

from include.patternalarm.rules import load_catalog
from tests.integration.detection.conftest import DetectionJob, Outcome, play_and_settle, scenario_instances

DOMAIN = "gaming"
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


def test_currency_farming_reports_which_signal(outcome: Outcome) -> None:
    signals = {a["evidence"]["signal"] for a in outcome.alerts if a["rule_id"] == "currency_farming"}
    assert signals == {"gain_spike", "repeated_trades"}
