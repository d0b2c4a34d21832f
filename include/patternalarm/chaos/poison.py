"""Poison input for the ``poison_input`` experiment, and the check that every piece of it was dead-lettered.

Into the event topics, on top of the simulator's labelled bad events (malformed, wrong-typed, missing
fields, oversized, unknown domain, unparseable times, duplicates, late): far-future event times (ISO and
epoch), an epoch too large for any clock, a tombstone (no value), bytes that are not UTF-8, JSON that is
not an object, deeply nested JSON and an empty value. Into ``alerts``: malformed and hostile alerts —
a ``detected_at`` whose conversion to UTC overflows, an entity whose index entry PostgreSQL cannot hold,
missing and wrong-typed fields, a NUL character, an oversized record — and two *valid* alerts whose ids
would collide if the id separator were not escaped (both must be stored).

Each poison record carries a key naming the experiment run, so its dead letter is found by that key.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from include.patternalarm.alerts import MAX_ALERT_BYTES
from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.topics import ALERTS, EVENTS

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

#: The rule id of the probe alerts the experiment stores (their incidents are resolved as benign afterwards).
PROBE_RULE = "chaos_probe"


@dataclass(frozen=True)
class Poison:
    topic: str
    key: str
    value: bytes | None
    expect: str  # the dead-letter reason expected ("*": any reason), or "stored" for a valid alert
    what: str

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "key": self.key, "expect": self.expect, "what": self.what,
                "bytes": None if self.value is None else len(self.value)}


def _event(domain: str, key: str, event_id: str, event_time: Any) -> dict[str, Any]:
    base = {"event_id": event_id, "event_time": event_time, "domain": domain}
    if domain == "payments":
        return {**base, "card_id": key, "account_id": f"acct-{key}", "event_type": "auth", "amount": 12.5,
                "currency": "EUR", "channel": "ecommerce"}
    if domain == "gaming":
        return {**base, "player_id": key, "match_id": f"m-{key}", "event_type": "move", "x": 1.0, "y": 2.0}
    return {**base, "device_id": key, "sensor": "temperature", "value": 21.5}


def event_poison(tag: str) -> list[Poison]:
    """Hostile event records (not covered by the simulator's labelled bad mix), one set per domain."""
    out: list[Poison] = []
    future = datetime.now(UTC) + timedelta(days=1)
    for domain in EVENTS:
        def key(what: str, d: str = domain) -> str:
            return f"chaos-{tag}-poison-{d}-{what}"

        def doc(what: str, event_time: Any, d: str = domain) -> bytes:
            return json.dumps(_event(d, key(what), f"chaos-{tag}-{d}-{what}", event_time)).encode()

        topic = EVENTS[domain]
        out += [
            Poison(topic, key("future-iso"), doc("future-iso", future.strftime("%Y-%m-%dT%H:%M:%S.000Z")), "*",
                   "event_time a day ahead"),
            Poison(topic, key("year-2999"), doc("year-2999", "2999-01-01T00:00:00.000Z"), "*", "event_time in 2999"),
            Poison(topic, key("future-epoch"), doc("future-epoch", int(future.timestamp() * 1000)), "*",
                   "epoch ms a day ahead"),
            Poison(topic, key("epoch-20-digits"), doc("epoch-20-digits", "99999999999999999999"), "*",
                   "an epoch beyond any clock"),
            # not bad input but Kafka's delete marker: Flink's Kafka source skips it before SQL sees it, so it
            # cannot be dead-lettered; the experiment checks that it harms nothing (docs/chaos.md)
            Poison(topic, key("tombstone"), None, "skipped", "a tombstone (no value)"),
            Poison(topic, key("not-utf8"), b"\xff\xfe\xfa{\"event_id\": \x00", "*", "bytes that are not UTF-8"),
            Poison(topic, key("array"), b"[1, 2, 3]", "*", "JSON that is not an object"),
            Poison(topic, key("nested"), ("[" * 5000 + "]" * 5000).encode(), "*", "JSON nested 5,000 deep"),
            Poison(topic, key("empty"), b"", "*", "an empty value"),
            Poison(topic, key("wrong-type-object"), json.dumps({**_event(domain, key("wrong-type-object"),
                                                                        f"chaos-{tag}-{domain}-wto",
                                                                        future.isoformat()),
                                                                "event_time": {"$date": 1}}).encode(), "*",
                   "event_time as an object"),
        ]
    return out


def alert_poison(tag: str) -> list[Poison]:
    """Hostile and malformed alerts for ``alerts``, and two valid alerts whose unescaped ids would collide."""
    rnd = random.Random(tag)  # noqa: S311 - reproducible test data, not secrets

    def astral(n: int) -> str:  # 4-byte characters that do not compress: the index entry outgrows a btree page
        return "".join(chr(rnd.randint(0x10000, 0x10FFF)) for _ in range(n))

    now = datetime.now(UTC) - timedelta(seconds=30)

    def alert(entity: str, first: str, **changes: Any) -> dict[str, Any]:
        return {**synthetic_alert(PROBE_RULE, entity, first, first_event_time=now), **changes}

    def key(what: str) -> str:
        return f"chaos-{tag}-alert-{what}"

    ent = f"probe-{tag}-"
    cases: list[tuple[str, bytes | None, str, str]] = [
        ("overflow-detected", json.dumps(alert(ent + "1", "e1", detected_at="0001-01-01T00:00:00+01:00")).encode(),
         "invalid_alert", "detected_at overflows in UTC"),
        ("overflow-last", json.dumps(alert(ent + "2", "e2", last_event_time="9999-12-31T23:59:59-01:00")).encode(),
         "invalid_alert", "last_event_time overflows in UTC"),
        ("index-too-large", json.dumps(synthetic_alert(astral(200), astral(500), "e3")).encode(), "unmappable_row",
         "an entity PostgreSQL cannot index"),
        ("malformed", b'{"alert_id": "abc", ', "malformed_json", "truncated JSON"),
        ("tombstone", None, "malformed_json", "no value"),
        ("missing", json.dumps({k: v for k, v in alert(ent + "4", "e4").items() if k != "rule_id"}).encode(),
         "missing_field:rule_id", "no rule_id"),
        ("wrong-type", json.dumps(alert(ent + "5", "e5", rule_version="2")).encode(), "wrong_type:rule_version",
         "rule_version as a string"),
        ("nul", json.dumps(alert(ent + "6\u0000", "e6")).encode(), "invalid_alert", "a NUL in the entity"),
        ("oversized", json.dumps(alert(ent + "7", "e7", evidence={"event_ids": ["e7"], "blob": "x" * MAX_ALERT_BYTES})
                                 ).encode(), "oversized", "larger than the limit"),
        ("unknown-domain", json.dumps(alert(ent + "8", "e8", domain="casino")).encode(), "unknown_domain",
         "an unknown domain"),
        # valid, and different: unescaped, both ids were sha256("chaos_probe|1|<ent>a|b|c") and one was dropped
        ("separator-1", json.dumps(alert(ent + "a|b", "c")).encode(), "stored", "entity a|b, event c"),
        ("separator-2", json.dumps(alert(ent + "a", "b|c")).encode(), "stored", "entity a, event b|c"),
    ]
    return [Poison(ALERTS, key(what), value, expect, text) for what, value, expect, text in cases]


def send(settings: Settings, records: list[Poison]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "acks": "all",
                         "message.max.bytes": 2 * 2**20, "linger.ms": 5})
    for record in records:
        producer.produce(record.topic, key=record.key.encode(), value=record.value)
        producer.poll(0)
    if producer.flush(30) > 0:
        raise RuntimeError("poison records not delivered to Kafka within 30 s")


def dead_letter_reasons(records: list[dict[str, Any]]) -> dict[str, str]:
    """key → reason of dead letters (the contract's ``key`` field)."""
    return {str(r.get("key")): str(r.get("reason") or "") for r in records if r.get("key")}


def verify(poison: list[Poison], event_dead: dict[str, str], alert_dead: dict[str, str],
           stored_probe_entities: set[str]) -> dict[str, Any]:
    """Which poison records were handled as expected: dead-lettered with a reason (the expected one where it
    is known), or stored (the valid probes)."""
    missing, wrong = [], []
    handled = skipped = 0
    for p in poison:
        if p.expect == "skipped":
            skipped += 1
            continue
        if p.expect == "stored":
            entity = json.loads(p.value or b"{}").get("entity")
            if entity in stored_probe_entities:
                handled += 1
            else:
                missing.append(f"{p.key} ({p.what}): not stored")
            continue
        reasons = alert_dead if p.topic == ALERTS else event_dead
        reason = reasons.get(p.key)
        if not reason:
            missing.append(f"{p.key} ({p.what}): no dead letter")
        elif p.expect != "*" and reason != p.expect:
            wrong.append(f"{p.key} ({p.what}): {reason}, expected {p.expect}")
        else:
            handled += 1
    return {"sent": len(poison) - skipped, "handled": handled, "skipped_tombstones": skipped, "missing": missing,
            "wrong_reason": wrong}


def resolve_probe_incidents(settings: Settings, tag: str) -> int:
    """Resolve the probe alerts' incidents as benign (they are the experiment's, not an analyst's)."""
    import psycopg

    with psycopg.connect(settings.db_conninfo("analyst"), autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("select incident_id from incidents where rule_id = %s and entity like %s"
                                          " and status <> 'resolved'", (PROBE_RULE, f"probe-{tag}-%"))]
        for incident_id in ids:
            conn.execute("select resolve_incident(%s, 'benign', 'chaos', 'a chaos experiment probe')", (incident_id,))
    return len(ids)


def stored_probe_entities(settings: Settings, tag: str) -> set[str]:
    import psycopg

    with psycopg.connect(settings.db_conninfo("reporting"), autocommit=True) as conn:
        return {r[0] for r in conn.execute("select entity from alerts where rule_id = %s and entity like %s",
                                           (PROBE_RULE, f"probe-{tag}-%"))}


def wait_settled(seconds: float) -> None:
    time.sleep(seconds)
