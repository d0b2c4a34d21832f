"""What the suites are parameterised by: thresholds, the tables they read, and the traffic signal.

Everything here is plain data (no Great Expectations import), validated on construction so a bad
DAG param or CLI option fails with a message that names the field and the allowed range.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

#: The tables the suites validate (and ``silences``, which ``alerts`` refers to).
TABLES = ("alerts", "incidents", "incident_events", "silences", "scaling_events")


class ParameterError(ValueError):
    """A threshold or scope value outside its allowed range; the message says which and why."""


def _between(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{name} must be a number, not {value!r}")
    if not low <= value <= high:
        raise ParameterError(f"{name} must be between {low:g} and {high:g}, not {value:g}")


@dataclass(frozen=True)
class Thresholds:
    """The numbers the expectations compare against (defaults: docs/quality.md)."""

    #: an alert is "on time" when it became visible within this many seconds of its completing event
    latency_target_s: float = 3.0
    #: the share of alerts that must be on time
    latency_min_share: float = 0.95
    #: clocks of producers, Flink and PostgreSQL may disagree this much before a row counts as impossible
    clock_skew_s: float = 5.0
    #: while traffic flows, the newest alert must be at most this old (0 = do not check)
    alerts_max_age_min: float = 15.0
    #: while traffic flows, the newest scaling decision must be at most this old (0 = do not check)
    scaling_max_age_min: float = 0.0
    #: how many offending rows each failed expectation reports
    sample_rows: int = 20

    def __post_init__(self) -> None:
        _between("latency_target_s", self.latency_target_s, 0.1, 3600)
        _between("latency_min_share", self.latency_min_share, 0.0, 1.0)
        _between("clock_skew_s", self.clock_skew_s, 0, 3600)
        _between("alerts_max_age_min", self.alerts_max_age_min, 0, 7 * 24 * 60)
        _between("scaling_max_age_min", self.scaling_max_age_min, 0, 7 * 24 * 60)
        if isinstance(self.sample_rows, bool) or not isinstance(self.sample_rows, int):
            raise ParameterError(f"sample_rows must be an integer, not {self.sample_rows!r}")
        _between("sample_rows", self.sample_rows, 1, 200)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Thresholds:
        """Thresholds from a dict (DAG params); unknown names are refused with the valid ones."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown threshold(s) {unknown}: use {', '.join(sorted(known))}")
        return cls(**values)


@dataclass(frozen=True)
class Traffic:
    """Whether events are flowing, from the newest Kafka record on the event topics.

    ``newest_event_at`` is ``None`` when no record was found (or nobody looked). Traffic
    "flows" when the newest record is at most ``window`` old at ``checked_at``.
    """

    checked_at: datetime
    newest_event_at: datetime | None
    window: timedelta = timedelta(minutes=5)
    source: str = "kafka"

    def __post_init__(self) -> None:
        for name in ("checked_at", "newest_event_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ParameterError(f"{name} must be timezone-aware, not {value!r}")

    @property
    def flowing(self) -> bool:
        return self.newest_event_at is not None and self.newest_event_at >= self.checked_at - self.window

    def fresh_after(self, max_age: timedelta) -> datetime | None:
        """The time the newest row must reach, or ``None`` when freshness is not judged."""
        if not self.flowing or max_age <= timedelta(0):
            return None
        assert self.newest_event_at is not None
        return min(self.checked_at, self.newest_event_at) - max_age

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "newest_event_at": self.newest_event_at.isoformat() if self.newest_event_at else None,
            "window_s": self.window.total_seconds(),
            "flowing": self.flowing,
            "source": self.source,
        }


@dataclass(frozen=True)
class Tables:
    """The tables of one schema as SQL identifiers (``"public"."alerts"``), for ``psycopg.sql`` queries."""

    alerts: sql.Identifier
    incidents: sql.Identifier
    incident_events: sql.Identifier
    silences: sql.Identifier
    scaling_events: sql.Identifier

    @classmethod
    def in_schema(cls, schema: str) -> Tables:
        return cls(**{t: sql.Identifier(schema, t) for t in TABLES})

    def as_params(self) -> dict[str, sql.Identifier]:
        return {t: getattr(self, t) for t in TABLES}


#: schema names the validation accepts (plain lower-case identifiers, as the project creates them)
SCHEMA_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
MAX_IDS = 1000


@dataclass(frozen=True)
class Scope:
    """Which rows are validated: a schema, a time window, and optionally only some rules / jobs.

    The window selects alerts by ``persisted_at``, incident events by ``happened_at``, scaling
    events by ``decided_at``, and incidents that have a timeline event in it. ``None`` bounds mean
    "from the beginning" / "until now". ``rule_ids``, ``entity_like`` and ``scaling_job_ids`` narrow
    the slice to rows a test (or an investigation) made, so other writers' rows never disturb it.
    """

    schema: str = "public"
    since: datetime | None = None
    until: datetime | None = None
    rule_ids: tuple[str, ...] = ()
    scaling_job_ids: tuple[str, ...] = ()
    #: only alerts / incidents whose entity matches this SQL LIKE pattern (a simulator run: ``%-<tag>-%``)
    entity_like: str | None = None

    def __post_init__(self) -> None:
        like = self.entity_like
        if like is not None and not (isinstance(like, str) and 0 < len(like) <= 500):
            raise ParameterError(f"entity_like must be a LIKE pattern of 1 to 500 characters, not {self.entity_like!r}")
        if not isinstance(self.schema, str) or not re.fullmatch(SCHEMA_PATTERN, self.schema):
            raise ParameterError(f"schema must be a lower-case SQL identifier ({SCHEMA_PATTERN}), not {self.schema!r}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise ParameterError(f"{name} must be a timezone-aware datetime, not {value!r}")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ParameterError(f"since ({self.since.isoformat()}) must be before until ({self.until.isoformat()})")
        for name in ("rule_ids", "scaling_job_ids"):
            ids = getattr(self, name)
            if isinstance(ids, str) or not all(isinstance(i, str) and 0 < len(i) <= 200 for i in ids):
                raise ParameterError(f"{name} must be a list of non-empty strings (at most 200 characters each)")
            if len(ids) > MAX_IDS:
                raise ParameterError(f"{name}: at most {MAX_IDS} ids, not {len(ids)}")
            object.__setattr__(self, name, tuple(ids))

    @classmethod
    def last(cls, window: timedelta, *, until: datetime, schema: str = "public") -> Scope:
        """The ``window`` before ``until`` (an hourly run looks at the last ``window``)."""
        if window <= timedelta(0):
            raise ParameterError(f"the window must be positive, not {window}")
        return cls(schema=schema, since=until - window, until=until)

    @property
    def tables(self) -> Tables:
        return Tables.in_schema(self.schema)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rule_ids": list(self.rule_ids),
            "scaling_job_ids": list(self.scaling_job_ids),
            "entity_like": self.entity_like,
        }
