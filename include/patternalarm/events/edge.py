"""Validation at the edge: raw bytes from a producer or a file → a valid event or a ``Problem``."""

from __future__ import annotations

from typing import Any

import orjson

from include.patternalarm.events.schema import ENTITY_FIELD, Problem, validator
from include.patternalarm.topics import DOMAINS

#: Events larger than this (serialised, bytes) are dead-lettered as ``oversized``.
MAX_EVENT_BYTES = 64 * 1024


def decode_event(raw: bytes | str, domain: str) -> tuple[dict[str, Any] | None, Problem | None]:
    """Parse and validate one raw event for topic ``events.<domain>``: ``(event, None)`` or ``(None, problem)``."""
    if domain not in DOMAINS:
        return None, Problem("unknown_domain", f"no topic for domain {domain!r}")
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        return None, Problem("oversized", f"{size} bytes is more than the {MAX_EVENT_BYTES}-byte limit")
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, Problem("malformed_json", f"not valid JSON: {exc}")
    problem = validator(domain).check(event)
    if problem is not None:
        return None, problem
    return event, None


def check_event(event: dict[str, Any], domain: str) -> Problem | None:
    """``None`` when ``event`` (already decoded) satisfies the domain's contract."""
    if domain not in DOMAINS:
        return Problem("unknown_domain", f"no topic for domain {domain!r}")
    return validator(domain).check(event)


def entity_key(domain: str, event: dict[str, Any]) -> str | None:
    """The Kafka key of an event: its entity (payments: ``card_id``, else ``account_id``)."""
    key = event.get(ENTITY_FIELD[domain])
    if key is None and domain == "payments":
        key = event.get("account_id")
    return None if key is None else str(key)


def encode(event: dict[str, Any]) -> bytes:
    """An event as compact JSON bytes (orjson)."""
    return orjson.dumps(event)
