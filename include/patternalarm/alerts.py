"""The alert contract (Kafka topic ``alerts``) and its deterministic ``alert_id``.

The Flink jobs compute ``alert_id`` in SQL as ``SHA256(CONCAT_WS('|', rule_id, rule_version, entity,
first matched event_id))``; `alert_id` here is the same function, so consumers (incident sink,
scoring, tests) can recompute and check it. `parse_alert` validates one alert record and raises
`AlertError` with a dead-letter reason (``invalid_alert``) and a precise detail.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
DOMAINS = ("payments", "gaming", "iot")
_TIME_FIELDS = ("first_event_time", "last_event_time", "detected_at")


class AlertError(ValueError):
    """An alert record does not follow the contract; ``reason`` is the dead-letter reason code."""

    def __init__(self, detail: str, reason: str = "invalid_alert") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def alert_id(rule_id: str, rule_version: int, entity: str, first_event_id: str) -> str:
    """sha256 hex of ``rule_id|rule_version|entity|first matched event_id`` (as the SQL computes it)."""
    text = "|".join((rule_id, str(rule_version), entity, first_event_id))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_time(value: Any) -> datetime:
    """An ISO-8601 UTC timestamp (``…Z`` or ``+00:00``) as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 string, got {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule_id: str
    rule_version: int
    domain: str
    entity: str
    severity: str
    first_event_time: datetime
    last_event_time: datetime
    detected_at: datetime
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def event_ids(self) -> list[str]:
        return [str(e) for e in self.evidence.get("event_ids", [])]

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime) -> str:
            return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

        return {"alert_id": self.alert_id, "rule_id": self.rule_id, "rule_version": self.rule_version,
                "domain": self.domain, "entity": self.entity, "severity": self.severity,
                "first_event_time": iso(self.first_event_time), "last_event_time": iso(self.last_event_time),
                "detected_at": iso(self.detected_at), "evidence": self.evidence}


def parse_alert(value: bytes | str | dict[str, Any]) -> Alert:
    """Validate one alert record (JSON bytes/str or a dict); `AlertError` names what is wrong."""
    if isinstance(value, (bytes, str)):
        try:
            data = json.loads(value)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AlertError(f"alert is not JSON: {exc}") from None
    else:
        data = value
    if not isinstance(data, dict):
        raise AlertError("alert is not a JSON object")
    for name in ("alert_id", "rule_id", "domain", "entity", "severity"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise AlertError(f"field {name} missing or not a non-empty string")
    version = data.get("rule_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise AlertError("field rule_version missing or not a positive integer")
    if data["severity"] not in SEVERITIES:
        raise AlertError(f"severity {data['severity']!r} not one of {', '.join(SEVERITIES)}")
    if data["domain"] not in DOMAINS:
        raise AlertError(f"domain {data['domain']!r} not one of {', '.join(DOMAINS)}")
    if len(data["alert_id"]) != 64 or any(c not in "0123456789abcdef" for c in data["alert_id"]):
        raise AlertError("alert_id is not a sha256 hex digest")
    times: dict[str, datetime] = {}
    for name in _TIME_FIELDS:
        try:
            times[name] = parse_time(data.get(name))
        except ValueError as exc:
            raise AlertError(f"field {name}: {exc}") from None
    if times["first_event_time"] > times["last_event_time"]:
        raise AlertError("first_event_time is after last_event_time")
    evidence = data.get("evidence")
    if not isinstance(evidence, dict) or not isinstance(evidence.get("event_ids"), list) or not evidence["event_ids"]:
        raise AlertError("evidence must be an object with a non-empty event_ids list")
    return Alert(alert_id=data["alert_id"], rule_id=data["rule_id"], rule_version=version, domain=data["domain"],
                 entity=data["entity"], severity=data["severity"], first_event_time=times["first_event_time"],
                 last_event_time=times["last_event_time"], detected_at=times["detected_at"], evidence=evidence)
