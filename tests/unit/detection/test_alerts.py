"""The alert contract: deterministic ids (as Flink's SQL computes them) and validation."""

from __future__ import annotations

import json

import pytest

from include.patternalarm.alerts import AlertError, alert_id, parse_alert


def _alert(**changes: object) -> dict:
    base = {"alert_id": alert_id("card_testing", 1, "card-1", "e-0"), "rule_id": "card_testing", "rule_version": 1,
            "domain": "payments", "entity": "card-1", "severity": "high",
            "first_event_time": "2026-11-26T10:00:00.000Z", "last_event_time": "2026-11-26T10:00:20.000Z",
            "detected_at": "2026-11-26T10:00:21.200Z", "evidence": {"event_ids": ["e-0", "e-3"], "small_count": 3}}
    base.update(changes)
    return base


def test_alert_id_is_the_sha256_flink_computes() -> None:
    # SHA256(CONCAT_WS('|', 'r', '1', 'ent', 'x1')) on the running SQL Gateway returned this digest
    assert alert_id("r", 1, "ent", "x1") == "9ea5a40f5466f0f6f7ac294341c1e3651d74b23806e7346795fdeec5400e64b6"
    assert alert_id("r", 2, "ent", "x1") != alert_id("r", 1, "ent", "x1")


def test_a_valid_alert_parses_and_round_trips() -> None:
    alert = parse_alert(json.dumps(_alert()).encode())
    assert alert.event_ids == ["e-0", "e-3"] and alert.rule_version == 1
    assert (alert.detected_at - alert.last_event_time).total_seconds() == pytest.approx(1.2)
    assert parse_alert(alert.to_json()) == alert


@pytest.mark.parametrize(("value", "message"), [
    (b"{not json", "alert is not JSON"),
    (b"[1]", "alert is not a JSON object"),
    (_alert(rule_id=""), "field rule_id missing"),
    (_alert(rule_version="1"), "rule_version missing or not a positive integer"),
    (_alert(rule_version=True), "rule_version missing or not a positive integer"),
    (_alert(severity="urgent"), "severity 'urgent' not one of"),
    (_alert(domain="fintech"), "domain 'fintech' not one of"),
    (_alert(alert_id="abc"), "alert_id is not a sha256 hex digest"),
    (_alert(detected_at="yesterday"), "field detected_at"),
    (_alert(first_event_time="2026-11-26T10:00:00"), "has no time zone"),
    (_alert(first_event_time="2026-11-26T11:00:00Z"), "first_event_time is after last_event_time"),
    (_alert(evidence={"event_ids": []}), "non-empty event_ids"),
])
def test_invalid_alerts_say_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(AlertError) as excinfo:
        parse_alert(value)  # type: ignore[arg-type]
    assert message in str(excinfo.value) and excinfo.value.reason == "invalid_alert"
