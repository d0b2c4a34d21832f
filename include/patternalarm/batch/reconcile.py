"""Reconciliation: the job's configuration and the verdict over its results (pure Python).

The Spark job (``include/spark/reconcile_detection.py``) gets a ``ReconcileConfig`` as JSON,
computes completeness rows and alert diffs, and summarises them with ``Verdict``; the DAG reads the
verdict back from ``reconciliation_runs`` to log it, open a platform incident and fail the run.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from include.patternalarm.batch.rules import ALERT_DOMAINS, RuleSpec, default_margin_s, specs_for
from include.patternalarm.batch.timerange import TimeRange, iso, parse_instant
from include.patternalarm.topics import ALERTS, DLQ, DOMAINS, EVENTS, LATE, METRICS

#: The platform incident a failing reconciliation opens: check name; entity = the domain.
CHECK = "reconcile_detection"
OUTCOMES = ("matched", "missed", "spurious", "edge")
FAILING_OUTCOMES = ("missed", "spurious")
MINUTE_STATUSES = ("ok", "missing", "no_metrics", "excess")
FAILING_MINUTES = ("missing", "no_metrics")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ConfigError(ValueError):
    """The job configuration is invalid; the message names the field."""


@dataclass(frozen=True)
class ReconcileConfig:
    """Everything the Spark job needs except the database password (environment variable)."""

    run_id: str
    range: TimeRange
    domains: tuple[str, ...]
    rules: tuple[RuleSpec, ...]
    bootstrap: str
    jdbc_url: str
    jdbc_user: str
    margins_s: Mapping[str, int] = field(default_factory=dict)  # per domain; default: from the rules
    topics: Mapping[str, str] = field(default_factory=lambda: dict(EVENTS))
    late_topic: str = LATE
    dlq_topic: str = DLQ
    metrics_topic: str = METRICS
    #: the stream alerts judged are those the incident sink read from this topic (alerts.source_topic):
    #: alerts of other pipelines (a replay, a test) cite events this run does not read
    alerts_topic: str = ALERTS
    max_event_bytes: int = 65536
    max_future_skew_s: int = 300

    def __post_init__(self) -> None:
        if not _UUID.match(self.run_id):
            raise ConfigError(f"run_id must be a UUID, got {self.run_id!r}")
        if not self.domains:
            raise ConfigError("at least one domain is required")
        unknown = set(self.domains) - set(DOMAINS)
        if unknown:
            raise ConfigError(f"unknown domain(s) {sorted(unknown)} (valid: {', '.join(DOMAINS)})")
        if len(set(self.domains)) != len(self.domains):
            raise ConfigError("domains must not repeat")
        for d in self.domains:
            if d not in self.topics:
                raise ConfigError(f"no topic for domain {d!r}")
        if not self.bootstrap:
            raise ConfigError("bootstrap servers are required")
        if not self.jdbc_url.startswith("jdbc:postgresql://"):
            raise ConfigError("jdbc_url must be a jdbc:postgresql:// URL")
        for d, m in self.margins_s.items():
            if not isinstance(m, int) or isinstance(m, bool) or m < 0 or m > 24 * 3600:
                raise ConfigError(f"margin of {d} must be 0..86400 seconds, got {m!r}")

    def rules_for(self, domain: str) -> list[RuleSpec]:
        return specs_for(domain, self.rules)

    def margin_s(self, domain: str) -> int:
        if domain in self.margins_s:
            return int(self.margins_s[domain])
        specs = self.rules_for(domain)
        return default_margin_s(specs) if specs else 0

    def read_range(self, domain: str) -> TimeRange:
        return self.range.with_margin(timedelta(seconds=self.margin_s(domain)))

    def horizon_ms(self, domain: str) -> int:
        """How long an entity must have been quiet at the start of the read window before the batch
        treats it as fresh for rules without a time window: half the margin."""
        return self.margin_s(domain) * 1000 // 2

    def reconciles_alerts(self, domain: str) -> bool:
        return domain in ALERT_DOMAINS and bool(self.rules_for(domain))

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "range": self.range.as_dict(), "domains": list(self.domains),
            "rules": [r.as_dict() for r in self.rules], "bootstrap": self.bootstrap, "jdbc_url": self.jdbc_url,
            "jdbc_user": self.jdbc_user, "margins_s": dict(self.margins_s), "topics": dict(self.topics),
            "late_topic": self.late_topic, "dlq_topic": self.dlq_topic, "metrics_topic": self.metrics_topic,
            "alerts_topic": self.alerts_topic, "max_event_bytes": self.max_event_bytes,
            "max_future_skew_s": self.max_future_skew_s,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ReconcileConfig:
        try:
            rng = raw["range"]
            return cls(
                run_id=str(raw["run_id"]),
                range=TimeRange(parse_instant(rng["start"], "range start"), parse_instant(rng["end"], "range end")),
                domains=tuple(raw["domains"]),
                rules=tuple(RuleSpec.from_dict(r) for r in raw.get("rules") or ()),
                bootstrap=str(raw["bootstrap"]), jdbc_url=str(raw["jdbc_url"]), jdbc_user=str(raw["jdbc_user"]),
                margins_s={str(k): int(v) for k, v in (raw.get("margins_s") or {}).items()},
                topics=dict(raw.get("topics") or EVENTS),
                late_topic=str(raw.get("late_topic", LATE)), dlq_topic=str(raw.get("dlq_topic", DLQ)),
                metrics_topic=str(raw.get("metrics_topic", METRICS)),
                alerts_topic=str(raw.get("alerts_topic", ALERTS)),
                max_event_bytes=int(raw.get("max_event_bytes", 65536)),
                max_future_skew_s=int(raw.get("max_future_skew_s", 300)),
            )
        except KeyError as exc:
            raise ConfigError(f"job config without {exc.args[0]!r}") from None

    @classmethod
    def from_json(cls, text: str) -> ReconcileConfig:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"job config is not JSON: {exc}") from None
        if not isinstance(raw, Mapping):
            raise ConfigError("job config must be a JSON object")
        return cls.from_dict(raw)


@dataclass
class DomainResult:
    """What the job found for one domain."""

    domain: str
    read_range: TimeRange
    records_read: int = 0
    records_in_range: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    minutes: Counter[str] = field(default_factory=Counter)
    reported_total: int = 0
    alerts_reconciled: bool = False
    by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)  # a few missed/spurious alerts
    rule_events: int = 0  # valid, on-time, first copies: what the rules saw
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase of the job

    def as_dict(self) -> dict[str, Any]:
        return {
            "read_range": self.read_range.as_dict(), "records_read": self.records_read,
            "records_in_range": self.records_in_range, "reported_total": self.reported_total,
            "alerts_reconciled": self.alerts_reconciled,
            "outcomes": {o: self.outcomes.get(o, 0) for o in OUTCOMES},
            "minutes": {s: self.minutes.get(s, 0) for s in MINUTE_STATUSES},
            "by_rule": self.by_rule, "examples": self.examples, "rule_events": self.rule_events,
            "timings_s": self.timings,
        }


@dataclass
class Verdict:
    """The run's result over every domain: fails on any missed or spurious alert and on any minute
    whose records are not all accounted for (missing / no_metrics); ``excess`` minutes and ``edge``
    alerts are reported without failing."""

    range: TimeRange
    domains: list[DomainResult]

    def total(self, outcome: str) -> int:
        return sum(d.outcomes.get(outcome, 0) for d in self.domains)

    def minutes(self, status: str) -> int:
        return sum(d.minutes.get(status, 0) for d in self.domains)

    @property
    def failing_domains(self) -> list[str]:
        return [d.domain for d in self.domains
                if any(d.outcomes.get(o, 0) for o in FAILING_OUTCOMES)
                or any(d.minutes.get(s, 0) for s in FAILING_MINUTES)]

    @property
    def passed(self) -> bool:
        return not self.failing_domains

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    def counts(self) -> dict[str, int]:
        return {
            "matched": self.total("matched"), "missed": self.total("missed"), "spurious": self.total("spurious"),
            "edge": self.total("edge"), "incomplete_minutes": self.minutes("missing") + self.minutes("no_metrics"),
            "excess_minutes": self.minutes("excess"),
            "records_in_range": sum(d.records_in_range for d in self.domains),
            "records_read": sum(d.records_read for d in self.domains),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"range": self.range.as_dict(), "status": self.status, **self.counts(),
                "domains": {d.domain: d.as_dict() for d in self.domains}}

    def text(self) -> str:
        return summary_text(self.as_dict())


def summary_text(summary: Mapping[str, Any]) -> str:
    """A few lines for the task log, from ``Verdict.as_dict()`` (as stored in reconciliation_runs)."""
    rng = summary["range"]
    lines = [f"reconciliation {rng['start']} – {rng['end']}: {summary['status'].upper()} — "
             f"{summary['missed']} missed, {summary['spurious']} spurious, {summary['matched']} matched, "
             f"{summary['edge']} undecidable at the window edge; {summary['incomplete_minutes']} incomplete and "
             f"{summary['excess_minutes']} over-counted minute(s); {summary['records_in_range']:,} records in range"]
    for name, d in sorted(summary.get("domains", {}).items()):
        o, m = d["outcomes"], d["minutes"]
        alerts = (f"alerts {o['matched']} matched / {o['missed']} missed / {o['spurious']} spurious / {o['edge']} edge"
                  if d["alerts_reconciled"] else "alerts not re-detected (no batch rules)")
        lines.append(f"  {name:9} records {d['records_in_range']:>10,} in range ({d['records_read']:,} read from "
                     f"{d['read_range']['start']}), reported {d['reported_total']:,}; minutes ok {m['ok']}, "
                     f"missing {m['missing']}, no_metrics {m['no_metrics']}, excess {m['excess']}; {alerts}")
        for rule_id, counts in sorted(d.get("by_rule", {}).items()):
            shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            lines.append(f"      {rule_id:18} {shown or 'no alerts'}")
        for ex in d.get("examples", [])[:5]:
            lines.append(f"      {ex['outcome']:8} {ex['rule_id']} {ex['entity']} alert {ex['alert_id'][:12]}… "
                         f"({ex.get('reason', '')})")
    return "\n".join(lines)


def incident_for(summary: Mapping[str, Any], domain: str, run_id: str) -> tuple[str, str, str, str, dict[str, Any]]:
    """(check, entity, severity, summary, details) of the platform incident for a failing domain."""
    d = summary["domains"][domain]
    o, m = d["outcomes"], d["minutes"]
    rng = summary["range"]
    missing_minutes = m["missing"] + m["no_metrics"]
    severity = "critical" if o["missed"] or missing_minutes else "high"
    text = (f"reconciliation of {domain} {rng['start']} – {rng['end']}: {o['missed']} missed and "
            f"{o['spurious']} spurious alert(s), {missing_minutes} minute(s) with unaccounted events")
    details = {"run_id": run_id, "range": rng, "outcomes": o, "minutes": m, "examples": d.get("examples", [])[:10]}
    return CHECK, domain, severity, text, details


def outcome_counts(rows: Iterable[Mapping[str, Any]]) -> Counter[str]:
    return Counter(str(r["outcome"]) for r in rows)


def describe_range(rng: TimeRange) -> str:
    return f"{iso(rng.start)} – {iso(rng.end)}"
