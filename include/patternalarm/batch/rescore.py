"""Incident rescoring: the job's configuration and its planning from DAG params (pure Python)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from include.patternalarm.batch.plan import PlanError, topics_from
from include.patternalarm.batch.timerange import RangeError, iso, parse_instant, to_ms
from include.patternalarm.topics import DOMAINS, EVENTS

#: How far back Kafka keeps events (topics.py: 12 h); spend history cannot reach further.
MAX_SPEND_HOURS = 12
RECENT_MINUTES = 60


@dataclass(frozen=True)
class RescoreConfig:
    run_id: str
    reference: datetime  # "now" of the run: history windows end here
    domains: tuple[str, ...]
    bootstrap: str
    jdbc_url: str
    jdbc_user: str
    since: datetime | None = None  # rescore incidents last seen at or after…
    until: datetime | None = None  # …and before
    history_days: int = 30
    spend_hours: int = MAX_SPEND_HOURS
    payments_topic: str = EVENTS["payments"]
    max_event_bytes: int = 65536
    max_future_skew_s: int = 300

    def __post_init__(self) -> None:
        if not self.domains or any(d not in DOMAINS for d in self.domains):
            raise PlanError(f"domains must be a non-empty subset of {', '.join(DOMAINS)}")
        if not 1 <= self.history_days <= 3650:
            raise PlanError("history_days must be 1..3650")
        if not 2 <= self.spend_hours <= 720:
            raise PlanError("spend_hours must be 2..720")
        if self.since and self.until and self.until <= self.since:
            raise PlanError(f"until {iso(self.until)} must be after since {iso(self.since)}")

    @property
    def reference_ms(self) -> int:
        return to_ms(self.reference)

    @property
    def history_start_ms(self) -> int:
        return self.reference_ms - self.history_days * 86_400_000

    @property
    def spend_start_ms(self) -> int:
        return self.reference_ms - self.spend_hours * 3_600_000

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "reference": iso(self.reference), "domains": list(self.domains),
            "bootstrap": self.bootstrap, "jdbc_url": self.jdbc_url, "jdbc_user": self.jdbc_user,
            "since": iso(self.since) if self.since else None, "until": iso(self.until) if self.until else None,
            "history_days": self.history_days, "spend_hours": self.spend_hours, "payments_topic": self.payments_topic,
            "max_event_bytes": self.max_event_bytes, "max_future_skew_s": self.max_future_skew_s,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RescoreConfig:
        try:
            raw = json.loads(text)
            return cls(
                run_id=str(raw["run_id"]), reference=parse_instant(raw["reference"], "reference"),
                domains=tuple(raw["domains"]), bootstrap=str(raw["bootstrap"]), jdbc_url=str(raw["jdbc_url"]),
                jdbc_user=str(raw["jdbc_user"]),
                since=parse_instant(raw["since"], "since") if raw.get("since") else None,
                until=parse_instant(raw["until"], "until") if raw.get("until") else None,
                history_days=int(raw.get("history_days", 30)), spend_hours=int(raw.get("spend_hours", 12)),
                payments_topic=str(raw.get("payments_topic", EVENTS["payments"])),
                max_event_bytes=int(raw.get("max_event_bytes", 65536)),
                max_future_skew_s=int(raw.get("max_future_skew_s", 300)),
            )
        except (KeyError, TypeError, ValueError, RangeError) as exc:
            raise PlanError(f"rescoring config: {exc}") from None


def _int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PlanError(f"{name} must be an integer {low}..{high}, got {value!r}")
    return value


def plan_rescoring(params: Mapping[str, Any], *, reference: datetime, bootstrap: str, jdbc: str, jdbc_user: str,
                   job_values: Mapping[str, Any] | None = None, run_id: str | None = None) -> RescoreConfig:
    """params: ``domains``, ``since``/``until`` (optional: which open incidents, by last_seen),
    ``history_days`` (alerts and dispositions), ``spend_hours`` (payments events, ≤ topic retention),
    ``topics`` (``{"payments": …}`` to read another topic)."""
    domains = params.get("domains", list(DOMAINS))
    if not isinstance(domains, Sequence) or isinstance(domains, str) or not domains:
        raise PlanError(f"domains must be a non-empty list of {', '.join(DOMAINS)}")
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise PlanError(f"domains: unknown {unknown} (valid: {', '.join(DOMAINS)})")
    try:
        since = parse_instant(params["since"], "since") if params.get("since") else None
        until = parse_instant(params["until"], "until") if params.get("until") else None
    except RangeError as exc:
        raise PlanError(str(exc)) from None
    topics = topics_from(params.get("topics"))
    job_values = job_values or {}
    return RescoreConfig(
        run_id=run_id or str(uuid.uuid4()), reference=reference.astimezone(UTC),
        domains=tuple(d for d in DOMAINS if d in domains), bootstrap=bootstrap, jdbc_url=jdbc, jdbc_user=jdbc_user,
        since=since, until=until, history_days=_int(params, "history_days", 30, 1, 3650),
        spend_hours=_int(params, "spend_hours", MAX_SPEND_HOURS, 2, 720), payments_topic=topics["payments"],
        max_event_bytes=int(job_values.get("max_event_bytes", 65536)),
        max_future_skew_s=int(job_values.get("max_future_skew_s", 300)),
    )
