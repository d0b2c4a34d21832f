"""Bad input never fails the job and is never lost: malformed/invalid events go to the dead-letter
topic with their reason, late events to the late topic with the watermark, duplicates are
dead-lettered once, and the per-minute metrics account for every record."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from include.patternalarm.flink.deploy import job_health
from include.patternalarm.flink.rest import FlinkRest
from tests.integration.detection.conftest import DetectionJob, iso, recent_base_ms, scenario_instances
from tests.support import unique, wait_until

DOMAIN = "payments"


def auth(event_id: str, ms: int | str, card: str, amount: Any = 10.0, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "event_time": ms if isinstance(ms, (int, str)) else iso(ms), "domain": DOMAIN,
            "card_id": card, "account_id": f"acct-{card}", "event_type": "auth", "amount": amount,
            "channel": "ecommerce", **extra}


@pytest.fixture(scope="module")
def routed(detection_job: DetectionJob) -> dict[str, Any]:
    job = detection_job
    # event times close to now: invalid rows take the Kafka timestamp (now) as their time, and a base
    # far in the past would let them (with idle partitions) move the watermark past the test's events
    base = recent_base_ms(minutes_ago=0.2)
    card = unique("route-card")
    bad: dict[str, tuple[str, Any]] = {
        "malformed_json": (unique("k"), '{"event_id": "x", "event_time": '),
        "oversized": (unique("k"), json.dumps(auth(unique("e"), iso(base), card, note="x" * 70_000))),
        "missing_field:event_id": (unique("k"), {k: v for k, v in auth("-", iso(base), card).items()
                                                 if k != "event_id"}),
        "missing_field:account_id": (unique("k"), {k: v for k, v in auth(unique("e"), iso(base), card).items()
                                                   if k != "account_id"}),
        "missing_field:card_id": (unique("k"), auth(unique("e"), iso(base), None)),
        "wrong_type:amount": (unique("k"), auth(unique("e"), iso(base), card, amount="12x")),
        "wrong_type:event_type": (unique("k"), {**auth(unique("e"), iso(base), card), "event_type": "teleport"}),
        "unknown_domain": (unique("k"), {**auth(unique("e"), iso(base), card), "domain": "gaming"}),
        "bad_event_time": (unique("k"), auth(unique("e"), "yesterday at noon", card)),
    }
    future = (unique("k"), auth(unique("e"), iso(int(time.time() * 1000) + 3_600_000), card))
    for key, value in bad.values():
        job.send(key, value)
    job.send(*future)
    binary = (unique("k"), b"\xff\xfe not utf8 \x00")
    job.send(*binary)
    # valid events, one of them twice, then the watermark moves on and a late event arrives
    good = [auth(f"{card}-{i}", iso(base + i * 1000), card) for i in range(3)]
    for event in good:
        job.send(card, event)
    job.send(card, good[1])  # duplicate, right after the original
    job.flush()
    job.advance(base + 60_000)
    # the duplicate is dead-lettered on arrival; an event is late once the watermark (of every operator:
    # the routing reads it after the source) has passed it — wait for that, not for the duplicate
    job.read(job.topics.dlq, timeout=60, until=lambda msgs: any(b'"duplicate"' in m.value() for m in msgs))
    with FlinkRest(job.settings.flink_rest) as rest:
        wait_until(lambda: (rest.lowest_watermark(job.job_id) or 0) >= base + 30_000, timeout=90, interval=1,
                   what="the job's watermark past the valid events")
    late_event = auth(unique("late"), iso(base + 5_000), card)
    job.send(card, late_event)
    # the job keeps detecting after all of that
    (fires,) = [i for i in scenario_instances(DOMAIN, rules=["card_testing"]) if i.should_alert]
    (played,) = job.play([fires], base + 120_000)
    job.advance(played.last_ms + 60_000)
    # one more step, so that the fillers before it are behind the watermark
    job.advance(played.last_ms + 70_000, steps=1)
    return {"bad": bad, "future": future, "binary": binary, "good": good, "late": late_event, "fires": fires,
            "card": card}


def test_every_bad_record_is_dead_lettered_with_its_reason(detection_job: DetectionJob, routed: dict) -> None:
    wanted = {key: reason for reason, (key, _) in routed["bad"].items()}
    wanted[routed["future"][0]] = "bad_event_time"
    wanted[routed["binary"][0]] = "malformed_json"  # not UTF-8: decoded with replacement characters
    records = detection_job.read(detection_job.topics.dlq, timeout=90,
                                 until=lambda msgs: wanted.keys() <= {m.key().decode() for m in msgs if m.key()})
    by_key = {r["key"]: r for r in records if r["key"] in wanted}
    assert {k: by_key[k]["reason"] for k in wanted if k in by_key} == wanted
    for record in by_key.values():
        assert record["source"] == "flink:payments" and record["topic"] == detection_job.topics.source
        assert record["detail"] and record["dead_lettered_at"].endswith("Z")
        assert isinstance(record["offset"], int) and len(record["raw"]) <= 4096
    oversized = by_key[routed["bad"]["oversized"][0]]
    assert oversized["raw_bytes"] > 70_000 and len(oversized["raw"]) == 4096


def test_duplicates_are_dead_lettered_once_and_late_events_carry_the_watermark(
        detection_job: DetectionJob, routed: dict) -> None:
    dup_id = routed["good"][1]["event_id"]
    records = detection_job.read(detection_job.topics.dlq, timeout=60,
                                 until=lambda msgs: any(b'"duplicate"' in m.value() for m in msgs))
    assert [r["event_id"] for r in records if r["reason"] == "duplicate"] == [dup_id]
    late_id = routed["late"]["event_id"]
    late = detection_job.read(detection_job.topics.late, timeout=60,
                              until=lambda msgs: any(late_id.encode() in m.value() for m in msgs))
    (record,) = [r for r in late if r["event_id"] == late_id]
    assert record["reason"] == "late"
    assert record["event_time"] == routed["late"]["event_time"]
    assert record["watermark"] > record["event_time"]


def test_poison_never_fails_the_job_and_detection_goes_on(detection_job: DetectionJob, routed: dict) -> None:
    entity = routed["fires"].entity
    alerts = detection_job.alerts(until=lambda msgs: any(m.key() == entity.encode() for m in msgs), timeout=90)
    assert [a["rule_id"] for a in alerts if a["entity"] == entity] == ["card_testing"]
    health = job_health(detection_job.settings, detection_job.job_id)
    assert health.state == "RUNNING" and health.restarts == 0, health


def test_metrics_account_for_every_record(detection_job: DetectionJob, routed: dict) -> None:
    bad = len(routed["bad"]) + 2  # + the future event and the non-UTF-8 value
    fires_events = len(routed["fires"].events)

    def totals(msgs: list) -> dict[str, int]:
        sums = {"processed": 0, "dead_lettered": 0, "late": 0, "duplicates": 0}
        for m in msgs:
            record = json.loads(m.value())
            for k in sums:
                sums[k] += record[k]
        return sums

    # processed: the valid events, the scenario's, and the fillers (6 steps x 4 partitions, twice, then
    # one step): duplicate detection counts an event when it arrives, not when the watermark passes it
    processed = 3 + fires_events + 2 * 6 * 4 + 4
    # the processing-time minutes have to close first: up to ~60 s after the last record
    msgs = detection_job.read(detection_job.topics.metrics, timeout=150,
                              until=lambda ms: totals(ms)["processed"] >= processed and totals(ms)["late"] >= 1
                              and totals(ms)["dead_lettered"] >= bad and totals(ms)["duplicates"] >= 1)
    sums = {"processed": 0, "dead_lettered": 0, "late": 0, "duplicates": 0}
    for record in msgs:
        for k in sums:
            sums[k] += record[k]
        assert record["domain"] == DOMAIN and record["minute"].endswith(":00Z")
    assert sums["dead_lettered"] == bad
    assert sums["duplicates"] == 1
    assert sums["late"] == 1
    assert sums["processed"] == processed
