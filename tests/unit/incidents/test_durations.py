"""Durations and times as typed on the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.patternalarm.incidents.durations import format_duration, parse_duration, parse_until, parse_when

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
    ("1d12h", timedelta(days=1, hours=12)), ("1h30m", timedelta(minutes=90)), ("0", timedelta(0)),
    ("1.5h", timedelta(minutes=90)), ("250ms", timedelta(milliseconds=250)), (" 2H ", timedelta(hours=2)),
    ("1w", timedelta(days=7)),
])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "10", "-5m", "5 minutes", "1h-", "h1", "99999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer"):
        parse_duration(text)


def test_when_and_until() -> None:
    assert parse_when("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_when("2026-11-25T10:00:00Z", NOW) == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_when("2026-11-25T10:00:00", NOW) == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_until("30m", NOW) == NOW + timedelta(minutes=30)
    with pytest.raises(ValueError, match="neither"):
        parse_when("last tuesday", NOW)
    with pytest.raises(ValueError, match="neither"):
        parse_until("soon", NOW)


def test_format_duration() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(days=1, seconds=5)) == "1d5s"
    assert format_duration(timedelta(0)) == "0s"
    assert format_duration(None) == "never"
