"""Contract-valid alerts made up on the spot, for benchmarks and tests that publish alerts directly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from include.patternalarm.alerts import alert_id_for, format_time


def synthetic_alert(rule_id: str, entity: str, first_event_id: str, *, domain: str = "payments",
                    severity: str = "medium", rule_version: int = 1, first_event_time: datetime | None = None,
                    span: timedelta = timedelta(seconds=5), detected_at: datetime | None = None,
                    extra_event_ids: int = 2, **evidence: Any) -> dict[str, Any]:
    """One alert as the detection jobs write it to Kafka (a JSON-ready dict)."""
    first = first_event_time or datetime.now(UTC) - span
    last = first + span
    event_ids = [first_event_id, *(f"{first_event_id}+{i}" for i in range(1, extra_event_ids + 1))]
    return {
        "alert_id": alert_id_for(rule_id, rule_version, entity, first_event_id),
        "rule_id": rule_id,
        "rule_version": rule_version,
        "domain": domain,
        "entity": entity,
        "severity": severity,
        "first_event_time": format_time(first),
        "last_event_time": format_time(last),
        "detected_at": format_time(detected_at or last),
        "evidence": {"event_ids": event_ids, **evidence},
    }


#: (domain, severity) of the shipped rules, for made-up incidents that look like the real ones
RULES = {
    "card_testing": ("payments", "high"), "velocity": ("payments", "medium"),
    "impossible_travel": ("payments", "high"), "account_takeover": ("payments", "critical"),
    "structuring": ("payments", "high"), "speed_hack": ("gaming", "high"), "aimbot": ("gaming", "high"),
    "impossible_apm": ("gaming", "medium"), "currency_farming": ("gaming", "medium"),
    "out_of_range": ("iot", "high"), "spike": ("iot", "medium"), "flatline": ("iot", "medium"),
    "missing_heartbeat": ("iot", "high"), "drift": ("iot", "low"),
}


def sample_evidence(rule_id: str, rng: random.Random) -> dict[str, Any]:
    """Key values shaped like the rule's real evidence (docs/rules.md, "Alert evidence"), without event ids."""
    if rule_id == "impossible_travel":
        lat, lon = rng.uniform(35, 58), rng.uniform(-8, 25)
        lat2, lon2 = lat + rng.uniform(-9, 9), lon + rng.uniform(-12, 12)
        distance = 111.2 * ((lat2 - lat) ** 2 + ((lon2 - lon) * 0.7) ** 2) ** 0.5
        return {"distance_km": round(distance, 1), "speed_kmh": round(distance * 3600 / rng.uniform(20, 60), 1),
                "from": {"lat": round(lat, 4), "lon": round(lon, 4)},
                "to": {"lat": round(lat2, 4), "lon": round(lon2, 4)}}
    if rule_id == "spike":
        mean, std = rng.uniform(18, 25), rng.uniform(0.2, 0.6)
        value = mean + rng.choice((-1, 1)) * rng.uniform(7, 15) * std
        return {"sensor_type": "temperature", "value": round(value, 2), "mean": round(mean, 4), "std": round(std, 4),
                "z": round(abs(value - mean) / std, 2)}
    if rule_id == "drift":
        mean, std = rng.uniform(40, 60), rng.uniform(0.5, 1.5)
        moving = mean + rng.uniform(4.2, 6) * std
        return {"sensor_type": "humidity", "baseline_mean": round(mean, 4), "baseline_std": round(std, 4),
                "moving_avg": round(moving, 4), "sigma": round((moving - mean) / std, 2)}
    if rule_id == "aimbot":
        return {"kills": 10, "headshot_ratio": rng.choice((0.8, 0.9, 1.0)),
                "avg_reaction_ms": round(rng.uniform(60, 140), 1)}
    if rule_id == "card_testing":
        return {"small_count": 3, "small_total": round(rng.uniform(1.5, 5.5), 2),
                "large_amount": round(rng.uniform(600, 1500), 2)}
    if rule_id == "velocity":
        return {"auth_count": 5, "total_amount": round(rng.uniform(100, 400), 2)}
    if rule_id == "account_takeover":
        return {"failed_logins": 3, "change_type": rng.choice(("password_reset", "payout_change")),
                "payout_amount": round(rng.uniform(200, 5000), 2)}
    if rule_id == "structuring":
        return {"deposit_count": 3, "total_amount": round(rng.uniform(27000, 29900), 2)}
    if rule_id == "speed_hack":
        return {"match_id": f"match-{rng.randrange(10_000)}", "distance": round(rng.uniform(40, 120), 2),
                "speed_ups": round(rng.uniform(40, 120), 2)}
    if rule_id == "impossible_apm":
        return {"actions": 100, "apm": round(rng.uniform(320, 420), 1)}
    if rule_id == "currency_farming":
        return {"signal": "gain_spike", "window_gain": round(rng.uniform(3000, 9000)),
                "norm": round(rng.uniform(80, 250))}
    if rule_id == "out_of_range":
        return {"sensor_type": "temperature", "value": round(rng.uniform(160, 240), 2), "min": -50.0, "max": 150.0}
    if rule_id == "flatline":
        return {"sensor_type": "pressure", "value": round(rng.uniform(990, 1030), 2), "readings": 10,
                "duration_s": 9.0}
    if rule_id == "missing_heartbeat":
        return {"silence_s": 30, "events_in_session": rng.randrange(5, 40), "heartbeats": rng.randrange(2, 9)}
    return {"score": round(rng.uniform(0.6, 0.99), 3), "value": round(rng.uniform(50, 90), 2),
            "baseline": round(rng.uniform(20, 30), 2), "z": round(rng.uniform(5, 9), 2)}


def entity_for(domain: str, n: int) -> str:
    return {"payments": "card", "gaming": "player", "iot": "device"}.get(domain, "entity") + f"-{n:06d}"
