"""The adaptive sensor rules on the real stack, on seeded series generated here (catalog defaults):

- a clean seasonal series (daily cycle, Gaussian noise, 5-minute spacing, 60 days) raises at most one
  alert per 10,000 readings;
- injected spikes (8 noise sds), level shifts (4), variance changes (the noise x3) and trend changes
  (0.5 noise sd per reading) are each found within 12 readings for at least 90 % of the series;
- a series scaled x1000 and offset +7 raises exactly the alerts of the original.
Measured figures: docs/detection.md (the same properties at larger sizes: java SeriesModelTest)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from tests.integration.detection.conftest import DetectionJob, finish, send_sorted

DOMAIN = "iot"
FIVE_MIN = 300_000
DAY = 288  # readings
ADAPTIVE = {"spike", "level_shift", "variance_change", "drift", "flatline"}
KINDS = {"spike": "spike", "level_shift": "level_shift", "variance": "variance_change", "trend": "level_shift"}
PER_KIND = 10


def series(rng: random.Random, days: int, level: float, noise: float) -> list[float]:
    phase = rng.uniform(0, 2 * math.pi)
    return [level + 5 * noise * math.sin(2 * math.pi * i / DAY + phase) + rng.gauss(0, noise)
            for i in range(days * DAY)]


def inject(values: list[float], kind: str, at: int, noise: float, rng: random.Random) -> None:
    sign = rng.choice((-1, 1))
    if kind == "spike":
        values[at] += sign * 8 * noise
    elif kind == "level_shift":
        for i in range(at, len(values)):
            values[i] += sign * 4 * noise
    elif kind == "variance":
        for i in range(at, min(len(values), at + DAY)):
            values[i] += math.sqrt(8) * noise * rng.gauss(0, 1)
    else:  # trend
        for i in range(at, len(values)):
            values[i] += sign * 0.5 * noise * (i - at)


@pytest.fixture(scope="module")
def played(detection_job: DetectionJob) -> dict[str, Any]:
    rng = random.Random(20261202)
    start = (int(detection_job_base_ms()) // FIVE_MIN) * FIVE_MIN
    rows: list[tuple[int, str, dict[str, Any]]] = []
    devices: dict[str, dict[str, Any]] = {}

    def add(device: str, values: list[float], **info: Any) -> None:
        devices[device] = {"n": len(values), **info}
        for i, v in enumerate(values):
            rows.append((start + i * FIVE_MIN, device, {
                "event_id": f"{device}-{i}", "domain": DOMAIN, "device_id": device, "event_type": "reading",
                "sensor_type": "line_pressure", "value": round(v, 6)}))

    for d in range(4):  # clean: 60 days each, own level and scale
        add(f"clean-{d}", series(rng, 60, rng.uniform(-50, 500), rng.uniform(0.1, 20)), clean=True)
    for kind in KINDS:
        for d in range(PER_KIND):
            noise = rng.uniform(0.1, 20)
            values = series(rng, 6, rng.uniform(-50, 500), noise)
            at = rng.randint(3 * DAY, 5 * DAY)
            inject(values, kind, at, noise, rng)
            add(f"{kind}-{d}", values, kind=kind, at=at)
    base = series(rng, 6, 40.0, 1.5)
    inject(base, "spike", 3 * DAY + 17, 1.5, rng)
    inject(base, "level_shift", 4 * DAY + 101, 1.5, rng)
    add("original", base)
    add("scaled", [1000 * v + 7 for v in base])
    last = send_sorted(detection_job, rows)
    return {"devices": devices, "alerts": finish(detection_job, last)}


def detection_job_base_ms() -> float:
    import time

    return (time.time() - 70 * 86_400) * 1000  # 60 days of history end ten days ago


def opened(alerts: list[dict[str, Any]], device: str, rules: set[str] = ADAPTIVE) -> list[tuple[str, int]]:
    return sorted((a["rule_id"], int(a["evidence"]["event_ids"][0].rsplit("-", 1)[1])) for a in alerts
                  if a["entity"] == device and a["rule_id"] in rules)


def test_a_clean_seasonal_series_raises_at_most_one_alert_per_10000_readings(played: dict[str, Any]) -> None:
    clean = [d for d, info in played["devices"].items() if info.get("clean")]
    readings = sum(played["devices"][d]["n"] for d in clean)
    alerts = [a for d in clean for a in opened(played["alerts"], d)]
    print(f"figure iot clean: {len(alerts)} alerts in {readings} readings")  # docs/detection.md (pytest -s)
    assert len(alerts) * 10_000 / readings <= 1.0, alerts


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_injected_anomalies_are_found_within_12_readings(played: dict[str, Any], kind: str) -> None:
    found = 0
    for device, info in played["devices"].items():
        if info.get("kind") != kind:
            continue
        hits = [i for rule, i in opened(played["alerts"], device, {KINDS[kind]}) if info["at"] <= i < info["at"] + 12]
        found += bool(hits)
    print(f"figure iot {kind}: {found} of {PER_KIND} found within 12 readings")
    assert found / PER_KIND >= 0.9, f"{kind}: {found} of {PER_KIND} found within 12 readings"


def test_scale_and_offset_do_not_change_the_alerts(played: dict[str, Any]) -> None:
    original = opened(played["alerts"], "original", ADAPTIVE | {"out_of_range"})
    assert ("spike", 3 * DAY + 17) in original and any(r == "level_shift" for r, _ in original), original
    assert opened(played["alerts"], "scaled", ADAPTIVE | {"out_of_range"}) == original


def test_every_alert_carries_a_score_and_episodes_update_one_alert(played: dict[str, Any]) -> None:
    alerts = [a for a in played["alerts"] if a["rule_id"] in ADAPTIVE]
    assert alerts and all(0 < a["score"] <= 1 for a in alerts)
    assert any(a["seq"] > 1 for a in alerts), "a persistent shift grows its episode: updates, same alert id"
