"""The per-domain JSON Schemas (``schemas/<domain>.schema.json``) and fast validation against them.

The schema files are the source of truth. ``jsonschema_validator(domain)`` validates with the
reference implementation (tests, tools); ``validator(domain)`` is a compiled check of the same
schema that is cheap enough for every row at an edge (replay) and answers with the contract's
dead-letter reason codes (``missing_field:<name>``, ``wrong_type:<name>``, ``bad_event_time``,
``unknown_domain``). The compiler understands only the keywords these schemas use and refuses
anything else, so a schema edit can never be silently ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from include.patternalarm.topics import DOMAINS

#: The entity field each domain is keyed by (payments: ``account_id`` when ``card_id`` is null).
ENTITY_FIELD = {"payments": "card_id", "gaming": "player_id", "iot": "device_id"}


class SchemaCompileError(ValueError):
    """The schema uses a keyword the fast validator does not implement."""


@dataclass(frozen=True)
class Problem:
    """Why an event is invalid: a dead-letter ``reason`` code and a human ``detail``."""

    reason: str
    detail: str


def schema_text(domain: str) -> str:
    if domain not in DOMAINS:
        raise KeyError(f"unknown domain {domain!r}; known: {', '.join(DOMAINS)}")
    return resources.files("include.patternalarm.events").joinpath(f"schemas/{domain}.schema.json").read_text()


@cache
def load_schema(domain: str) -> dict[str, Any]:
    """The JSON Schema of ``domain`` as a dict (cached; do not mutate)."""
    return json.loads(schema_text(domain))


def schemas() -> dict[str, dict[str, Any]]:
    return {domain: load_schema(domain) for domain in DOMAINS}


def jsonschema_validator(domain: str) -> Any:
    """A ``jsonschema`` Draft 2020-12 validator of ``domain`` (the reference; slow)."""
    from jsonschema import Draft202012Validator

    schema = load_schema(domain)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def field_names(domain: str) -> tuple[str, ...]:
    """Every field of the domain's contract, in schema order."""
    return tuple(load_schema(domain)["properties"])


def field_types(domain: str) -> dict[str, frozenset[str]]:
    """JSON types each field may take (``enum``/``const`` fields: the types of their values)."""
    return {name: _compile_rule(name, spec).json_types() for name, spec in load_schema(domain)["properties"].items()}


#: Fields the event format handles itself (the parsed event_time becomes ``event_ts``; ``domain`` is checked).
_NOT_COLUMNS = ("event_time", "domain")


def sql_columns(domain: str) -> list[tuple[str, str]]:
    """(field, Flink SQL type) of every scalar field of the contract, in schema order: what the
    detection job's event format fills (strings → STRING, numbers → DOUBLE, integers → BIGINT,
    booleans → BOOLEAN; a field of mixed or structured type is not a column)."""
    columns = []
    for name, types in field_types(domain).items():
        if name in _NOT_COLUMNS:
            continue
        kinds = set(types) - {"null"}
        if kinds == {"string"}:
            columns.append((name, "STRING"))
        elif kinds in ({"number"}, {"number", "integer"}):
            columns.append((name, "DOUBLE"))
        elif kinds == {"integer"}:
            columns.append((name, "BIGINT"))
        elif kinds == {"boolean"}:
            columns.append((name, "BOOLEAN"))
    return columns


# --- the compiled validator --------------------------------------------------------------------

_MISSING = object()
_RULE_KEYS = {"type", "enum", "const", "minimum", "maximum", "minLength", "maxLength", "pattern", "anyOf",
              "description", "title", "format"}
_TOP_KEYS = {"$schema", "$id", "title", "description", "type", "required", "properties", "allOf",
             "additionalProperties"}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


@dataclass(frozen=True)
class _Rule:
    name: str
    types: tuple[str, ...] | None = None
    enum: tuple[Any, ...] | None = None
    const: Any = _MISSING
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    any_of: tuple[_Rule, ...] = ()

    def json_types(self) -> frozenset[str]:
        if self.types is not None:
            return frozenset(self.types)
        if self.enum is not None:
            return frozenset(_json_type(v) for v in self.enum)
        if self.const is not _MISSING:
            return frozenset({_json_type(self.const)})
        if self.any_of:
            return frozenset().union(*(r.json_types() for r in self.any_of))
        return frozenset({"string", "number", "integer", "boolean", "null", "object", "array"})

    def check(self, value: object) -> str | None:
        """None when ``value`` is valid, else what is wrong with it."""
        return self.compiled()(value)

    def fast(self) -> Callable[[object], bool] | None:
        """A cheap predicate that accepts the common valid values (None: no shortcut); anything it
        rejects goes through ``compiled()`` for the verdict and the reason."""
        if self.pattern is not None and not self.any_of and self.const is _MISSING and self.enum is None \
                and self.types is not None and set(self.types) <= {"string", "null"}:
            return self._memo_fast()
        if self.any_of or self.const is not _MISSING or self.pattern is not None:
            return None
        if self.enum is not None and all(e is None or isinstance(e, str) for e in self.enum) \
                and self.types is None and self.minimum is None and self.maximum is None:
            members = frozenset(self.enum)  # str/None members: no int/bool can be equal
            return lambda v: (v.__class__ is str or v is None) and v in members
        if self.types is None or self.enum is not None:
            return None
        nullable = "null" in self.types
        kinds = set(self.types) - {"null"}
        if kinds == {"string"}:
            low, high = self.min_length or 0, self.max_length if self.max_length is not None else 1 << 62
            return lambda v: (v.__class__ is str and low <= len(v) <= high) or (nullable and v is None)
        if kinds == {"number"}:
            lo = self.minimum if self.minimum is not None else -math.inf
            hi = self.maximum if self.maximum is not None else math.inf
            return lambda v: ((v.__class__ is float or v.__class__ is int) and lo <= v <= hi  # type: ignore[operator]
                              and v - v == 0) or (nullable and v is None)  # v - v == 0: finite
        if kinds == {"boolean"}:
            return lambda v: v is True or v is False or (nullable and v is None)
        return None

    def _memo_fast(self, limit: int = 4096) -> Callable[[object], bool]:
        """Pattern-checked strings (currency, country codes…) take few distinct values: remember up to
        ``limit`` valid ones, so a repeated value costs a set lookup instead of a regex search."""
        seen: set[str] = set()
        check = self.compiled()
        nullable = "null" in (self.types or ())

        def fast(v: object) -> bool:
            if v.__class__ is not str:
                return nullable and v is None
            if v in seen:
                return True
            if check(v) is not None:
                return False
            if len(seen) < limit:
                seen.add(v)  # type: ignore[arg-type]
            return True

        return fast

    @cache  # noqa: B019 - rules are few, immutable and live as long as the process
    def compiled(self) -> Callable[[object], str | None]:
        """A closure doing only the checks this rule has (the hot path of edge validation)."""
        if self.any_of:
            alternatives = tuple(r.compiled() for r in self.any_of)

            def check_any(value: object) -> str | None:
                failures = []
                for alternative in alternatives:
                    why = alternative(value)
                    if why is None:
                        return None
                    failures.append(why)
                return "; ".join(failures)

            return check_any
        classes: frozenset[type] | None = None
        if self.types is not None:
            classes = frozenset(c for t in self.types for c in _CLASSES[t])
        integral = self.types is not None and "integer" in self.types and "number" not in self.types
        numeric = self.types is None or "number" in self.types or "integer" in self.types
        enum = frozenset(self.enum) if self.enum is not None else None
        enum_classes = frozenset(type(e) for e in self.enum) if self.enum is not None else None
        const, minimum, maximum = self.const, self.minimum, self.maximum
        min_length, max_length, pattern = self.min_length, self.max_length, self.pattern
        types_text = " or ".join(self.types or ())

        def check(value: object) -> str | None:
            cls = type(value)
            if classes is not None:
                if cls not in classes:
                    return f"expected {types_text}, got {_json_type(value)}"
                if cls is float:
                    if not math.isfinite(value):  # type: ignore[arg-type]
                        return f"expected {types_text}, got {value!r}"
                    if integral and not value.is_integer():  # type: ignore[attr-defined]
                        return f"expected {types_text}, got {value!r}"
            if enum is not None and (cls not in enum_classes or value not in enum):  # type: ignore[operator]
                allowed = ", ".join("null" if e is None else str(e) for e in self.enum or ())
                return f"{_short(value)} is not one of {allowed}"
            if const is not _MISSING and not (cls is type(const) and value == const):
                return f"{_short(value)} is not {const!r}"
            if numeric and (cls is int or cls is float):
                if minimum is not None and value < minimum:  # type: ignore[operator]
                    return f"{value!r} is below the minimum {minimum}"
                if maximum is not None and value > maximum:  # type: ignore[operator]
                    return f"{value!r} is above the maximum {maximum}"
            if cls is str:
                if min_length is not None and len(value) < min_length:  # type: ignore[arg-type]
                    return f"{_short(value)} is shorter than {min_length}"
                if max_length is not None and len(value) > max_length:  # type: ignore[arg-type]
                    return f"string of {len(value)} characters is longer than {max_length}"  # type: ignore[arg-type]
                if pattern is not None and not pattern.search(value):  # type: ignore[arg-type]
                    return f"{_short(value)} does not match {pattern.pattern}"
            return None

        return check


_CLASSES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


def _never(_: object) -> bool:
    return False


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _compile_rule(name: str, spec: Mapping[str, Any]) -> _Rule:
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise SchemaCompileError(f"field {name!r}: unsupported keyword(s) {sorted(unknown)}")
    types = spec.get("type")
    if isinstance(types, str):
        types = [types]
    return _Rule(
        name=name,
        types=tuple(types) if types is not None else None,
        enum=tuple(spec["enum"]) if "enum" in spec else None,
        const=spec.get("const", _MISSING),
        minimum=spec.get("minimum"),
        maximum=spec.get("maximum"),
        min_length=spec.get("minLength"),
        max_length=spec.get("maxLength"),
        pattern=re.compile(spec["pattern"]) if "pattern" in spec else None,
        any_of=tuple(_compile_rule(name, sub) for sub in spec.get("anyOf", ())),
    )


@dataclass(frozen=True)
class _Conditional:
    """``if {field in values} then {required + rules}`` (the only ``allOf`` form the schemas use)."""

    field: str
    when: _Rule
    required: tuple[str, ...]
    rules: tuple[_Rule, ...]


def _compile_conditional(spec: Mapping[str, Any]) -> _Conditional:
    if set(spec) - {"if", "then", "description"}:
        raise SchemaCompileError(f"allOf entry: unsupported keyword(s) {sorted(set(spec) - {'if', 'then'})}")
    cond, then = spec["if"], spec["then"]
    props = cond.get("properties", {})
    if set(cond) - {"properties", "required"} or len(props) != 1:
        raise SchemaCompileError("allOf 'if' must test exactly one property")
    (field_name, field_spec), = props.items()
    if set(then) - {"required", "properties"}:
        raise SchemaCompileError("allOf 'then' may only hold required and properties")
    return _Conditional(
        field=field_name,
        when=_compile_rule(field_name, field_spec),
        required=tuple(then.get("required", ())),
        rules=tuple(_compile_rule(n, s) for n, s in then.get("properties", {}).items()),
    )


@dataclass(frozen=True)
class EventValidator:
    """Checks one decoded event of a domain; ``check(event)`` → ``Problem`` or ``None``.

    Reasons, in the order they are looked for: ``unknown_domain`` (``domain`` is not this topic's),
    ``missing_field:<f>`` (a required field absent or null), ``bad_event_time``,
    ``wrong_type:<f>`` (wrong JSON type or a value outside the field's enum/range/pattern).
    """

    domain: str
    required: tuple[str, ...]
    rules: tuple[_Rule, ...]
    conditionals: tuple[_Conditional, ...] = field(default=())

    def __post_init__(self) -> None:
        checks = tuple((rule.name, rule.fast() or _never, rule.compiled()) for rule in self.rules)
        object.__setattr__(self, "_checks", checks)
        conds = tuple((c.field, c.when.compiled(), c.required, tuple((r.name, r.compiled()) for r in c.rules))
                      for c in self.conditionals)
        object.__setattr__(self, "_conds", conds)

    def check(self, event: object) -> Problem | None:
        if not isinstance(event, dict):
            return Problem("malformed_json", f"expected a JSON object, got {_json_type(event)}")
        domain = event.get("domain", _MISSING)
        if domain is not _MISSING and domain is not None and domain != self.domain:
            return Problem("unknown_domain", f"domain {_short(domain)} does not belong to events.{self.domain}")
        for name in self.required:
            if event.get(name) is None:
                return Problem(f"missing_field:{name}", f"required field {name!r} is missing or null")
        for name, fast, check in self._checks:  # type: ignore[attr-defined]
            value = event.get(name, _MISSING)
            if value is _MISSING or fast(value):
                continue
            why = check(value)
            if why is not None:
                if name == "event_time":
                    return Problem("bad_event_time", f"event_time: {why}")
                return Problem(f"wrong_type:{name}", f"{name}: {why}")
        for field_name, when, required, rules in self._conds:  # type: ignore[attr-defined]
            value = event.get(field_name, _MISSING)
            if value is _MISSING or when(value) is not None:
                continue
            for name in required:
                if event.get(name) is None:
                    return Problem(f"missing_field:{name}", f"{field_name}={value!r} requires field {name!r}")
            for name, check in rules:
                why = check(event[name])
                if why is not None:
                    return Problem(f"wrong_type:{name}", f"{name}: {why} (when {field_name}={value!r})")
        return None

    def without(self, *names: str) -> EventValidator:
        """The same checks minus the rules of ``names`` (fields a producer builds itself, valid by
        construction — replay's event_time); required-ness is still checked."""
        return EventValidator(self.domain, self.required, tuple(r for r in self.rules if r.name not in names),
                              self.conditionals)


def compile_schema(schema: Mapping[str, Any], domain: str) -> EventValidator:
    """Compile a domain schema into an ``EventValidator`` (``SchemaCompileError`` on unknown keywords)."""
    unknown = set(schema) - _TOP_KEYS
    if unknown:
        raise SchemaCompileError(f"{domain}: unsupported top-level keyword(s) {sorted(unknown)}")
    if schema.get("type") != "object":
        raise SchemaCompileError(f"{domain}: an event schema must be of type object")
    if schema.get("additionalProperties", True) is not True:
        raise SchemaCompileError(f"{domain}: additionalProperties must stay true (producers may add fields)")
    rules = tuple(_compile_rule(n, s) for n, s in schema["properties"].items())
    # checked first and reported as unknown_domain / missing_field, so not a plain rule
    rules = tuple(r for r in rules if r.name != "domain")
    return EventValidator(
        domain=domain,
        required=tuple(schema.get("required", ())),
        rules=rules,
        conditionals=tuple(_compile_conditional(c) for c in schema.get("allOf", ())),
    )


@cache
def validator(domain: str) -> EventValidator:
    """The compiled validator of ``domain`` (cached)."""
    return compile_schema(load_schema(domain), domain)
