"""Incident tracking: alerts from Kafka become incidents in PostgreSQL that analysts work.

- ``parse_alert`` / ``Alert`` / ``InvalidAlert`` — the alert contract, validated.
- ``IncidentSink`` / ``SinkConfig`` / ``run_sink`` — the long-running consumer (``sink.py``).
- ``IncidentStore`` / ``IncidentError`` — the analysts' lifecycle API (``store.py``).
- ``group_lag`` — consumer-group lag from Kafka; ``fetch_status`` — the sink's status endpoint.
- ``service.sink_service`` — the sink as a service of the local stack.

The schema and the grouping rules live in ``include/sql/migrations/0020_incidents.sql``; the
user's guide is ``docs/incidents.md``.
"""

from __future__ import annotations

from include.patternalarm.alerts import (
    DISPOSITIONS,
    INCIDENT_DOMAINS,
    SEVERITIES,
    STATUSES,
    Alert,
    InvalidAlert,
    format_time,
    parse_alert,
)
from include.patternalarm.incidents.deadletter import dead_letter
from include.patternalarm.incidents.lag import group_lag
from include.patternalarm.incidents.sink import SINK_GROUP, IncidentSink, SinkConfig, SinkError, run_sink
from include.patternalarm.incidents.status import fetch_status
from include.patternalarm.incidents.store import IncidentError, IncidentStore

__all__ = [
    "DISPOSITIONS", "INCIDENT_DOMAINS", "SEVERITIES", "SINK_GROUP", "STATUSES", "Alert", "IncidentError",
    "IncidentSink", "IncidentStore", "InvalidAlert", "SinkConfig", "SinkError", "dead_letter", "fetch_status",
    "format_time", "group_lag", "parse_alert", "run_sink",
]
