"""Gaming rules on the real stack: each "fires" instance alerts exactly once, near misses never."""

from __future__ import annotations

import pytest

from tests.integration.detection.conftest import Outcome, assert_fires_exactly_once_and_not_on_near_misses, domain_rules

DOMAIN = "gaming"
RULES = domain_rules(DOMAIN)


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_fires_exactly_once_per_instance_and_not_on_near_misses(outcome: Outcome, rule_id: str) -> None:
    assert_fires_exactly_once_and_not_on_near_misses(outcome, rule_id)


def test_currency_farming_reports_which_signal(outcome: Outcome) -> None:
    signals = {a["evidence"]["signal"] for a in outcome.alerts if a["rule_id"] == "currency_farming"}
    assert signals == {"gain_spike", "repeated_trades"}
