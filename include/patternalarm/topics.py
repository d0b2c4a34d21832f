"""Kafka topic names and their layout (one place; never hard-coded elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass

DOMAINS = ("payments", "gaming", "iot")

EVENTS = {domain: f"events.{domain}" for domain in DOMAINS}
DLQ = "events.dlq"  # events that failed validation/parsing, with the reason
LATE = "events.late"  # events behind the watermark, with the reason
ALERTS = "alerts"  # detection output (the alert contract)
ALERTS_DLQ = "alerts.dlq"  # alerts the incident sink could not store, with the reason
METRICS = "detection.metrics"  # processed / dead-lettered / late counts per domain and minute
# a shadow job (a candidate rule set on the live events) writes here, never to the platform's topics
SHADOW_ALERTS = "alerts.shadow"  # its alerts: never stored in the alerts table, never an incident
SHADOW_DLQ = "shadow.dlq"
SHADOW_LATE = "shadow.late"
SHADOW_METRICS = "shadow.metrics"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(partitions: int) -> list[TopicSpec]:
    """Every topic the platform needs; ``partitions`` sizes the data topics."""
    week = str(7 * 24 * 3600 * 1000)
    data = {"retention.ms": str(12 * 3600 * 1000)}
    return [
        *(TopicSpec(t, partitions, data) for t in EVENTS.values()),
        TopicSpec(DLQ, 1, {"retention.ms": week}),
        TopicSpec(LATE, 1, {"retention.ms": week}),
        TopicSpec(ALERTS, partitions, {"retention.ms": week}),
        TopicSpec(ALERTS_DLQ, 1, {"retention.ms": week}),
        TopicSpec(METRICS, 1, {"retention.ms": week}),
        TopicSpec(SHADOW_ALERTS, partitions, {"retention.ms": week}),
        *(TopicSpec(t, 1, {"retention.ms": week}) for t in (SHADOW_DLQ, SHADOW_LATE, SHADOW_METRICS)),
    ]
