"""Background traffic per domain: many entities with their own habits and scales, a diurnal shape,
the gaps and quirks of real data (absent optional fields, quantised sensors, irregular reporting,
unknown sensor types), and every value inside the background envelope (``envelope``) so that normal
traffic never fires a rule.

A generator is deterministic given its ``random.Random``: ``make(rng, t_ms, event_id, event_time)``
returns ``(key, event)`` with the event's fields in contract order (``event_id`` first).
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Any, NamedTuple, Protocol

from include.patternalarm.simulator import envelope as env
from include.patternalarm.simulator.population import (
    COUNTRIES,
    PLAYING_BY_HOUR,
    SHOPPING_BY_HOUR,
    BlockPicker,
    mix64,
    split_sizes,
)

HOUR_MS = 3_600_000


class DomainGenerator(Protocol):
    domain: str

    def make(self, rng: random.Random, t_ms: int, event_id: str, event_time: str) -> tuple[str, dict[str, Any]]:
        ...


def _population(rate_per_s: float, gap_s: float, low: int, high: int) -> int:
    return int(min(max(rate_per_s * gap_s, low), high))


#: 256 quantiles of the standard normal: a per-entity normal draw from 8 bits of its hash
_NORMAL_256 = tuple(NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256))


def _lognormal_levels(median: float, spread: float, low: float, high: float) -> tuple[float, ...]:
    """256 per-entity levels, log-normal across entities (``median`` × e^(spread·z)), clipped."""
    return tuple(min(max(median * math.exp(spread * z), low), high) for z in _NORMAL_256)


# --- payments ---------------------------------------------------------------------------------------

_MERCHANTS = tuple(f"m-{i:05d}" for i in range(20_000))
# per-card typical amount: log-normal across cards (median 28; 90 % of cards between ~6 and ~135)
_CARD_MEDIANS = _lognormal_levels(28.0, 0.95, 3.0, 600.0)
# per-card share of "big" purchases (the heavy right tail of a card's own amounts)
_BIG_SHARE = (0.005, 0.015, 0.03, 0.06)
# per-account typical deposit: log-normal across accounts (median 150)
_ACCOUNT_SCALES = _lognormal_levels(150.0, 1.1, 10.0, 8000.0)
# channel profiles (cumulative): card_present, ecommerce, atm, mobile
_CHANNELS = ("card_present", "ecommerce", "atm", "mobile")
_CHANNEL_PROFILES = ((0.70, 0.90, 0.97, 1.0), (0.25, 0.85, 0.90, 1.0), (0.45, 0.75, 0.85, 1.0), (0.10, 0.55, 0.60, 1.0))


def _card_amount(rng: random.Random, median: float, big_share: float) -> float:
    """A card's amount: log-normal around its own median, with a heavy tail of occasional big
    purchases (×2.7 … ×20), reflected above PAY_MIN_AMOUNT and capped at PAY_MAX_AMOUNT."""
    amount = median * math.exp(0.55 * rng.gauss(0.0, 1.0))
    if rng.random() < big_share:
        amount *= math.exp(1.0 + 0.8 * abs(rng.gauss(0.0, 1.0)))
    if amount < env.PAY_MIN_AMOUNT:
        amount = 2 * env.PAY_MIN_AMOUNT - amount * 0.5
    elif amount > env.PAY_MAX_AMOUNT:  # the tail folded into the top 40 % below the cap (no pile-up at it)
        amount = env.PAY_MAX_AMOUNT * (0.6 + 0.4 * rng.random())
    return round(amount, 2)


def _transfer_amount(rng: random.Random, scale: float) -> float:
    """A deposit / payout: heavy-tailed around the account's scale, never in structuring's band."""
    amount = scale * math.exp(0.8 * rng.gauss(0.0, 1.0))
    if rng.random() < 0.04:
        amount *= math.exp(1.0 + abs(rng.gauss(0.0, 1.0)))
    if amount > env.PAY_MAX_TRANSFER:
        amount = env.PAY_MAX_TRANSFER * (0.6 + 0.4 * rng.random())
    amount = round(max(amount, env.PAY_MIN_AMOUNT), 2)
    if env.PAY_BAND_LOW <= amount < env.PAY_BAND_HIGH:
        amount = round(amount - env.PAY_BAND_SHIFT, 2)
    return amount


class PaymentsGenerator:
    """Cards (auth / capture / refund) and their accounts (login, deposit, payout, …).

    Habits per card: home country and city, its own typical amount (log-normal across cards) with
    a heavy tail of its own, a decline rate, a channel profile, six favourite merchants. Some
    terminals send no location; some online payments carry an IP location (at home, now and then
    abroad), most none. Accounts fall in two classes so that no account ever shows a takeover-like
    chain: most log in, deposit and withdraw (heavy-tailed, per-account scale); a few reset
    passwords and change payout details but never withdraw. A failed login is always a single one
    (an account is seen once per visit cycle).
    """

    domain = "payments"
    CARD_SHARE = 0.8

    def __init__(self, *, seed: int, lane: int, lanes: int, tag: str, rate_per_s: float, diurnal: bool,
                 rng: random.Random, peak: float = 1.0, low: float = 1.0) -> None:
        n = _population(rate_per_s * peak, env.PAY_CARD_GAP_S, 2_000, 50_000_000)
        weights = [c.weight for c in COUNTRIES]
        sizes = split_sizes(n, weights, minimum=20)
        offsets = [c.utc_offset_h for c in COUNTRIES]
        activity = SHOPPING_BY_HOUR if diurnal else None
        self._cards = BlockPicker(sizes, weights, offsets, activity, rng)
        self._accounts = BlockPicker(sizes, weights, offsets, activity, rng)
        self._lane, self._lanes, self._tag = lane, lanes, tag
        self._seedmix = mix64(seed)

    def make(self, rng: random.Random, t_ms: int, event_id: str, event_time: str) -> tuple[str, dict[str, Any]]:
        hour = (t_ms // HOUR_MS) % 24
        rand = rng.random
        if rand() < self.CARD_SHARE:
            block, idx, _ = self._cards.pick(rng, hour)
            g = idx * self._lanes + self._lane
            h = mix64(g ^ self._seedmix)
            country = COUNTRIES[block]
            card = f"card-{self._tag}-{g:09d}"
            r = rand()
            event_type = "auth" if r < 0.85 else ("capture" if r < 0.97 else "refund")
            amount = _card_amount(rng, _CARD_MEDIANS[h & 255], _BIG_SHARE[(h >> 8) & 3])
            profile = _CHANNEL_PROFILES[(h >> 6) & 3]
            r = rand()
            channel = "card_present" if r < profile[0] else (
                "ecommerce" if r < profile[1] else ("atm" if r < profile[2] else "mobile"))
            merchant_no = ((h >> 30) + int(rand() * 6) * 7919) % 20_000
            merchant: str | None = _MERCHANTS[merchant_no]
            lat = lon = None
            if channel == "card_present" or channel == "atm":
                if merchant_no % 9:  # one terminal in nine sends no location
                    jit = env.PAY_HOME_JITTER_DEG
                    lat = round(country.lat + (((h >> 10) & 1023) / 1023 - 0.5) * jit + (rand() - 0.5) * 0.01, 4)
                    lon = round(country.lon + (((h >> 20) & 1023) / 1023 - 0.5) * jit + (rand() - 0.5) * 0.01, 4)
                if channel == "atm":
                    amount = float(20 * max(1, min(int(amount // 20), int(env.PAY_MAX_ATM_AMOUNT // 20))))
                    merchant = None
            else:
                r = rand()
                if r < 0.3:  # an IP location: somewhere in the card's country, now and then abroad
                    where = country if r < 0.28 else COUNTRIES[int(rand() * len(COUNTRIES))]
                    lat = round(where.lat + (rand() - 0.5) * 4, 4)
                    lon = round(where.lon + (rand() - 0.5) * 4, 4)
                elif r > 0.97:  # marketplace payments without a merchant
                    merchant = None
            result = None
            if event_type == "auth":
                result = "declined" if rand() * 4 < env.PAY_DECLINE_RATE * (1 + ((h >> 12) & 3)) else "approved"
            return card, {
                "event_id": event_id, "event_time": event_time, "domain": "payments",
                "card_id": card, "account_id": f"acct-{self._tag}-{g:09d}", "event_type": event_type,
                "amount": amount, "currency": country.currency, "merchant_id": merchant,
                "country": country.code, "lat": lat, "lon": lon, "channel": channel, "auth_result": result,
            }
        block, idx, visit = self._accounts.pick(rng, hour)
        g = idx * self._lanes + self._lane
        h = mix64(g ^ self._seedmix ^ 0x5A5A)
        country = COUNTRIES[block]
        account = f"acct-{self._tag}-{g:09d}"
        r = rand()
        if (h >> 40) % 100 < 3:  # the careful few: resets and payout changes, never a payout
            event_type = "login" if r < 0.80 else ("password_reset" if r < 0.92 else "payout_change")
        else:
            event_type = ("login" if r < 0.66 else "deposit" if r < 0.82 else "payout" if r < 0.96
                          else "login_failed")
            if event_type == "login_failed" and visit % env.PAY_LOGIN_FAILED_EVERY:
                event_type = "login"
        amount = None
        if event_type == "deposit" or event_type == "payout":
            amount = _transfer_amount(rng, _ACCOUNT_SCALES[h & 255])
        return account, {
            "event_id": event_id, "event_time": event_time, "domain": "payments",
            "card_id": None, "account_id": account, "event_type": event_type,
            "amount": amount, "currency": country.currency if amount is not None else None, "merchant_id": None,
            "country": None if (h >> 12) % 10 == 0 else country.code, "lat": None, "lon": None,
            "channel": "mobile" if (h >> 8) & 1 else "web", "auth_result": None,
        }


# --- gaming -----------------------------------------------------------------------------------------

# regions: weight, UTC offset of their evening
_REGIONS = ((30, -5.0), (30, 1.0), (10, -3.0), (22, 8.0), (8, 10.0))
_TEAM = 10  # players who share matches


# per-player typical currency gain: log-normal across players (median 12)
_GAIN_SCALES = _lognormal_levels(12.0, 0.8, 2.0, 80.0)


class GamingGenerator:
    """Players in teams of ten who share matches (a new match every 10–20 minutes).

    Habits per player: skill (headshot rate), reaction time, a smooth path through the map at a
    speed below the envelope (so consecutive positions are always reachable), a home region with
    an evening peak, its own scale of currency gains (heavy-tailed). Some clients report no
    reaction times (30 % of players), some teams play 2-D maps (no ``z``).
    """

    domain = "gaming"

    def __init__(self, *, seed: int, lane: int, lanes: int, tag: str, rate_per_s: float, diurnal: bool,
                 rng: random.Random, peak: float = 1.0, low: float = 1.0) -> None:
        # evenings concentrate play on a few regions: size for ~2.5x the average per-player rate
        n = _population(rate_per_s * peak * 2.5, env.GAME_PLAYER_GAP_S, 200, 20_000_000)
        weights = [w for w, _ in _REGIONS]
        sizes = [max(_TEAM, s // _TEAM * _TEAM) for s in split_sizes(n, weights, minimum=_TEAM)]
        self._players = BlockPicker(sizes, weights, [o for _, o in _REGIONS],
                                    PLAYING_BY_HOUR if diurnal else None, rng)
        self._lane, self._lanes, self._tag = lane, lanes, tag
        self._seedmix = mix64(seed ^ 0x6A6A)

    def _player(self, idx: int) -> str:
        return f"player-{self._tag}-{idx * self._lanes + self._lane:08d}"

    def make(self, rng: random.Random, t_ms: int, event_id: str, event_time: str) -> tuple[str, dict[str, Any]]:
        _, idx, visit = self._players.pick(rng, (t_ms // HOUR_MS) % 24)
        g = idx * self._lanes + self._lane
        h = mix64(g ^ self._seedmix)
        player = f"player-{self._tag}-{g:08d}"
        team = idx // _TEAM
        th = mix64(team ^ self._seedmix)
        t_s = t_ms / 1000.0
        match_len = 600 + th % 600
        match_no = int((t_s + (th >> 20) % match_len) // match_len)
        match_id = f"match-{self._tag}-{self._lane}-{team}-{match_no}"
        # a circle around the player's area, at up to 60–95 % of the envelope's speed
        radius = 20.0 + ((h >> 8) & 63)
        speed = env.GAME_MAX_SPEED * (0.6 + 0.35 * ((h >> 16) & 255) / 255)
        angle = speed / radius * t_s + ((h >> 24) & 1023) / 1023 * 6.283
        x = round(((h >> 34) & 1023) + radius * math.cos(angle), 2)
        y = round(((h >> 44) & 1023) + radius * math.sin(angle), 2)
        z = None if (th >> 40) % 5 == 0 else float((h >> 54) & 3)  # one team in five plays a 2-D map
        rand = rng.random
        r = rand()
        target = headshot = reaction = item = amount = counterparty = None
        if r < 0.55:
            action = "move"
        elif r < 0.91:
            action = "shot" if r < 0.75 else ("hit" if r < 0.87 else "kill")
            mate = team * _TEAM + (idx % _TEAM + 1 + int(rand() * (_TEAM - 1))) % _TEAM
            target = self._player(mate)
            if action != "shot":
                skill = 0.05 + (env.GAME_MAX_HEADSHOT_P - 0.05) * ((h >> 4) & 255) / 255
                headshot = rand() < skill
                if (h >> 56) % 10 >= 3:  # 30 % of players' clients report no reaction time
                    typical = 260.0 + 200.0 * ((h >> 12) & 255) / 255
                    reaction = round(min(max(typical * math.exp(0.25 * rng.gauss(0.0, 1.0)),
                                             env.GAME_MIN_REACTION_MS + 5), 2500.0), 1)
        elif r < 0.97 or visit % env.GAME_TRADE_EVERY:
            action = "currency_gain"
            gain = _GAIN_SCALES[mix64(h) & 255] * math.exp(0.6 * rng.gauss(0.0, 1.0))
            if rand() < 0.03:  # a rare big reward
                gain *= math.exp(1.0 + abs(rng.gauss(0.0, 1.0)))
            amount = float(min(max(round(gain), 1), env.GAME_MAX_CURRENCY_GAIN))
            x = y = z = None
        else:
            action = "trade"
            item = f"item-{int(rand() * 500):03d}"
            amount = float(5 + int(rand() * 195))
            counterparty = self._player(team * _TEAM + (idx % _TEAM + 1 + int(rand() * (_TEAM - 1))) % _TEAM)
            x = y = z = None
        return player, {
            "event_id": event_id, "event_time": event_time, "domain": "gaming",
            "player_id": player, "match_id": match_id, "action": action, "x": x, "y": y, "z": z,
            "target_id": target, "headshot": headshot, "reaction_ms": reaction,
            "item_id": item, "amount": amount, "counterparty_id": counterparty,
        }


# --- iot --------------------------------------------------------------------------------------------

class _Sensor(NamedTuple):
    name: str
    unit: str
    level_low: float  # device levels spread over [low, high] (log-spaced when ``log``)
    level_high: float
    log: bool
    sigma: float  # median noise sigma across devices (× the level when ``relative``)
    relative: bool
    physical_low: float  # what the quantity can physically be: level ± 3 sigma stays inside
    physical_high: float


#: the five types with known physical ranges (out_of_range's), then types the rules know no range for
_SENSORS = (
    _Sensor("temperature", "C", -10.0, 40.0, False, 0.2, False, -50.0, 150.0),
    _Sensor("humidity", "%", 20.0, 80.0, False, 0.8, False, 0.0, 100.0),
    _Sensor("pressure", "hPa", 960.0, 1040.0, False, 0.15, False, 800.0, 1200.0),
    _Sensor("vibration", "mm/s", 0.5, 8.0, True, 0.06, True, 0.0, 100.0),
    _Sensor("power", "W", 30.0, 5000.0, True, 0.03, True, 0.0, 10_000.0),
    _Sensor("machine_temperature", "C", 40.0, 95.0, False, 0.6, False, 0.0, 250.0),
    _Sensor("cpu_utilization", "%", 5.0, 75.0, False, 2.5, False, 0.0, 100.0),
    _Sensor("co2", "ppm", 420.0, 1200.0, True, 0.02, True, 0.0, 20_000.0),
    _Sensor("flow_rate", "l/min", 5.0, 300.0, True, 0.04, True, 0.0, 1e9),
)
#: cumulative shares of devices per sensor type (per 100): 85 % known types, 15 % others
_SENSOR_CUM = (17, 34, 51, 68, 85, 89, 93, 97, 100)
_SENSOR_BY_PCT = tuple(_SENSORS[next(i for i, cum in enumerate(_SENSOR_CUM) if pct < cum)] for pct in range(100))
_FIRMWARE = ("2.3.1", "2.4.0", "2.4.2", "3.0.0")
_SKIP_PCT = (0, 0, 10, 25)  # share of a device's even cycles it skips (irregular reporting)
_DAY_MS = 86_400_000
_TAU = 2 * math.pi


class _Device(NamedTuple):
    g: int
    device: str
    sensor: str
    unit: str | None
    level: float
    sigma: float
    daily: float  # amplitude of the daily cycle (0: none)
    phase: float  # of the daily cycle, in days
    grid: float  # > 0: quantised to this step
    skip_pct: int
    heartbeat_phase: int
    battery: float | None  # battery level at midnight UTC; None: mains-powered (no battery_pct)
    firmware: str | None


class IotGenerator:
    """Devices reporting on a cycle, each with its own sensor type (some beyond the five the rules
    know ranges for), level, noise, daily cycle and quirks: readings = level + a small daily cycle
    in event time + noise clipped to ±IOT_MAX_SIGMAS sigmas, some devices quantised to a 0.5 grid,
    some without unit, mains-powered ones without battery, and a heartbeat every
    ``IOT_HEARTBEAT_EVERY`` messages. Some devices skip a cycle now and then (never two in a row),
    their slot going to another device as an extra reading: irregular spacing both ways. Readings
    never repeat three times in a row, never trend or jump, stay inside their type's physical range,
    and every device reports at least every 2 × ``IOT_DEVICE_GAP_S`` seconds, so no IoT rule fires
    on background. (The daily cycle is at most ``IOT_MAX_DAILY_SIGMAS`` noise sigmas: a larger one
    would look like drift to the drift rule, whose baseline is the first 20 readings.)"""

    domain = "iot"

    def __init__(self, *, seed: int, lane: int, lanes: int, tag: str, rate_per_s: float, diurnal: bool,
                 rng: random.Random, peak: float = 1.0, low: float = 1.0) -> None:
        # sized for the lowest rate of the run, so every device reports at least every IOT_DEVICE_GAP_S
        self._n = _population(rate_per_s * low, env.IOT_DEVICE_GAP_S, 1, 5_000_000)
        self._phase = rng.randrange(self._n)
        self._k = 0
        self._lane, self._lanes, self._tag = lane, lanes, tag
        self._seedmix = mix64(seed ^ 0x7B7B)
        self._diurnal = diurnal
        self._devices: dict[int, _Device] = {}
        self._last: dict[int, tuple[float | None, float]] = {}  # quantised devices: their last two values

    def _device(self, idx: int) -> _Device:
        g = idx * self._lanes + self._lane
        h = mix64(g ^ self._seedmix)
        h2 = mix64(h)
        sensor = _SENSOR_BY_PCT[h % 100]
        u = ((h >> 8) & 1023) / 1023
        if sensor.log:
            level = sensor.level_low * (sensor.level_high / sensor.level_low) ** u
        else:
            level = sensor.level_low + (sensor.level_high - sensor.level_low) * u
        sigma = sensor.sigma * (level if sensor.relative else 1.0) * math.exp(0.7 * _NORMAL_256[(h >> 18) & 255])
        room = min(level - sensor.physical_low, sensor.physical_high - level) / (env.IOT_MAX_SIGMAS + 0.5)
        sigma = max(min(sigma, room), env.IOT_MIN_SIGMA)
        grid = env.IOT_GRID if h2 % 10 == 0 and sigma >= env.IOT_QUANTISED_MIN_SIGMAS * env.IOT_GRID else 0.0
        daily = 0.0
        if self._diurnal and (h2 >> 8) % 10 < 7:
            daily = env.IOT_MAX_DAILY_SIGMAS * sigma * (0.5 + 0.5 * ((h2 >> 12) & 255) / 255)
        battery = None if (h2 >> 24) % 10 < 3 else 60.0 + (h >> 32) % 40
        device = _Device(  # in field order (positional: built once per device, on the hot path)
            g, f"dev-{self._tag}-{g:08d}", sensor.name, None if (h2 >> 28) % 10 == 0 else sensor.unit, level,
            sigma, daily, ((h2 >> 32) & 1023) / 1024, grid, _SKIP_PCT[(h2 >> 44) & 3],
            (h >> 48) % env.IOT_HEARTBEAT_EVERY, battery, None if (h2 >> 48) % 20 == 0 else _FIRMWARE[(h >> 60) & 3])
        self._devices[idx] = device
        return device

    def make(self, rng: random.Random, t_ms: int, event_id: str, event_time: str) -> tuple[str, dict[str, Any]]:
        k = self._k
        self._k = k + 1
        n = self._n
        idx = (k * 1_000_000_007 + self._phase) % n
        cycle = k // n
        dev = self._devices.get(idx) or self._device(idx)
        extra = 0
        if dev.skip_pct and not cycle & 1 and n > 1 and \
                mix64(dev.g ^ (cycle << 26) ^ self._seedmix) % 100 < dev.skip_pct:
            idx = (idx + n // 2) % n  # this slot goes to another device: an extra reading of its own
            dev = self._devices.get(idx) or self._device(idx)
            extra = 1
        elif (cycle + dev.heartbeat_phase) % env.IOT_HEARTBEAT_EVERY == 0:
            battery = None
            if dev.battery is not None:
                drained = 0.2 * ((t_ms // 1000) % 86_400) / 3600  # 0.2 %/h, recharged at midnight UTC
                battery = round(max(dev.battery - drained, env.IOT_MIN_BATTERY), 1)
            return dev.device, {
                "event_id": event_id, "event_time": event_time, "domain": "iot",
                "device_id": dev.device, "event_type": "heartbeat", "sensor_type": None, "value": None,
                "unit": None, "battery_pct": battery, "firmware": dev.firmware,
            }
        level = dev.level
        if dev.daily:
            level += dev.daily * math.sin(_TAU * (t_ms / _DAY_MS + dev.phase))
        z = min(max(rng.gauss(0.0, 1.0), -env.IOT_MAX_SIGMAS), env.IOT_MAX_SIGMAS)
        if dev.grid:
            value = round((level + dev.sigma * z) / dev.grid) * dev.grid
            before, last = self._last.get(idx, (None, None))
            if before == last == value:  # never three identical values in a row: one step toward the level
                value += dev.grid if value < level else -dev.grid
            self._last[idx] = (last, value)
        else:
            # two decimals of signal, the third counts the device's readings (2 per cycle at most):
            # consecutive readings always differ
            value = round(round(level + dev.sigma * z, 2) + ((2 * cycle + extra) % 10) / 1000, 3)
        return dev.device, {
            "event_id": event_id, "event_time": event_time, "domain": "iot",
            "device_id": dev.device, "event_type": "reading", "sensor_type": dev.sensor, "value": value,
            "unit": dev.unit, "battery_pct": None, "firmware": dev.firmware,
        }


GENERATORS: dict[str, type[PaymentsGenerator] | type[GamingGenerator] | type[IotGenerator]] = {
    "payments": PaymentsGenerator,
    "gaming": GamingGenerator,
    "iot": IotGenerator,
}
