"""Scoring detection against ground truth: recall, precision and latency per rule (pure functions).

Matching: an alert belongs to a ground-truth instance when rule and entity are equal (instances use
fresh entities) and the alert's last_event_time lies within the instance's event-time span (plus
``slack``). Per rule:

- recall = fires instances with at least one alert / fires instances;
- precision = true-positive alerts / (true-positive + false-positive alerts), where the first alert
  of a fires instance is a true positive; alerts on near misses and on entities without ground truth
  (background) are false positives; further alerts of an instance are counted as ``extra`` (and
  are false positives too: "exactly one alert per instance");
- latency = alert visible − the completing event's event_time (+ ``latency_offsets[rule]``, e.g.
  missing_heartbeat's silence: an absence completes silence_s after the last event), p50/p95/p99.

Absence rules (``absence_rules``): an alert whose last_event_time is the entity's last event of the
run (the device stopped because its scenario or the run ended) is not scored but counted as
``end_of_stream``; for background entities, alerts whose silence began within ``end_window`` of the
run's end likewise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class TruthRecord:
    scenario_id: str
    rule_id: str
    variant: str
    entity: str
    should_alert: bool
    first_event_time: datetime
    last_event_time: datetime
    completing_event_time: datetime | None = None
    run_id: str = ""
    side_alerts: tuple[tuple[str, str], ...] = ()  # (rule, entity) alerts the instance causes by design


@dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    rule_id: str
    entity: str
    first_event_time: datetime
    last_event_time: datetime
    visible_at: datetime  # persisted_at (database) or the Kafka record timestamp


@dataclass
class RuleScore:
    rule_id: str
    fires: int = 0
    detected: int = 0
    near_misses: int = 0
    near_miss_alerts: int = 0
    true_positives: int = 0
    false_positives: int = 0
    background_alerts: int = 0
    extra: int = 0
    end_of_stream: int = 0
    side: int = 0  # alerts another rule's scenario causes by design (not scored)
    latencies_s: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.detected / self.fires if self.fires else None

    @property
    def precision(self) -> float | None:
        total = self.true_positives + self.false_positives
        return self.true_positives / total if total else None

    def latency(self, q: float) -> float | None:
        return percentile(self.latencies_s, q)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "fires": self.fires, "detected": self.detected, "recall": self.recall,
            "precision": self.precision, "true_positives": self.true_positives,
            "false_positives": self.false_positives, "near_misses": self.near_misses,
            "near_miss_alerts": self.near_miss_alerts, "background_alerts": self.background_alerts,
            "extra_alerts": self.extra, "end_of_stream": self.end_of_stream, "side_alerts": self.side,
            "latency_s": {"p50": self.latency(50), "p95": self.latency(95), "p99": self.latency(99),
                          "n": len(self.latencies_s)},
            "missed": self.missed[:20],
        }


@dataclass
class Score:
    rules: dict[str, RuleScore]
    latencies_s: list[float]

    def totals(self) -> dict[str, Any]:
        fires = sum(r.fires for r in self.rules.values())
        detected = sum(r.detected for r in self.rules.values())
        tp = sum(r.true_positives for r in self.rules.values())
        fp = sum(r.false_positives for r in self.rules.values())
        return {"fires": fires, "detected": detected, "recall": detected / fires if fires else None,
                "true_positives": tp, "false_positives": fp, "precision": tp / (tp + fp) if tp + fp else None,
                "latency_s": {"p50": percentile(self.latencies_s, 50), "p95": percentile(self.latencies_s, 95),
                              "p99": percentile(self.latencies_s, 99), "n": len(self.latencies_s)}}

    def as_dict(self) -> dict[str, Any]:
        return {"rules": {k: v.as_dict() for k, v in sorted(self.rules.items())}, "total": self.totals()}


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` (0–100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def score(truth: Iterable[TruthRecord], alerts: Iterable[AlertRecord], *, rules: Iterable[str] | None = None,
          latency_offsets: Mapping[str, timedelta] | None = None, absence_rules: Iterable[str] = (),
          run_end: datetime | None = None, end_window: timedelta = timedelta(0),
          slack: timedelta = timedelta(seconds=5)) -> Score:
    """Score ``alerts`` against ``truth`` (see the module docstring)."""
    offsets = dict(latency_offsets or {})
    absence = set(absence_rules)
    truth = list(truth)
    by_key: dict[tuple[str, str], list[TruthRecord]] = {}
    side: dict[tuple[str, str], list[TruthRecord]] = {}
    last_event: dict[str, datetime] = {}
    for t in truth:
        by_key.setdefault((t.rule_id, t.entity), []).append(t)
        for pair in t.side_alerts:
            side.setdefault(tuple(pair), []).append(t)
        last_event[t.entity] = max(last_event.get(t.entity, t.last_event_time), t.last_event_time)
    wanted = set(rules) if rules is not None else None
    result: dict[str, RuleScore] = {}

    def rule_score(rule_id: str) -> RuleScore:
        return result.setdefault(rule_id, RuleScore(rule_id))

    for t in truth:
        if wanted is None or t.rule_id in wanted:
            rs = rule_score(t.rule_id)
            if t.should_alert:
                rs.fires += 1
            else:
                rs.near_misses += 1
    matched: dict[str, list[AlertRecord]] = {}
    for alert in sorted(alerts, key=lambda a: (a.visible_at, a.alert_id)):
        if wanted is not None and alert.rule_id not in wanted:
            continue
        rs = rule_score(alert.rule_id)
        if alert.rule_id in absence:
            if alert.entity in last_event and alert.last_event_time >= last_event[alert.entity]:
                rs.end_of_stream += 1
                continue
            if alert.entity not in last_event and run_end is not None and \
                    alert.last_event_time >= run_end - end_window:
                rs.end_of_stream += 1
                continue
        candidates = [t for t in by_key.get((alert.rule_id, alert.entity), [])
                      if t.first_event_time - slack <= alert.last_event_time <= t.last_event_time + slack]
        if not candidates:
            if any(t.first_event_time - slack <= alert.last_event_time <= t.last_event_time + slack
                   for t in side.get((alert.rule_id, alert.entity), [])):
                rs.side += 1
                continue
            rs.false_positives += 1
            rs.background_alerts += 1
            continue
        instance = candidates[0]
        if not instance.should_alert:
            rs.false_positives += 1
            rs.near_miss_alerts += 1
            continue
        previous = matched.setdefault(instance.scenario_id, [])
        previous.append(alert)
        if len(previous) > 1:
            rs.extra += 1
            rs.false_positives += 1
            continue
        rs.true_positives += 1
        rs.detected += 1
        if instance.completing_event_time is not None:
            done = instance.completing_event_time + offsets.get(alert.rule_id, timedelta(0))
            rs.latencies_s.append((alert.visible_at - done).total_seconds())
    for t in truth:
        if t.should_alert and t.scenario_id not in matched and (wanted is None or t.rule_id in wanted):
            rule_score(t.rule_id).missed.append(f"{t.scenario_id} ({t.variant}, {t.entity})")
    all_latencies = [x for r in result.values() for x in r.latencies_s]
    return Score(rules=result, latencies_s=all_latencies)
