"""One scoring report for simulator runs: what `score`, the main job and the benchmark print."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from include.patternalarm.rules import load_catalog
from include.patternalarm.scoring.core import Score, score
from include.patternalarm.scoring.load import (
    ScoreError,
    dedupe,
    load_alerts_db,
    load_alerts_kafka,
    load_runs,
    load_truth,
)
from include.patternalarm.settings import Settings
from include.patternalarm.topics import ALERTS

ABSENCE_RULES = {"missing_heartbeat": "silence_s"}


def score_runs(settings: Settings, run_ids: Iterable[str] | None = None, *, last: int = 1, source: str = "auto",
               alerts_topic: str = ALERTS, settled_before: datetime | None = None) -> tuple[dict[str, Any], Score]:
    """Score simulator runs (default: the last) against the alerts; returns (report, score).

    ``source``: ``db`` (the incident store's alerts, latency from ``persisted_at``), ``kafka`` (the alerts
    topic, latency from the record timestamp) or ``auto`` (db, else kafka when the store has none).
    ``settled_before``: score only instances whose last event is older (a run still going on).
    """
    if source not in ("auto", "db", "kafka"):
        raise ScoreError(f"alert source must be auto, db or kafka, not {source!r}")
    runs = load_runs(settings, list(run_ids) if run_ids else None, last=last)
    truth = load_truth(settings, [r.run_id for r in runs])
    if settled_before is not None:
        truth = [t for t in truth if t.last_event_time < settled_before]
    since = min(r.started_at for r in runs) - timedelta(minutes=1)
    run_end = max(r.finished_at or datetime.now(UTC) for r in runs)
    until = run_end + timedelta(minutes=5)
    tags = [r.tag for r in runs]
    used = source
    if source in ("auto", "db"):
        try:
            alerts = load_alerts_db(settings, tags, since, until)
            used = "db"
        except ScoreError:
            if source == "db":
                raise
            alerts, used = load_alerts_kafka(settings, tags, since, until, topic=alerts_topic), "kafka"
        if source == "auto" and not alerts:  # the incident sink did not store them (not running?)
            alerts, used = load_alerts_kafka(settings, tags, since, until, topic=alerts_topic), "kafka"
    else:
        alerts = load_alerts_kafka(settings, tags, since, until, topic=alerts_topic)
    catalog = load_catalog()
    offsets = {rule: timedelta(seconds=catalog.rule(rule).values[param]) for rule, param in ABSENCE_RULES.items()
               if rule in catalog.rules}
    end_window = max(offsets.values(), default=timedelta(0)) + \
        timedelta(milliseconds=catalog.job_values["watermark_delay_ms"]) + timedelta(seconds=10)
    result = score(truth, dedupe(alerts), rules=list(catalog.rules), latency_offsets=offsets,
                   absence_rules=list(ABSENCE_RULES), run_end=run_end, end_window=end_window)
    report = {"runs": [r.run_id for r in runs], "alert_source": used, "alerts": len(alerts),
              "latency_from": "persisted_at (database clock)" if used == "db" else "alerts topic record timestamp",
              **result.as_dict()}
    return report, result
