"""A lane: one deterministic stream of background and bad events (``LANES`` of them per run)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import orjson

from include.patternalarm.events.edge import MAX_EVENT_BYTES
from include.patternalarm.events.timefmt import IsoFormatter
from include.patternalarm.simulator.background import GENERATORS
from include.patternalarm.simulator.config import LANES, RateSchedule, SimulationConfig

#: Rate used to size populations when the run is unpaced ("as fast as possible").
NOMINAL_MAX_RATE = 100_000.0

_WRONG_TYPE = {"payments": "amount", "gaming": "x", "iot": "value"}
_OTHER_DOMAIN = {"payments": "banking", "gaming": "esports", "iot": "telemetry"}


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth of one bad event."""

    scenario_id: str
    kind: str  # malformed | late | duplicate
    variant: str  # the expected dead-letter reason, or late / out_of_order / duplicate
    domain: str
    entity: str
    event_id: str
    t_ms: int
    detail: dict[str, Any] = field(default_factory=dict)


def _domain_pattern(domains: tuple[str, ...], weights: dict[str, float], rng: random.Random,
                    length: int = 100) -> list[str]:
    """``length`` slots split by weight (largest remainder), shuffled: exact long-run proportions."""
    total = sum(weights[d] for d in domains)
    exact = [weights[d] / total * length for d in domains]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(domains)), key=lambda i: exact[i] - counts[i], reverse=True)[: length - sum(counts)]:
        counts[i] += 1
    pattern = [d for d, c in zip(domains, counts, strict=True) for _ in range(c)]
    rng.shuffle(pattern)
    return pattern


class Lane:
    """Background events of every chosen domain, some replaced by labelled bad events.

    ``next(t_ms, event_time)`` → ``(topic, key, value, label)``; ``label`` is None for a normal
    event. The ``j``-th call returns the same event for the same seed (given the same times).
    """

    def __init__(self, config: SimulationConfig, index: int) -> None:
        self.index = index
        self.rng = random.Random(f"patternalarm:{config.seed}:lane:{index}")  # noqa: S311 - simulation
        self.tag = config.tag
        rate = config.rate or NOMINAL_MAX_RATE
        weights = dict(config.domain_weights)
        total_w = sum(weights[d] for d in config.domains)
        schedule = RateSchedule(config.spikes)
        mults = [schedule.multiplier(s.at_s) for s in config.spikes] + [1.0]
        peak, low = max(mults), min(mults)
        self._gens = {
            d: GENERATORS[d](seed=config.seed or 0, lane=index, lanes=LANES, tag=self.tag,
                             rate_per_s=rate * weights[d] / total_w / LANES, diurnal=config.diurnal,
                             peak=peak, low=low,
                             rng=random.Random(f"patternalarm:{config.seed}:population:{d}:{index}"))  # noqa: S311
            for d in config.domains
        }
        self._pattern = [self._gens[d] for d in _domain_pattern(config.domains, weights, self.rng)]
        self._topics = {d: config.topics[d] for d in config.domains}
        self.seq = 0
        self.bad_ratio = config.bad_ratio
        variants = [v for v, w in config.bad_mix.items() if w > 0]
        self._bad_variants = variants
        self._bad_cum = list(accumulate(config.bad_mix[v] for v in variants))
        self._late_ms = int(config.late_by_s * 1000)
        self._ooo_ms = int(config.out_of_order_by_s * 1000)
        self._iso_other = IsoFormatter()
        self._last: tuple[str, bytes, bytes, str, str, str, int] | None = None

    def next(self, t_ms: int, event_time: str) -> tuple[str, bytes, bytes, Label | None]:
        seq = self.seq
        self.seq = seq + 1
        gen = self._pattern[seq % len(self._pattern)]
        event_id = f"{self.tag}-{self.index}-{seq}"
        if self.bad_ratio and self.rng.random() < self.bad_ratio:
            return self._bad(gen, t_ms, event_time, event_id, seq)
        key, event = gen.make(self.rng, t_ms, event_id, event_time)
        topic = self._topics[gen.domain]
        kb = key.encode()
        value = orjson.dumps(event)
        self._last = (topic, kb, value, gen.domain, key, event_id, t_ms)
        return topic, kb, value, None

    # --- bad events --------------------------------------------------------------------------------

    def _bad(self, gen: Any, t_ms: int, event_time: str, event_id: str,
             seq: int) -> tuple[str, bytes, bytes, Label | None]:
        rng = self.rng
        variant = rng.choices(self._bad_variants, cum_weights=self._bad_cum)[0]
        domain = gen.domain
        sid = f"{self.tag}-b{self.index}-{seq}"
        if variant == "duplicate" and self._last is not None:
            topic, kb, value, d, key, original_id, original_ms = self._last
            return topic, kb, value, Label(sid, "duplicate", "duplicate", d, key, original_id, original_ms,
                                           {"expected_reason": "duplicate"})
        key, event = gen.make(rng, t_ms, event_id, event_time)
        topic = self._topics[domain]
        if variant == "duplicate":  # nothing sent yet to duplicate: send it normally
            value = orjson.dumps(event)
            self._last = (topic, key.encode(), value, domain, key, event_id, t_ms)
            return topic, key.encode(), value, None
        kind, reason, claimed_ms, detail = "malformed", variant, t_ms, {}
        if variant == "malformed_json":
            raw = orjson.dumps(event)
            value = raw[: max(24, len(raw) * 2 // 3)]  # cut mid-way, as a crashed writer would
        else:
            if variant == "wrong_type":
                name = _WRONG_TYPE[domain]
                event[name] = f"{rng.uniform(1, 99):.2f}".replace(".", ",")  # a locale bug: "12,50"
                reason = f"wrong_type:{name}"
            elif variant == "missing_field":  # the entity key is gone (payments: card and account)
                if domain == "payments":
                    event.pop("card_id", None)
                    del event["account_id"]
                    reason = "missing_field:account_id"
                else:
                    name = "player_id" if domain == "gaming" else "device_id"
                    del event[name]
                    reason = f"missing_field:{name}"
            elif variant == "oversized":
                event["debug_blob"] = "x" * (MAX_EVENT_BYTES + 16 * 1024)
            elif variant == "unknown_domain":
                event["domain"] = _OTHER_DOMAIN[domain]
            elif variant == "bad_event_time":
                event["event_time"] = time.strftime("%d/%m/%Y %H:%M:%S", time.gmtime(t_ms // 1000))
            elif variant in ("late", "out_of_order"):
                behind = self._late_ms if variant == "late" else self._ooo_ms
                claimed_ms = t_ms - behind
                event["event_time"] = self._iso_other(claimed_ms)
                kind, reason = "late", variant
                detail["behind_s"] = behind / 1000
            value = orjson.dumps(event)
        detail["expected_reason"] = reason
        detail["sent_ms"] = t_ms
        return topic, key.encode(), value, Label(sid, kind, reason, domain, key, event_id, claimed_ms, detail)
