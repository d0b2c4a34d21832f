"""Dead-letter records (``events.dlq``/``alerts.dlq``) built the same way by every Python producer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

#: How much of the original payload a dead letter keeps (the contract's limit).
RAW_LIMIT = 4096

#: ``source`` values written by Python producers (Flink jobs write ``flink:<domain>``).
SOURCES = ("simulator", "replay", "sink")


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter(
    reason: str,
    detail: str,
    *,
    source: str,
    raw: bytes | str | None,
    domain: str | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
    dead_lettered_at: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One dead-letter record in the contract's shape; ``raw`` is kept up to ``RAW_LIMIT`` characters
    and its full length recorded in ``raw_bytes``; ``extra`` adds fields (e.g. ``row`` for replay)."""
    if isinstance(raw, bytes):
        raw_len = len(raw)
        raw_text = raw[: RAW_LIMIT * 4].decode("utf-8", errors="replace")
    elif raw is None:
        raw_len, raw_text = 0, None
    else:
        raw_len = len(raw.encode("utf-8", errors="replace"))
        raw_text = raw
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    record: dict[str, Any] = {
        "reason": reason,
        "detail": detail,
        "source": source,
        "domain": domain,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key,
        "raw": None if raw_text is None else raw_text[:RAW_LIMIT],
        "raw_bytes": raw_len,
        "dead_lettered_at": dead_lettered_at or _iso_now(),
    }
    record.update(extra)
    return record


def encode_dead_letter(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)
