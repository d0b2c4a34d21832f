"""IoT rules on the real stack: each "fires" instance alerts exactly once, near misses never;
missing_heartbeat (a session-window absence) alerts silence_s after the last event."""

from __future__ import annotations

import pytest

from include.patternalarm.alerts import parse_time
from tests.integration.detection.conftest import (
    Outcome,
    assert_fires_exactly_once_and_not_on_near_misses,
    domain_rules,
    iso,
)

DOMAIN = "iot"
RULES = domain_rules(DOMAIN)


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_fires_exactly_once_per_instance_and_not_on_near_misses(outcome: Outcome, rule_id: str) -> None:
    assert_fires_exactly_once_and_not_on_near_misses(outcome, rule_id)


def test_missing_heartbeat_anchors_on_the_last_event_before_the_silence(outcome: Outcome) -> None:
    (fires,) = [p for p in outcome.played if p.instance.rule_id == "missing_heartbeat" and p.instance.should_alert]
    completing = fires.times_ms[fires.instance.completing_index]
    alerts = [a for a in outcome.alerts if a["entity"] == fires.instance.entity
              and a["last_event_time"] == iso(completing)]
    assert len(alerts) == 1
    assert alerts[0]["evidence"]["event_ids"] == [fires.event_ids[fires.instance.completing_index]]
    assert parse_time("first", alerts[0]["first_event_time"]) <= parse_time("last", alerts[0]["last_event_time"])
    # the device's final silence is also reported (end of scenario): the rule sees every silence
    trailing = [a for a in outcome.alerts if a["entity"] == fires.instance.entity
                and a["last_event_time"] == iso(fires.last_ms)]
    assert len(trailing) == 1
