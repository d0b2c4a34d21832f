"""Scenario factories used by the traffic tests (the simulator's contract, independent of the real
rule catalog): one payments rule and one IoT rule, each with an instance that fires and a near miss."""

from __future__ import annotations

from include.patternalarm.scenarios.base import ScenarioContext, ScenarioInstance, ScheduledEvent


def _auth(entity: str, amount: float) -> dict:
    return {"domain": "payments", "card_id": entity, "account_id": f"{entity}-acct", "event_type": "auth",
            "amount": amount, "currency": "EUR", "merchant_id": "m-test", "country": "FR", "lat": None,
            "lon": None, "channel": "ecommerce", "auth_result": "approved"}


def card_probe(ctx: ScenarioContext) -> list[ScenarioInstance]:
    """Three tiny auths then a big one (fires); two tiny auths then a big one (near miss)."""
    small = ctx.params.get("small", 1.5)
    jitter = round(ctx.rng.uniform(0.0, 0.5), 3)
    fire = tuple(ScheduledEvent(off + jitter, "payments", ctx.entity, _auth(ctx.entity, amt))
                 for off, amt in ((0.0, small), (1.0, small), (2.0, small), (3.0, 750.0)))
    near = tuple(ScheduledEvent(off, "payments", ctx.entity, _auth(ctx.entity, amt))
                 for off, amt in ((0.0, small), (1.0, small), (3.0, 750.0)))
    return [
        ScenarioInstance("test_card_probe", "fires", True, "payments", ctx.entity, fire, completing_index=3),
        ScenarioInstance("test_card_probe", "two_small", False, "payments", ctx.entity, near),
    ]


def _reading(entity: str, value: float) -> dict:
    return {"domain": "iot", "device_id": entity, "event_type": "reading", "sensor_type": "temperature",
            "value": value, "unit": "C", "battery_pct": None, "firmware": "2.4.0"}


def sensor_flat(ctx: ScenarioContext) -> list[ScenarioInstance]:
    """Five identical readings (fires); four identical then a different one (near miss)."""
    value = round(ctx.rng.uniform(18, 24), 2)
    fire = tuple(ScheduledEvent(i * 0.5, "iot", ctx.entity, _reading(ctx.entity, value)) for i in range(5))
    near = tuple(ScheduledEvent(i * 0.5, "iot", ctx.entity, _reading(ctx.entity, value + (0.5 if i == 4 else 0)))
                 for i in range(5))
    return [
        ScenarioInstance("test_sensor_flat", "fires", True, "iot", ctx.entity, fire, completing_index=4),
        ScenarioInstance("test_sensor_flat", "four_flat", False, "iot", ctx.entity, near),
    ]


FACTORIES = {"test_card_probe": card_probe, "test_sensor_flat": sensor_flat}
