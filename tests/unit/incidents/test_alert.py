"""The alert contract: what parses, and the dead-letter reason for everything that does not."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from include.patternalarm.alerts import MAX_ALERT_BYTES, alert_id_for, format_time
from include.patternalarm.incidents import Alert, InvalidAlert, parse_alert
from include.patternalarm.incidents.synthetic import synthetic_alert


def _alert(**changes: object) -> dict:
    doc = synthetic_alert("card_testing", "card-1", "ev-1", severity="high",
                          first_event_time=datetime(2026, 11, 26, 10, 15, 30, 123000, tzinfo=UTC))
    doc.update(changes)
    return doc


def _parse(doc: object) -> Alert:
    return parse_alert(orjson.dumps(doc))


def _reason(value: bytes | None) -> str:
    with pytest.raises(InvalidAlert) as info:
        parse_alert(value)
    return info.value.reason


def test_valid_alert_parses_with_utc_times() -> None:
    alert = _parse(_alert())
    assert alert.alert_id == alert_id_for("card_testing", 1, "card-1", "ev-1")
    assert alert.first_event_time == datetime(2026, 11, 26, 10, 15, 30, 123000, tzinfo=UTC)
    assert alert.severity == "high"
    assert alert.evidence["event_ids"][0] == "ev-1"
    assert format_time(alert.first_event_time) == "2026-11-26T10:15:30.123Z"


def test_alert_id_is_the_contract_hash() -> None:
    import hashlib

    assert alert_id_for("r", 3, "e", "x") == hashlib.sha256(b"r|3|e|x").hexdigest()
    # SHA256(CONCAT_WS('|', 'r', '1', 'ent', 'x1')) on the running SQL Gateway returned this digest
    assert alert_id_for("r", 1, "ent", "x1") == "9ea5a40f5466f0f6f7ac294341c1e3651d74b23806e7346795fdeec5400e64b6"


@pytest.mark.parametrize(("one", "other"), [
    (("r", 1, "a|b", "c"), ("r", 1, "a", "b|c")),  # the separator moved between two parts
    (("r", 1, "e|", "x"), ("r", 1, "e", "|x")),
])
def test_alert_ids_of_different_alerts_differ_whatever_their_parts_contain(one: tuple, other: tuple) -> None:
    # unescaped, both sides joined to the same text and so shared an id: one was dropped by the insert
    assert "|".join(map(str, one)) == "|".join(map(str, other))
    assert alert_id_for(*one) != alert_id_for(*other)


@pytest.mark.parametrize(("one", "other"), [
    # escaping only the separator would make these collide: the backslash must be escaped too
    (("r", 1, "a\\", "b|c"), ("r", 1, "a|b\\", "c")),
    (("r", 1, "x\\", "|y"), ("r", 1, "x|\\", "y")),
])
def test_a_backslash_cannot_forge_an_escape(one: tuple, other: tuple) -> None:
    def separator_only(parts: tuple) -> str:
        return "|".join(str(p).replace("|", "\\|") for p in parts)

    assert separator_only(one) == separator_only(other)
    assert alert_id_for(*one) != alert_id_for(*other)


def test_alert_id_escapes_backslash_then_separator() -> None:
    import hashlib

    assert alert_id_for("r", 1, "a|b", "c\\d") == hashlib.sha256(b"r|1|a\\|b|c\\\\d").hexdigest()


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                   "0001-01-01T00:30:00+14:00"])
@pytest.mark.parametrize("field", ["first_event_time", "last_event_time", "detected_at"])
def test_a_time_that_overflows_in_utc_is_invalid_not_a_crash(field: str, value: str) -> None:
    changes = {"first_event_time": value, "last_event_time": value} if field != "detected_at" else {field: value}
    assert _reason(orjson.dumps(_alert(**changes))) == "invalid_alert"


def test_decoded_objects_and_strings_parse_like_bytes_and_round_trip() -> None:
    alert = _parse(_alert())
    assert parse_alert(_alert()) == alert == parse_alert(orjson.dumps(_alert()).decode())
    assert parse_alert(alert.to_json()) == alert
    assert alert.event_ids[0] == "ev-1" and alert.event_ids == alert.evidence["event_ids"]


@pytest.mark.parametrize("value", ["2026-11-26T10:15:30.123Z", "2026-11-26 10:15:30.123Z",
                                   "2026-11-26T11:15:30.123+01:00", "2026-11-26T10:15:30.123", 1795688130123])
def test_time_forms(value: object) -> None:
    alert = _parse(_alert(first_event_time=value, last_event_time=value, detected_at=value))
    assert alert.first_event_time == datetime(2026, 11, 26, 10, 15, 30, 123000, tzinfo=UTC)


def test_uppercase_alert_id_and_severity_are_normalised() -> None:
    doc = _alert()
    alert = _parse({**doc, "alert_id": doc["alert_id"].upper(), "severity": "HIGH"})
    assert alert.alert_id == doc["alert_id"]
    assert alert.severity == "high"


def test_as_row_carries_the_kafka_source() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    row = _parse(_alert()).as_row(topic="alerts", partition=2, offset=7, timestamp=when)
    assert row["source_topic"] == "alerts" and row["source_partition"] == 2 and row["source_offset"] == 7
    assert row["source_timestamp"] == when.isoformat()
    assert row["first_event_time"].endswith("+00:00")


@pytest.mark.parametrize(("value", "reason"), [
    (None, "malformed_json"),
    (b"", "malformed_json"),
    (b"{not json", "malformed_json"),
    (b"\xff\xfe{}", "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (b'"just a string"', "malformed_json"),
    (b'{"a": NaN}', "malformed_json"),
])
def test_malformed(value: bytes | None, reason: str) -> None:
    assert _reason(value) == reason


def test_oversized() -> None:
    doc = _alert(evidence={"event_ids": ["x"], "blob": "y" * MAX_ALERT_BYTES})
    assert _reason(orjson.dumps(doc)) == "oversized"


@pytest.mark.parametrize("field", ["alert_id", "rule_id", "rule_version", "domain", "entity", "severity",
                                   "first_event_time", "last_event_time", "detected_at", "evidence"])
def test_missing_or_null_field(field: str) -> None:
    doc = _alert()
    del doc[field]
    assert _reason(orjson.dumps(doc)) == f"missing_field:{field}"
    assert _reason(orjson.dumps({**_alert(), field: None})) == f"missing_field:{field}"


@pytest.mark.parametrize(("field", "value"), [
    ("alert_id", 12), ("rule_id", 5), ("entity", ["a"]), ("rule_version", "1"), ("rule_version", 1.5),
    ("rule_version", True), ("domain", 1), ("severity", 3), ("first_event_time", "yesterday"),
    ("detected_at", True), ("last_event_time", 1.5), ("evidence", [1, 2]),
])
def test_wrong_type(field: str, value: object) -> None:
    assert _reason(orjson.dumps(_alert(**{field: value}))) == f"wrong_type:{field}"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"alert_id": "abc"}, "invalid_alert"),
    ({"alert_id": "g" * 64}, "invalid_alert"),
    ({"severity": "urgent"}, "invalid_alert"),
    ({"rule_id": "   "}, "invalid_alert"),
    ({"entity": "x" * 501}, "invalid_alert"),
    ({"rule_version": -1}, "invalid_alert"),
    ({"rule_version": 2**31}, "invalid_alert"),
    ({"domain": "casino"}, "unknown_domain"),
    ({"first_event_time": "2026-11-26T10:00:00Z", "last_event_time": "2026-11-26T09:00:00Z"}, "invalid_alert"),
    ({"entity": "card\u0000"}, "invalid_alert"),
    ({"evidence": {"event_ids": ["a"], "k": "nul\u0000"}}, "invalid_alert"),
    ({"evidence": {"event_ids": ["a"], "k\u0000": 1}}, "invalid_alert"),
    ({"first_event_time": -5}, "invalid_alert"),
])
def test_invalid_values(changes: dict, reason: str) -> None:
    assert _reason(orjson.dumps(_alert(**changes))) == reason


def test_evidence_needs_event_ids_as_strings() -> None:
    assert _reason(orjson.dumps(_alert(evidence={"amount": 3}))) == "missing_field:evidence.event_ids"
    assert _reason(orjson.dumps(_alert(evidence={"event_ids": "e1"}))) == "wrong_type:evidence.event_ids"
    assert _reason(orjson.dumps(_alert(evidence={"event_ids": [1, 2]}))) == "wrong_type:evidence.event_ids"


def test_deep_evidence_is_refused() -> None:
    nested: dict = {"event_ids": ["a"]}
    cursor = nested
    for _ in range(40):
        cursor["n"] = {}
        cursor = cursor["n"]
    assert _reason(orjson.dumps(_alert(evidence=nested))) == "invalid_alert"


def test_domain_hint_is_kept_for_the_dead_letter() -> None:
    with pytest.raises(InvalidAlert) as info:
        _parse(_alert(severity="urgent", domain="gaming"))
    assert info.value.domain == "gaming"
    assert "urgent" in info.value.detail


def test_extra_fields_are_ignored() -> None:
    assert _parse(_alert(future_field={"x": 1})).rule_id == "card_testing"
