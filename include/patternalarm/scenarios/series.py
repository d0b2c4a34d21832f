"""A Python twin of the adaptive series detectors (java: io.patternalarm.flink.detect.SeriesModel).

The scenario factories use it to draw labelled series whose outcome is clear-cut: a fires instance
where exactly the intended detector opens an alert (at a known reading), near misses where none does,
with every statistic a margin away from its threshold. It is the same arithmetic in the same order;
tests/vectors/series.json pins both implementations to the same alerts (pytest and JUnit read it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DETECTORS = ("spike", "level_shift", "variance", "drift", "stuck", "out_of_range")
_INFINITE_Z = 1e3
_VAR_CLIP = 4.5
_LOCAL_CLIP = 3.5
_LOCAL_ALPHA = 0.3
_LOCAL_SPREAD = math.sqrt(1 + _LOCAL_ALPHA / (2 - _LOCAL_ALPHA))
_NAMES = {
    "horizon_readings": ("horizon", int), "warmup_readings": ("warmup", int), "season_buckets": ("buckets", int),
    "spike_z": ("spike_z", float), "shift_k": ("shift_k", float), "shift_h": ("shift_h", float),
    "var_ratio": ("var_ratio", float), "var_h": ("var_h", float), "var_readings": ("var_readings", int),
    "drift_z": ("drift_z", float), "drift_readings": ("drift_readings", int),
    "stuck_readings": ("stuck_readings", int), "stuck_factor": ("stuck_factor", float),
    "quiet_readings": ("quiet", int), "clip_z": ("clip_z", float), "direction": ("direction", int),
    "var_direction": ("var_direction", int), "var_confidence": ("var_confidence", float),
    "idle_days": ("idle_days", float), "prior_scale": ("prior_scale", float), "prior_weight": ("prior_weight", float),
}


@dataclass
class Params:
    horizon: int = 200
    warmup: int = 30
    buckets: int = 24
    spike_z: float = 5.5
    shift_k: float = 0.75
    shift_h: float = 12.0
    var_ratio: float = 2.0
    var_h: float = 9.0
    var_readings: int = 16
    drift_z: float = 4.0
    drift_readings: int = 24
    stuck_readings: int = 12
    stuck_factor: float = 4.0
    quiet: int = 6
    clip_z: float = 4.0
    direction: int = 0
    var_direction: int | None = None  # the variance detector's own direction (None: direction's)
    var_confidence: float = 0.0  # standard errors of the spread estimate the variance CUSUMs allow for
    idle_days: float = 30.0
    prior_scale: float = 0.0
    prior_weight: float = 0.0
    kinds: frozenset[str] = frozenset(DETECTORS)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Params:
        """The functions' parameter text (``spike_z=6;kinds=spike,level_shift``)."""
        p = cls()
        for item in filter(None, (i.strip() for i in text.split(";"))):
            name, _, value = item.partition("=")
            if name == "kinds":
                p.kinds = frozenset(k for k in value.split(",") if k)
            elif name == "ranges":
                ranges = {}
                for entry in filter(None, value.split(",")):
                    key, low, high = entry.rsplit(":", 2)
                    ranges[key] = (float(low), float(high))
                p.ranges = ranges
            else:
                attr, kind = _NAMES[name]
                setattr(p, attr, kind(float(value)) if kind is int else kind(value))
        return p


@dataclass
class State:
    n: int = 0
    first_seen: int = 0
    last_ts: int = 0
    cadence: float = 0.0
    mean: float = 0.0
    var: float = 0.0
    long_var: float = 0.0
    w_mean: float = 0.0
    w_m2: float = 0.0
    cusum_up: float = 0.0
    cusum_down: float = 0.0
    var_up: float = 0.0
    var_down: float = 0.0
    local: float = 0.0
    local_var: float = 0.0
    fast: float = 0.0
    run_value: float = 0.0
    run_length: int = 0
    typical_run: float = 1.0
    season: list[float] | None = None
    season_count: list[int] | None = None
    open: list[bool] = field(default_factory=lambda: [False] * 6)
    first_id: list[str | None] = field(default_factory=lambda: [None] * 6)
    first_ts: list[int] = field(default_factory=lambda: [0] * 6)
    seq: list[int] = field(default_factory=lambda: [0] * 6)
    max_score: list[float] = field(default_factory=lambda: [0.0] * 6)
    quiet: list[int] = field(default_factory=lambda: [0] * 6)
    readings: list[int] = field(default_factory=lambda: [0] * 6)


@dataclass(frozen=True)
class Anomaly:
    kind: str
    first_event_id: str
    seq: int
    index: int  # of the reading that opened or updated it (in the caller's order)
    statistic: float
    threshold: float


@dataclass
class Trace:
    """Every detector's statistic per reading (None before it is judged): the margins a factory checks."""

    statistics: list[list[float | None]] = field(default_factory=list)
    thresholds: list[list[float | None]] = field(default_factory=list)


def _floor_mod(a: int, b: int) -> int:
    return a % b  # Python's % is Java's Math.floorMod for a positive divisor


def _seasonal(s: State, ts: int, buckets: int) -> float:
    if buckets == 0:
        return 0.0
    hours = _floor_mod(ts + (72 * 3_600_000 if buckets == 168 else 0), buckets * 3_600_000) / 3_600_000.0
    pos = hours - 0.5
    b0 = math.floor(pos)
    w = pos - b0
    i0, i1 = _floor_mod(b0, buckets), _floor_mod(b0 + 1, buckets)
    v0 = s.season[i0] if s.season_count[i0] >= 3 else 0.0
    v1 = s.season[i1] if s.season_count[i1] >= 3 else 0.0
    return (1 - w) * v0 + w * v1


def _learned(s: State, ts: int, buckets: int) -> bool:
    hours = _floor_mod(ts + (72 * 3_600_000 if buckets == 168 else 0), buckets * 3_600_000) / 3_600_000.0
    b0 = math.floor(hours - 0.5)
    return s.season_count[_floor_mod(b0, buckets)] >= 3 and s.season_count[_floor_mod(b0 + 1, buckets)] >= 3


def _bucket(ts: int, buckets: int) -> int:
    if buckets == 0:
        return 0
    hours = ts // 3_600_000
    return _floor_mod(hours if buckets == 24 else hours + 72, buckets)


def _score(stat: float, thr: float) -> float:
    return 1.0 - math.pow(0.5, stat / thr)


def update(s: State, p: Params, ts: int, event_id: str, x: float, range_key: str | None = None, *,
           index: int = 0, trace: Trace | None = None) -> list[Anomaly]:
    """One reading, in event-time order: the alerts it opens or updates (SeriesModel.update)."""
    out: list[Anomaly] = []
    if p.buckets > 0 and (s.season is None or len(s.season) != p.buckets):
        s.season = [0.0] * p.buckets
        s.season_count = [0] * p.buckets
    dt = max(0, ts - s.last_ts) if s.n > 0 else 0
    if s.n > 0 and dt > 0:
        s.cadence = dt if s.cadence <= 0 else s.cadence + 0.05 * (min(dt, 10 * s.cadence) - s.cadence)
    if s.n == 0:
        s.first_seen = ts
    buckets = p.buckets if p.buckets > 0 and s.cadence >= 60_000 else 0
    b = _bucket(ts, buckets)
    seasonal = _seasonal(s, ts, buckets)
    season_learned = buckets == 0 or (ts - s.first_seen >= 2 * buckets * 3_600_000 and _learned(s, ts, buckets))
    y = x - seasonal
    if s.run_length > 0 and x == s.run_value:
        s.run_length += 1
    else:
        if s.run_length > 1:
            s.typical_run += 0.05 * (s.run_length - s.typical_run)
        s.run_value = x
        s.run_length = 1
    cond = [False] * 6
    stat: list[float | None] = [None] * 6
    thr: list[float | None] = [None] * 6
    scale = math.sqrt(max(s.var, 0))
    if p.prior_weight > 0 and s.n >= p.warmup:
        seen = min(s.n, p.horizon)
        scale = math.sqrt((seen * max(s.var, 0) + p.prior_weight * p.prior_scale * p.prior_scale)
                          / (seen + p.prior_weight))
    if s.n < p.warmup:
        delta = y - s.w_mean
        s.w_mean += delta / (s.n + 1)
        s.w_m2 += delta * (y - s.w_mean)
        if s.n + 1 == p.warmup:
            s.mean = s.w_mean
            s.var = s.w_m2 / max(1, s.n)
            s.long_var = s.var
            s.fast = s.mean
            s.local = s.mean
            s.local_var = s.var * _LOCAL_SPREAD * _LOCAL_SPREAD
    else:
        floor = 0.1 * math.sqrt(max(s.long_var, 0))
        denom = max(scale, floor)
        r = y - s.mean
        z = r / denom if denom > 0 else (0.0 if r == 0 else math.copysign(_INFINITE_Z, r))
        z = max(-_INFINITE_Z, min(_INFINITE_Z, z))
        signed = abs(z) if p.direction == 0 else p.direction * z
        stat[0], thr[0], cond[0] = signed, p.spike_z, signed > p.spike_z
        zc = max(-p.shift_h / 2, min(p.shift_h / 2, z))
        s.cusum_up = max(0.0, s.cusum_up + zc - p.shift_k)
        s.cusum_down = max(0.0, s.cusum_down - zc - p.shift_k)
        cusum = s.cusum_up if p.direction > 0 else s.cusum_down if p.direction < 0 else max(s.cusum_up, s.cusum_down)
        stat[1], thr[1], cond[1] = cusum, p.shift_h, cusum > p.shift_h
        rl = y - s.local
        local_scale = max(math.sqrt(max(s.local_var, 0)), floor * _LOCAL_SPREAD)
        zl = rl / local_scale if local_scale > 0 else 0.0
        zz = min(zl * zl, _VAR_CLIP * _VAR_CLIP)
        # the spread's estimate from m readings is off by sqrt(2/m): a bound for a young baseline's error
        # beyond a learned one's (java SeriesModel says more)
        bound = 1 + p.var_confidence * max(0.0, math.sqrt(2.0 / max(1.0, min(s.n, 2.0 * p.horizon)))
                                           - math.sqrt(1.0 / p.horizon))
        rho2 = p.var_ratio * p.var_ratio
        ln_rho = math.log(p.var_ratio)
        s.var_up = max(0.0, s.var_up + zz / bound * (1 - 1 / rho2) / 2 - ln_rho)
        s.var_down = max(0.0, s.var_down - zz * bound * (rho2 - 1) / 2 + ln_rho)
        s.local += _LOCAL_ALPHA * max(-_LOCAL_CLIP * denom, min(_LOCAL_CLIP * denom, rl))
        alpha_local = 1 - math.exp(-dt / (p.horizon * s.cadence)) if s.cadence > 0 else 1.0 / p.horizon
        vd = p.direction if p.var_direction is None else p.var_direction
        var_stat = s.var_up if vd > 0 else s.var_down if vd < 0 else max(s.var_up, s.var_down)
        judged = s.n - p.warmup
        stat[2], thr[2], cond[2] = var_stat, p.var_h, judged >= p.var_readings and var_stat > p.var_h
        af = 2.0 / (p.drift_readings + 1)
        s.fast += af * max(-p.clip_z * denom, min(p.clip_z * denom, y - s.fast))
        d = (s.fast - s.mean) / denom if denom > 0 else 0.0
        d_signed = abs(d) if p.direction == 0 else p.direction * d
        stat[3], thr[3], cond[3] = d_signed, p.drift_z, judged >= p.drift_readings and d_signed > p.drift_z
        alpha = 1 - math.exp(-dt / (p.horizon * s.cadence)) if s.cadence > 0 else 1.0 / p.horizon
        limit = p.clip_z * denom
        rc = max(-limit, min(limit, r)) if denom > 0 else 0.0
        s.mean += alpha * rc
        if not cond[1] and not cond[3]:  # while the level is off, its residuals are not the series' spread
            s.var = (1 - alpha) * s.var + alpha * rc * rc
            s.long_var += alpha / 10 * (rc * rc - s.long_var)
        if not cond[2]:  # the spread around the local mean, learned the same way (not while it is off)
            lc = min(rl * rl, _VAR_CLIP * _VAR_CLIP * local_scale * local_scale)
            s.local_var += alpha_local * (lc - s.local_var)
    if buckets > 0 and s.n >= p.warmup:
        rs = x - s.mean - seasonal
        limit = p.clip_z * max(scale, 0.1 * math.sqrt(max(s.long_var, 0)))
        rsc = max(-limit, min(limit, rs)) if limit > 0 else rs
        s.season_count[b] += 1
        s.season[b] += max(1.0 / s.season_count[b], 1.0 / p.horizon) * rsc
    run_threshold = max(p.stuck_readings, p.stuck_factor * s.typical_run)
    stat[4], thr[4], cond[4] = float(s.run_length), run_threshold, s.run_length >= run_threshold
    bounds = _range_for(p.ranges, range_key)
    if bounds is not None:
        width = bounds[1] - bounds[0]
        outside = bounds[0] - x if x < bounds[0] else x - bounds[1] if x > bounds[1] else 0.0
        stat[5], thr[5], cond[5] = 1 + outside / width, 1.0, outside > 0
    if not season_learned:
        for k in range(4):
            cond[k] = False
        s.cusum_up = s.cusum_down = s.var_up = s.var_down = 0.0
    if trace is not None:
        trace.statistics.append(stat if season_learned else [None] * 4 + stat[4:])
        trace.thresholds.append(thr)
    for k, kind in enumerate(DETECTORS):
        if kind not in p.kinds:
            continue
        if cond[k]:
            sc = 1.0 if k == 5 else _score(stat[k], thr[k])
            s.quiet[k] = 0
            if not s.open[k]:
                s.open[k], s.first_id[k], s.first_ts[k], s.seq[k], s.max_score[k], s.readings[k] = \
                    True, event_id, ts, 1, sc, 1
                out.append(Anomaly(kind, event_id, 1, index, stat[k], thr[k]))
            else:
                s.readings[k] += 1
                if sc >= s.max_score[k] + 0.05:
                    s.max_score[k] = sc
                    s.seq[k] += 1
                    out.append(Anomaly(kind, s.first_id[k], s.seq[k], index, stat[k], thr[k]))
        elif s.open[k]:
            s.readings[k] += 1
            s.quiet[k] += 1
            if s.quiet[k] >= p.quiet:
                s.open[k] = False
                s.first_id[k] = None
    s.n += 1
    s.last_ts = ts
    return out


def _range_for(ranges: Mapping[str, tuple[float, float]], key: str | None) -> tuple[float, float] | None:
    if key is None or not ranges:
        return None
    if key in ranges:
        return ranges[key]
    return ranges.get(key.rsplit("/", 1)[-1]) if "/" in key else None


def run(values: Iterable[float], times_ms: Iterable[int], p: Params, *, ids: Iterable[str] | None = None,
        range_key: str | None = None) -> tuple[list[Anomaly], Trace]:
    """A whole series: its alerts (opens and updates) and the trace of every statistic."""
    state, trace = State(), Trace()
    out: list[Anomaly] = []
    ids = list(ids) if ids is not None else None
    for i, (x, t) in enumerate(zip(values, times_ms, strict=True)):
        out.extend(update(state, p, t, ids[i] if ids else f"e{i}", x, range_key, index=i, trace=trace))
    return out, trace


def params_from(values: Mapping[str, Any], mapping: Mapping[str, str], fixed: str = "") -> Params:
    """Params from catalog values through a series call's mapping (detector name -> parameter name)."""
    text = ";".join(f"{name}={values[source]}" for name, source in mapping.items() if source in values)
    return Params.parse(";".join(filter(None, (fixed, text))))
