"""Rows → events: the column mapping, type coercion by the domain's schema, validation at the edge.

A row that cannot become a valid event yields a ``Problem`` (the dead-letter reason and detail)
instead of an event; nothing raises for bad data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.patternalarm.events.edge import MAX_EVENT_BYTES
from include.patternalarm.events.schema import ENTITY_FIELD, Problem, field_names, field_types, validator
from include.patternalarm.events.timefmt import EventTimeError, IsoFormatter, parse_event_time

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


class MappingError(ValueError):
    """The mapping itself is wrong (unknown field or column): the whole replay cannot start."""


class _Bad(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _to_number(name: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value.__class__ is str:  # the CSV case: parse, keep "12" an integer
            if "." in value or "e" in value or "E" in value or "n" in value.lower():
                try:
                    number = float(value)
                except ValueError:
                    number = None
                if number is not None and math.isfinite(number):
                    return number
            else:
                try:
                    return int(value)
                except ValueError:
                    pass
        if value is None or (value.__class__ is str and not value.strip()):
            return None
        if isinstance(value, bool):
            raise _Bad(Problem(f"wrong_type:{name}", f"{name}: {value!r} is not a number"))
        if isinstance(value, int | float):
            number = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                raise _Bad(Problem(f"wrong_type:{name}", f"{name}: {str(value)[:60]!r} is not a number")) from None
        if isinstance(number, float):
            if not math.isfinite(number):
                raise _Bad(Problem(f"wrong_type:{name}", f"{name}: {value!r} is not a finite number"))
            if number.is_integer() and abs(number) < 2**53 and isinstance(value, str) and "." not in value \
                    and "e" not in value.lower():
                return int(number)
        return number

    return convert


def _to_bool(name: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _Bad(Problem(f"wrong_type:{name}", f"{name}: {str(value)[:60]!r} is not a boolean"))

    return convert


def _to_string(value: Any) -> Any:
    if value.__class__ is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _converter(name: str, types: frozenset[str]) -> Callable[[Any], Any]:
    if types & {"number", "integer"} and "string" not in types:
        return _to_number(name)
    if "boolean" in types and "string" not in types:
        return _to_bool(name)
    return _to_string


@dataclass(frozen=True)
class ColumnMapping:
    """What the user asked for: ``--key``, ``--time``, ``--map field=COLUMN``, ``--set field=VALUE``."""

    domain: str
    key: str
    time: str
    fields: Mapping[str, str]
    constants: Mapping[str, str]


class RowMapper:
    """Builds one event per row (``map(row, number)`` → ``(key, event)`` or ``Problem``)."""

    def __init__(self, spec: ColumnMapping, columns: Sequence[str], id_prefix: str) -> None:
        domain = spec.domain
        valid = field_names(domain)
        unknown = [f for f in [*spec.fields, *spec.constants] if f not in valid]
        if unknown:
            raise MappingError(f"unknown field(s) {', '.join(unknown)} for {domain}; valid: {', '.join(valid)}")
        for reserved in ("event_time", "domain"):
            if reserved in spec.fields or reserved in spec.constants:
                raise MappingError(f"{reserved} is not mapped with --map/--set (use --time for event_time; "
                                   "domain comes from --domain)")
        index = {c: i for i, c in enumerate(columns)}
        missing = [c for c in [spec.key, spec.time, *spec.fields.values()] if c not in index]
        if missing:
            raise MappingError(f"column(s) {', '.join(dict.fromkeys(missing))} not in the file; "
                               f"its columns: {', '.join(columns)}")
        types = field_types(domain)
        self.domain = domain
        self.columns = list(columns)
        self.key_index = index[spec.key]
        self._time = index[spec.time]
        fields = dict(spec.fields)
        entity = ENTITY_FIELD[domain]
        if entity not in fields and entity not in spec.constants:
            fields[entity] = spec.key
        self._fields = [(name, index[col], _converter(name, types[name])) for name, col in fields.items()
                        if name != "event_id"]
        self._event_id = index[fields["event_id"]] if "event_id" in fields else None
        self._constants: list[tuple[str, Any]] = []
        for name, text in spec.constants.items():
            try:
                self._constants.append((name, _converter(name, types[name])(text)))
            except _Bad as bad:
                raise MappingError(f"--set {name}={text}: {bad.problem.detail}") from None
        self._id_prefix = id_prefix
        self._iso = IsoFormatter()
        # event_time is written by ``self._iso`` from a parsed time: valid by construction
        self._check = validator(domain).without("event_time").check

    def event_time_ms(self, row: Sequence[Any]) -> int | None:
        try:
            return parse_event_time(row[self._time])
        except EventTimeError:
            return None

    def map(self, row: Sequence[Any], number: int) -> tuple[str, dict[str, Any], int] | Problem:
        """``(key, event, event_time_ms)`` or the ``Problem`` that dead-letters the row."""
        try:
            raw_time = row[self._time]
            try:
                t_ms = parse_event_time(raw_time)
            except EventTimeError as exc:
                if raw_time is None or raw_time == "":
                    return Problem("missing_field:event_time", f"column {self.columns[self._time]!r} is empty")
                return Problem("bad_event_time", f"{self.columns[self._time]}: {exc}")
            key = _to_string(row[self.key_index])
            if self._event_id is not None:
                event_id = _to_string(row[self._event_id])
            else:
                event_id = f"{self._id_prefix}-{number}"
            event: dict[str, Any] = {"event_id": event_id, "event_time": self._iso(t_ms), "domain": self.domain}
            for name, value in self._constants:
                event[name] = value
            for name, idx, convert in self._fields:
                event[name] = convert(row[idx])
        except _Bad as bad:
            return bad.problem
        problem = self._check(event)
        if problem is not None:
            return problem
        if key is None:
            key = event.get(ENTITY_FIELD[self.domain]) or (event.get("account_id") if self.domain == "payments"
                                                          else None)
            if key is None:
                return Problem(f"missing_field:{ENTITY_FIELD[self.domain]}",
                               f"the key column {self.columns[self.key_index]!r} is empty")
        return key, event, t_ms


def check_size(value: bytes) -> Problem | None:
    if len(value) > MAX_EVENT_BYTES:
        return Problem("oversized", f"{len(value)} bytes is more than the {MAX_EVENT_BYTES}-byte limit")
    return None
