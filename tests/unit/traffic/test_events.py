"""Event contracts: the schema files, the fast validator (agrees with jsonschema), time, dead letters."""

from __future__ import annotations

import random

import orjson
import pytest

from include.patternalarm.events import (
    MAX_EVENT_BYTES,
    RAW_LIMIT,
    EventTimeError,
    check_event,
    dead_letter,
    decode_event,
    entity_key,
    field_names,
    iso_ms,
    jsonschema_validator,
    parse_event_time,
)
from include.patternalarm.events.schema import SchemaCompileError, compile_schema, load_schema
from include.patternalarm.simulator.config import SimulationConfig
from include.patternalarm.simulator.lane import Lane
from include.patternalarm.topics import DOMAINS

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z


def _events(domain: str, n: int = 400) -> list[dict]:
    lane = Lane(SimulationConfig(seed=11, domains=(domain,), rate=500).validated(), 0)
    return [orjson.loads(lane.next(T0 + i * 10, iso_ms(T0 + i * 10))[2]) for i in range(n)]


@pytest.mark.parametrize("domain", DOMAINS)
def test_schema_files_are_valid_draft_2020_12_and_list_the_contract_fields(domain: str) -> None:
    jsonschema_validator(domain)  # check_schema raises on an invalid schema
    names = field_names(domain)
    assert names[:3] == ("event_id", "event_time", "domain")
    entity = {"payments": "card_id", "gaming": "player_id", "iot": "device_id"}[domain]
    assert entity in names


@pytest.mark.parametrize("domain", DOMAINS)
def test_generated_background_events_are_valid(domain: str) -> None:
    reference = jsonschema_validator(domain)
    for event in _events(domain):
        assert check_event(event, domain) is None, event
        assert not list(reference.iter_errors(event)), event


def _mutations(event: dict, rng: random.Random) -> list[dict]:
    out = []
    for name in list(event):
        dropped = dict(event)
        del dropped[name]
        out.append(dropped)
        for bad in ("x", 12, 1.5, True, None, [], {}, -1, "2026-13-01", ""):
            changed = dict(event)
            changed[name] = bad
            out.append(changed)
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("domain", DOMAINS)
def test_fast_validator_agrees_with_jsonschema_on_mutated_events(domain: str) -> None:
    reference = jsonschema_validator(domain)
    rng = random.Random(3)
    checked = 0
    for event in _events(domain, 30):
        for mutated in _mutations(event, rng):
            fast_ok = check_event(mutated, domain) is None
            ref_errors = list(reference.iter_errors(mutated))
            # the fast validator may be stricter on impossible dates only
            if fast_ok or not (mutated.get("event_time") == "2026-13-01"):
                assert fast_ok == (not ref_errors), (mutated, ref_errors[:1], check_event(mutated, domain))
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize(("change", "reason"), [
    ({"event_id": None}, "missing_field:event_id"),
    ({"domain": "banking"}, "unknown_domain"),
    ({"amount": "12,50"}, "wrong_type:amount"),
    ({"amount": -3}, "wrong_type:amount"),
    ({"channel": "fax"}, "wrong_type:channel"),
    ({"event_time": "26/11/2026 10:15"}, "bad_event_time"),
    ({"event_time": True}, "bad_event_time"),
    ({"card_id": None}, "missing_field:card_id"),  # an auth carries its card
    ({"amount": float("nan")}, "wrong_type:amount"),
])
def test_reasons_are_the_contract_codes(change: dict, reason: str) -> None:
    event = {"event_id": "e1", "event_time": "2026-11-26T10:15:30.123Z", "domain": "payments", "card_id": "c1",
             "account_id": "a1", "event_type": "auth", "amount": 12.5, "currency": "EUR", "merchant_id": None,
             "country": "FR", "lat": None, "lon": None, "channel": "ecommerce", "auth_result": "approved"}
    assert check_event(event, "payments") is None
    problem = check_event({**event, **change}, "payments")
    assert problem is not None and problem.reason == reason, problem


def test_decode_event_reasons_for_raw_input() -> None:
    good = b'{"event_id":"e","event_time":1767571200000,"domain":"iot","device_id":"d","event_type":"heartbeat"}'
    assert decode_event(good, "iot") == (orjson.loads(good), None)
    assert decode_event(good[:-5], "iot")[1].reason == "malformed_json"
    assert decode_event(b"[1,2]", "iot")[1].reason == "malformed_json"
    assert decode_event(b" " * (MAX_EVENT_BYTES + 1), "iot")[1].reason == "oversized"
    assert decode_event(good, "banking")[1].reason == "unknown_domain"
    reading = orjson.loads(good) | {"event_type": "reading"}
    assert check_event(reading, "iot").reason == "missing_field:sensor_type"


def test_entity_key_per_domain() -> None:
    assert entity_key("payments", {"card_id": "c", "account_id": "a"}) == "c"
    assert entity_key("payments", {"card_id": None, "account_id": "a"}) == "a"
    assert entity_key("gaming", {"player_id": "p"}) == "p"
    assert entity_key("iot", {}) is None


def test_compiler_refuses_keywords_it_does_not_implement() -> None:
    schema = dict(load_schema("iot"))
    schema["properties"] = {**schema["properties"], "value": {"type": "number", "multipleOf": 0.5}}
    with pytest.raises(SchemaCompileError, match="multipleOf"):
        compile_schema(schema, "iot")
    with pytest.raises(SchemaCompileError, match="additionalProperties"):
        compile_schema({**load_schema("iot"), "additionalProperties": False}, "iot")


@pytest.mark.parametrize(("value", "ms"), [
    ("2026-11-26T10:15:30.123Z", 1795688130123),
    ("2026-11-26T10:15:30Z", 1795688130000),
    ("2026-11-26T11:15:30.123+01:00", 1795688130123),
    ("2026-11-26 10:15:30.123", 1795688130123),
    (1795688130123, 1795688130123),
    (1795688130, 1795688130000),
    (1795688130.5, 1795688130500),
    ("1795688130123", 1795688130123),
    ("1795688130", 1795688130000),
])
def test_parse_event_time(value: object, ms: int) -> None:
    assert parse_event_time(value) == ms
    assert iso_ms(1795688130123) == "2026-11-26T10:15:30.123Z"


@pytest.mark.parametrize("value", ["", "yesterday", "26/11/2026", -5, True, None, float("inf"), "12:00"])
def test_parse_event_time_rejects_garbage(value: object) -> None:
    with pytest.raises(EventTimeError):
        parse_event_time(value)


def test_dead_letter_keeps_the_contract_shape_and_truncates() -> None:
    raw = b"x" * (RAW_LIMIT * 3)
    record = dead_letter("oversized", "too big", source="replay", raw=raw, domain="iot", topic="events.iot",
                         key=b"dev-1", row=7)
    assert set(record) >= {"reason", "detail", "source", "domain", "topic", "partition", "offset", "key", "raw",
                           "raw_bytes", "dead_lettered_at"}
    assert len(record["raw"]) == RAW_LIMIT and record["raw_bytes"] == RAW_LIMIT * 3
    assert record["key"] == "dev-1" and record["row"] == 7 and record["dead_lettered_at"].endswith("Z")
    assert dead_letter("malformed_json", "d", source="replay", raw="é")["raw_bytes"] == 2


def test_remembered_pattern_values_never_let_a_bad_one_through() -> None:
    event = {"event_id": "e1", "event_time": "2026-11-26T10:15:30.123Z", "domain": "payments", "card_id": "c1",
             "account_id": "a1", "event_type": "auth", "currency": "EUR", "country": "FR"}
    for _ in range(3):  # valid values are remembered after the first check
        assert check_event(event, "payments") is None
    for bad in ("eur", "EURO", "", 978, ["EUR"], {"c": "EUR"}):
        problem = check_event({**event, "currency": bad}, "payments")
        assert problem is not None and problem.reason == "wrong_type:currency", (bad, problem)
    assert check_event({**event, "currency": None}, "payments") is None  # nullable
    assert check_event(event, "payments") is None


def test_a_validator_without_a_field_still_requires_it() -> None:
    from include.patternalarm.events.schema import validator

    check = validator("payments").without("event_time").check
    event = {"event_id": "e1", "event_time": "not checked", "domain": "payments", "account_id": "a1",
             "event_type": "login"}
    assert check(event) is None
    assert check({k: v for k, v in event.items() if k != "event_time"}).reason == "missing_field:event_time"
    assert check({**event, "event_type": "teleport"}).reason == "wrong_type:event_type"
