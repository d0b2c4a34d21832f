"""Payments scenarios: for each rule, one instance that must fire and near misses that must not.

Every instance uses only ``ctx.entity`` (a fresh card or account) and respects the other payment
rules' envelopes (docs/rules.md), so it can only fire its own rule. Parameters come from
``ctx.params`` (the rule's catalog values); the defaults below are catalog v1's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from include.patternalarm.scenarios.base import ScenarioContext, ScenarioInstance, ScheduledEvent, register

DOMAIN = "payments"

# (name, lat, lon, country) — far-apart cities for impossible travel
CITIES = (
    ("paris", 48.8566, 2.3522, "FR"),
    ("new_york", 40.7128, -74.0060, "US"),
    ("tokyo", 35.6762, 139.6503, "JP"),
    ("sydney", -33.8688, 151.2093, "AU"),
    ("sao_paulo", -23.5505, -46.6333, "BR"),
    ("johannesburg", -26.2041, 28.0473, "ZA"),
)


def _p(ctx: ScenarioContext, name: str, default: float) -> float:
    value = ctx.params.get(name, default)
    return float(value)


def _card_event(ctx: ScenarioContext, offset: float, amount: float, *, channel: str = "ecommerce",
                event_type: str = "auth", lat: float | None = None, lon: float | None = None,
                country: str | None = None, card: str | None = None, merchant: str | None = None) -> ScheduledEvent:
    card = card or ctx.entity
    payload: dict[str, Any] = {
        "domain": DOMAIN, "card_id": card, "account_id": f"acct-{card}", "event_type": event_type,
        "amount": round(amount, 2), "currency": "EUR",
        "merchant_id": merchant or f"{ctx.entity}-m{ctx.rng.randint(1, 999_999):06d}",
        "country": country, "lat": lat, "lon": lon, "channel": channel, "auth_result": "approved",
    }
    return ScheduledEvent(offset_s=round(offset, 3), domain=DOMAIN, key=card, payload=payload)


def _account_event(ctx: ScenarioContext, offset: float, event_type: str, amount: float | None = None,
                   channel: str = "web") -> ScheduledEvent:
    payload: Mapping[str, Any] = {
        "domain": DOMAIN, "card_id": None, "account_id": ctx.entity, "event_type": event_type,
        "amount": None if amount is None else round(amount, 2), "currency": None if amount is None else "EUR",
        "merchant_id": None, "country": None, "lat": None, "lon": None, "channel": channel, "auth_result": None,
    }
    return ScheduledEvent(offset_s=round(offset, 3), domain=DOMAIN, key=ctx.entity, payload=payload)


def _instance(ctx: ScenarioContext, rule_id: str, variant: str, events: list[ScheduledEvent],
              completing: int | None, notes: str = "",
              side_alerts: tuple[tuple[str, str], ...] = ()) -> ScenarioInstance:
    fires = completing is not None
    events = sorted(events, key=lambda e: e.offset_s)
    return ScenarioInstance(rule_id=rule_id, variant=variant, should_alert=fires, domain=DOMAIN, entity=ctx.entity,
                            events=tuple(events), completing_index=completing, notes=notes, side_alerts=side_alerts)


@register("card_testing")
def card_testing(ctx: ScenarioContext) -> list[ScenarioInstance]:
    small_max = _p(ctx, "small_amount_max", 2.0)
    large_min = _p(ctx, "large_amount_min", 500.0)
    n = int(_p(ctx, "min_small_auths", 3))
    window = _p(ctx, "window_s", 60)
    rng = ctx.rng

    def small() -> float:
        return rng.uniform(0.25 * small_max, 0.99 * small_max)

    def large() -> float:
        return rng.uniform(large_min * 1.2, large_min * 3.0)

    fires = [_card_event(ctx, 5.0 * i, small()) for i in range(n)] + [_card_event(ctx, 5.0 * n + 5, large())]
    too_few = [_card_event(ctx, 5.0 * i, small()) for i in range(n - 1)] + [_card_event(ctx, 5.0 * n, large())]
    below = [_card_event(ctx, 5.0 * i, small()) for i in range(n)] + \
        [_card_event(ctx, 5.0 * n + 5, large_min * 0.9)]
    step = (window + 5) / n
    slow = [_card_event(ctx, step * i, small()) for i in range(n)] + [_card_event(ctx, window + 5, large())]
    return [
        _instance(ctx, "card_testing", "fires", fires, len(fires) - 1),
        _instance(ctx, "card_testing", "too_few_small_auths", too_few, None),
        _instance(ctx, "card_testing", "large_below_threshold", below, None),
        _instance(ctx, "card_testing", "outside_window", slow, None, notes=f"first to last {window + 5:.0f}s"),
    ]


@register("velocity")
def velocity(ctx: ScenarioContext) -> list[ScenarioInstance]:
    max_auths = int(_p(ctx, "max_auths", 4))
    max_amount = _p(ctx, "max_amount", 2500.0)
    window = _p(ctx, "window_s", 60)
    rng = ctx.rng
    spacing = min(8.0, window / (max_auths + 2))
    per_auth = min(80.0, max_amount / (max_auths + 2))

    def normal() -> float:
        return rng.uniform(per_auth / 4, per_auth)

    count = [_card_event(ctx, spacing * i, normal()) for i in range(max_auths + 1)]
    big = max_amount / 2.8
    amount = [_card_event(ctx, 10.0 * i, big) for i in range(3)]
    at_limit = [_card_event(ctx, spacing * i, normal()) for i in range(max_auths)]
    slow_step = window / max_auths + 2
    spread = [_card_event(ctx, slow_step * i, normal()) for i in range(max_auths + 1)]
    under = [_card_event(ctx, 0.0, max_amount * 0.48), _card_event(ctx, 10.0, max_amount * 0.48)]
    return [
        _instance(ctx, "velocity", "fires", count, len(count) - 1),
        _instance(ctx, "velocity", "fires_amount", amount, len(amount) - 1),
        _instance(ctx, "velocity", "at_count_limit", at_limit, None),
        _instance(ctx, "velocity", "spread_out", spread, None),
        _instance(ctx, "velocity", "amount_under_limit", under, None),
    ]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance, the same formula as the SQL rule."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = math.sin(math.radians(lat2 - lat1) / 2) ** 2 + \
        math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _offset_point(lat: float, lon: float, km: float, bearing_deg: float) -> tuple[float, float]:
    """The point ``km`` away from (lat, lon) along ``bearing_deg`` (spherical earth)."""
    d = km / 6371.0
    b = math.radians(bearing_deg)
    phi1, lam1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(math.sin(phi1) * math.cos(d) + math.cos(phi1) * math.sin(d) * math.cos(b))
    lam2 = lam1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(phi1), math.cos(d) - math.sin(phi1) * math.sin(phi2))
    return round(math.degrees(phi2), 6), round((math.degrees(lam2) + 540) % 360 - 180, 6)


@register("impossible_travel")
def impossible_travel(ctx: ScenarioContext) -> list[ScenarioInstance]:
    max_kmh = _p(ctx, "max_speed_kmh", 900.0)
    min_km = _p(ctx, "min_distance_km", 15.0)
    rng = ctx.rng
    home, away = rng.sample(CITIES, 2)
    _, hlat, hlon, hcountry = home
    _, alat, alon, acountry = away

    def present(offset: float, lat: float, lon: float, country: str) -> ScheduledEvent:
        return _card_event(ctx, offset, rng.uniform(10, 120), channel="card_present", lat=lat, lon=lon,
                           country=country)

    fires = [present(0.0, hlat, hlon, hcountry), present(30.0, alat, alon, acountry)]
    # fast but possible: 90% of the limit over 80 s, and at least the minimum distance
    dt = 80.0
    km = max(min_km * 1.1, max_kmh * 0.9 * dt / 3600)
    flat, flon = _offset_point(hlat, hlon, km, rng.uniform(0, 360))
    fast_ok = [present(0.0, hlat, hlon, hcountry), present(dt, flat, flon, hcountry)]
    jlat, jlon = _offset_point(hlat, hlon, min_km * 0.5, rng.uniform(0, 360))
    jitter = [present(0.0, hlat, hlon, hcountry), present(2.0, jlat, jlon, hcountry)]
    online = [present(0.0, hlat, hlon, hcountry),
              _card_event(ctx, 30.0, rng.uniform(10, 120), channel="ecommerce", lat=alat, lon=alon, country=acountry)]
    return [
        _instance(ctx, "impossible_travel", "fires", fires, 1),
        _instance(ctx, "impossible_travel", "fast_but_possible", fast_ok, None,
                  notes=f"{km:.1f} km in {dt:.0f} s"),
        _instance(ctx, "impossible_travel", "below_min_distance", jitter, None),
        _instance(ctx, "impossible_travel", "online_abroad", online, None),
    ]


@register("account_takeover")
def account_takeover(ctx: ScenarioContext) -> list[ScenarioInstance]:
    n = int(_p(ctx, "min_failed_logins", 3))
    rng = ctx.rng

    def sequence(fails: int, change: str | None, payout: bool) -> list[ScheduledEvent]:
        events = [_account_event(ctx, 5.0 * i, "login_failed") for i in range(fails)]
        t = 5.0 * fails
        events.append(_account_event(ctx, t, "login"))
        if change:
            events.append(_account_event(ctx, t + 15, change))
        if payout:
            events.append(_account_event(ctx, t + 30, "payout", rng.uniform(500, 5000)))
        return events

    fires = sequence(n, rng.choice(("password_reset", "payout_change")), True)
    return [
        _instance(ctx, "account_takeover", "fires", fires, len(fires) - 1),
        _instance(ctx, "account_takeover", "too_few_failures", sequence(n - 1, "payout_change", True), None),
        _instance(ctx, "account_takeover", "no_payout", sequence(n, "password_reset", False), None),
        _instance(ctx, "account_takeover", "no_credential_change", sequence(n, None, True), None),
    ]


@register("structuring")
def structuring(ctx: ScenarioContext) -> list[ScenarioInstance]:
    threshold = _p(ctx, "reporting_threshold", 10000.0)
    band = _p(ctx, "band_pct", 10.0) / 100.0
    n = int(_p(ctx, "min_deposits", 3))
    rng = ctx.rng
    low = threshold * (1 - band)

    def in_band() -> float:
        return math.floor(rng.uniform(low + 0.05 * (threshold - low), threshold - 0.05 * (threshold - low)) * 100) / 100

    def deposits(amounts: list[float]) -> list[ScheduledEvent]:
        return [_account_event(ctx, 20.0 * i, "deposit", a) for i, a in enumerate(amounts)]

    fires = deposits([in_band() for _ in range(n)])
    at_threshold = deposits([in_band() for _ in range(n - 1)] + [threshold])
    below = deposits([round(low * 0.94, 2) for _ in range(n)])
    mixed = deposits([in_band() for _ in range(n - 1)] + [round(threshold / 2, 2)])
    return [
        _instance(ctx, "structuring", "fires", fires, len(fires) - 1),
        _instance(ctx, "structuring", "last_at_threshold", at_threshold, None),
        _instance(ctx, "structuring", "below_band", below, None),
        _instance(ctx, "structuring", "too_few_in_band", mixed, None),
    ]


# --- catalog v4: amounts against their own norms ---------------------------------------------------
# An auth every 16 s keeps a card within velocity (at most 4 auths in any 60 s); every merchant is fresh
# unless the scenario is about it, so no merchant norm is judged; amounts stay far below large_amount.
GAP = 16.0


def _norm_auths(ctx: ScenarioContext, card: str, count: int, t0: float = 0.0) -> tuple[list[ScheduledEvent], float]:
    """``count`` auths of ``card`` around its own norm (within ±15 %), one every GAP seconds."""
    norm = round(ctx.rng.uniform(20.0, 120.0), 2)
    return [_card_event(ctx, t0 + i * GAP, norm * ctx.rng.uniform(0.87, 1.15), card=card) for i in range(count)], norm


@register("amount_anomaly")
def amount_anomaly(ctx: ScenarioContext) -> list[ScenarioInstance]:
    warmup = int(_p(ctx, "card_warmup_auths", 5))

    def card(factor: float) -> list[ScheduledEvent]:
        events, norm = _norm_auths(ctx, ctx.entity, warmup)
        return [*events, _card_event(ctx, warmup * GAP, norm * factor)]

    early, norm = _norm_auths(ctx, ctx.entity, 2)
    return [
        _instance(ctx, "amount_anomaly", "fires", card(8.0), warmup, notes="an auth 8x the card's norm"),
        _instance(ctx, "amount_anomaly", "a_bit_more", card(1.5), None),
        _instance(ctx, "amount_anomaly", "before_the_norm_is_known",
                  [*early, _card_event(ctx, 2 * GAP, norm * 8.0)], None),
    ]


@register("merchant_amount_anomaly")
def merchant_amount_anomaly(ctx: ScenarioContext) -> list[ScenarioInstance]:
    warmup = int(_p(ctx, "merchant_warmup_auths", 30))
    merchant = ctx.entity

    def merchant_auths(factor: float) -> tuple[list[ScheduledEvent], int]:
        norm = round(ctx.rng.uniform(20.0, 120.0), 2)
        events = [_card_event(ctx, i * 1.5, norm * ctx.rng.uniform(0.9, 1.1), card=f"{merchant}-c{i}",
                              merchant=merchant) for i in range(warmup + 5)]
        events += [_card_event(ctx, (warmup + 5 + i) * 1.5, norm * factor, card=f"{merchant}-c{warmup + 5 + i}",
                               merchant=merchant) for i in range(4)]
        return events, warmup + 5 + 2  # the CUSUM passes its interval on the third high auth

    fires, at = merchant_auths(10.0)
    mild, _ = merchant_auths(1.1)
    return [
        _instance(ctx, "merchant_amount_anomaly", "fires", fires, at, notes="4 auths at 10x the merchant's norm"),
        _instance(ctx, "merchant_amount_anomaly", "a_bit_more", mild, None),
    ]


@register("compromised_terminal")
def compromised_terminal(ctx: ScenarioContext) -> list[ScenarioInstance]:
    need = int(_p(ctx, "min_cards", 3))
    warmup = int(_p(ctx, "card_warmup_auths", 5))
    terminal = ctx.entity

    def cards(count: int) -> tuple[list[ScheduledEvent], list[str]]:
        events: list[ScheduledEvent] = []
        names = []
        for j in range(count):
            name = f"{terminal}-c{j}"
            names.append(name)
            own, norm = _norm_auths(ctx, name, warmup, t0=j * 2.0)
            events += [*own, _card_event(ctx, j * 2.0 + warmup * GAP, norm * 8.0, card=name, merchant=terminal)]
        return events, names

    fires, names = cards(need)
    two, two_names = cards(need - 1)
    # each card's own amount jumps too: amount_anomaly on those cards is by design
    return [
        _instance(ctx, "compromised_terminal", "fires", fires, len(fires) - 1,
                  notes=f"{need} cards with an 8x auth at one terminal",
                  side_alerts=tuple(("amount_anomaly", n) for n in names)),
        _instance(ctx, "compromised_terminal", "too_few_cards", two, None,
                  side_alerts=tuple(("amount_anomaly", n) for n in two_names)),
    ]


@register("large_amount")
def large_amount(ctx: ScenarioContext) -> list[ScenarioInstance]:
    limit = _p(ctx, "min_amount", 5000.0)
    velocity = (("velocity", ctx.entity),)  # an amount this large also breaks velocity's amount limit
    return [
        _instance(ctx, "large_amount", "fires", [_card_event(ctx, 0.0, limit * 1.2)], 0,
                  side_alerts=velocity if limit * 1.2 > 2500 else ()),
        _instance(ctx, "large_amount", "just_below", [_card_event(ctx, 0.0, limit * 0.98)], None,
                  side_alerts=velocity if limit * 0.98 > 2500 else ()),
    ]
