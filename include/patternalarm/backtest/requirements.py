"""A rule whose required field is absent never fires: say so before anyone waits for its alerts."""

from __future__ import annotations

from collections.abc import Iterable

from include.patternalarm.events.schema import ENTITY_FIELD
from include.patternalarm.replay.runner import ReplayConfig
from include.patternalarm.rules import load_catalog


def missing_fields(domain: str, mapping: ReplayConfig, rule_sets: Iterable) -> list[str]:
    """Warnings for the rules (of every rule set) that need a field the mapping does not provide."""
    provided = set(mapping.fields) | set(mapping.constants) | {ENTITY_FIELD[domain]}
    warnings: list[str] = []
    seen: set[str] = set()
    for rule_set in rule_sets:
        catalog = load_catalog(rule_set.catalog_version, overrides=rule_set.overrides)
        for rule in catalog.rules_for(domain):
            if rule_set.rules is not None and rule.id not in rule_set.rules:
                continue
            absent = [f for f in rule.requires if f not in provided]
            if absent and rule.id not in seen:
                seen.add(rule.id)
                warnings.append(f"rule {rule.id} needs {', '.join(absent)}, which the mapping does not provide "
                                f"(--map {absent[0]}=COLUMN): it cannot fire on this file")
    return warnings
