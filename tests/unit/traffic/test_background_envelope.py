"""Background traffic stays inside every rule's background envelope (docs/rules.md), checked on a
long stretch of virtual time with a 10x spike: normal traffic must never fire a rule."""

from __future__ import annotations

import math
from collections import defaultdict, deque

import orjson
import pytest

from include.patternalarm.events import parse_event_time
from include.patternalarm.simulator import SimulationConfig, Spike
from tests.unit.traffic.support import run_inline

RANGES = {"temperature": (-50, 150), "humidity": (0, 100), "pressure": (800, 1200), "vibration": (0, 100),
          "power": (0, 10_000)}


@pytest.fixture(scope="module")
def events() -> dict[str, list[dict]]:
    # 2 h of event time at 30/s with a 10x spike for 5 min: every card/account comes back several times
    cfg = SimulationConfig(seed=9, clock="virtual", rate=30.0, duration_s=2 * 3600.0, scenarios=False,
                           spikes=(Spike(10.0, 3600.0, 300.0),), record_ground_truth=False)
    sent, _, _ = run_inline(cfg, workers=1)
    out: dict[str, list[dict]] = defaultdict(list)
    for topic, _, value in sent:
        event = orjson.loads(value)
        event["_t"] = parse_event_time(event["event_time"])
        out[topic.split(".")[1]].append(event)
    for domain in out:
        out[domain].sort(key=lambda e: e["_t"])
    return out


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def test_payments_envelope(events: dict[str, list[dict]]) -> None:
    auths: dict[str, deque] = defaultdict(deque)
    physical: dict[str, list[tuple[float, float]]] = defaultdict(list)
    failed_run: dict[str, int] = defaultdict(int)
    careful, payers = set(), set()
    revisited = 0
    seen_cards: set[str] = set()
    for e in events["payments"]:
        if e["event_type"] == "auth":
            card = e["card_id"]
            revisited += card in seen_cards
            seen_cards.add(card)
            assert e["amount"] >= 2.0 and e["amount"] <= 500.0  # card_testing, velocity amounts
            window = auths[card]
            window.append((e["_t"], e["amount"]))
            while window[0][0] < e["_t"] - 60_000:
                window.popleft()
            assert len(window) <= 4 and sum(a for _, a in window) <= 2500  # velocity
            if e["channel"] in ("card_present", "atm") and e["lat"] is not None:
                for other in physical[card]:
                    assert _km(other, (e["lat"], e["lon"])) < 10.0  # impossible_travel
                physical[card].append((e["lat"], e["lon"]))
        account = e["account_id"]
        if e["event_type"] == "login_failed":
            failed_run[account] += 1
            assert failed_run[account] < 3  # account_takeover
        elif e["event_type"] in ("login", "password_reset", "payout_change", "payout"):
            failed_run[account] = 0
        if e["event_type"] in ("password_reset", "payout_change"):
            careful.add(account)
        if e["event_type"] == "payout":
            payers.add(account)
        if e["event_type"] == "deposit":
            assert not 9000 <= e["amount"] < 10_000  # structuring
    assert not careful & payers  # no credential change followed by a payout on one account
    assert revisited > 100, "cards must come back for the checks to mean anything"


def test_gaming_envelope(events: dict[str, list[dict]]) -> None:
    last_move: dict[str, dict] = {}
    last_action: dict[str, int] = {}
    fast_run: dict[str, int] = defaultdict(int)
    gains: dict[tuple[str, int], float] = defaultdict(float)
    trades: dict[tuple[str, str], deque] = defaultdict(deque)
    moves_checked = 0
    for e in events["gaming"]:
        player, t = e["player_id"], e["_t"]
        if player in last_action:
            fast_run[player] = fast_run[player] + 1 if t - last_action[player] < 200 else 0
            assert fast_run[player] <= 20  # impossible_apm
        last_action[player] = t
        if e["action"] == "move":
            prev = last_move.get(player)
            if prev is not None and prev["match_id"] == e["match_id"]:
                dist = math.dist((prev["x"], prev["y"], prev["z"] or 0), (e["x"], e["y"], e["z"] or 0))
                assert dist <= 10.0 * max((t - prev["_t"]) / 1000, 0.05) + 1e-6  # speed_hack
                moves_checked += 1
            last_move[player] = e
        elif e["action"] == "kill":
            assert e["reaction_ms"] >= 180  # aimbot
        elif e["action"] == "currency_gain":
            gains[(player, t // 10_000)] += e["amount"]
            assert gains[(player, t // 10_000)] <= 500  # currency_farming gain spike
        elif e["action"] == "trade":
            window = trades[(player, e["counterparty_id"])]
            window.append(t)
            while window[0] < t - 60_000:
                window.popleft()
            assert len(window) <= 2  # currency_farming repeated trades
    assert moves_checked > 1000


def test_iot_envelope(events: dict[str, list[dict]]) -> None:
    last_values: dict[str, deque] = defaultdict(lambda: deque(maxlen=30))
    last_seen: dict[str, int] = {}
    heartbeating: set[str] = set()
    worst_gap = 0
    spikes_checked = 0
    for e in events["iot"]:
        device, t = e["device_id"], e["_t"]
        if device in last_seen and device in heartbeating:
            worst_gap = max(worst_gap, t - last_seen[device])
        last_seen[device] = t
        if e["event_type"] == "heartbeat":
            heartbeating.add(device)
            assert 0 <= e["battery_pct"] <= 100
            continue
        low, high = RANGES[e["sensor_type"]]
        assert low <= e["value"] <= high  # out_of_range
        history = last_values[device]
        if len(history) >= 2:
            assert not (history[-1] == history[-2] == e["value"])  # flatline
        if len(history) == 30:
            mean = sum(history) / 30
            std = math.sqrt(sum((v - mean) ** 2 for v in history) / 30)
            assert abs(e["value"] - mean) / max(std, 0.01) <= 6  # spike
            spikes_checked += 1
        history.append(e["value"])
    assert worst_gap <= 10_000  # missing_heartbeat: some event at least every 10 s
    assert spikes_checked > 1000
