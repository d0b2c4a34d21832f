"""Contract-valid alerts made up on the spot, for benchmarks and tests that publish alerts directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from include.patternalarm.alerts import alert_id_for, format_time


def synthetic_alert(rule_id: str, entity: str, first_event_id: str, *, domain: str = "payments",
                    severity: str = "medium", rule_version: int = 1, first_event_time: datetime | None = None,
                    span: timedelta = timedelta(seconds=5), detected_at: datetime | None = None,
                    extra_event_ids: int = 2, **evidence: Any) -> dict[str, Any]:
    """One alert as the detection jobs write it to Kafka (a JSON-ready dict)."""
    first = first_event_time or datetime.now(UTC) - span
    last = first + span
    event_ids = [first_event_id, *(f"{first_event_id}+{i}" for i in range(1, extra_event_ids + 1))]
    return {
        "alert_id": alert_id_for(rule_id, rule_version, entity, first_event_id),
        "rule_id": rule_id,
        "rule_version": rule_version,
        "domain": domain,
        "entity": entity,
        "severity": severity,
        "first_event_time": format_time(first),
        "last_event_time": format_time(last),
        "detected_at": format_time(detected_at or last),
        "evidence": {"event_ids": event_ids, **evidence},
    }
