"""Time ranges of the batch jobs: parsing DAG params, defaults (the previous full hour), margins.

Ranges are half-open ``[start, end)`` in UTC, aligned to whole minutes (completeness is judged per
minute), and always in the past. They are applied to the **Kafka record timestamp** (the time the
platform received an event), the only time a bounded read of a topic can be positioned by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: The longest range one reconciliation run may cover (the event topics keep 12 h; see topics.py).
MAX_SPAN = timedelta(hours=24)
MINUTE = timedelta(minutes=1)


class RangeError(ValueError):
    """A time range the batch jobs cannot use; the message says why and what is accepted."""


def parse_instant(value: str | datetime | int, name: str = "time") -> datetime:
    """ISO-8601 (``Z`` or an offset; no offset means UTC) or epoch milliseconds → aware UTC datetime."""
    if isinstance(value, bool):
        raise RangeError(f"{name} must be an ISO-8601 time or epoch milliseconds, not a boolean")
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int):
        parsed = datetime.fromtimestamp(value / 1000, tz=UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_instant(int(text), name)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise RangeError(f"{name} {value!r} is not an ISO-8601 time (e.g. 2026-11-26T10:00:00Z)") from None
    else:
        raise RangeError(f"{name} must be an ISO-8601 time or epoch milliseconds, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def floor_minute(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def to_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def iso(value: datetime) -> str:
    """``2026-11-26T10:00:00.000Z``"""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in UTC, on whole minutes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise RangeError(f"range {name} must be timezone-aware")
            if value != floor_minute(value):
                raise RangeError(f"range {name} {iso(value)} must be on a whole minute (seconds = 0)")
        if self.end <= self.start:
            raise RangeError(f"range end {iso(self.end)} must be after its start {iso(self.start)}")

    @property
    def start_ms(self) -> int:
        return to_ms(self.start)

    @property
    def end_ms(self) -> int:
        return to_ms(self.end)

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def minutes(self) -> list[datetime]:
        """Every minute the range covers (its start times)."""
        count = int(self.span / MINUTE)
        return [self.start + i * MINUTE for i in range(count)]

    def with_margin(self, margin: timedelta) -> TimeRange:
        """The same end, started ``margin`` earlier (rounded up to a whole minute)."""
        if margin < timedelta(0):
            raise RangeError("a margin cannot be negative")
        minutes = -(-int(margin.total_seconds()) // 60)
        return TimeRange(self.start - timedelta(minutes=minutes), self.end)

    def as_dict(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}

    def __str__(self) -> str:
        return f"[{iso(self.start)}, {iso(self.end)})"


def resolve_range(start: str | datetime | int | None, end: str | datetime | int | None, *, reference: datetime,
                  default_span: timedelta = timedelta(hours=1), settle: timedelta = timedelta(0),
                  max_span: timedelta = MAX_SPAN) -> TimeRange:
    """The range of a run from its (optional) params.

    - neither given: the last full hour that ended at least ``settle`` before ``reference``
      (for an hourly run at 11:05 with a 5-minute settle: 10:00–11:00);
    - only ``start``: ``[start, start + default_span)``; only ``end``: ``[end - default_span, end)``;
    - both: as given.
    The range must lie in the past (``end <= reference``) and span at most ``max_span``.
    """
    reference = parse_instant(reference, "reference")
    s = parse_instant(start, "start") if start not in (None, "") else None
    e = parse_instant(end, "end") if end not in (None, "") else None
    if s is None and e is None:
        e = floor_hour(reference - settle)
        s = e - default_span
    elif s is None:
        assert e is not None
        s = e - default_span
    elif e is None:
        e = s + default_span
    rng = TimeRange(s, e)
    if rng.end > reference:
        raise RangeError(f"range end {iso(rng.end)} is in the future (now {iso(reference)}): "
                         "only ranges the platform has already received can be reconciled")
    if rng.span > max_span:
        raise RangeError(f"range {rng} spans {rng.span}; at most {max_span} per run (split it)")
    return rng
