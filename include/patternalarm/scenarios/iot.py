"""IoT scenarios: for each rule, one instance that must fire and near misses that must not.

Every instance uses only ``ctx.entity`` (a fresh device). Scenario devices of the sensor rules send
no heartbeats, so missing_heartbeat ignores them. Readings are baseline + uniform noise within
±1.5σ (inside the ±3σ envelope), rounded to 3 decimals. The statistical rules (spike, drift) are
checked here with the same arithmetic as their SQL (``zscores``, ``drift_hits``), which also gives
drift's completing event.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from include.patternalarm.scenarios.base import ScenarioContext, ScenarioInstance, ScheduledEvent, register

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
           value: float | None = None) -> ScheduledEvent:
    payload: dict[str, Any] = {
        "domain": DOMAIN, "device_id": ctx.entity, "event_type": event_type,
        "sensor_type": sensor, "value": None if value is None else round(value, 3),
        "unit": UNITS.get(sensor or ""), "battery_pct": 87.0, "firmware": "2.4.1",
    }
    return ScheduledEvent(offset_s=round(offset, 3), domain=DOMAIN, key=ctx.entity, payload=payload)


def _instance(ctx: ScenarioContext, rule_id: str, variant: str, events: list[ScheduledEvent],
              completing: int | None, notes: str = "") -> ScenarioInstance:
    return ScenarioInstance(rule_id=rule_id, variant=variant, should_alert=completing is not None, domain=DOMAIN,
                            entity=ctx.entity, events=tuple(events), completing_index=completing, notes=notes)


class _Sensor:
    """A device's sensor: baseline + bounded noise."""

    def __init__(self, ctx: ScenarioContext, sensor: str | None = None) -> None:
        self.rng = ctx.rng
        self.sensor = sensor or ctx.rng.choice(sorted(PROFILES))
        low, high, sigma = PROFILES[self.sensor]
        self.baseline = round(self.rng.uniform(low, high), 2)
        self.sigma = sigma

    def noisy(self, shift_sigma: float = 0.0) -> float:
        return round(self.baseline + (shift_sigma + self.rng.uniform(-1.5, 1.5)) * self.sigma, 3)


def zscores(values: Sequence[float], window: int, min_std: float) -> list[float | None]:
    """The spike rule's z-score per reading (None without a full window), as its SQL computes it."""
    out: list[float | None] = []
    for i, v in enumerate(values):
        prev = values[max(0, i - window):i]
        if len(prev) < window:
            out.append(None)
            continue
        mean = sum(prev) / window
        sq = sum(p * p for p in prev) / window
        std = math.sqrt(max(sq - mean * mean, 0.0))
        out.append(abs(v - mean) / max(std, min_std))
    return out


def drift_hits(values: Sequence[float], baseline: int, ma: int, sigma: float, min_std: float) -> list[float | None]:
    """drift's |moving average − baseline mean| / threshold per reading (> 1 means drifted)."""
    if len(values) < baseline:
        return [None] * len(values)
    base = values[:baseline]
    mean = sum(base) / baseline
    std = math.sqrt(max(sum(b * b for b in base) / baseline - mean * mean, 0.0))
    out: list[float | None] = []
    for i in range(len(values)):
        if i + 1 < baseline + ma:
            out.append(None)
            continue
        moving = sum(values[i + 1 - ma:i + 1]) / ma
        out.append(abs(moving - mean) / (sigma * max(std, min_std)))
    return out


def _readings(ctx: ScenarioContext, sensor: _Sensor, values: Sequence[float], gap: float = 1.0,
              t0: float = 0.0) -> list[ScheduledEvent]:
    return [_event(ctx, t0 + i * gap, "reading", sensor.sensor, v) for i, v in enumerate(values)]


@register("out_of_range")
def out_of_range(ctx: ScenarioContext) -> list[ScenarioInstance]:
    temp = _Sensor(ctx, "temperature")
    high = _p(ctx, "temperature_max", 150.0)  # the iot domain's ranges (catalog v1 defaults)
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
    window = int(_p(ctx, "window_readings", 30))
    k = _p(ctx, "z_threshold", 6.0)
    min_std = _p(ctx, "min_std", 0.01)
    sensor = _Sensor(ctx)

    def series(history: int, shift_sigma: float) -> list[float]:
        for _ in range(50):  # redraw until the reference arithmetic agrees with the intent
            values = [sensor.noisy() for _ in range(history)]
            values += [round(sensor.baseline + shift_sigma * sensor.sigma, 3), sensor.noisy(), sensor.noisy()]
            z = zscores(values, window, min_std)
            hits = [i for i, s in enumerate(z) if s is not None and s > k]
            want = [history] if (shift_sigma >= 2 * k and history >= window) else []
            margin_ok = all(s is None or abs(s - k) > 0.25 for s in z)
            if hits == want and margin_ok:
                return values
        raise RuntimeError("could not draw a spike series with a clear margin")

    return [
        _instance(ctx, "spike", "fires", _readings(ctx, sensor, series(window, 2.5 * k)), window),
        _instance(ctx, "spike", "small_deviation", _readings(ctx, sensor, series(window, 3.0)), None),
        _instance(ctx, "spike", "too_little_history",
                  _readings(ctx, sensor, series(max(2, window - 10), 2.5 * k)), None),
    ]


@register("flatline")
def flatline(ctx: ScenarioContext) -> list[ScenarioInstance]:
    n = int(_p(ctx, "min_identical", 10))
    duration = _p(ctx, "min_duration_s", 60)
    sensor = _Sensor(ctx)
    stuck = round(sensor.baseline, 2)
    fires = _readings(ctx, sensor, [stuck] * n)
    slow_gap = duration / 2 + 0.5
    slow = _readings(ctx, sensor, [stuck] * 3, gap=slow_gap)
    almost = _readings(ctx, sensor, [stuck] * (n - 1) + [round(stuck + sensor.sigma, 3)])
    wobble = _readings(ctx, sensor, [round(stuck + (0.01 if i % 2 else 0.0), 3) for i in range(n)])
    return [
        _instance(ctx, "flatline", "fires", fires, n - 1),
        _instance(ctx, "flatline", "fires_slow_identical", slow, 2, notes=f"3 readings over {2 * slow_gap:.0f}s"),
        _instance(ctx, "flatline", "one_short", almost, None),
        _instance(ctx, "flatline", "tiny_variation", wobble, None),
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
    sensor = _Sensor(ctx)
    readings_only = [_event(ctx, i * every, "reading", sensor.sensor, sensor.noisy()) for i in range(5)]
    readings_only += [_event(ctx, last_t + silence + 10 + i * every, "reading", sensor.sensor, sensor.noisy())
                      for i in range(2)]
    note = "the device's final silence (after its last event) also alerts: end-of-scenario, not scored"
    return [
        _instance(ctx, "missing_heartbeat", "fires", fires, len(first) - 1,
                  notes=f"alert expected {silence:.0f}s after the completing event; " + note),
        _instance(ctx, "missing_heartbeat", "gap_below_threshold", near, None, notes=note),
        _instance(ctx, "missing_heartbeat", "no_heartbeats", readings_only, None),
    ]


@register("drift")
def drift(ctx: ScenarioContext) -> list[ScenarioInstance]:
    baseline = int(_p(ctx, "baseline_readings", 20))
    ma = int(_p(ctx, "ma_readings", 10))
    sigma = _p(ctx, "drift_sigma", 4.0)
    min_std = _p(ctx, "min_std", 0.01)
    spike_window = 30
    sensor = _Sensor(ctx)

    def clear(values: list[float]) -> bool:
        hits = drift_hits(values, baseline, ma, sigma, min_std)
        z = zscores(values, spike_window, 0.01)
        return all(h is None or abs(h - 1) > 0.02 for h in hits) and all(s is None or s < 5.0 for s in z)

    for _ in range(50):
        values = [sensor.noisy() for _ in range(baseline)]
        step = 0
        while True:
            step += 1
            values.append(sensor.noisy(0.5 * step))
            hits = drift_hits(values, baseline, ma, sigma, min_std)
            if hits[-1] is not None and hits[-1] > 1:
                break
            if step > 200:  # pragma: no cover - the ramp always crosses
                raise RuntimeError("drift ramp never crossed")
        if clear(values):
            fires_values = values
            break
    else:  # pragma: no cover
        raise RuntimeError("could not draw a drift series with a clear margin")

    for _ in range(50):
        plateau = [sensor.noisy() for _ in range(baseline)]
        plateau += [sensor.noisy(min(0.5 * s, 2.0)) for s in range(1, 25)]
        steady = [sensor.noisy() for _ in range(baseline + 2 * ma)]
        if clear(plateau) and clear(steady) and \
                not any(h and h > 1 for h in drift_hits(plateau, baseline, ma, sigma, min_std)) and \
                not any(h and h > 1 for h in drift_hits(steady, baseline, ma, sigma, min_std)):
            break
    else:  # pragma: no cover
        raise RuntimeError("could not draw drift near misses with a clear margin")
    return [
        _instance(ctx, "drift", "fires", _readings(ctx, sensor, fires_values), len(fires_values) - 1),
        _instance(ctx, "drift", "plateau_below_threshold", _readings(ctx, sensor, plateau), None),
        _instance(ctx, "drift", "steady", _readings(ctx, sensor, steady), None),
    ]
