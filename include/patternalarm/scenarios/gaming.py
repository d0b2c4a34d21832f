"""Gaming scenarios: for each rule, one instance that must fire and near misses that must not.

Every instance uses only ``ctx.entity`` (a fresh player) and respects the other gaming rules'
envelopes (docs/rules.md). Parameters come from ``ctx.params`` (defaults: catalog v1).
"""

from __future__ import annotations

import math
from typing import Any

from include.patternalarm.scenarios.base import ScenarioContext, ScenarioInstance, ScheduledEvent, register

DOMAIN = "gaming"


def _p(ctx: ScenarioContext, name: str, default: float) -> float:
    return float(ctx.params.get(name, default))


def _event(ctx: ScenarioContext, offset: float, action: str, match_id: str, **fields: Any) -> ScheduledEvent:
    payload: dict[str, Any] = {
        "domain": DOMAIN, "player_id": ctx.entity, "match_id": match_id, "action": action,
        "x": None, "y": None, "z": None, "target_id": None, "headshot": None, "reaction_ms": None,
        "item_id": None, "amount": None, "counterparty_id": None,
    }
    payload.update(fields)
    return ScheduledEvent(offset_s=round(offset, 3), domain=DOMAIN, key=ctx.entity, payload=payload)


def _instance(ctx: ScenarioContext, rule_id: str, variant: str, events: list[ScheduledEvent],
              completing: int | None, notes: str = "") -> ScenarioInstance:
    return ScenarioInstance(rule_id=rule_id, variant=variant, should_alert=completing is not None, domain=DOMAIN,
                            entity=ctx.entity, events=tuple(events), completing_index=completing, notes=notes)


def _match(ctx: ScenarioContext) -> str:
    return f"match-{ctx.rng.randint(0, 16**8):08x}"


def _walk(ctx: ScenarioContext, match_id: str, start: tuple[float, float], t0: float, steps: int, speed: float,
          dt: float = 1.0) -> tuple[list[ScheduledEvent], tuple[float, float]]:
    """``steps`` moves ``dt`` apart at ``speed`` units/s in a random direction."""
    x, y = start
    heading = ctx.rng.uniform(0, 2 * math.pi)
    events = []
    for i in range(steps):
        x, y = x + speed * dt * math.cos(heading), y + speed * dt * math.sin(heading)
        events.append(_event(ctx, t0 + i * dt, "move", match_id, x=round(x, 3), y=round(y, 3), z=0.0))
    return events, (x, y)


@register("speed_hack")
def speed_hack(ctx: ScenarioContext) -> list[ScenarioInstance]:
    max_speed = _p(ctx, "max_speed_ups", 20.0)
    rng = ctx.rng
    match = _match(ctx)
    start = (rng.uniform(-500, 500), rng.uniform(-500, 500))
    walk, (x, y) = _walk(ctx, match, start, 0.0, 5, 7.0)
    jump = _event(ctx, 5.0, "move", match, x=round(x + 4 * max_speed, 3), y=round(y, 3), z=0.0)
    after, _ = _walk(ctx, match, (x + 4 * max_speed, y), 6.0, 2, 7.0)
    fires = [*walk, jump, *after]
    # 0.7 x the limit: live producers stamp event_time at send, so 1 s steps may shrink by a few
    # hundred ms under load; the near miss must stay below the limit anyway
    sprint, _ = _walk(ctx, match, start, 0.0, 6, 0.7 * max_speed)
    before, (x2, y2) = _walk(ctx, match, start, 0.0, 5, 7.0)
    other = _match(ctx)
    respawn = _event(ctx, 5.0, "move", other, x=round(x2 + 50 * max_speed, 3), y=round(y2, 3), z=0.0)
    return [
        _instance(ctx, "speed_hack", "fires", fires, len(walk)),
        _instance(ctx, "speed_hack", "fast_sprint", sprint, None, notes=f"{0.7 * max_speed:.1f} units/s"),
        _instance(ctx, "speed_hack", "jump_between_matches", [*before, respawn], None),
    ]


@register("aimbot")
def aimbot(ctx: ScenarioContext) -> list[ScenarioInstance]:
    """Catalog v4: the headshot ratio of a player's recent kills against everybody's. The instance brings
    a crowd of ordinary players first (their kills are the population's norm; the live background has
    one too), then the player's kills. No reaction_ms anywhere: the rule must not need it."""
    min_kills = int(_p(ctx, "min_kills", 20))
    rng = ctx.rng
    match = _match(ctx)

    def kills(player: str, t0: float, count: int, headshots: int, gap: float) -> list[ScheduledEvent]:
        flags = [True] * headshots + [False] * (count - headshots)
        rng.shuffle(flags)
        return [ScheduledEvent(offset_s=round(t0 + i * gap, 3), domain=DOMAIN, key=player, payload={
            "domain": DOMAIN, "player_id": player, "match_id": match, "action": "kill",
            "target_id": f"p-{rng.randint(1, 99999):05d}", "headshot": flags[i]}) for i in range(count)]

    def instance(variant: str, count: int, headshots: int) -> tuple[list[ScheduledEvent], int | None]:
        crowd = [e for j in range(10) for e in kills(f"{ctx.entity}-crowd{j}", j * 0.2, 25, 5, 2.0)]
        own = kills(ctx.entity, 55.0, count, headshots, 1.0)
        events = sorted(crowd + own, key=lambda e: e.offset_s)
        if variant != "fires":
            return events, None
        twentieth = own[min_kills - 1]
        return events, events.index(twentieth)

    fires, at = instance("fires", 25, 24)
    skilled, _ = instance("skilled", 25, 10)
    few, _ = instance("few", min_kills - 5, min_kills - 5)
    return [
        _instance(ctx, "aimbot", "fires", fires, at, notes="24 headshots in 25 kills; the crowd: 1 in 5"),
        _instance(ctx, "aimbot", "skilled_player", skilled, None),
        _instance(ctx, "aimbot", "too_few_kills", few, None),
    ]


@register("impossible_apm")
def impossible_apm(ctx: ScenarioContext) -> list[ScenarioInstance]:
    max_apm = _p(ctx, "max_apm", 300)
    n = int(_p(ctx, "min_run_actions", 100))
    limit_s = 60.0 / max_apm
    match = _match(ctx)

    def burst(count: int, gap_s: float, action: str = "move") -> list[ScheduledEvent]:
        return [_event(ctx, i * gap_s, action, match) for i in range(count)]

    return [
        _instance(ctx, "impossible_apm", "fires", burst(n, 0.75 * limit_s), n - 1,
                  notes=f"{n} moves at {max_apm / 0.75:.0f} APM"),
        _instance(ctx, "impossible_apm", "fast_human", burst(n, 1.25 * limit_s), None),
        _instance(ctx, "impossible_apm", "short_burst", burst(max(2, int(n * 0.6)), 0.75 * limit_s), None),
        _instance(ctx, "impossible_apm", "automatic_weapon", burst(n, 0.1, "shot"), None,
                  notes="weapon fire at 600 rounds a minute is not input"),
    ]


@register("currency_farming")
def currency_farming(ctx: ScenarioContext) -> list[ScenarioInstance]:
    window = _p(ctx, "gain_window_s", 10)
    min_history = int(_p(ctx, "min_history_windows", 3))
    factor = _p(ctx, "spike_factor", 10.0)
    min_gain = _p(ctx, "min_gain", 1000.0)
    min_trades = int(_p(ctx, "min_trades", 5))
    trade_window = _p(ctx, "trade_window_s", 60)
    rng = ctx.rng
    match = _match(ctx)
    history_s = (min_history + 1) * window  # enough windows of history whatever the window alignment
    step = window / 5

    def history(low: float, high: float) -> list[ScheduledEvent]:
        count = int(history_s / step)
        return [_event(ctx, i * step, "currency_gain", match, amount=round(rng.uniform(low, high), 2))
                for i in range(count)]

    spike_at = history_s + 0.7 * window
    spike_amount = max(min_gain * 2, factor * 5 * 60 * 2.5)
    fires = [*history(20, 60), _event(ctx, spike_at, "currency_gain", match, amount=round(spike_amount, 2))]
    # a rich player: windows of ~5 gains of 150-250 (~1,000); a spike of half factor x that is no spike
    rich_spike = max(min_gain, 0.5 * factor * 5 * 200)
    rich = [*history(150, 250), _event(ctx, spike_at, "currency_gain", match, amount=round(rich_spike, 2))]
    fresh = [_event(ctx, 0.0, "currency_gain", match, amount=round(spike_amount, 2))]
    counterparty = f"p-{rng.randint(1, 99999):05d}"
    gap = trade_window / (min_trades + 1)

    def trade(i: int, to: str) -> ScheduledEvent:
        return _event(ctx, i * gap, "trade", match, counterparty_id=to, item_id=f"item-{rng.randint(1, 500)}",
                      amount=round(rng.uniform(10, 200), 2))

    trades = [trade(i, counterparty) for i in range(min_trades)]
    spread = [trade(i, f"{counterparty}-{i}") for i in range(min_trades)]
    few = [trade(i, counterparty) for i in range(min_trades - 1)]
    return [
        _instance(ctx, "currency_farming", "fires", fires, len(fires) - 1,
                  notes="gain_spike; the alert comes when the spike's window closes"),
        _instance(ctx, "currency_farming", "fires_repeated_trades", trades, len(trades) - 1),
        _instance(ctx, "currency_farming", "rich_player_spike", rich, None),
        _instance(ctx, "currency_farming", "spike_without_history", fresh, None),
        _instance(ctx, "currency_farming", "trades_to_many", spread, None),
        _instance(ctx, "currency_farming", "too_few_trades", few, None),
    ]
