"""Background traffic per domain: many entities with their own habits, a diurnal shape, and every
value inside the background envelope (``envelope``) so that normal traffic never fires a rule.

A generator is deterministic given its ``random.Random``: ``make(rng, t_ms, event_id, event_time)``
returns ``(key, event)`` with the event's fields in contract order (``event_id`` first).
"""

from __future__ import annotations

import math
import random
from typing import Any, Protocol

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


# --- payments ---------------------------------------------------------------------------------------

_MERCHANTS = tuple(f"m-{i:05d}" for i in range(20_000))
# per-card median amount: 64 levels from a log-normal spread of typical basket sizes
_MEDIANS = tuple(round(min(max(math.exp(2.7 + 1.0 * (i - 31.5) / 16), env.PAY_MIN_AMOUNT * 2), 400.0), 2)
                 for i in range(64))
# channel profiles (cumulative): card_present, ecommerce, atm, mobile
_CHANNELS = ("card_present", "ecommerce", "atm", "mobile")
_CHANNEL_PROFILES = ((0.70, 0.90, 0.97, 1.0), (0.25, 0.85, 0.90, 1.0), (0.45, 0.75, 0.85, 1.0), (0.10, 0.55, 0.60, 1.0))


class PaymentsGenerator:
    """Cards (auth / capture / refund) and their accounts (login, deposit, payout, …).

    Habits per card: home country and city, median amount, channel profile, six favourite
    merchants. Accounts fall in two classes so that no account ever shows a takeover-like chain:
    most log in, deposit and withdraw; a few reset passwords and change payout details but never
    withdraw. A failed login is always a single one (an account is seen once per visit cycle).
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
            amount = _MEDIANS[h & 63] * math.exp(0.45 * rng.gauss(0.0, 1.0))
            amount = round(min(max(amount, env.PAY_MIN_AMOUNT), env.PAY_MAX_AMOUNT), 2)
            profile = _CHANNEL_PROFILES[(h >> 6) & 3]
            r = rand()
            channel = "card_present" if r < profile[0] else (
                "ecommerce" if r < profile[1] else ("atm" if r < profile[2] else "mobile"))
            if channel == "card_present" or channel == "atm":
                jit = env.PAY_HOME_JITTER_DEG
                lat = round(country.lat + (((h >> 10) & 1023) / 1023 - 0.5) * jit + (rand() - 0.5) * 0.01, 4)
                lon = round(country.lon + (((h >> 20) & 1023) / 1023 - 0.5) * jit + (rand() - 0.5) * 0.01, 4)
            else:
                lat = lon = None
            if channel == "atm":
                amount = float(20 * max(1, min(int(amount // 20), 20)))
            merchant = _MERCHANTS[((h >> 30) + int(rand() * 6) * 7919) % 20_000]
            result = None
            if event_type == "auth":
                result = "declined" if rand() < env.PAY_DECLINE_RATE else "approved"
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
            amount = round(min(max(_MEDIANS[h & 63] * 3 * math.exp(0.4 * rng.gauss(0.0, 1.0)),
                                   env.PAY_MIN_AMOUNT), env.PAY_MAX_AMOUNT), 2)
        return account, {
            "event_id": event_id, "event_time": event_time, "domain": "payments",
            "card_id": None, "account_id": account, "event_type": event_type,
            "amount": amount, "currency": country.currency if amount is not None else None, "merchant_id": None,
            "country": country.code, "lat": None, "lon": None,
            "channel": "mobile" if (h >> 8) & 1 else "web", "auth_result": None,
        }


# --- gaming -----------------------------------------------------------------------------------------

# regions: weight, UTC offset of their evening
_REGIONS = ((30, -5.0), (30, 1.0), (10, -3.0), (22, 8.0), (8, 10.0))
_TEAM = 10  # players who share matches


class GamingGenerator:
    """Players in teams of ten who share matches (a new match every 10–20 minutes).

    Habits per player: skill (headshot rate), reaction time, a smooth path through the map at a
    speed below the envelope (so consecutive positions are always reachable), a home region with
    an evening peak.
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
        z = float((h >> 54) & 3)
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
                typical = 260.0 + 200.0 * ((h >> 12) & 255) / 255
                reaction = round(min(max(typical * math.exp(0.25 * rng.gauss(0.0, 1.0)),
                                         env.GAME_MIN_REACTION_MS + 5), 2500.0), 1)
        elif r < 0.97 or visit % env.GAME_TRADE_EVERY:
            action = "currency_gain"
            amount = float(1 + int(rand() * env.GAME_MAX_CURRENCY_GAIN))
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

# sensor: unit, baseline range, (unused: diurnal swing), noise sigma (fraction of baseline)
_SENSORS = (
    ("temperature", "C", 16.0, 26.0, 0.12, 0.015),
    ("humidity", "%", 35.0, 60.0, 0.10, 0.02),
    ("pressure", "hPa", 990.0, 1030.0, 0.001, 0.0005),
    ("vibration", "mm/s", 1.0, 3.0, 0.0, 0.05),
    ("power", "W", 150.0, 2000.0, 0.25, 0.02),
)
_FIRMWARE = ("2.3.1", "2.4.0", "2.4.2", "3.0.0")


class IotGenerator:
    """Devices reporting on a fixed cycle: readings at a constant per-device baseline with bounded
    noise, and a heartbeat every ``IOT_HEARTBEAT_EVERY`` messages. Readings never repeat exactly,
    never trend or jump, and every device reports at least every ``IOT_DEVICE_GAP_S`` seconds, so no
    IoT rule fires on background. (The diurnal shape lives in payments and gaming activity; a
    diurnal swing in readings would look like drift to the drift rule.)"""

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

    def make(self, rng: random.Random, t_ms: int, event_id: str, event_time: str) -> tuple[str, dict[str, Any]]:
        k = self._k
        self._k = k + 1
        n = self._n
        idx = (k * 1_000_000_007 + self._phase) % n
        cycle = k // n
        g = idx * self._lanes + self._lane
        h = mix64(g ^ self._seedmix)
        device = f"dev-{self._tag}-{g:08d}"
        firmware = _FIRMWARE[(h >> 60) & 3]
        if (cycle + (h >> 48)) % env.IOT_HEARTBEAT_EVERY == 0:
            start = 60.0 + (h >> 32) % 40
            drained = 0.2 * ((t_ms // 1000) % 86_400) / 3600  # 0.2 %/h, recharged at midnight UTC
            return device, {
                "event_id": event_id, "event_time": event_time, "domain": "iot",
                "device_id": device, "event_type": "heartbeat", "sensor_type": None, "value": None,
                "unit": None, "battery_pct": round(max(start - drained, env.IOT_MIN_BATTERY), 1),
                "firmware": firmware,
            }
        sensor, unit, low, high, _, noise = _SENSORS[h % 5]
        base = low + (high - low) * ((h >> 8) & 1023) / 1023
        sigma = max(base * noise, env.IOT_MIN_SIGMA)
        z = min(max(rng.gauss(0.0, 1.0), -env.IOT_MAX_SIGMAS), env.IOT_MAX_SIGMAS)
        # two decimals of signal, the third is the visit number: consecutive readings always differ
        value = round(round(base + sigma * z, 2) + (cycle % 10) / 1000, 3)
        return device, {
            "event_id": event_id, "event_time": event_time, "domain": "iot",
            "device_id": device, "event_type": "reading", "sensor_type": sensor, "value": value,
            "unit": unit, "battery_pct": None, "firmware": firmware,
        }


GENERATORS: dict[str, type[PaymentsGenerator] | type[GamingGenerator] | type[IotGenerator]] = {
    "payments": PaymentsGenerator,
    "gaming": GamingGenerator,
    "iot": IotGenerator,
}
