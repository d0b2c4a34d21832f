"""Simulation settings, and parsing of the CLI's rate / spike / duration notations."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from include.patternalarm.topics import DOMAINS, EVENTS

#: Independent, deterministic event streams a run is split into. Workers take lanes (1, 2 or 4
#: workers), so the same seed gives the same events whatever the number of workers.
LANES = 4

#: Default start of the virtual clock (so that a seed alone fixes every event, times included).
VIRTUAL_START = "2026-01-05T00:00:00Z"

#: Default share of background traffic per domain when several run at once.
DOMAIN_WEIGHTS = {"payments": 0.45, "gaming": 0.35, "iot": 0.20}

#: Default mix of bad events (``--bad-ratio``): variant → relative weight.
BAD_MIX = {
    "malformed_json": 1.0,
    "wrong_type": 1.0,
    "missing_field": 1.0,
    "oversized": 0.5,
    "unknown_domain": 1.0,
    "bad_event_time": 1.0,
    "late": 1.5,
    "out_of_order": 1.0,
    "duplicate": 2.0,
}


class ConfigError(ValueError):
    """A simulation or replay parameter that cannot be used, with the reason."""


# --- notations -----------------------------------------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|sec|min|s|m|h|d)")


def parse_duration(text: str | float) -> float:
    """``90`` / ``90s`` / ``2m`` / ``1h30m`` / ``500ms`` → seconds."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        value = text.strip().lower()
        try:
            seconds = float(value)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _DURATION_PART.finditer(value):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if pos != len(value) or not value:
                raise ConfigError(f"cannot read duration {text!r}: use e.g. 90, 90s, 2m, 1h30m, 500ms") from None
    if seconds < 0:
        raise ConfigError(f"duration {text!r} is negative")
    return seconds


_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*([km]?)\s*(?:/\s*(s|sec|m|min|h))?$")


def parse_rate(text: str | float | None) -> float | None:
    """``50000/min`` / ``833/s`` / ``5k/s`` / ``833`` (per second) → events per second; ``max`` → None."""
    if text is None:
        return None
    if isinstance(text, int | float):
        rate = float(text)
    else:
        value = text.strip().lower()
        if value in ("max", "unlimited", "inf", "fastest"):
            return None
        match = _RATE.match(value)
        if not match:
            raise ConfigError(f"cannot read rate {text!r}: use e.g. 50000/min, 833/s, 5k/s or max")
        number, mult, unit = match.groups()
        rate = float(number) * {"": 1, "k": 1e3, "m": 1e6}[mult] / _UNITS[unit or "s"]
    if rate <= 0:
        raise ConfigError(f"rate {text!r} must be positive (or 'max')")
    return rate


@dataclass(frozen=True)
class Spike:
    """Traffic multiplied by ``factor`` from ``at_s`` for ``length_s`` seconds (``10x@60s+30s``)."""

    factor: float
    at_s: float
    length_s: float

    @classmethod
    def parse(cls, text: str) -> Spike:
        match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*x?\s*@\s*([^+]+)\+\s*(.+?)\s*$", text, re.IGNORECASE)
        if not match:
            raise ConfigError(f"cannot read spike {text!r}: use FACTORx@START+LENGTH, e.g. 10x@60s+30s")
        spike = cls(float(match.group(1)), parse_duration(match.group(2)), parse_duration(match.group(3)))
        if spike.factor <= 0 or spike.length_s <= 0:
            raise ConfigError(f"spike {text!r}: factor and length must be positive")
        return spike

    def __str__(self) -> str:
        return f"{self.factor:g}x@{self.at_s:g}s+{self.length_s:g}s"


class RateSchedule:
    """The rate multiplier over time (1, times every spike covering t) and its integral.

    ``integral(t)`` is the number of rate-seconds up to ``t`` (equal to ``t`` with no spikes);
    ``inverse(x)`` the time at which the integral reaches ``x``. Event ``k`` of a stream with base
    rate ``r`` is due at ``inverse(k / r)``, which keeps rate control exact across spike edges.
    """

    def __init__(self, spikes: tuple[Spike, ...] = ()) -> None:
        edges = sorted({0.0, *(s.at_s for s in spikes), *(s.at_s + s.length_s for s in spikes)})
        self._starts: list[float] = []
        self._mults: list[float] = []
        self._cum: list[float] = []
        total = 0.0
        for start in edges:
            mult = 1.0
            for spike in spikes:
                if spike.at_s <= start < spike.at_s + spike.length_s:
                    mult *= spike.factor
            if self._mults and mult == self._mults[-1]:
                continue
            if self._starts:
                total += self._mults[-1] * (start - self._starts[-1])
            self._starts.append(start)
            self._mults.append(mult)
            self._cum.append(total)

    def multiplier(self, t: float) -> float:
        return self._mults[max(bisect_right(self._starts, t) - 1, 0)]

    def integral(self, t: float) -> float:
        if t <= 0:
            return 0.0
        i = bisect_right(self._starts, t) - 1
        return self._cum[i] + self._mults[i] * (t - self._starts[i])

    def inverse(self, x: float) -> float:
        if x <= 0:
            return 0.0
        i = bisect_right(self._cum, x) - 1
        return self._starts[i] + (x - self._cum[i]) / self._mults[i]


# --- the configuration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SimulationConfig:
    """Everything a simulation run needs. ``validated()`` checks it and fills defaults.

    Rate control applies to background (and bad) events; scenario events are sent at their own
    scheduled offsets on top, so that every pattern keeps its timing. ``events`` counts
    background + bad events; scenario events are reported separately.
    """

    domains: tuple[str, ...] = DOMAINS
    rate: float | None = 50_000 / 60  # events/s; None = as fast as the broker takes
    spikes: tuple[Spike, ...] = ()
    duration_s: float | None = None
    events: int | None = None
    seed: int | None = None
    clock: Literal["live", "virtual"] = "live"
    virtual_start: str = VIRTUAL_START
    pace: bool | None = None  # virtual clock: also pace sending at the rate (default: as fast as possible)
    bad_ratio: float = 0.0
    bad_mix: Mapping[str, float] = field(default_factory=lambda: dict(BAD_MIX))
    late_by_s: float = 900.0  # how far behind "late" events are
    out_of_order_by_s: float = 0.5  # how far behind "out_of_order" events are (inside the 1 s watermark delay)
    scenarios: bool = True
    rules: tuple[str, ...] | None = None  # only these rules' scenarios (default: every registered rule)
    scenario_interval_s: float = 30.0  # one round of every rule's instances per interval
    scenario_start_s: float = 2.0
    scenario_settle_s: float = 10.0  # a scenario must end this long before the run does
    rule_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    domain_weights: Mapping[str, float] = field(default_factory=lambda: dict(DOMAIN_WEIGHTS))
    diurnal: bool = True
    topics: Mapping[str, str] = field(default_factory=lambda: dict(EVENTS))
    workers: int = 1
    record_ground_truth: bool = True
    producer_config: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    def validated(self) -> SimulationConfig:
        import secrets

        domains = tuple(dict.fromkeys(self.domains))
        unknown = [d for d in domains if d not in DOMAINS]
        if not domains or unknown:
            raise ConfigError(f"unknown domain(s) {unknown or '(none)'}; choose from {', '.join(DOMAINS)}")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError("rate must be positive (or None for as fast as possible)")
        if self.clock not in ("live", "virtual"):
            raise ConfigError(f"clock must be 'live' or 'virtual', not {self.clock!r}")
        if self.clock == "virtual" and self.rate is None:
            raise ConfigError("the virtual clock spaces event times by the rate: give a rate (e.g. 50000/min)")
        if self.rate is None and self.spikes:
            raise ConfigError("spikes multiply a rate: give --rate with --spike")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError("duration must be positive")
        if self.events is not None and self.events < 0:
            raise ConfigError("events must be zero or more")
        if not 0.0 <= self.bad_ratio <= 0.5:
            raise ConfigError(f"bad ratio {self.bad_ratio} must be between 0 and 0.5")
        unknown_bad = set(self.bad_mix) - set(BAD_MIX)
        if unknown_bad or (self.bad_ratio > 0 and not any(w > 0 for w in self.bad_mix.values())):
            raise ConfigError(f"bad mix: unknown kind(s) {sorted(unknown_bad)}; known: {', '.join(BAD_MIX)}")
        if self.workers not in (1, 2, 4):
            raise ConfigError(f"workers must be 1, 2 or 4 (the run has {LANES} lanes), not {self.workers}")
        if self.scenario_interval_s <= 0:
            raise ConfigError("scenario interval must be positive")
        missing_topics = [d for d in domains if d not in self.topics]
        if missing_topics:
            raise ConfigError(f"no topic for domain(s) {missing_topics}")
        weights = {d: float(self.domain_weights.get(d, 0.0)) for d in domains}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ConfigError(f"domain weights must be positive for the chosen domains: {weights}")
        from include.patternalarm.events.timefmt import EventTimeError, parse_event_time

        try:
            parse_event_time(self.virtual_start)
        except EventTimeError as exc:
            raise ConfigError(f"virtual start: {exc}") from None
        seed = self.seed if self.seed is not None else secrets.randbits(32)
        if seed < 0:
            raise ConfigError("seed must be zero or positive")
        return replace(self, domains=domains, seed=seed, domain_weights=weights)

    @property
    def paced(self) -> bool:
        if self.rate is None:
            return False
        return True if self.clock == "live" else bool(self.pace)

    @property
    def tag(self) -> str:
        """A short id derived from the seed: prefixes entity and event ids of this seed."""
        return f"{(self.seed or 0) * 2654435761 % 2**32:08x}"[:6]

    def planned_end_s(self) -> float | None:
        """When the run ends in schedule time, if known in advance (duration, or events at a rate)."""
        ends = []
        if self.duration_s is not None:
            ends.append(self.duration_s)
        if self.events is not None and self.rate is not None:
            ends.append(RateSchedule(self.spikes).inverse(self.events / self.rate))
        return min(ends) if ends else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "domains": list(self.domains),
            "rate_per_s": self.rate,
            "spikes": [str(s) for s in self.spikes],
            "duration_s": self.duration_s,
            "events": self.events,
            "seed": self.seed,
            "clock": self.clock,
            "virtual_start": self.virtual_start if self.clock == "virtual" else None,
            "paced": self.paced,
            "bad_ratio": self.bad_ratio,
            "bad_mix": dict(self.bad_mix) if self.bad_ratio else None,
            "scenarios": self.scenarios,
            "rules": list(self.rules) if self.rules else None,
            "scenario_interval_s": self.scenario_interval_s,
            "domain_weights": dict(self.domain_weights),
            "diurnal": self.diurnal,
            "topics": {d: self.topics[d] for d in self.domains},
            "workers": self.workers,
        }
