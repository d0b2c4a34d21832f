"""aimbot (catalog v6: aimbot v3) on the real stack, on seeded match telemetry generated here WITHOUT
reaction_ms: 200 ordinary players (headshot skill 5-35 %, 40 kills each) and 3 cheaters (80 % headshots
over 30 kills). The cheaters are alerted — against the population's ratio and its spread of players'
ratios, both learned from everybody's kills — and few ordinary players are: only the best, whose
long-run ratio (skill plus the luck of 40 kills) lies beyond spread_z (2.25) of the population's spread,
about 1-2 % of a population by design (docs/detection.md)."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tests.integration.detection.conftest import DetectionJob, finish, send_sorted

DOMAIN = "gaming"
CHEATERS = {f"cheater-{i}" for i in range(3)}


@pytest.fixture(scope="module")
def played(detection_job: DetectionJob) -> dict[str, Any]:
    rng = random.Random(20261204)
    start = int((time.time() - 3 * 86_400) * 1000)
    rows: list[tuple[int, str, dict[str, Any]]] = []
    players = {f"player-{i:03d}": rng.uniform(0.05, 0.35) for i in range(200)}
    players.update(dict.fromkeys(CHEATERS, 0.8))
    for player, skill in players.items():
        kills = 30 if player in CHEATERS else 40
        t = start + rng.randint(0, 600_000)
        for k in range(kills):
            t += rng.randint(20_000, 90_000)
            rows.append((t, player, {"event_id": f"{player}-{k}", "domain": DOMAIN, "player_id": player,
                                     "match_id": f"match-{k // 10}", "action": "kill",
                                     "target_id": f"victim-{rng.randint(0, 9999)}", "headshot": rng.random() < skill}))
    assert not any("reaction_ms" in e for _, _, e in rows)
    last = send_sorted(detection_job, rows)
    return {"alerts": finish(detection_job, last)}


def test_cheaters_are_found_without_reaction_times(played: dict[str, Any]) -> None:
    flagged = {a["entity"] for a in played["alerts"] if a["rule_id"] == "aimbot"}
    print(f"figure gaming: {len(flagged & CHEATERS)} of {len(CHEATERS)} cheaters flagged, "
          f"{len(flagged - CHEATERS)} honest players flagged")  # docs/detection.md (pytest -s)
    assert CHEATERS <= flagged, flagged
    assert len(flagged - CHEATERS) <= 6, sorted(flagged - CHEATERS)  # <= 3 % of the honest players
    for alert in (a for a in played["alerts"] if a["entity"] in CHEATERS):
        assert alert["evidence"]["population_ratio"] < 0.3 and alert["score"] > 0.5
    for alert in (a for a in played["alerts"] if a["rule_id"] == "aimbot" and a["entity"] not in CHEATERS):
        evidence = alert["evidence"]  # a skilled player far out in the spread, with real evidence, not a short streak
        assert evidence["z_spread"] > 2.25 and evidence["z_population"] > 3.5, evidence
        assert evidence["long_run_ratio"] > evidence["population_ratio"] + 2 * evidence["population_spread"], evidence
