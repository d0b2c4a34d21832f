"""The edge validator and the Flink event format (java/) give every raw value the same verdict: the
shared vectors in tests/vectors/events.json (the Java side: EventDeserializerTest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.patternalarm.events.edge import decode_event
from include.patternalarm.events.timefmt import parse_event_time

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "events.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_edge_gives_the_shared_verdict(vector: dict) -> None:
    raw = vector["raw"] if vector["raw"] is not None else b""
    event, problem = decode_event(raw, vector["domain"])
    assert (problem.reason if problem else None) == vector["reason"], problem
    if vector["reason"] is None and "event_ms" in vector:
        assert parse_event_time(event["event_time"]) == vector["event_ms"]


def test_vectors_cover_every_reason() -> None:
    reasons = {v["reason"].split(":")[0] for v in VECTORS if v["reason"]}
    assert reasons == {"malformed_json", "unknown_domain", "missing_field", "wrong_type", "bad_event_time"}
