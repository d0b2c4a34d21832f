"""The user's rules directory (setting ``rules_dir``, default ``rules/`` in the checkout).

- ``<id>.yaml`` — one rule each: the catalog entry fields (``id``, ``version``, ``domain``, ``severity``,
  ``description``, ``params``, ``requires``, ``score``) and either ``sql: <file>.sql`` (relative to the
  directory; the same conventions as the shipped rules) or a declarative ``kind`` (threshold, window,
  baseline, sequence, absence — ``include.patternalarm.rules.kinds``);
- ``catalog.yaml`` — optional: ``disabled: [rule ids]`` of the shipped catalog;
- ``sensor_ranges.yaml`` — optional: physical ranges per device (``"device-7/temperature": [0, 80]``) or
  for sensor types the catalog does not know (``machine_temperature: [0, 120]``).

Everything a user writes is validated with an error naming the file; nothing is silently skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from include.patternalarm.rules.catalog import Rule, RuleError
from include.patternalarm.rules.kinds import KINDS, expand

SETTINGS_FILE = "catalog.yaml"
RANGES_FILE = "sensor_ranges.yaml"
_RANGE_KEY = re.compile(r"^[A-Za-z0-9_.\-/ ]{1,128}$")


@dataclass
class UserRules:
    rules: list[Rule] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    sensor_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    settings_file: Path | None = None


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None


def load_user_dir(directory: Path, make_rule: Callable[[Mapping[str, Any], Path, str], Rule]) -> UserRules:
    out = UserRules(settings_file=directory / SETTINGS_FILE)
    settings = directory / SETTINGS_FILE
    if settings.is_file():
        raw = _yaml(settings) or {}
        disabled = raw.get("disabled", []) if isinstance(raw, Mapping) else None
        if not isinstance(disabled, list) or not all(isinstance(d, str) for d in disabled):
            raise RuleError(f"{settings}: 'disabled' must be a list of rule ids")
        unknown = set(raw) - {"disabled"}
        if unknown:
            raise RuleError(f"{settings}: unknown key(s) {sorted(unknown)} (known: disabled)")
        out.disabled = disabled
    ranges = directory / RANGES_FILE
    if ranges.is_file():
        out.sensor_ranges = parse_ranges(_yaml(ranges) or {}, ranges)
    for path in sorted(directory.glob("*.yaml")):
        if path.name in (SETTINGS_FILE, RANGES_FILE):
            continue
        spec = _yaml(path)
        if not isinstance(spec, Mapping):
            raise RuleError(f"{path}: a rule file holds one mapping (id, version, domain, …)")
        spec = dict(spec)
        kind = spec.get("kind", "sql")
        if kind != "sql":
            if kind not in KINDS:
                raise RuleError(f"{path}: kind must be sql or one of {', '.join(KINDS)}, got {kind!r}")
            spec = expand(spec, str(path))
        elif "sql" not in spec:
            raise RuleError(f"{path}: a rule needs `sql: <file>.sql` (relative to {directory}) or a declarative "
                            f"`kind` ({', '.join(KINDS)})")
        if spec.get("id") and path.stem != spec["id"]:
            raise RuleError(f"{path}: the file of rule {spec['id']!r} must be called {spec['id']}.yaml")
        out.rules.append(make_rule(spec, directory, str(path)))
    return out


def parse_ranges(raw: Any, where: Path) -> dict[str, tuple[float, float]]:
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: ranges map a device/sensor or sensor type to [min, max]")
    ranges = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _RANGE_KEY.match(key):
            raise RuleError(f"{where}: range key {key!r} may hold letters, digits and _ . - / space (≤ 128)")
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                or not value[0] < value[1]):
            raise RuleError(f"{where}: range {key!r} must be [min, max] with min < max, got {value!r}")
        ranges[key] = (float(value[0]), float(value[1]))
    return ranges
