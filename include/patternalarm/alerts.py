"""The alert contract (docs/contracts.md): parse and validate one Kafka record into an ``Alert``.

One implementation for every consumer — the incident sink, scoring, the tests — and the same
deterministic ``alert_id`` the Flink jobs and the Spark batch path compute in SQL: sha256 of the
parts ``rule_id``, ``rule_version``, ``entity``, ``first matched event_id``, each escaped (``\\`` →
``\\\\``, then ``|`` → ``\\|``) and joined with ``|``. Escaping keeps two different alerts from
sharing an id (entity ``a|b`` + event ``c`` vs entity ``a`` + event ``b|c``); parts without those
characters hash exactly as the unescaped join did, so existing ids do not change.

Anything that does not meet the contract raises ``InvalidAlert`` with a reason code from the
dead-letter contract (``malformed_json``, ``missing_field:<name>``, ``wrong_type:<name>``,
``oversized``, ``unknown_domain``, ``invalid_alert``) and a human-readable detail, so the sink
can dead-letter it instead of crashing or dropping it. The checks mirror the database's
constraints, so a valid ``Alert`` always fits the ``alerts`` table.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from include.patternalarm.topics import DOMAINS

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "resolved")
DISPOSITIONS = ("confirmed_fraud", "false_positive", "benign")
#: Domains an incident can have: the event domains plus ``platform`` (control-plane incidents).
INCIDENT_DOMAINS = (*DOMAINS, "platform")

#: Alerts larger than this are dead-lettered as ``oversized`` (evidence is ids and key values).
MAX_ALERT_BYTES = 256 * 1024
MAX_RULE_ID = 200
MAX_ENTITY = 500
MAX_EVIDENCE_DEPTH = 32
_INT32_MAX = 2**31 - 1
_ALERT_ID = re.compile(r"[0-9a-f]{64}")
# epoch milliseconds between 1970 and 9999
_MAX_EPOCH_MS = 253_402_300_799_999

REQUIRED_FIELDS = (
    "alert_id", "rule_id", "rule_version", "domain", "entity", "severity",
    "first_event_time", "last_event_time", "detected_at", "evidence",
)


class InvalidAlert(ValueError):
    """The record is not a valid alert; ``reason`` is a dead-letter reason code."""

    def __init__(self, reason: str, detail: str, domain: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.domain = domain


@dataclass(frozen=True)
class Alert:
    """One alert as the contract defines it (times are timezone-aware UTC)."""

    alert_id: str
    rule_id: str
    rule_version: int
    domain: str
    entity: str
    severity: str
    first_event_time: datetime
    last_event_time: datetime
    detected_at: datetime
    evidence: dict[str, Any]
    score: float | None = None  # 0..1 (ranking); None from rules that do not score
    seq: int = 1  # 1: the alert opens; 2, 3…: updates of the same alert (an episode that grows)

    @property
    def event_ids(self) -> list[str]:
        return [str(e) for e in self.evidence.get("event_ids", [])]

    def _fields(self, time: Callable[[datetime], str]) -> dict[str, Any]:
        """The contract's fields, times written by ``time``."""
        return {
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "domain": self.domain,
            "entity": self.entity,
            "severity": self.severity,
            "first_event_time": time(self.first_event_time),
            "last_event_time": time(self.last_event_time),
            "detected_at": time(self.detected_at),
            "evidence": self.evidence,
            "score": self.score,
            "seq": self.seq,
        }

    def as_row(self, *, topic: str | None = None, partition: int | None = None, offset: int | None = None,
               timestamp: datetime | None = None) -> dict[str, Any]:
        """The JSON object ``ingest_alerts()`` takes: the contract plus the Kafka source."""
        return {
            **self._fields(datetime.isoformat),
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "source_timestamp": timestamp.isoformat() if timestamp else None,
        }

    def to_json(self) -> dict[str, Any]:
        """The alert as its Kafka JSON (ISO-8601 UTC with milliseconds)."""
        return self._fields(format_time)


#: The separator of the alert id's parts, and the escape character that keeps it unambiguous.
ID_SEPARATOR = "|"
ID_ESCAPE = "\\"


def escape_id_part(part: object) -> str:
    """One part of the alert id: ``\\`` doubled first, then ``|`` escaped as ``\\|``."""
    return str(part).replace(ID_ESCAPE, ID_ESCAPE * 2).replace(ID_SEPARATOR, ID_ESCAPE + ID_SEPARATOR)


def alert_id_for(rule_id: str, rule_version: int, entity: str, first_event_id: str) -> str:
    """The contract's deterministic id: sha256 hex of the escaped parts
    ``rule_id|rule_version|entity|first matched event id`` (see the module docstring)."""
    parts = (rule_id, rule_version, entity, first_event_id)
    return hashlib.sha256(ID_SEPARATOR.join(escape_id_part(p) for p in parts).encode()).hexdigest()


def format_time(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, as the contract writes times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(name: str, value: Any) -> datetime:
    """An ISO-8601 string (``Z`` or an offset; no zone means UTC) or epoch milliseconds."""
    if isinstance(value, bool):
        raise InvalidAlert(f"wrong_type:{name}", f"{name} must be an ISO-8601 string or epoch milliseconds, "
                           f"not a boolean")
    if isinstance(value, int):
        if not 0 <= value <= _MAX_EPOCH_MS:
            raise InvalidAlert("invalid_alert", f"{name} epoch milliseconds {value} out of range")
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if not isinstance(value, str):
        raise InvalidAlert(f"wrong_type:{name}", f"{name} must be an ISO-8601 string or epoch milliseconds, "
                           f"not {_json_type(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidAlert(f"wrong_type:{name}", f"{name} {value[:64]!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 fall outside the years 1..9999 in UTC
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidAlert("invalid_alert", f"{name} {value[:64]!r} is out of range once converted to UTC") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _string(doc: dict[str, Any], name: str, max_len: int) -> str:
    value = doc[name]
    if not isinstance(value, str):
        raise InvalidAlert(f"wrong_type:{name}", f"{name} must be a string, not {_json_type(value)}")
    if not value.strip():
        raise InvalidAlert("invalid_alert", f"{name} is empty")
    if len(value) > max_len:
        raise InvalidAlert("invalid_alert", f"{name} is {len(value)} characters long (at most {max_len})")
    return value


def _check_storable(value: Any, where: str, depth: int = 0) -> None:
    """PostgreSQL's jsonb and text cannot hold NUL characters; deep nesting is refused too."""
    if depth > MAX_EVIDENCE_DEPTH:
        raise InvalidAlert("invalid_alert", f"{where} is nested deeper than {MAX_EVIDENCE_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidAlert("invalid_alert", f"{where} contains a NUL character (\\u0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise InvalidAlert("invalid_alert", f"a key in {where} contains a NUL character (\\u0000)")
            _check_storable(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{where}[{index}]", depth + 1)


def parse_alert(value: bytes | str | dict[str, Any] | None) -> Alert:
    """Parse one Kafka record value (or an already decoded object); raise ``InvalidAlert`` when it breaks
    the contract."""
    if value is None:
        raise InvalidAlert("malformed_json", "the record has no value (a tombstone or an empty message)")
    if isinstance(value, dict):
        doc: Any = value
    else:
        raw = value.encode() if isinstance(value, str) else value
        if len(raw) > MAX_ALERT_BYTES:
            raise InvalidAlert("oversized", f"{len(raw)} bytes; alerts may be at most {MAX_ALERT_BYTES} bytes")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidAlert("malformed_json", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidAlert("malformed_json", f"an alert must be a JSON object, not {_json_type(doc)}")
    domain_hint = doc.get("domain") if isinstance(doc.get("domain"), str) else None
    try:
        return _validate(doc)
    except InvalidAlert as exc:
        exc.domain = domain_hint
        raise


def _validate(doc: dict[str, Any]) -> Alert:
    for name in REQUIRED_FIELDS:
        if doc.get(name) is None:
            raise InvalidAlert(f"missing_field:{name}", f"the alert has no {name}")

    alert_id = doc["alert_id"]
    if not isinstance(alert_id, str):
        raise InvalidAlert("wrong_type:alert_id", f"alert_id must be a string, not {_json_type(alert_id)}")
    alert_id = alert_id.strip().lower()
    if not _ALERT_ID.fullmatch(alert_id):
        raise InvalidAlert("invalid_alert", f"alert_id {doc['alert_id'][:80]!r} is not a sha256 hex digest")

    rule_id = _string(doc, "rule_id", MAX_RULE_ID)
    entity = _string(doc, "entity", MAX_ENTITY)

    version = doc["rule_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidAlert("wrong_type:rule_version", f"rule_version must be an integer, not {_json_type(version)}")
    if not 0 <= version <= _INT32_MAX:
        raise InvalidAlert("invalid_alert", f"rule_version {version} out of range (0 to {_INT32_MAX})")

    domain = doc["domain"]
    if not isinstance(domain, str):
        raise InvalidAlert("wrong_type:domain", f"domain must be a string, not {_json_type(domain)}")
    if domain not in DOMAINS:
        raise InvalidAlert("unknown_domain", f"domain {domain[:64]!r} is not one of {', '.join(DOMAINS)}")

    severity = doc["severity"]
    if not isinstance(severity, str):
        raise InvalidAlert("wrong_type:severity", f"severity must be a string, not {_json_type(severity)}")
    severity = severity.strip().lower()
    if severity not in SEVERITIES:
        raise InvalidAlert("invalid_alert", f"severity {doc['severity'][:64]!r} is not one of {', '.join(SEVERITIES)}")

    first = parse_time("first_event_time", doc["first_event_time"])
    last = parse_time("last_event_time", doc["last_event_time"])
    detected = parse_time("detected_at", doc["detected_at"])
    if first > last:
        raise InvalidAlert("invalid_alert", f"first_event_time {format_time(first)} is after last_event_time "
                           f"{format_time(last)}")

    evidence = doc["evidence"]
    if not isinstance(evidence, dict):
        raise InvalidAlert("wrong_type:evidence", f"evidence must be an object, not {_json_type(evidence)}")
    event_ids = evidence.get("event_ids")
    if event_ids is None:
        raise InvalidAlert("missing_field:evidence.event_ids", "evidence has no event_ids")
    if not isinstance(event_ids, list) or not all(isinstance(e, str) for e in event_ids):
        raise InvalidAlert("wrong_type:evidence.event_ids", "evidence.event_ids must be an array of strings")
    for name in ("rule_id", "entity"):
        _check_storable(doc[name], name)
    _check_storable(evidence, "evidence")

    score = doc.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise InvalidAlert("wrong_type:score", f"score must be a number, not {_json_type(score)}")
        if not 0 <= score <= 1:
            raise InvalidAlert("invalid_alert", f"score {score} is not between 0 and 1")
        score = float(score)
    seq = doc.get("seq", 1)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InvalidAlert("wrong_type:seq", f"seq must be an integer, not {_json_type(seq)}")
    if not 1 <= seq <= _INT32_MAX:
        raise InvalidAlert("invalid_alert", f"seq {seq} out of range (1 to {_INT32_MAX})")

    return Alert(alert_id=alert_id, rule_id=rule_id, rule_version=version, domain=domain, entity=entity,
                 severity=severity, first_event_time=first, last_event_time=last, detected_at=detected,
                 evidence=evidence, score=score, seq=seq)
