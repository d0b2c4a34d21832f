"""What the incident console reads and does: the queue with its counts, an incident with its context,
rule quality, and the lifecycle actions with optimistic concurrency.

Reads run as whichever role the store was made for (the console reads as ``patternalarm_reporting``);
actions as ``patternalarm_analyst``, only through the database's lifecycle functions, so the roles and
the timeline stay the single truth.

**Optimistic concurrency.** A page carries the incident's *version*: the id of its latest lifecycle
event (opened, acknowledged, assigned, resolved, auto-resolved, re-opened). An action names the
version it was based on; it runs in one REPEATABLE READ transaction that first checks the version and
then calls the function. When someone else acted first, the version differs (or, if they commit
between the check and the function's row lock, PostgreSQL raises a serialization failure and the check
is repeated), and ``IncidentConflict`` says who did what, when; nothing is changed. New alerts and
priority updates do not change the version: they are not someone else's decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from include.patternalarm.alerts import DISPOSITIONS
from include.patternalarm.incidents.queue import Cursor, QueueError, QueueFilter, counts_query
from include.patternalarm.incidents.store import IncidentError, IncidentStore, Row

#: timeline kinds that are decisions about the incident (its version is the latest of these)
LIFECYCLE_KINDS = ("opened", "acknowledged", "assigned", "resolved", "auto_resolved", "reopened")
ACTIONS = ("ack", "assign", "resolve", "reopen")
MAX_SILENCE = timedelta(days=30)
CHOICES_TTL_S = 30.0
_RETRIES = 3


class IncidentConflict(IncidentError):
    """Someone else changed the incident since the caller loaded it; nothing was done."""


@dataclass(frozen=True)
class QueuePage:
    rows: list[Row]
    counts: dict[str, int]  # per status under the other filters, plus "active" and "all"
    next_cursor: str | None  # rows after this page
    prev_cursor: str | None  # rows before it (None on the first page)


def _utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "?"


def describe_event(event: Row) -> str:
    """``acknowledged by bob at 2026-… UTC`` (for conflict messages)."""
    what = event["kind"].replace("_", "-")
    detail = event.get("detail") or {}
    if event["kind"] == "assigned":
        what = f"assigned to {detail.get('to') or 'nobody'}"
    elif event["kind"] == "resolved" and detail.get("disposition"):
        what = f"resolved as {detail['disposition']}"
    return f"{what} by {event['actor']} at {_utc(event['happened_at'])}"


class ConsoleStore(IncidentStore):
    """The console's queries and actions (one short-lived connection per call, like ``IncidentStore``)."""

    _choices: tuple[float, dict[str, list[str]]] | None = None

    # --- the queue ----------------------------------------------------------------------------

    def queue(self, flt: QueueFilter, *, after: str | None = None, before: str | None = None,
              limit: int = 50) -> QueuePage:
        try:
            after_c = Cursor.decode(after) if after else None
            before_c = Cursor.decode(before) if before else None
            count_sql, count_params = counts_query(flt)
        except QueueError as exc:
            raise IncidentError(str(exc)) from None
        with self._connect() as conn:  # one connection for the page and its counts
            if before_c is not None:
                rows, more = self._queue_page(conn, flt, before=before_c, limit=limit)
                if more:  # a page in the middle: rows before it and (at least the cursor's row) after it
                    prev_cursor, next_cursor = Cursor.of(rows[0]).encode(), Cursor.of(rows[-1]).encode()
                else:  # back at the top: show the first page, full
                    after_c = None
            if before_c is None or not more:
                rows, more = self._queue_page(conn, flt, after=after_c, limit=limit)
                next_cursor = Cursor.of(rows[-1]).encode() if more and rows else None
                prev_cursor = Cursor.of(rows[0]).encode() if after_c is not None and rows else None
            counts = {r["status"]: r["n"] for r in conn.execute(count_sql, count_params).fetchall()}
        counts["active"] = counts.get("open", 0) + counts.get("acknowledged", 0)
        counts["all"] = counts["active"] + counts.get("resolved", 0)
        return QueuePage(rows, counts, next_cursor, prev_cursor)

    def filter_choices(self) -> dict[str, list[str]]:
        """The rules and current assignees, for the filter form (kept ``CHOICES_TTL_S``: they change slowly,
        and reading them costs a pass over the table)."""
        now = time.monotonic()
        cached = self._choices
        if cached is not None and now - cached[0] < CHOICES_TTL_S:
            return cached[1]
        choices = self._read_choices()
        self._choices = (now, choices)
        return choices

    def _read_choices(self) -> dict[str, list[str]]:
        with self._connect() as conn:
            rules = conn.execute("SELECT DISTINCT rule_id FROM incidents ORDER BY rule_id").fetchall()
            people = conn.execute("SELECT DISTINCT assignee FROM incidents WHERE assignee IS NOT NULL "
                                  "AND status <> 'resolved' ORDER BY assignee LIMIT 200").fetchall()
        return {"rules": [r["rule_id"] for r in rules], "assignees": [p["assignee"] for p in people]}

    # --- one incident -------------------------------------------------------------------------

    def incident(self, incident_id: int, *, alerts_limit: int = 200) -> Row:
        """The incident (``get``) plus its ``version``, the entity's ``others`` and the ``silences`` on it."""
        inc = self.get(incident_id, alerts_limit=alerts_limit)
        inc["version"] = max((e["event_id"] for e in inc["events"] if e["kind"] in LIFECYCLE_KINDS), default=0)
        with self._connect() as conn:
            inc["others"] = conn.execute(
                "SELECT incident_id, domain, rule_id, status, severity, first_seen, last_seen, alert_count, "
                "disposition, priority FROM incidents WHERE entity = %s AND incident_id <> %s "
                "ORDER BY incident_id DESC LIMIT 25", (inc["entity"], incident_id)).fetchall()
            inc["silences"] = conn.execute(
                "SELECT *, (starts_at <= now()) AS started FROM silences "
                "WHERE expired_at IS NULL AND now() < ends_at AND (domain IS NULL OR domain = %s) "
                "AND (rule_id IS NULL OR rule_id = %s) AND (entity_like IS NULL OR %s LIKE entity_like) "
                "ORDER BY starts_at", (inc["domain"], inc["rule_id"], inc["entity"])).fetchall()
        return inc

    def alert(self, alert_id: str) -> Row:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
        if row is None:
            raise IncidentError(f"alert {alert_id} does not exist")
        return row

    # --- rule quality -------------------------------------------------------------------------

    def rule_quality(self, days: int = 7, rule: str | None = None) -> list[Row]:
        """Per detection rule over the last ``days``: alerts per day (and per calendar day, oldest
        first), and the incidents analysts resolved by disposition with the false-positive share."""
        if not 1 <= days <= 365:
            raise IncidentError(f"days must be between 1 and 365, not {days}")
        with self._connect() as conn:
            rows = conn.execute(
                """
                WITH span AS (SELECT now() - make_interval(days => %(days)s) AS since),
                fires AS (
                    SELECT rule_id, min(domain) AS domain, count(*) AS alerts,
                           array_agg(n ORDER BY day) AS per_day_n, array_agg(day ORDER BY day) AS per_day
                      FROM (SELECT rule_id, domain, date_trunc('day', persisted_at, 'UTC') AS day, count(*) AS n
                              FROM alerts, span WHERE persisted_at >= span.since
                               AND (%(rule)s::text IS NULL OR rule_id = %(rule)s)
                             GROUP BY 1, 2, 3) d
                     GROUP BY rule_id),
                decided AS (
                    SELECT rule_id, min(domain) AS domain,
                           count(*) FILTER (WHERE disposition = 'confirmed_fraud') AS confirmed,
                           count(*) FILTER (WHERE disposition = 'false_positive') AS false_positive,
                           count(*) FILTER (WHERE disposition = 'benign') AS benign
                      FROM incidents, span
                     WHERE domain <> 'platform' AND disposition IS NOT NULL AND resolved_at >= span.since
                       AND (%(rule)s::text IS NULL OR rule_id = %(rule)s)
                     GROUP BY rule_id)
                SELECT coalesce(f.rule_id, d.rule_id) AS rule_id, coalesce(f.domain, d.domain) AS domain,
                       coalesce(f.alerts, 0) AS alerts, f.per_day, f.per_day_n,
                       coalesce(d.confirmed, 0) AS confirmed, coalesce(d.false_positive, 0) AS false_positive,
                       coalesce(d.benign, 0) AS benign
                  FROM fires f FULL JOIN decided d ON d.rule_id = f.rule_id
                 ORDER BY 2, 1
                """, {"days": days, "rule": rule}).fetchall()
        for r in rows:
            decided = r["confirmed"] + r["false_positive"] + r["benign"]
            r["decided"] = decided
            r["fires_per_day"] = r["alerts"] / days
            r["false_positive_share"] = r["false_positive"] / decided if decided else None
            series = dict(zip(r.pop("per_day") or [], r.pop("per_day_n") or [], strict=True))
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            r["daily"] = [series.get(today - timedelta(days=i), 0) for i in range(days - 1, -1, -1)]
        return rows

    # --- actions ------------------------------------------------------------------------------

    def act(self, incident_id: int, expected_version: int, action: str, actor: str, *, note: str | None = None,
            assignee: str | None = None, disposition: str | None = None) -> Row:
        """``ack`` / ``assign`` / ``resolve`` / ``reopen`` if the incident is still at ``expected_version``."""
        calls: dict[str, Callable[[psycopg.Connection[Row]], Row | None]] = {
            "ack": lambda c: c.execute("SELECT * FROM acknowledge_incident(%s, %s, %s, %s)",
                                       (incident_id, actor, note, assignee)).fetchone(),
            "assign": lambda c: c.execute("SELECT * FROM assign_incident(%s, %s, %s)",
                                          (incident_id, assignee, actor)).fetchone(),
            "resolve": lambda c: c.execute("SELECT * FROM resolve_incident(%s, %s, %s, %s)",
                                           (incident_id, disposition, actor, note)).fetchone(),
            "reopen": lambda c: c.execute("SELECT * FROM reopen_incident(%s, %s, %s)",
                                          (incident_id, actor, note)).fetchone(),
        }
        if action not in calls:
            raise IncidentError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
        if action == "resolve" and disposition not in DISPOSITIONS:
            raise IncidentError(f"unknown disposition {disposition!r}: use one of {', '.join(DISPOSITIONS)}")
        for _ in range(_RETRIES):
            with self._connect(psycopg.IsolationLevel.REPEATABLE_READ) as conn:
                try:
                    with conn.transaction():
                        self._check_version(conn, incident_id, expected_version)
                        row = calls[action](conn)
                except psycopg.errors.SerializationFailure:
                    continue  # someone committed between our check and the function's lock: check again
            assert row is not None
            return row
        raise IncidentConflict(f"incident {incident_id} kept changing while this was tried; reload it and try again")

    def _check_version(self, conn: psycopg.Connection[Row], incident_id: int, expected: int) -> None:
        events = conn.execute(
            "SELECT event_id, kind, actor, happened_at, detail FROM incident_events "
            "WHERE incident_id = %s AND kind = ANY(%s) AND event_id > %s ORDER BY event_id",
            (incident_id, list(LIFECYCLE_KINDS), expected)).fetchall()
        if events:
            done = "; then ".join(describe_event(e) for e in events[-3:])
            raise IncidentConflict(f"incident {incident_id} changed after you loaded it: {done}. Nothing was done; "
                                   f"the page shows its current state — check it and try again.")
        exists = conn.execute("SELECT 1 FROM incidents WHERE incident_id = %s", (incident_id,)).fetchone()
        if exists is None:
            raise IncidentError(f"incident {incident_id} does not exist")

    def silence_entity(self, incident_id: int, *, hours: float, actor: str, comment: str | None = None,
                       maintenance: bool = False) -> list[Row]:
        """Silence this incident's rule on its entity for ``hours`` — or, with ``maintenance``, every rule on
        the entity (a maintenance window). Future alerts are stored but open no incident."""
        inc = self.get(incident_id, alerts_limit=1)
        if any(ch in inc["entity"] for ch in "*?"):
            raise IncidentError(f"entity {inc['entity']!r} contains glob characters (* ?): silence it from the "
                                f"command line with an explicit pattern")
        length = timedelta(hours=hours)
        if not timedelta(minutes=1) <= length <= MAX_SILENCE:
            raise IncidentError(f"hours must be between 1 minute and {MAX_SILENCE.days} days, not {hours:g}")
        starts_at = datetime.now(UTC)
        ends_at = starts_at + length
        if maintenance:
            text = comment or f"maintenance of {inc['entity']} (from incident {incident_id})"
            return self.start_maintenance([inc["entity"]], rule=None, domain=inc["domain"], starts_at=starts_at,
                                          ends_at=ends_at, comment=text, actor=actor)
        text = comment or f"{inc['rule_id']} silenced on {inc['entity']} from incident {incident_id}"
        return [self.create_silence(rule=inc["rule_id"], entity_pattern=inc["entity"], domain=inc["domain"],
                                    starts_at=starts_at, ends_at=ends_at, comment=text, actor=actor)]
