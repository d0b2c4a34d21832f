"""The traffic simulator: realistic background for payments, gaming and IoT, labelled scenarios
of every rule (and near misses), bad events, rate control with spikes, ground truth in PostgreSQL.

>>> from include.patternalarm.simulator import SimulationConfig, run_simulation, parse_rate
>>> summary = run_simulation(get_settings(), SimulationConfig(rate=parse_rate("50000/min"), duration_s=60))

``summary.as_dict()`` is what ``bin/patternalarm simulate --json`` prints.
"""

from __future__ import annotations

from include.patternalarm.simulator.config import (
    BAD_MIX,
    DOMAIN_WEIGHTS,
    LANES,
    ConfigError,
    RateSchedule,
    SimulationConfig,
    Spike,
    parse_duration,
    parse_rate,
)
from include.patternalarm.simulator.runner import Progress, SimulationSummary, run_simulation

__all__ = [
    "BAD_MIX",
    "DOMAIN_WEIGHTS",
    "LANES",
    "ConfigError",
    "Progress",
    "RateSchedule",
    "SimulationConfig",
    "SimulationSummary",
    "Spike",
    "parse_duration",
    "parse_rate",
    "run_simulation",
]
