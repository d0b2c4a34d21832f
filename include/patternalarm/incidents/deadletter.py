"""Dead-letter records for ``alerts.dlq`` in the shape docs/contracts.md defines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

RAW_LIMIT = 4096
SOURCE = "sink"


def dead_letter(reason: str, detail: str, *, raw: bytes | None, topic: str | None, partition: int | None,
                offset: int | None, key: bytes | None, domain: str | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """The contract's dead-letter object for one record the sink could not store."""
    text = raw.decode("utf-8", errors="replace") if raw is not None else None
    return {
        "reason": reason,
        "detail": detail,
        "source": SOURCE,
        "domain": domain,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", errors="replace") if key is not None else None,
        "raw": text[:RAW_LIMIT] if text is not None else None,
        "raw_bytes": len(raw) if raw is not None else 0,
        "dead_lettered_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds"),
    }
