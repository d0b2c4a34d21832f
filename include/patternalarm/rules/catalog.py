"""The typed rule catalog: versioned YAML files under ``include/rules/`` (``catalog-v<N>.yaml``).

A catalog holds job-level parameters (the plumbing every domain job shares), per-domain settings
(parse SQL, shared views, domain parameters) and the rules (id, version, domain, severity,
description, typed parameters with defaults and bounds, and the SQL file). Parameter values can be
overridden per deploy; every value is validated, and an error names the rule and the parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from include.patternalarm.topics import DOMAINS

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
FLINK_SQL_DIR = Path(__file__).resolve().parents[2] / "flink"
SEVERITIES = ("low", "medium", "high", "critical")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CATALOG_FILE = re.compile(r"^catalog-v(\d+)\.yaml$")
_JAVA_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
PLUMBINGS = ("v1", "v3")


class RuleError(ValueError):
    """The catalog, a rule or a parameter value is invalid (the message names which)."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "int" | "float"
    default: int | float
    min: int | float | None = None
    max: int | float | None = None
    description: str = ""

    def coerce(self, value: Any, owner: str) -> int | float:
        """``value`` as this parameter's type, within bounds; `RuleError` naming ``owner`` and the parameter."""
        where = f"{owner}: parameter {self.name!r}"
        if isinstance(value, bool):
            raise RuleError(f"{where} must be {self.type}, got a boolean")
        if isinstance(value, str):
            try:
                value = float(value.strip()) if self.type == "float" else int(value.strip())
            except ValueError:
                raise RuleError(f"{where} must be {self.type}, got {value!r}") from None
        if self.type == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise RuleError(f"{where} must be int, got {value!r}")
        else:
            if not isinstance(value, (int, float)):
                raise RuleError(f"{where} must be float, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise RuleError(f"{where} must be a finite number, got {value!r}")
        if self.min is not None and value < self.min:
            raise RuleError(f"{where} = {value} is below its minimum {self.min}")
        if self.max is not None and value > self.max:
            raise RuleError(f"{where} = {value} is above its maximum {self.max}")
        return value


def _params(raw: Any, owner: str) -> dict[str, Param]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise RuleError(f"{owner}: params must be a mapping")
    params: dict[str, Param] = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not _ID.match(name):
            raise RuleError(f"{owner}: invalid parameter name {name!r}")
        if not isinstance(spec, Mapping) or spec.get("type") not in ("int", "float"):
            raise RuleError(f"{owner}: parameter {name!r} needs type int or float")
        param = Param(name=name, type=spec["type"], default=spec.get("default"), min=spec.get("min"),
                      max=spec.get("max"), description=str(spec.get("description", "")))
        if param.default is None:
            raise RuleError(f"{owner}: parameter {name!r} has no default")
        param = replace(param, default=param.coerce(param.default, owner))
        params[name] = param
    return params


@dataclass(frozen=True)
class SeriesCall:
    """A domain's shared call of the adaptive detector (java: SeriesAnomalies), used by several rules."""

    name: str
    input: str  # the view it reads
    partition: tuple[str, ...]  # one series per value of these columns
    params: dict[str, str]  # detector parameter -> domain parameter supplying it
    fixed: str = ""  # detector parameters as literal text ("season_buckets=0;direction=1")
    ranges: bool = False  # pass the domain's <type>_min/_max ranges (and sensor_ranges) to it


@dataclass(frozen=True)
class RuleSeries:
    """Which detector kinds of a domain's series call a rule reports, and its parameters for them."""

    call: str
    kinds: tuple[str, ...]
    params: dict[str, str]  # detector parameter -> rule parameter supplying it


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    domain: str
    severity: str
    description: str
    sql_file: str  # relative to include/flink/
    params: dict[str, Param]
    values: dict[str, int | float] = field(default_factory=dict)  # effective values (defaults + overrides)
    score: str = "1.0"  # SQL expression over the rule's output columns: the alert's 0..1 score (plumbing v3)
    seq: str = "1"  # SQL expression: the alert's update number (episodic rules: 1 opens, later ones update)
    series: RuleSeries | None = None
    requires: tuple[str, ...] = ()  # optional event fields without which the rule cannot fire
    base_dir: Path = FLINK_SQL_DIR  # where sql_file lives (a user rule: the rules directory)
    sql_text: str | None = None  # declarative user rules: the SQL rendered from their spec
    source: str = "catalog"  # the file it was read from
    kind: str = "sql"  # sql | threshold | window | baseline | sequence | absence

    @property
    def sql_path(self) -> Path:
        return self.base_dir / self.sql_file

    def sql(self) -> str:
        """The rule's SQL template."""
        if self.sql_text is not None:
            return self.sql_text
        return self.sql_path.read_text()


@dataclass(frozen=True)
class Domain:
    name: str
    parse_file: str | None  # plumbing v1 only: the SQL that parses the raw JSON (v3: the event format)
    view_files: tuple[str, ...]
    params: dict[str, Param]
    values: dict[str, int | float] = field(default_factory=dict)
    series: dict[str, SeriesCall] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    version: int
    path: Path
    job_params: dict[str, Param]
    job_values: dict[str, int | float]
    domains: dict[str, Domain]
    rules: dict[str, Rule]
    #: "v1": JSON parsed in SQL (catalogs 1-2); "v3": the event format and Java functions (java/)
    plumbing: str = "v1"
    #: SQL name → Java class of the functions the job's SQL calls (registered in every job)
    functions: dict[str, str] = field(default_factory=dict)
    #: per-device / extra sensor-type ranges from the user's sensor_ranges.yaml
    sensor_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    user_dir: Path | None = None  # the user rules directory that was read
    #: the form of the adaptive detectors' per-series state ("": v4's structured state; "packed": v5's bytes).
    #: Part of their operators' uids, so that state of one form is never restored into the other.
    series_state: str = ""

    def series_uid(self, name: str) -> str:
        """The uid of the adaptive detector call ``name`` (a domain's series call or a user rule's id)."""
        return f"series_{name}" + (f"_{self.series_state}" if self.series_state else "")

    def rules_for(self, domain: str) -> list[Rule]:
        if domain not in self.domains:
            raise RuleError(f"unknown domain {domain!r} (valid: {', '.join(self.domains)})")
        return [r for r in self.rules.values() if r.domain == domain]

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise RuleError(f"unknown rule {rule_id!r} (valid: {', '.join(sorted(self.rules))})") from None


SERIES_KINDS = ("spike", "level_shift", "variance", "drift", "stuck", "out_of_range")


def _series_calls(raw: Any, params: Mapping[str, Param], owner: str) -> dict[str, SeriesCall]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise RuleError(f"{owner}: series must map call names to their settings")
    calls = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not _ID.match(name) or not isinstance(spec, Mapping):
            raise RuleError(f"{owner}: invalid series call {name!r}")
        mapping = dict(spec.get("params") or {})
        unknown = [v for v in mapping.values() if v not in params]
        if unknown:
            raise RuleError(f"{owner}: series {name} maps unknown domain parameter(s) {unknown}")
        partition = tuple(str(c) for c in spec.get("partition") or ())
        if not _ID.match(str(spec.get("input", ""))) or not partition or not all(_ID.match(c) for c in partition):
            raise RuleError(f"{owner}: series {name} needs an input view and partition columns")
        calls[name] = SeriesCall(name=name, input=str(spec["input"]), partition=partition,
                                 params={str(k): str(v) for k, v in mapping.items()},
                                 fixed=str(spec.get("fixed", "")), ranges=bool(spec.get("ranges", False)))
    return calls


def _rule_series(raw: Any, params: Mapping[str, Param], domain: Domain, owner: str) -> RuleSeries | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or raw.get("call") not in domain.series:
        raise RuleError(f"{owner}: series.call must be one of the domain's series calls "
                        f"({', '.join(domain.series) or 'none'})")
    kinds = tuple(raw.get("kinds") or ())
    if not kinds or any(k not in SERIES_KINDS for k in kinds):
        raise RuleError(f"{owner}: series.kinds must list detectors among {', '.join(SERIES_KINDS)}")
    mapping = {str(k): str(v) for k, v in (raw.get("params") or {}).items()}
    unknown = [v for v in mapping.values() if v not in params]
    if unknown:
        raise RuleError(f"{owner}: series maps unknown rule parameter(s) {unknown}")
    return RuleSeries(call=str(raw["call"]), kinds=kinds, params=mapping)


def _requires(raw: Any, domain: str, owner: str) -> tuple[str, ...]:
    from include.patternalarm.events.schema import field_names

    fields = tuple(raw or ())
    unknown = [f for f in fields if f not in field_names(domain)]
    if unknown:
        raise RuleError(f"{owner}: requires unknown field(s) {unknown} of the {domain} contract")
    return fields


def catalog_versions(rules_dir: Path = RULES_DIR) -> list[int]:
    """The catalog versions present under ``rules_dir``, ascending."""
    found = (_CATALOG_FILE.match(p.name) for p in rules_dir.glob("catalog-v*.yaml"))
    return sorted(int(m.group(1)) for m in found if m)


def _apply(params: dict[str, Param], overrides: Mapping[str, Any], owner: str) -> dict[str, int | float]:
    unknown = set(overrides) - set(params)
    if unknown:
        valid = ", ".join(sorted(params)) or "none"
        raise RuleError(f"{owner}: unknown parameter(s) {', '.join(sorted(unknown))} (valid: {valid})")
    values = {name: p.default for name, p in params.items()}
    for name, value in overrides.items():
        values[name] = params[name].coerce(value, owner)
    return values


_FROM_SETTINGS: Any = object()


def load_catalog(version: int | None = None, *, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 rules_dir: Path = RULES_DIR, user_dir: Path | None = _FROM_SETTINGS) -> Catalog:
    """Load catalog ``version`` (default: the newest) with parameter ``overrides``, plus the user's
    rules (``user_dir``; default the ``rules_dir`` setting; None: the shipped catalog only).

    ``overrides`` maps a rule id (or ``"job"``, or a domain name) to ``{param: value}``.
    """
    versions = catalog_versions(rules_dir)
    if not versions:
        raise RuleError(f"no catalog-v<N>.yaml under {rules_dir}")
    if version is None:
        version = versions[-1]
    if version not in versions:
        raise RuleError(f"catalog version {version} not found (available: {', '.join(map(str, versions))})")
    path = rules_dir / f"catalog-v{version}.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RuleError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping) or raw.get("catalog_version") != version:
        raise RuleError(f"{path.name}: catalog_version must be {version}")
    overrides = dict(overrides or {})

    plumbing = str(raw.get("plumbing", "v1"))
    if plumbing not in PLUMBINGS:
        raise RuleError(f"{path.name}: plumbing must be one of {', '.join(PLUMBINGS)}, got {plumbing!r}")
    functions = raw.get("functions") or {}
    if not isinstance(functions, Mapping) or not all(
            isinstance(k, str) and _ID.match(k) and isinstance(v, str) and _JAVA_CLASS.match(v)
            for k, v in functions.items()):
        raise RuleError(f"{path.name}: functions must map SQL names to Java class names")
    job_params = _params(raw.get("job"), "job")
    job_values = _apply(job_params, overrides.pop("job", {}), "job")

    domains: dict[str, Domain] = {}
    for name, spec in (raw.get("domains") or {}).items():
        if name not in DOMAINS:
            raise RuleError(f"{path.name}: unknown domain {name!r} (valid: {', '.join(DOMAINS)})")
        params = _params(spec.get("params"), f"domain {name}")
        if plumbing == "v1" and not spec.get("parse"):
            raise RuleError(f"{path.name}: domain {name!r} needs a parse file (plumbing v1)")
        domains[name] = Domain(name=name, parse_file=spec.get("parse"), view_files=tuple(spec.get("views") or ()),
                               params=params, values=_apply(params, overrides.pop(name, {}), f"domain {name}"),
                               series=_series_calls(spec.get("series"), params, f"domain {name}"))

    rules: dict[str, Rule] = {}
    for spec in raw.get("rules") or []:
        rule = _rule(spec, domains, overrides, FLINK_SQL_DIR, path.name)
        if rule.id in rules:
            raise RuleError(f"{path.name}: rule {rule.id!r} defined twice")
        rules[rule.id] = rule
    sensor_ranges: dict[str, tuple[float, float]] = {}
    user = settings_rules_dir() if user_dir is _FROM_SETTINGS else user_dir
    if user is not None and Path(user).is_dir():
        from include.patternalarm.rules.user import load_user_dir

        loaded = load_user_dir(Path(user), lambda spec, base, where: _rule(spec, domains, overrides, base, where))
        if plumbing == "v1" and (loaded.rules or loaded.disabled or loaded.sensor_ranges):
            raise RuleError(f"the rules directory {user} holds user rules, which need catalog version 3 or later "
                            f"(this is version {version}); deploy a newer catalog or move the rules away")
        for rule_id in loaded.disabled:
            if rule_id not in rules:
                raise RuleError(f"{loaded.settings_file}: disabled rule {rule_id!r} is not in catalog v{version}")
            del rules[rule_id]
        for rule in loaded.rules:
            if rule.id in rules:
                raise RuleError(f"{rule.source}: rule id {rule.id!r} is a shipped rule of catalog v{version}; "
                                f"choose another id, or disable the shipped one (disabled: [{rule.id}] in "
                                f"{Path(user) / 'catalog.yaml'})")
            rules[rule.id] = rule
        sensor_ranges = loaded.sensor_ranges
    if overrides:
        raise RuleError(f"overrides for unknown rule(s): {', '.join(sorted(overrides))} "
                        f"(valid: job, {', '.join(domains)}, {', '.join(sorted(rules))})")
    series_state = str(raw.get("series_state", ""))
    if series_state and not _ID.match(series_state):
        raise RuleError(f"{path.name}: series_state must be an identifier, got {series_state!r}")
    return Catalog(version=version, path=path, job_params=job_params, job_values=job_values, domains=domains,
                   rules=rules, plumbing=plumbing, functions=dict(functions), sensor_ranges=sensor_ranges,
                   series_state=series_state,
                   user_dir=Path(user) if user is not None and Path(user).is_dir() else None)


def _rule(spec: Mapping[str, Any], domains: Mapping[str, Domain], overrides: dict[str, Any], base_dir: Path,
          where: str) -> Rule:
    """One rule entry (a shipped catalog's, or a user rule file's) with its overrides applied."""
    if not isinstance(spec, Mapping):
        raise RuleError(f"{where}: a rule must be a mapping")
    rule_id = spec.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise RuleError(f"{where}: invalid rule id {rule_id!r} (lower case letters, digits, _; up to 63)")
    owner = f"rule {rule_id}"
    if spec.get("domain") not in domains:
        raise RuleError(f"{owner}: domain must be one of {', '.join(domains)}, got {spec.get('domain')!r}")
    if spec.get("severity") not in SEVERITIES:
        raise RuleError(f"{owner}: severity must be one of {', '.join(SEVERITIES)}")
    if not isinstance(spec.get("version"), int) or spec["version"] < 1:
        raise RuleError(f"{owner}: version must be a positive integer")
    sql_file = str(spec.get("sql", ""))
    sql_text = spec.get("sql_text")
    if sql_text is None and not (base_dir / sql_file).is_file():
        raise RuleError(f"{owner}: SQL file {sql_file!r} not found under {base_dir}")
    params = _params(spec.get("params"), owner)
    return Rule(id=rule_id, version=spec["version"], domain=spec["domain"], severity=spec["severity"],
                description=str(spec.get("description", "")), sql_file=sql_file, params=params,
                values=_apply(params, overrides.pop(rule_id, {}), owner),
                score=str(spec.get("score", "1.0")), seq=str(spec.get("seq", "1")),
                series=_rule_series(spec.get("series"), params, domains[spec["domain"]], owner),
                requires=_requires(spec.get("requires"), spec["domain"], owner), base_dir=base_dir,
                sql_text=sql_text, source=where, kind=str(spec.get("kind", "sql")))


def settings_rules_dir() -> Path | None:
    """The user's rules directory (setting ``rules_dir``)."""
    from include.patternalarm.settings import get_settings

    return get_settings().rules_dir


def parse_overrides(items: list[str]) -> dict[str, dict[str, str]]:
    """``["card_testing.window_s=90", "job.watermark_delay_ms=500"]`` → ``{"card_testing": {"window_s": "90"}, …}``."""
    result: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        owner, dot, name = key.strip().partition(".")
        if not sep or not dot or not owner or not name or not value.strip():
            raise RuleError(f"parameter override {item!r} must look like <rule>.<param>=<value>")
        result.setdefault(owner, {})[name] = value.strip()
    return result
