"""IoT scenarios: for each rule, one instance that must fire and near misses that must not.

Every instance uses only ``ctx.entity`` (a fresh device). Scenario devices of the sensor rules send
no heartbeats, so missing_heartbeat ignores them. Readings are baseline + uniform noise within
±1.5σ, one per second, rounded to 3 decimals. The adaptive rules (catalog v4) are checked with the
detectors' Python twin (``scenarios.series``, pinned to the Java by shared vectors): a series is
redrawn until exactly the intended alert opens, at a known reading, and every other statistic stays
clear of its threshold.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from include.patternalarm.rules.render import series_params
from include.patternalarm.scenarios.base import ScenarioContext, ScenarioInstance, ScheduledEvent, register
from include.patternalarm.scenarios.series import DETECTORS, Params, run

DOMAIN = "iot"
UNITS = {"temperature": "C", "humidity": "%", "pressure": "hPa", "vibration": "mm/s", "power": "W"}
# sensor type -> (baseline low, baseline high, noise sigma); well inside catalog v1's ranges
PROFILES = {
    "temperature": (15.0, 30.0, 0.4),
    "humidity": (35.0, 60.0, 1.0),
    "pressure": (990.0, 1030.0, 0.8),
    "vibration": (5.0, 20.0, 0.5),
    "power": (800.0, 2000.0, 15.0),
}


def _p(ctx: ScenarioContext, name: str, default: float) -> float:
    return float(ctx.params.get(name, default))


def _event(ctx: ScenarioContext, offset: float, event_type: str, sensor: str | None = None,
           value: float | None = None, shutdown: bool | None = None) -> ScheduledEvent:
    payload: dict[str, Any] = {
        "domain": DOMAIN, "device_id": ctx.entity, "event_type": event_type,
        "sensor_type": sensor, "value": None if value is None else round(value, 3),
        "unit": UNITS.get(sensor or ""), "battery_pct": 87.0, "firmware": "2.4.1",
    }
    if shutdown is not None:
        payload["shutdown"] = shutdown
    return ScheduledEvent(offset_s=round(offset, 3), domain=DOMAIN, key=ctx.entity, payload=payload)


def _instance(ctx: ScenarioContext, rule_id: str, variant: str, events: list[ScheduledEvent],
              completing: int | None, notes: str = "",
              side_alerts: tuple[tuple[str, str], ...] = ()) -> ScenarioInstance:
    return ScenarioInstance(rule_id=rule_id, variant=variant, should_alert=completing is not None, domain=DOMAIN,
                            entity=ctx.entity, events=tuple(events), completing_index=completing, notes=notes,
                            side_alerts=side_alerts)


class _Sensor:
    """A device's sensor: baseline + bounded noise."""

    def __init__(self, ctx: ScenarioContext, sensor: str | None = None) -> None:
        self.rng = ctx.rng
        self.sensor = sensor or ctx.rng.choice(sorted(PROFILES))
        low, high, sigma = PROFILES[self.sensor]
        self.baseline = round(self.rng.uniform(low, high), 2)
        self.sigma = sigma

    def noisy(self, shift_sigma: float = 0.0, factor: float = 1.0) -> float:
        return round(self.baseline + (shift_sigma + factor * self.rng.uniform(-1.5, 1.5)) * self.sigma, 3)


def sensor_params(ctx: ScenarioContext | None, rule_id: str) -> Params:
    """The adaptive detectors' parameters as the job renders them (catalog defaults of the shared
    series call and of every sensor rule), with this rule's own values from ``ctx.params``."""
    catalog = _catalog()
    text = series_params(catalog, DOMAIN, catalog.domains[DOMAIN].series["sensor"])
    rule = catalog.rules.get(rule_id)
    if ctx is not None and rule is not None and rule.series is not None:
        own = [f"{name}={ctx.params[source]}" for name, source in rule.series.params.items() if source in ctx.params]
        text = ";".join([text, *own])
    return Params.parse(text)


@functools.cache
def _catalog() -> Any:
    from include.patternalarm.rules import load_catalog

    return load_catalog(user_dir=None)


def _times(n: int, gap: float = 1.0) -> list[int]:
    return [round(1_767_225_600_000 + i * gap * 1000) for i in range(n)]


def opened(values: Sequence[float], params: Params, gap: float = 1.0,
           range_key: str | None = None) -> list[tuple[str, int]]:
    """(kind, reading index) of every alert the detectors open on ``values`` (one reading per ``gap`` s)."""
    alerts, _ = run(values, _times(len(values), gap), params, range_key=range_key)
    return [(a.kind, a.index) for a in alerts if a.seq == 1]


def _clear(values: Sequence[float], params: Params, want: list[tuple[str, int]], gap: float = 1.0,
           range_key: str | None = None, margin: float = 0.15, free: frozenset[str] = frozenset()) -> bool:
    """Exactly the wanted alerts open (plus any of the ``free`` kinds: side alerts by design), and every
    other judged statistic stays ``margin`` (of its threshold) away from it — the series cannot tip
    either way in Flink."""
    alerts, trace = run(values, _times(len(values), gap), params, range_key=range_key)
    if [(a.kind, a.index) for a in alerts if a.seq == 1 and a.kind not in free] != want:
        return False
    # the wanted detector may cross a reading earlier or later (the alert still matches its instance)
    wanted_kinds = {DETECTORS.index(k) for k, _ in want}
    for stats, thrs in zip(trace.statistics, trace.thresholds, strict=True):
        for k, (stat, thr) in enumerate(zip(stats, thrs, strict=True)):
            # (stuck and out_of_range compare exact values: they cannot tip on rounding)
            if k >= 4 or stat is None or thr is None or DETECTORS[k] not in params.kinds or k in wanted_kinds \
                    or DETECTORS[k] in free:
                continue
            if abs(stat - thr) < margin * thr:
                return False
    return True


def _draw(ctx: ScenarioContext, make: Any, params: Params, want: list[tuple[str, int]], what: str) -> list[float]:
    for _ in range(200):  # redraw until the outcome is clear-cut
        values = make()
        if _clear(values, params, want):
            return values
    raise RuntimeError(f"could not draw a clear-cut {what} series")


def _readings(ctx: ScenarioContext, sensor: _Sensor, values: Sequence[float], gap: float = 1.0,
              t0: float = 0.0) -> list[ScheduledEvent]:
    return [_event(ctx, t0 + i * gap, "reading", sensor.sensor, v) for i, v in enumerate(values)]


HISTORY = 40  # readings before the anomaly: past the 30-reading warm-up


@register("out_of_range")
def out_of_range(ctx: ScenarioContext) -> list[ScenarioInstance]:
    temp = _Sensor(ctx, "temperature")
    high = _p(ctx, "temperature_max", 150.0)
    humidity_max = _p(ctx, "humidity_max", 100.0)
    normal = [temp.noisy() for _ in range(5)]
    fires = _readings(ctx, temp, [*normal, high + 30.0, temp.noisy(), temp.noisy()])
    edge = _readings(ctx, temp, [*normal, high - 0.1, temp.noisy()])
    hum = _Sensor(ctx, "humidity")
    humid = _readings(ctx, hum, [*(hum.noisy() for _ in range(5)), humidity_max, hum.noisy()])
    return [
        _instance(ctx, "out_of_range", "fires", fires, 5),
        _instance(ctx, "out_of_range", "at_upper_edge", edge, None),
        _instance(ctx, "out_of_range", "humidity_at_max", humid, None),
    ]


@register("spike")
def spike(ctx: ScenarioContext) -> list[ScenarioInstance]:
    params = sensor_params(ctx, "spike")
    sensor = _Sensor(ctx)

    def series(history: int, sigmas: float) -> list[float]:
        return [*(sensor.noisy() for _ in range(history)), sensor.noisy(sigmas), *(sensor.noisy() for _ in range(4))]

    fires = _draw(ctx, lambda: series(HISTORY, 15.0), params, [("spike", HISTORY)], "spike")
    small = _draw(ctx, lambda: series(HISTORY, 3.0), params, [], "small deviation")
    early = _draw(ctx, lambda: series(params.warmup - 10, 15.0), params, [], "early spike")
    return [
        _instance(ctx, "spike", "fires", _readings(ctx, sensor, fires), HISTORY),
        _instance(ctx, "spike", "small_deviation", _readings(ctx, sensor, small), None),
        _instance(ctx, "spike", "during_warm_up", _readings(ctx, sensor, early), None),
    ]


def _fires_on(ctx: ScenarioContext, kind: str, make: Any, params: Params, latest: int) -> tuple[list[float], int]:
    """A series where ``kind`` (and nothing else) opens within ``latest`` readings of the anomaly."""
    for _ in range(200):
        values = make()
        hits = [i for k, i in opened(values, params) if k == kind]
        if len(hits) == 1 and HISTORY <= hits[0] < HISTORY + latest \
                and _clear(values, params, [(kind, hits[0])]):
            return values, hits[0]
    raise RuntimeError(f"could not draw a clear-cut {kind} series")


@register("level_shift")
def level_shift(ctx: ScenarioContext) -> list[ScenarioInstance]:
    params = sensor_params(ctx, "level_shift")
    sensor = _Sensor(ctx)
    sign = ctx.rng.choice((-1, 1))

    def series(sigmas: float) -> list[float]:
        return [*(sensor.noisy() for _ in range(HISTORY)), *(sensor.noisy(sign * sigmas) for _ in range(20))]

    fires, at = _fires_on(ctx, "level_shift", lambda: series(3.0), params, 12)
    small = _draw(ctx, lambda: series(0.5), params, [], "small shift")
    return [
        _instance(ctx, "level_shift", "fires", _readings(ctx, sensor, fires), at),
        _instance(ctx, "level_shift", "small_shift", _readings(ctx, sensor, small), None),
    ]


@register("variance_change")
def variance_change(ctx: ScenarioContext) -> list[ScenarioInstance]:
    params = sensor_params(ctx, "variance_change")
    sensor = _Sensor(ctx)

    def series(factor: float) -> list[float]:
        return [*(sensor.noisy() for _ in range(HISTORY)), *(sensor.noisy(factor=factor) for _ in range(20)),
                *(sensor.noisy() for _ in range(5))]

    fires, at = _fires_on(ctx, "variance", lambda: series(3.0), params, 12)
    slight = _draw(ctx, lambda: series(1.3), params, [], "slightly noisier")
    return [
        _instance(ctx, "variance_change", "fires", _readings(ctx, sensor, fires), at),
        _instance(ctx, "variance_change", "slightly_noisier", _readings(ctx, sensor, slight), None),
    ]


@register("flatline")
def flatline(ctx: ScenarioContext) -> list[ScenarioInstance]:
    params = sensor_params(ctx, "flatline")
    n = params.stuck_readings
    sensor = _Sensor(ctx)
    stuck = round(sensor.baseline, 3)

    def series(run: int) -> list[float]:
        return [*(sensor.noisy() for _ in range(HISTORY)), *([stuck] * run), *(sensor.noisy() for _ in range(3))]

    # a stuck sensor is also a quieter one: a two-sided variance_change (catalog v4) opening on it is by
    # design (a side alert); v5's upward-only one stays quiet
    at = HISTORY + n - 1
    for _ in range(200):
        fires = series(n + 1)
        if _clear(fires, params, [("stuck", at)], free=frozenset({"variance"})):
            break
    else:  # pragma: no cover
        raise RuntimeError("could not draw a clear-cut stuck series")
    short = _draw(ctx, lambda: series(n - 4), params, [], "short run")
    return [
        _instance(ctx, "flatline", "fires", _readings(ctx, sensor, fires), at, notes=f"{n} identical readings",
                  side_alerts=(("variance_change", ctx.entity),)),
        _instance(ctx, "flatline", "short_run", _readings(ctx, sensor, short), None),
    ]


@register("missing_heartbeat")
def missing_heartbeat(ctx: ScenarioContext) -> list[ScenarioInstance]:
    silence = _p(ctx, "silence_s", 30)
    every = min(5.0, silence / 4)

    def beats(t0: float, count: int) -> list[ScheduledEvent]:
        return [_event(ctx, t0 + i * every, "heartbeat") for i in range(count)]

    first = beats(0.0, 5)
    last_t = first[-1].offset_s
    fires = [*first, *beats(last_t + silence + 10, 2)]
    near = [*first, *beats(last_t + silence - 5, 3)]
    # planned silence: the last heartbeat announces the shutdown, the device comes back later
    announced = [*first[:-1], _event(ctx, last_t, "heartbeat", shutdown=True), *beats(last_t + silence + 10, 2)]
    sensor = _Sensor(ctx)
    readings_only = [_event(ctx, i * every, "reading", sensor.sensor, sensor.noisy()) for i in range(5)]
    readings_only += [_event(ctx, last_t + silence + 10 + i * every, "reading", sensor.sensor, sensor.noisy())
                      for i in range(2)]
    note = "the device's final silence (after its last event) also alerts: end-of-scenario, not scored"
    return [
        _instance(ctx, "missing_heartbeat", "fires", fires, len(first) - 1,
                  notes=f"alert expected {silence:.0f}s after the completing event; " + note),
        _instance(ctx, "missing_heartbeat", "gap_below_threshold", near, None, notes=note),
        _instance(ctx, "missing_heartbeat", "announced_shutdown", announced, None, notes=note),
        _instance(ctx, "missing_heartbeat", "no_heartbeats", readings_only, None),
    ]


@register("drift")
def drift(ctx: ScenarioContext) -> list[ScenarioInstance]:
    params = sensor_params(ctx, "drift")
    sensor = _Sensor(ctx)
    sign = ctx.rng.choice((-1, 1))

    def ramp(step: float, length: int) -> list[float]:
        return [*(sensor.noisy() for _ in range(HISTORY)),
                *(sensor.noisy(sign * min(step * (i + 1), 5.0)) for i in range(length))]

    # a ramp also shifts the level and its top readings stand out: level_shift and spike opening on it
    # are by design (side alerts)
    for _ in range(200):
        values = ramp(0.25, 45)
        drifts = [i for k, i in opened(values, params) if k == "drift"]
        if len(drifts) == 1 and _clear(values, params, [("drift", drifts[0])],
                                       free=frozenset({"level_shift", "spike"})):
            fires, at = values, drifts[0]
            break
    else:  # pragma: no cover
        raise RuntimeError("could not draw a clear-cut drift series")
    steady = _draw(ctx, lambda: ramp(0.0, 45), params, [], "steady")
    return [
        _instance(ctx, "drift", "fires", _readings(ctx, sensor, fires), at,
                  side_alerts=(("level_shift", ctx.entity), ("spike", ctx.entity))),
        _instance(ctx, "drift", "steady", _readings(ctx, sensor, steady), None),
    ]
