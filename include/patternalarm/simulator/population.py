"""Populations of entities without per-entity memory: habits are derived from a hash of the id.

A lane's entities are split into blocks (countries, regions); each visit picks a block by its
weight times its diurnal activity at the block's local hour, then the next member of the block in
a fixed scrambled round robin, so an entity comes back only after its whole block has been seen.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

MASK64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


@dataclass(frozen=True)
class Country:
    code: str
    weight: float
    lat: float
    lon: float
    currency: str
    utc_offset_h: float


COUNTRIES: tuple[Country, ...] = (
    Country("US", 22, 40.71, -74.01, "USD", -5),
    Country("GB", 8, 51.51, -0.13, "GBP", 0),
    Country("DE", 8, 52.52, 13.40, "EUR", 1),
    Country("FR", 7, 48.86, 2.35, "EUR", 1),
    Country("ES", 4, 40.42, -3.70, "EUR", 1),
    Country("IT", 4, 41.90, 12.50, "EUR", 1),
    Country("NL", 3, 52.37, 4.90, "EUR", 1),
    Country("PL", 3, 52.23, 21.01, "PLN", 1),
    Country("SE", 2, 59.33, 18.07, "SEK", 1),
    Country("BR", 6, -23.55, -46.63, "BRL", -3),
    Country("MX", 4, 19.43, -99.13, "MXN", -6),
    Country("CA", 4, 43.65, -79.38, "CAD", -5),
    Country("JP", 6, 35.68, 139.69, "JPY", 9),
    Country("KR", 3, 37.57, 126.98, "KRW", 9),
    Country("IN", 6, 19.08, 72.88, "INR", 5.5),
    Country("SG", 2, 1.35, 103.82, "SGD", 8),
    Country("AU", 3, -33.87, 151.21, "AUD", 10),
    Country("ZA", 2, -26.20, 28.05, "ZAR", 2),
    Country("NG", 2, 6.52, 3.38, "NGN", 1),
    Country("AE", 1, 25.20, 55.27, "AED", 4),
)

#: Relative activity by local hour (0–23): people paying, people playing.
SHOPPING_BY_HOUR = (0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.55, 0.80, 0.90, 0.95, 1.00,
                    1.00, 0.95, 0.90, 0.90, 0.95, 1.00, 1.00, 0.95, 0.85, 0.70, 0.50, 0.35)
PLAYING_BY_HOUR = (0.50, 0.35, 0.20, 0.12, 0.08, 0.08, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35,
                   0.40, 0.45, 0.50, 0.55, 0.65, 0.75, 0.90, 1.00, 1.00, 0.95, 0.85, 0.70)

_STEP = 1_000_000_007  # a prime larger than any block: (k * _STEP + c) mod n visits every member once per cycle


class BlockPicker:
    """Picks the next entity: a block by weight × diurnal activity, then the block's next member.

    ``pick(rng, hour_utc)`` → ``(block, global_index, visit)``; global indices run over all blocks
    (block ``b`` owns ``[base_b, base_b + size_b)``); ``visit`` counts how often this member has
    been picked before (every member of a block is picked once per cycle).
    """

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], offsets_h: Sequence[float],
                 activity: Sequence[float] | None, rng: random.Random) -> None:
        self.sizes = [max(1, int(s)) for s in sizes]
        self.bases = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.total = sum(self.sizes)
        self._weights = list(weights)
        self._offsets = list(offsets_h)
        self._activity = activity
        self._counters = [0] * len(self.sizes)
        self._phase = [rng.randrange(s) for s in self.sizes]
        self._cum_by_hour: dict[int, tuple[list[float], float]] = {}

    def _cum(self, hour_utc: int) -> tuple[list[float], float]:
        cached = self._cum_by_hour.get(hour_utc)
        if cached is None:
            cum, total = [], 0.0
            for weight, offset in zip(self._weights, self._offsets, strict=True):
                act = 1.0 if self._activity is None else self._activity[int(hour_utc + offset) % 24]
                total += weight * act
                cum.append(total)
            cached = self._cum_by_hour[hour_utc] = (cum, total)
        return cached

    def pick(self, rng: random.Random, hour_utc: int) -> tuple[int, int, int]:
        cum, total = self._cum(hour_utc)
        block = bisect_right(cum, rng.random() * total)
        if block >= len(cum):
            block = len(cum) - 1
        k = self._counters[block]
        self._counters[block] = k + 1
        size = self.sizes[block]
        return block, self.bases[block] + (k * _STEP + self._phase[block]) % size, k // size


def split_sizes(total: int, weights: Sequence[float], minimum: int = 1) -> list[int]:
    """``total`` members split by ``weights`` (each block at least ``minimum``)."""
    scale = sum(weights)
    return [max(minimum, round(total * w / scale)) for w in weights]
