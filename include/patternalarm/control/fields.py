"""A rule whose required field live traffic never carries cannot fire: say so at deploy and in status.

``sample_events`` reads the newest records of a domain's event topic (one consumer, no group offsets
committed, nothing written); ``absent_fields`` names, per rule, the fields it ``requires`` that no
sampled event carries (present and not null). Deploy (CLI and DAG) prints the warnings; ``deploy
status`` shows them per job (``rules_without_fields``), and the monitor's ``rule_fields`` task logs them
every minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from include.patternalarm.kafka_read import read_to_end

SAMPLE = 1000


def sample_events(bootstrap: str, topic: str, *, limit: int = SAMPLE, timeout_s: float = 10.0) -> list[dict]:
    """Up to ``limit`` of the newest JSON objects on ``topic`` (spread over its partitions); records that
    are not JSON objects are skipped (they are the dead-letter path's business, not this check's)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "patternalarm-field-probe",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "latest"})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        partitions = sorted(metadata.partitions)
        share = max(1, limit // max(1, len(partitions)))
        wanted, ends = [], {}
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
            if high > low:
                wanted.append(TopicPartition(topic, partition, max(low, high - share)))
                ends[partition] = high
        if not wanted:
            return []
        events: list[dict] = []
        for message in read_to_end(consumer, wanted, ends, timeout_s=timeout_s):
            try:
                value = json.loads(message.value() or b"")
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(value, dict):
                events.append(value)
        return events
    finally:
        consumer.close()


def absent_fields(rules: Iterable[Any], events: list[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``{rule_id: [required fields no event carries]}`` for the rules with any (empty without events)."""
    if not events:
        return {}
    present = {k for e in events for k, v in e.items() if v is not None}
    out: dict[str, list[str]] = {}
    for rule in rules:
        missing = [f for f in getattr(rule, "requires", ()) if f not in present]
        if missing:
            out[rule.id] = missing
    return out


def warnings(domain: str, absent: Mapping[str, list[str]], sampled: int) -> list[str]:
    return [f"{domain}: rule {rule_id} needs {', '.join(fields)}, which none of the newest {sampled:,} events "
            f"carries: it cannot fire on this traffic" for rule_id, fields in sorted(absent.items())]


def live_field_warnings(settings: Any, domain: str, catalog: Any, *, limit: int = SAMPLE) -> list[str]:
    """The warnings for ``domain``'s rules in ``catalog`` against its live event topic (never raises: a
    broker that does not answer makes no warning — the deploy's own checks report it)."""
    from include.patternalarm.topics import EVENTS

    try:
        events = sample_events(settings.bootstrap_servers, EVENTS[domain], limit=limit)
    except Exception:  # noqa: BLE001 - a best-effort advisory check
        return []
    return warnings(domain, absent_fields(catalog.rules_for(domain), events), len(events))
