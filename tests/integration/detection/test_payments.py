"""Payments rules on the real stack: each "fires" instance alerts exactly once, near misses never."""

from __future__ import annotations

import pytest

from include.patternalarm.alerts import alert_id_for, parse_alert
from tests.integration.detection.conftest import Outcome, assert_fires_exactly_once_and_not_on_near_misses, domain_rules

DOMAIN = "payments"
RULES = domain_rules(DOMAIN)


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_fires_exactly_once_per_instance_and_not_on_near_misses(outcome: Outcome, rule_id: str) -> None:
    assert_fires_exactly_once_and_not_on_near_misses(outcome, rule_id)


def test_alerts_follow_the_contract_with_recomputable_ids(outcome: Outcome) -> None:
    played = {p.instance.entity: p for p in outcome.played}
    checked = 0
    for raw in outcome.alerts:
        alert = parse_alert(raw)
        if alert.entity not in played:
            continue
        p = played[alert.entity]
        assert alert.domain == DOMAIN
        assert alert.alert_id == alert_id_for(alert.rule_id, alert.rule_version, alert.entity, alert.event_ids[0])
        assert alert.event_ids[0] in p.event_ids
        assert alert.first_event_time <= alert.last_event_time <= alert.detected_at
        checked += 1
    assert checked >= len([p for p in outcome.played if p.instance.should_alert])
