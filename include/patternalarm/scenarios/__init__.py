"""Labelled detection scenarios (fire + near misses) per rule; see ``base`` for the contract."""

from include.patternalarm.scenarios.base import (
    ScenarioContext,
    ScenarioFactory,
    ScenarioInstance,
    ScheduledEvent,
    register,
    registry,
)

__all__ = ["ScenarioContext", "ScenarioFactory", "ScenarioInstance", "ScheduledEvent", "register", "registry"]
