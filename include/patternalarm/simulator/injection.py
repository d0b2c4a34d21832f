"""Scheduling labelled scenarios (``include.patternalarm.scenarios``) among the background.

Every ``scenario_interval_s`` a *round* starts: each selected rule's factory is asked for its
instances (the one that must fire and the near misses). Each instance gets its own fresh entity
(``sim-<tag>-x<number>``, never a background id, never reused within a run): the factory is called
once per instance with a new entity and the instance at that position is kept. Instances of a
round start staggered over the interval and are spread over the lanes. Rounds are deterministic
(the seed, the round number and the rule id seed each factory call), so every worker plans the
same rounds and keeps its own lanes' instances.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from include.patternalarm.scenarios.base import ScenarioContext, ScenarioFactory, ScenarioInstance
from include.patternalarm.simulator.config import LANES, ConfigError, SimulationConfig

#: An upper bound on instances per round (keeps instance numbers unique: round * this + i).
MAX_PER_ROUND = 10_000


@dataclass
class Planned:
    """One scheduled instance and what has been sent of it."""

    number: int
    scenario_id: str
    lane: int
    start_s: float
    rule_id: str
    instance: ScenarioInstance
    event_ids: tuple[str, ...]
    sent_ms: list[int | None] = field(default_factory=list)
    sent: int = 0

    def __post_init__(self) -> None:
        if not self.sent_ms:
            self.sent_ms = [None] * len(self.instance.events)

    @property
    def complete(self) -> bool:
        return self.sent == len(self.instance.events)


class PlanError(RuntimeError):
    """A scenario factory returned something the simulator cannot schedule."""


def default_rule_params(catalog_version: int | None = None) -> dict[str, dict[str, Any]]:
    """Each rule's effective parameters from the rule catalog (``include/rules/catalog-v<N>.yaml``)."""
    try:
        from include.patternalarm.rules import RuleError, load_catalog
    except ImportError:  # the catalog is not part of this installation
        return {}
    try:
        catalog = load_catalog(catalog_version)
    except RuleError as exc:
        raise PlanError(f"rule catalog: {exc}") from None
    # a rule sees its domain's parameters (e.g. sensor ranges) and its own
    return {rule_id: {**catalog.domains[rule.domain].values, **rule.values} for rule_id, rule in catalog.rules.items()}


class ScenarioPlanner:
    """Plans rounds of scenario instances for a run (deterministic per seed)."""

    def __init__(self, config: SimulationConfig, factories: Mapping[str, ScenarioFactory],
                 params: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.config = config
        wanted = set(config.rules) if config.rules else None
        if wanted is not None:
            unknown = wanted - set(factories)
            if unknown:
                raise ConfigError(f"no scenario factory for rule(s) {sorted(unknown)}; "
                                  f"registered: {', '.join(sorted(factories)) or '(none)'}")
        self.factories = {r: f for r, f in sorted(factories.items()) if wanted is None or r in wanted}
        self.params = {**(params or {}), **{k: dict(v) for k, v in config.rule_params.items()}}
        self.planned_end = config.planned_end_s()
        self.skipped: dict[str, int] = {}

    def round_start(self, r: int) -> float:
        return self.config.scenario_start_s + r * self.config.scenario_interval_s

    def _call(self, rule_id: str, r: int, call: int, number: int) -> list[ScenarioInstance]:
        tag = self.config.tag
        ctx = ScenarioContext(
            rng=random.Random(f"patternalarm:{self.config.seed}:scenario:{r}:{rule_id}:{call}"),  # noqa: S311
            entity=f"sim-{tag}-x{number:06d}",
            params=self.params.get(rule_id, {}),
            extra={"tag": tag, "round": r, "run_seed": self.config.seed},
        )
        instances = self.factories[rule_id](ctx)
        if not isinstance(instances, list | tuple) or not all(isinstance(i, ScenarioInstance) for i in instances):
            raise PlanError(f"scenario factory for {rule_id!r} must return a list of ScenarioInstance")
        return list(instances)

    def round(self, r: int) -> list[Planned]:
        """Round ``r``'s instances that fit in the run (those that do not are counted in ``skipped``)."""
        if not self.config.scenarios or not self.factories:
            return []
        start = self.round_start(r)
        if self.planned_end is not None and start >= self.planned_end:
            return []
        chosen: list[tuple[str, ScenarioInstance, int]] = []
        number = r * MAX_PER_ROUND
        for rule_id in self.factories:
            first = self._call(rule_id, r, 0, number)
            for position in range(len(first)):
                inst = first[0] if position == 0 else self._call(rule_id, r, position, number)[position]
                self._check(rule_id, inst)
                if inst.domain in self.config.domains:
                    chosen.append((rule_id, inst, number))
                number += 1
                if number >= (r + 1) * MAX_PER_ROUND:
                    raise PlanError(f"more than {MAX_PER_ROUND} scenario instances in one round")
        spread = self.config.scenario_interval_s * 0.8 / max(len(chosen), 1)
        tag = self.config.tag
        planned: list[Planned] = []
        for i, (rule_id, inst, num) in enumerate(chosen):
            begin = start + i * spread
            if self.planned_end is not None and begin + inst.duration_s + self.config.scenario_settle_s \
                    > self.planned_end:
                key = f"{rule_id}/{inst.variant}"
                self.skipped[key] = self.skipped.get(key, 0) + 1
                continue
            sid = f"{tag}-x{num:06d}"
            planned.append(Planned(
                number=num, scenario_id=sid, lane=num % LANES, start_s=begin, rule_id=rule_id, instance=inst,
                event_ids=tuple(f"{sid}-{j}" for j in range(len(inst.events))),
            ))
        return planned

    @staticmethod
    def _check(rule_id: str, inst: ScenarioInstance) -> None:
        if not inst.events:
            raise PlanError(f"{rule_id}/{inst.variant}: a scenario instance needs at least one event")
        if inst.completing_index is not None and not 0 <= inst.completing_index < len(inst.events):
            raise PlanError(f"{rule_id}/{inst.variant}: completing_index {inst.completing_index} out of range")
        if inst.should_alert and inst.completing_index is None:
            raise PlanError(f"{rule_id}/{inst.variant}: an instance that must alert names its completing event")
        if any(e.domain != inst.domain for e in inst.events):
            raise PlanError(f"{rule_id}/{inst.variant}: all events of an instance belong to its domain")
        if any(e.offset_s < 0 for e in inst.events):
            raise PlanError(f"{rule_id}/{inst.variant}: negative offset")
