"""Durations and points in time as users type them: ``90s``, ``15m``, ``2h``, ``1d12h``, ISO-8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """``1h30m`` → 90 minutes; ``0`` → zero. Raises ``ValueError`` with the accepted forms."""
    value = text.strip().lower().replace(" ", "")
    if value == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise ValueError(f"{text!r} is not a duration: use a number with a unit, e.g. 90s, 15m, 2h, 1d, 1h30m")
    result = timedelta(seconds=seconds)
    if result > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return result


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A point in time: an ISO-8601 timestamp (no zone = UTC) or a duration before ``now`` (``2h``)."""
    now = now or datetime.now(UTC)
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (e.g. 2h, 1d) nor an ISO-8601 time "
                         f"(e.g. 2026-11-26T10:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_until(text: str, now: datetime | None = None) -> datetime:
    """A future point in time: an ISO-8601 timestamp or a duration after ``now`` (``2h``)."""
    now = now or datetime.now(UTC)
    try:
        return now + parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (e.g. 2h) nor an ISO-8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_duration(value: timedelta | None) -> str:
    """``timedelta(minutes=90)`` → ``1h30m``; None → ``never``."""
    if value is None:
        return "never"
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
