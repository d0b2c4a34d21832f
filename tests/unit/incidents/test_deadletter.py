"""Dead letters follow the contract's shape."""

from __future__ import annotations

from datetime import UTC, datetime

from include.patternalarm.incidents import dead_letter


def test_shape_and_truncation() -> None:
    raw = ("é" * 5000).encode()
    record = dead_letter("malformed_json", "not JSON", raw=raw, topic="alerts", partition=3, offset=42, key=b"card-1",
                         domain="payments", now=datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    assert set(record) == {"reason", "detail", "source", "domain", "topic", "partition", "offset", "key", "raw",
                           "raw_bytes", "dead_lettered_at"}
    assert record["source"] == "sink"
    assert len(record["raw"]) == 4096
    assert record["raw_bytes"] == len(raw) == 10000
    assert record["key"] == "card-1"
    assert record["dead_lettered_at"] == "2026-11-26T10:00:00.000+00:00"


def test_tombstone_and_binary() -> None:
    empty = dead_letter("malformed_json", "no value", raw=None, topic="t", partition=0, offset=1, key=None)
    assert empty["raw"] is None and empty["raw_bytes"] == 0 and empty["key"] is None
    binary = dead_letter("malformed_json", "x", raw=b"\xff\x00", topic="t", partition=0, offset=1, key=b"\xff")
    assert binary["raw_bytes"] == 2 and "\ufffd" in binary["raw"]
