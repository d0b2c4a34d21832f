"""Incident priority: per-entity risk features → a 0–100 priority and its top reasons (pure Python).

The rescoring job (``include/spark/rescore_incidents.py``) computes the features over the history
in Spark; this module turns them into points. Every contribution is explainable in one sentence,
and the incident stores the largest ones as ``priority_reasons``:

- severity (the base): low 20, medium 30, high 40, critical 50;
- alerts in this incident: +3 per alert after the first, at most +10;
- the entity's other alerts in the history window: +4·log2(1 + n), at most +12; and +3 per other
  rule beyond the first, at most +6;
- the entity's earlier incidents confirmed as fraud: +25 for one, +5 for each further, at most +35;
  resolved as false positive: −15 each, at most −30; as benign: −5 each, at most −10;
- the rule's record (at least 5 resolved incidents in the window): 20·(confirmed share − 0.5),
  −10…+10;
- spend (payments): money moved in the hour up to the incident's last event vs the entity's hourly
  average: +6·log2(ratio) from a ratio of 2, at most +20; +5 for an entity first seen moving ≥ 500.

The sum is clamped to 0–100 and rounded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

SEVERITY_BASE = {"low": 20, "medium": 30, "high": 40, "critical": 50}
TOP_REASONS = 4
MIN_RULE_HISTORY = 5
MIN_SPEND_BASELINE_EVENTS = 3
FIRST_SEEN_AMOUNT = 500.0


@dataclass(frozen=True)
class Features:
    """Everything one incident's score is made of (stored with the score in ``incident_scores``)."""

    incident_id: int
    domain: str
    rule_id: str
    entity: str
    severity: str
    alert_count: int = 1
    other_alerts: int = 0  # the entity's alerts in the history window outside this incident
    other_rules: int = 0  # distinct rules among those
    confirmed: int = 0  # the entity's resolved incidents (history window) by disposition
    false_positives: int = 0
    benign: int = 0
    rule_confirmed: int = 0  # the rule's resolved incidents (all entities, history window)
    rule_false_positives: int = 0
    spend_recent: float | None = None  # payments: amount moved in the hour up to last_seen
    spend_hourly_baseline: float | None = None  # …its hourly average over the rest of the window
    spend_baseline_events: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Features:
        names = cls.__dataclass_fields__
        values = {k: row[k] for k in names if k in row and row[k] is not None}
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Contribution:
    factor: str
    points: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "points": self.points, "detail": self.detail}


@dataclass(frozen=True)
class Score:
    priority: int
    contributions: tuple[Contribution, ...]

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """What sets this incident apart, largest first (by absolute points), then its severity (the
        base every incident has)."""
        ranked = sorted((c for c in self.contributions if c.points and c.factor != "severity"),
                        key=lambda c: (-abs(c.points), c.factor))
        base = [c for c in self.contributions if c.factor == "severity"]
        return [c.as_dict() for c in [*ranked, *base][:TOP_REASONS]]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def score(f: Features, *, history_days: int = 30) -> Score:
    """The incident's priority (0–100) and every contribution to it."""
    if f.severity not in SEVERITY_BASE:
        raise ValueError(f"incident {f.incident_id}: unknown severity {f.severity!r}")
    parts = [Contribution("severity", SEVERITY_BASE[f.severity], f"severity {f.severity}")]
    if f.alert_count > 1:
        parts.append(Contribution("incident_alerts", min(10, 3 * (f.alert_count - 1)),
                                  f"{f.alert_count} alerts in this incident"))
    if f.other_alerts > 0:
        points = min(12, round(4 * math.log2(1 + f.other_alerts)))
        rules = f" from {_plural(f.other_rules, 'rule')}" if f.other_rules else ""
        parts.append(Contribution("alert_history", points,
                                  f"{_plural(f.other_alerts, 'other alert')}{rules} in {history_days} days"))
        if f.other_rules > 1:
            parts.append(Contribution("rule_variety", min(6, 3 * (f.other_rules - 1)),
                                      f"flagged by {f.other_rules} different rules"))
    if f.confirmed > 0:
        parts.append(Contribution("confirmed_fraud", min(35, 25 + 5 * (f.confirmed - 1)),
                                  f"{_plural(f.confirmed, 'earlier incident')} confirmed as fraud"))
    if f.false_positives > 0:
        parts.append(Contribution("false_positives", -min(30, 15 * f.false_positives),
                                  f"{_plural(f.false_positives, 'earlier incident')} resolved as false positive"))
    if f.benign > 0:
        parts.append(Contribution("benign", -min(10, 5 * f.benign),
                                  f"{_plural(f.benign, 'earlier incident')} resolved as benign"))
    resolved = f.rule_confirmed + f.rule_false_positives
    if resolved >= MIN_RULE_HISTORY:
        share = f.rule_confirmed / resolved
        points = max(-10, min(10, round(20 * (share - 0.5))))
        parts.append(Contribution("rule_record", points,
                                  f"{f.rule_id}: {share:.0%} of {resolved} resolved incidents confirmed"))
    if f.spend_recent is not None and f.spend_recent > 0:
        if f.spend_baseline_events >= MIN_SPEND_BASELINE_EVENTS and f.spend_hourly_baseline:
            ratio = f.spend_recent / max(f.spend_hourly_baseline, 1.0)
            if ratio >= 2:
                parts.append(Contribution("spend_deviation", min(20, round(6 * math.log2(ratio))),
                                          f"moved {f.spend_recent:,.2f} in the hour up to the last alert, "
                                          f"{ratio:.1f}x its hourly average"))
        elif f.spend_baseline_events == 0 and f.spend_recent >= FIRST_SEEN_AMOUNT:
            parts.append(Contribution("spend_first_seen", 5,
                                      f"no earlier activity, then {f.spend_recent:,.2f} within an hour"))
    total = sum(c.points for c in parts)
    return Score(priority=max(0, min(100, round(total))), contributions=tuple(parts))
