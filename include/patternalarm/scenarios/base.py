"""The contract between detection scenarios and the traffic simulator.

A *scenario* is a short, labelled sequence of events on one entity that a rule must fire on
(``should_alert=True``) or must not (a near miss). Factories live next to the rules they test
(``include.patternalarm.scenarios.<domain>``) and are registered per rule id; the simulator
(``include.patternalarm.simulator``) schedules them among the background traffic, stamps
``event_id`` and ``event_time`` at send time, and records each instance in ``ground_truth``.

Factories are pure and deterministic: the same ``random.Random`` state gives the same instances.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScheduledEvent:
    """One event of a scenario, ``offset_s`` seconds after the scenario starts.

    ``payload`` holds the domain fields of the event contract (without ``event_id`` and
    ``event_time``, which the simulator stamps when it sends the event); ``key`` is the Kafka key.
    """

    offset_s: float
    domain: str
    key: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ScenarioInstance:
    rule_id: str
    variant: str  # "fires" or a near-miss name, e.g. "two_small_auths"
    should_alert: bool
    domain: str
    entity: str  # the entity an alert would carry
    events: tuple[ScheduledEvent, ...]
    # 0-based index in ``events`` of the event that completes the pattern (alert latency is
    # measured from its event_time); None for near misses
    completing_index: int | None = None
    notes: str = ""
    # alerts of other rules this instance causes by design, as (rule_id, entity): neither true nor false
    # positives (e.g. the cards behind a compromised terminal alert amount_anomaly)
    side_alerts: tuple[tuple[str, str], ...] = ()

    @property
    def duration_s(self) -> float:
        return max((e.offset_s for e in self.events), default=0.0)


@dataclass(frozen=True)
class ScenarioContext:
    """What a factory may use: randomness, a fresh entity id, and the rule's parameters."""

    rng: random.Random
    entity: str
    params: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)


ScenarioFactory = Callable[[ScenarioContext], list[ScenarioInstance]]

_REGISTRY: dict[str, ScenarioFactory] = {}


def register(rule_id: str) -> Callable[[ScenarioFactory], ScenarioFactory]:
    """Decorator: ``@register("card_testing")`` on a factory returning the fire + near-miss instances."""

    def wrap(factory: ScenarioFactory) -> ScenarioFactory:
        if rule_id in _REGISTRY:
            raise ValueError(f"scenario factory for {rule_id!r} registered twice")
        _REGISTRY[rule_id] = factory
        return factory

    return wrap


def registry() -> dict[str, ScenarioFactory]:
    """Every registered factory by rule id (importing the domain modules registers them)."""
    import importlib

    for domain in ("payments", "gaming", "iot"):
        try:
            importlib.import_module(f"include.patternalarm.scenarios.{domain}")
        except ModuleNotFoundError as exc:
            if exc.name != f"include.patternalarm.scenarios.{domain}":
                raise
    return dict(_REGISTRY)
