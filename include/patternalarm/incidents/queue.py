"""The incident queue: filters, its order, and keyset pagination (shared by the CLI and the console).

The order is the CLI's: priority (0–100, unscored last), then last seen, then id, all descending.
``coalesce(priority, -1)`` makes "unscored last" an ordinary value, so one row comparison
``(coalesce(priority, -1), last_seen, incident_id) < (…)`` pages through it and the indexes of
migration 0030 serve it: a page costs the same at row 100,000 as at row 1 (no OFFSET).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql

from include.patternalarm.alerts import INCIDENT_DOMAINS, SEVERITIES, STATUSES

#: ``active`` = open or acknowledged (the default view); ``all`` = no status filter.
QUEUE_STATUSES = ("active", *STATUSES, "all")
UNASSIGNED = "-"
QUEUE_COLUMNS = (
    "incident_id", "status", "priority", "severity", "domain", "rule_id", "entity", "alert_count", "first_seen",
    "last_seen", "assignee", "disposition", "reopen_count", "summary", "priority_reasons", "acknowledged_by",
    "resolved_at", "updated_at",
)
_RANK = sql.SQL("coalesce(priority, -1)")
_KEY = sql.SQL("({}, last_seen, incident_id)").format(_RANK)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PAGE = 10_000


class QueueError(ValueError):
    """A filter or cursor that cannot be used; the message says what is accepted."""


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows. Empty fields do not filter."""

    status: str = "active"
    domain: str | None = None
    rule: str | None = None
    severity: str | None = None
    assignee: str | None = None  # a name, or UNASSIGNED
    since: datetime | None = None  # last_seen >= since
    until: datetime | None = None  # last_seen < until
    entity: str | None = None  # exactly this entity
    entity_contains: str | None = None  # entity contains this text (case-insensitive)

    def validated(self) -> QueueFilter:
        if self.status not in QUEUE_STATUSES:
            raise QueueError(f"unknown status {self.status!r}: use one of {', '.join(QUEUE_STATUSES)}")
        if self.domain is not None and self.domain not in INCIDENT_DOMAINS:
            raise QueueError(f"unknown domain {self.domain!r}: use one of {', '.join(INCIDENT_DOMAINS)}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise QueueError(f"unknown severity {self.severity!r}: use one of {', '.join(SEVERITIES)}")
        if self.since and self.until and self.since >= self.until:
            raise QueueError("the time range is empty: 'since' must be before 'until'")
        for name in ("rule", "assignee", "entity", "entity_contains"):
            value = getattr(self, name)
            if value is not None and len(value) > 500:
                raise QueueError(f"{name} is longer than 500 characters")
        return self

    def without_status(self) -> QueueFilter:
        return replace(self, status="all")

    def conditions(self) -> tuple[list[sql.Composable], list[Any]]:
        """SQL conditions and their parameters (the status as a literal, so partial indexes apply)."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        if self.status == "active":
            where.append(sql.SQL("status <> 'resolved'"))
        elif self.status != "all":
            where.append(sql.SQL("status = {}").format(sql.Literal(self.status)))
        for column, value in (("domain", self.domain), ("rule_id", self.rule), ("severity", self.severity),
                              ("entity", self.entity)):
            if value:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if self.assignee == UNASSIGNED:
            where.append(sql.SQL("assignee IS NULL"))
        elif self.assignee:
            where.append(sql.SQL("assignee = %s"))
            params.append(self.assignee)
        if self.since is not None:
            where.append(sql.SQL("last_seen >= %s"))
            params.append(self.since)
        if self.until is not None:
            where.append(sql.SQL("last_seen < %s"))
            params.append(self.until)
        if self.entity_contains:
            where.append(sql.SQL("entity ILIKE %s ESCAPE '\\'"))
            params.append("%" + escape_like(self.entity_contains) + "%")
        return where or [sql.SQL("true")], params


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Cursor:
    """A position in the queue's order: the sort key of one row."""

    rank: int  # coalesce(priority, -1)
    last_seen: datetime
    incident_id: int

    @classmethod
    def of(cls, row: dict[str, Any]) -> Cursor:
        priority = row["priority"]
        return cls(-1 if priority is None else int(priority), row["last_seen"], int(row["incident_id"]))

    def encode(self) -> str:
        micros = (self.last_seen - _EPOCH) // timedelta(microseconds=1)
        return f"{self.rank}_{micros}_{self.incident_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            rank, micros, incident_id = (int(part) for part in text.split("_"))
        except ValueError:
            raise QueueError(f"not a queue position: {text[:40]!r}") from None
        if not -1 <= rank <= 100 or incident_id < 1 or abs(micros) > 2**62:
            raise QueueError(f"not a queue position: {text[:40]!r}")
        return cls(rank, _EPOCH + timedelta(microseconds=micros), incident_id)

    def params(self) -> list[Any]:
        return [self.rank, self.last_seen, self.incident_id]


def page_query(flt: QueueFilter, *, after: Cursor | None = None, before: Cursor | None = None,
               limit: int = 50, columns: tuple[str, ...] = QUEUE_COLUMNS) -> tuple[sql.Composed, list[Any]]:
    """One page (``limit`` + 1 rows, so the caller knows whether there is more) after or before a position.

    Rows come in the queue's order after ``after``; before ``before`` they come in reverse (nearest
    first) — the caller flips them.
    """
    if after is not None and before is not None:
        raise QueueError("give a position to page after or before, not both")
    if not 1 <= limit <= MAX_PAGE:
        raise QueueError(f"page size must be between 1 and {MAX_PAGE}, not {limit}")
    where, params = flt.validated().conditions()
    direction = sql.SQL("DESC")
    if after is not None:
        where.append(sql.SQL("{} < (%s, %s, %s)").format(_KEY))
        params += after.params()
    elif before is not None:
        where.append(sql.SQL("{} > (%s, %s, %s)").format(_KEY))
        params += before.params()
        direction = sql.SQL("ASC")
    query = sql.SQL("SELECT {cols} FROM incidents WHERE {where} "
                    "ORDER BY {rank} {d}, last_seen {d}, incident_id {d} LIMIT %s").format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns), where=sql.SQL(" AND ").join(where),
        rank=_RANK, d=direction)
    return query, [*params, limit + 1]


def counts_query(flt: QueueFilter) -> tuple[sql.Composed, list[Any]]:
    """Incidents per status under every filter but the status (the queue's tabs)."""
    where, params = flt.validated().without_status().conditions()
    query = sql.SQL("SELECT status, count(*) AS n FROM incidents WHERE {} GROUP BY status").format(
        sql.SQL(" AND ").join(where))
    return query, params
