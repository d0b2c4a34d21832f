"""Event time: formatting epoch milliseconds as the contract's ISO-8601 and parsing what producers send."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Numbers at or above this are epoch milliseconds, below it epoch seconds (1e11 s is year 5138,
#: 1e11 ms is 1973-03-03): the usual heuristic for "epoch seconds or milliseconds".
EPOCH_MS_THRESHOLD = 100_000_000_000


class EventTimeError(ValueError):
    """A value that is not a usable event time."""


class IsoFormatter:
    """``format(ms)`` → ``2026-11-26T10:15:30.123Z``; caches the second so the hot path is one f-string."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        second, milli = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{milli:03d}Z"


_default_formatter = IsoFormatter()


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds."""
    return _default_formatter(ms)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_iso(value: str) -> int:
    """ISO-8601 → epoch ms. A missing offset means UTC; ``Z`` and ``±hh:mm`` are understood."""
    text = value.strip()
    if not text:
        raise EventTimeError("empty timestamp")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise EventTimeError(f"not an ISO-8601 timestamp: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def epoch_to_ms(number: float) -> int:
    """Epoch seconds or milliseconds (told apart by magnitude) → epoch ms."""
    if isinstance(number, bool) or not math.isfinite(number):
        raise EventTimeError(f"not an epoch timestamp: {number!r}")
    if number < 0:
        raise EventTimeError(f"negative epoch timestamp: {number!r}")
    if number >= EPOCH_MS_THRESHOLD:
        return int(number)
    return round(number * 1000)


def parse_event_time(value: object) -> int:
    """Whatever a producer or a file carries (ISO string, epoch s/ms number or numeric string,
    ``datetime``) → epoch ms; ``EventTimeError`` with the reason otherwise."""
    if isinstance(value, bool) or value is None:
        raise EventTimeError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return epoch_to_ms(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        delta = aware - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(value, str):
        text = value.strip()
        if text and (text[0].isdigit() or text[0] in "+-.") and "-" not in text[1:] and ":" not in text:
            try:
                return epoch_to_ms(float(text))
            except ValueError:
                raise EventTimeError(f"not a timestamp: {value[:64]!r}") from None
        return parse_iso(text)
    raise EventTimeError(f"not a timestamp: {type(value).__name__}")
