"""Background traffic stays inside every rule's background envelope (docs/rules.md), checked on a
long stretch of virtual time with a 10x spike by re-implementing each rule's condition on the events:
normal traffic must never fire a rule. The same sample shows the realism the background carries
(per-entity scales, heavy tails, absent optional fields, unknown sensor types, quantised sensors,
irregular spacing), and a day of event time shows the IoT daily cycle never turns into drift."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import defaultdict, deque
from collections.abc import Iterable

import orjson
import pytest

from include.patternalarm.events import check_event, parse_event_time
from include.patternalarm.simulator import SimulationConfig, Spike
from include.patternalarm.simulator import envelope as env
from include.patternalarm.simulator.background import IotGenerator
from tests.unit.traffic.support import run_inline

# out_of_range's default physical ranges (catalog domain parameters)
RANGES = {"temperature": (-50, 150), "humidity": (0, 100), "pressure": (800, 1200), "vibration": (0, 100),
          "power": (0, 10_000)}
DAY_MS = 86_400_000


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


@pytest.fixture(scope="module")
def iot_fleet() -> list[dict]:
    """IoT alone, 8 minutes at 200/s: a thousand devices with ~80 readings each."""
    cfg = SimulationConfig(seed=10, clock="virtual", rate=200.0, duration_s=480.0, scenarios=False,
                           domains=("iot",), record_ground_truth=False)
    sent, _, _ = run_inline(cfg, workers=1)
    fleet = [orjson.loads(value) for _, _, value in sent]
    for event in fleet:
        event["_t"] = parse_event_time(event["event_time"])
    return sorted(fleet, key=lambda e: e["_t"])


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def test_payments_envelope(events: dict[str, list[dict]]) -> None:
    auths: dict[str, deque] = defaultdict(deque)
    last_seen: dict[str, int] = {}
    physical: dict[str, list[tuple[float, float]]] = defaultdict(list)
    failed_run: dict[str, int] = defaultdict(int)
    careful, payers = set(), set()
    amounts: dict[str, list[float]] = defaultdict(list)
    revisited = 0
    min_card_gap = math.inf
    online_located = online_unlocated = physical_unlocated = deposits_above_band = 0
    for e in events["payments"]:
        assert check_event(e, "payments") is None
        card = e["card_id"]
        if card is not None:
            if card in last_seen:
                min_card_gap = min(min_card_gap, e["_t"] - last_seen[card])
            last_seen[card] = e["_t"]
            amounts[card].append(e["amount"])
        if e["event_type"] == "auth":
            revisited += card in auths
            assert env.PAY_MIN_AMOUNT <= e["amount"] <= env.PAY_MAX_AMOUNT  # card_testing: never an auth < 2.00
            window = auths[card]
            window.append((e["_t"], e["amount"]))
            while window[0][0] < e["_t"] - 60_000:
                window.popleft()
            assert len(window) <= 4 and sum(a for _, a in window) <= 2500  # velocity
            if e["channel"] in ("card_present", "atm"):
                if e["lat"] is None:
                    physical_unlocated += 1
                else:
                    for other in physical[card]:
                        assert _km(other, (e["lat"], e["lon"])) < 10.0  # impossible_travel
                    physical[card].append((e["lat"], e["lon"]))
            elif e["lat"] is None:
                online_unlocated += 1
            else:
                online_located += 1
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
            deposits_above_band += e["amount"] >= 10_000
    assert not careful & payers  # no credential change followed by a payout on one account
    assert revisited > 100, "cards must come back for the checks to mean anything"
    # velocity's amount bound relies on this: a card's events are minutes apart, even in the spike
    assert min_card_gap >= 60_000, min_card_gap

    # realism: each card its own scale (two amounts of one card are far more alike than two cards'),
    # heavy tails, absent locations
    pairs = [(math.log(a[0]), math.log(a[1])) for a in amounts.values() if len(a) >= 2]
    within = statistics.mean((x - y) ** 2 for x, y in pairs)
    between = statistics.mean((p[0] - q[0]) ** 2 for p, q in itertools.pairwise(pairs))
    assert len(pairs) > 100 and within < 0.5 * between, (within, between)
    every = [a for card_amounts in amounts.values() for a in card_amounts]
    assert max(every) > 1000 and sum(a > 500 for a in every) > 20
    assert online_located > 100 and online_unlocated > 100 and physical_unlocated > 100
    assert deposits_above_band > 0


def test_gaming_envelope(events: dict[str, list[dict]]) -> None:
    last_move: dict[str, dict] = {}
    last_action: dict[str, int] = {}
    fast_run: dict[str, int] = defaultdict(int)
    gains: dict[tuple[str, int], float] = defaultdict(float)
    trades: dict[tuple[str, str], deque] = defaultdict(deque)
    reaction_reported: dict[str, set[bool]] = defaultdict(set)
    moves_checked = flat_moves = 0
    biggest_gain = 0.0
    for e in events["gaming"]:
        assert check_event(e, "gaming") is None
        player, t = e["player_id"], e["_t"]
        if player in last_action:
            fast_run[player] = fast_run[player] + 1 if t - last_action[player] < 200 else 0
            assert fast_run[player] <= 20  # impossible_apm
        last_action[player] = t
        if e["action"] == "move":
            flat_moves += e["z"] is None
            prev = last_move.get(player)
            if prev is not None and prev["match_id"] == e["match_id"]:
                dist = math.dist((prev["x"], prev["y"], prev["z"] or 0), (e["x"], e["y"], e["z"] or 0))
                assert dist <= 10.0 * max((t - prev["_t"]) / 1000, 0.05) + 1e-6  # speed_hack
                moves_checked += 1
            last_move[player] = e
        elif e["action"] == "kill":
            reaction_reported[player].add(e["reaction_ms"] is not None)
            assert e["reaction_ms"] is None or e["reaction_ms"] >= 180  # aimbot: the mean never < 150
        elif e["action"] == "currency_gain":
            biggest_gain = max(biggest_gain, e["amount"])
            gains[(player, t // 10_000)] += e["amount"]
            assert gains[(player, t // 10_000)] <= 500  # currency_farming gain spike (min_gain 1,000)
        elif e["action"] == "trade":
            window = trades[(player, e["counterparty_id"])]
            window.append(t)
            while window[0] < t - 60_000:
                window.popleft()
            assert len(window) <= 2  # currency_farming repeated trades
    assert moves_checked > 1000
    # realism: a share of players' clients report no reaction time (always or never, per player),
    # 2-D maps without z, heavy-tailed currency gains
    assert all(len(seen) == 1 for seen in reaction_reported.values())
    silent = sum(seen == {False} for seen in reaction_reported.values())
    assert 0.15 < silent / len(reaction_reported) < 0.45
    assert flat_moves > 100 and biggest_gain > 100


class RuleState:
    """spike, flatline and drift (catalog defaults) on one (device, sensor) series, in order."""

    def __init__(self) -> None:
        self.window: deque[float] = deque(maxlen=30)
        self.baseline: list[float] = []
        self.recent: deque[float] = deque(maxlen=10)
        self.spike_checks = self.drift_checks = 0

    def add(self, value: float) -> None:
        w = self.window
        if len(w) >= 2:
            assert not (w[-1] == w[-2] == value), "flatline: three identical readings"
        if len(w) == 30:
            mean = sum(w) / 30
            std = math.sqrt(sum((v - mean) ** 2 for v in w) / 30)
            assert abs(value - mean) / max(std, 0.01) <= 6, "spike: z > 6"
            self.spike_checks += 1
        w.append(value)
        self.recent.append(value)
        if len(self.baseline) < 20:
            self.baseline.append(value)
        elif len(self.recent) == 10:
            mean = sum(self.baseline) / 20
            std = math.sqrt(sum((v - mean) ** 2 for v in self.baseline) / 20)
            assert abs(sum(self.recent) / 10 - mean) <= 4 * max(std, 0.01), "drift: moving average moved"
            self.drift_checks += 1


def _check_series(readings: Iterable[dict]) -> dict[tuple[str, str], RuleState]:
    states: dict[tuple[str, str], RuleState] = defaultdict(RuleState)
    for e in readings:
        low, high = RANGES.get(e["sensor_type"], (-math.inf, math.inf))
        assert low <= e["value"] <= high  # out_of_range (known types only; others have no range)
        states[(e["device_id"], e["sensor_type"])].add(e["value"])
    return states


def test_iot_envelope(events: dict[str, list[dict]], iot_fleet: list[dict]) -> None:
    for sample in (events["iot"], iot_fleet):  # a few devices through a 10x spike; a fleet
        last_seen: dict[str, int] = {}
        heartbeating: set[str] = set()
        worst_gap = 0
        for e in sample:
            assert check_event(e, "iot") is None
            device, t = e["device_id"], e["_t"]
            if device in last_seen and device in heartbeating:
                worst_gap = max(worst_gap, t - last_seen[device])
            last_seen[device] = t
            if e["event_type"] == "heartbeat":
                heartbeating.add(device)
                assert e["battery_pct"] is None or 0 <= e["battery_pct"] <= 100
        assert worst_gap <= env.IOT_MAX_SILENCE_S * 1000  # missing_heartbeat (30 s) never close
        states = _check_series(e for e in sample if e["event_type"] == "reading")
        assert sum(s.spike_checks for s in states.values()) > 1000
        assert sum(s.drift_checks for s in states.values()) > 1000


def test_iot_fleet_is_messy(iot_fleet: list[dict]) -> None:
    """Types beyond the five, quantised series, absent fields, irregular spacing."""
    series: dict[tuple[str, str], list[float]] = defaultdict(list)
    times: dict[str, list[int]] = defaultdict(list)
    for e in iot_fleet:
        times[e["device_id"]].append(e["_t"])
        if e["event_type"] == "reading":
            series[(e["device_id"], e["sensor_type"])].append(e["value"])
    types = {sensor for _, sensor in series}
    assert set(RANGES) < types and len(types - set(RANGES)) >= 3
    assert sum(all((2 * v).is_integer() for v in values) for values in series.values()) > 10  # on a 0.5 grid
    assert sum(e["unit"] is None for e in iot_fleet if e["event_type"] == "reading") > 100
    assert sum(e["battery_pct"] is None for e in iot_fleet if e["event_type"] == "heartbeat") > 100
    irregular = 0
    for t in times.values():
        gaps = [b - a for a, b in itertools.pairwise(t)]
        usual = statistics.median(gaps)
        irregular += max(gaps) > 1.6 * usual and min(gaps) < 0.6 * usual
    assert irregular > 100


def test_iot_daily_cycle_never_turns_into_drift() -> None:
    """120 devices through a whole day of event time, one cycle every two minutes (spike, flatline and
    drift count readings, not seconds): the daily cycle is there, and no rule fires on it."""
    gen = IotGenerator(seed=11, lane=0, lanes=4, tag="abc123", rate_per_s=24.0, diurnal=True,
                       rng=random.Random(1))
    n = 120
    rng = random.Random(2)
    t0 = 1_767_571_200_000
    readings = []
    for k in range(n * 24 * 30 + n):  # a day and a cycle
        t_ms = t0 + k * 120_000 // n
        _, event = gen.make(rng, t_ms, f"e{k}", "")
        if event["event_type"] == "reading":
            event["_t"] = t_ms
            readings.append(event)
    _check_series(readings)
    # the cycle: readings near each device's peak hour sit above those near its trough
    by_device: dict[str, list[dict]] = defaultdict(list)
    for e in readings:
        by_device[e["device_id"]].append(e)
    lifts = []
    for device in gen._devices.values():
        if not device.daily:
            continue
        phase_of = [((e["_t"] / DAY_MS + device.phase) % 1.0, e["value"]) for e in by_device[device.device]]
        peak = [v for p, v in phase_of if abs(p - 0.25) < 1 / 24]
        trough = [v for p, v in phase_of if abs(p - 0.75) < 1 / 24]
        lifts.append((statistics.mean(peak) - statistics.mean(trough)) / device.sigma)
    assert len(lifts) > 40
    assert statistics.mean(lifts) > env.IOT_MAX_DAILY_SIGMAS * 0.5  # 2 × amplitude on average ≈ 0.18 sigma


def test_iot_device_population() -> None:
    """Each device's own level, noise and quirks, over many devices: known types inside their ranges
    with room for the noise, daily cycles bounded by the noise, the promised shares of quirks."""
    gen = IotGenerator(seed=5, lane=1, lanes=4, tag="abc123", rate_per_s=20_000.0, diurnal=True,
                       rng=random.Random(3))
    devices = [gen._device(i) for i in range(50_000)]
    for d in devices:
        low, high = RANGES.get(d.sensor, (-math.inf, math.inf))
        excursion = env.IOT_MAX_SIGMAS * d.sigma + d.daily
        assert low <= d.level - excursion and d.level + excursion <= high, d
        assert d.sigma >= env.IOT_MIN_SIGMA and d.daily <= env.IOT_MAX_DAILY_SIGMAS * d.sigma + 1e-12
        assert not d.grid or d.sigma >= env.IOT_QUANTISED_MIN_SIGMAS * d.grid
        if d.sensor in ("vibration", "power", "co2", "flow_rate", "cpu_utilization", "machine_temperature"):
            assert d.level - excursion >= 0  # quantities that cannot be negative
    share = {name: sum(pred(d) for d in devices) / len(devices) for name, pred in {
        "unknown type": lambda d: d.sensor not in RANGES, "quantised": lambda d: d.grid > 0,
        "no unit": lambda d: d.unit is None, "no battery": lambda d: d.battery is None,
        "daily cycle": lambda d: d.daily > 0, "irregular": lambda d: d.skip_pct > 0}.items()}
    assert 0.12 < share["unknown type"] < 0.18 and 0.01 < share["quantised"] < 0.1
    assert 0.07 < share["no unit"] < 0.13 and 0.25 < share["no battery"] < 0.35
    assert 0.65 < share["daily cycle"] < 0.75 and 0.45 < share["irregular"] < 0.55
    # levels and noise per device: spread over the type's scale, not one value
    temps = [d for d in devices if d.sensor == "temperature"]
    assert statistics.pstdev(d.level for d in temps) > 10 and max(d.sigma for d in temps) > 4 * min(
        d.sigma for d in temps)
