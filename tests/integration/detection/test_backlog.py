"""A backlog is worked off without losing events to lateness.

A job behind a backlog (after a spike, a stop, a failure or a rescale) has records waiting on every
partition of a subtask. If one partition's records were emitted in long runs, the others would emit
nothing for a while, count as idle, and the watermark would move on without them: their records
would turn late and the scenarios in them would never alert (seen in the 10x spike bench with 1 MiB
fetches). Here a short idle timeout makes such runs visible.

The job reads every partition first (a record each, dead-lettered) and the backlog is then written
faster than it can follow, as in a spike: the long runs while working off a backlog are under test,
not the race of partitions for their first fetch at a cold start (a partition first read after the
idle timeout counts idle and the others move the watermark past its first records; seen in CI).
The backlog is as dense as a spike's (500 events/s per partition over the scenarios' span; the 10x
spike brings ~700/s to each payments partition), so one 64 KiB fetch (~260 records) spans about
half the watermark delay (1 s): even a stall of the whole subtask longer than the idle timeout,
after which the first partition to resume moves the watermark alone, cannot make another
partition's records late. With 1 MiB fetches one run spans ~9 s and records do turn late.

The test waits for the job to read the whole backlog (its committed offsets reach the end) before it
judges: a slower machine makes it take longer, only a job that stops reading fails it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.settings import Settings
from tests.integration.detection.conftest import (
    PARTITIONS,
    DetectionJob,
    Outcome,
    domain_rules,
    filler,
    make_topics,
    recent_base_ms,
    scenario_instances,
    settle,
    start_job,
)

DOMAIN = "payments"
SPAN_MS = 50_000
PER_PARTITION = 25_000  # 500 events/s of event time per partition
# scenario instances that fit in the backlog's span (each payments rule has some, but for the two whose
# scenarios are a merchant's hours of history)
MAX_OFFSET_S = 45
LONG_HISTORY_RULES = {"compromised_terminal", "merchant_amount_anomaly"}
# short enough that a partition left waiting for a moment counts as idle (the default is 30 s): with one
# partition's records emitted in long runs (1 MiB fetches) the others wait longer than this
IDLE_TIMEOUT_MS = 2_000


@pytest.fixture(scope="module")
def backlog(stack_settings: Settings) -> Iterator[tuple[DetectionJob, Outcome, int]]:
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    topics = make_topics(admin, DOMAIN)
    # batches of a rate-limited producer (as the spike's): a broker never splits a batch, so a partition's
    # run is max(fetch size, producer batch) long and only the fetch size is under test here
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers, "linger.ms": 5,
                         "batch.size": 16_384})
    job = DetectionJob(stack_settings, DOMAIN, topics, "", "", "", producer, admin)
    try:
        job.job_id, job.name, job.group = start_job(stack_settings, DOMAIN, topics,
                                                    overrides={"job": {"idle_timeout_ms": IDLE_TIMEOUT_MS}})
        for partition in range(PARTITIONS):
            job.send(f"warm-up-{partition}", f"warm-up of partition {partition}: not JSON", partition=partition)
        job.flush()
        warmed = job.read(job.topics.dlq, until=lambda msgs: len(msgs) >= PARTITIONS, timeout=120)
        assert len(warmed) == PARTITIONS, f"the job dead-lettered {len(warmed)} of {PARTITIONS} warm-up records"
        base = recent_base_ms()
        background: list[tuple[int, str, dict[str, Any], int]] = []
        for partition in range(PARTITIONS):
            for i in range(PER_PARTITION):
                ms = base + i * SPAN_MS // PER_PARTITION
                background.append((ms, f"filler-{partition}", filler(DOMAIN, partition, ms), partition))
        instances = [inst for inst in scenario_instances(DOMAIN)
                     if max(ev.offset_s for ev in inst.events) <= MAX_OFFSET_S]
        played = job.play(instances, base + 1_000, background=background)
        job.wait_consumed()
        outcome = settle(job, played, timeout=120)
        yield job, outcome, len(background) + sum(len(p.event_ids) for p in played)
    finally:
        job.remove()


def test_no_backlog_record_turns_late(backlog: tuple[DetectionJob, Outcome, int]) -> None:
    job, _, produced = backlog
    # every backlog record precedes the sentinel in its partition, so a late one would be written by now
    late = job.read(job.topics.late, until=lambda msgs: False, timeout=10)
    assert late == [], f"{len(late)} of {produced} backlog records were routed to the late topic"
    with FlinkRest(job.settings.flink_rest) as rest:
        dropped = rest.late_records_dropped(job.job_id)
    assert dropped, "no event-time operator reports numLateRecordsDropped"
    assert sum(dropped.values()) == 0, f"operators dropped late records downstream: {dropped}"


def test_every_scenario_in_the_backlog_alerts_exactly_once(backlog: tuple[DetectionJob, Outcome, int]) -> None:
    _, outcome, _ = backlog
    assert {p.instance.rule_id for p in outcome.played} == set(domain_rules(DOMAIN)) - LONG_HISTORY_RULES
    assert outcome.problems == {}


def _function_state_bytes(rest: FlinkRest, job_id: str, function: str, timeout_s: float = 90.0) -> int:
    """The state of the operator chain that calls ``function`` in a checkpoint completed after now."""
    started_ms = time.time() * 1000
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = ((rest.checkpoints(job_id).get("latest") or {}).get("completed") or {})
        if latest.get("latest_ack_timestamp", 0) > started_ms:
            vertex = next(n["id"] for n in rest.job(job_id)["plan"]["nodes"]
                          if f"invocation=[{function}(" in n.get("description", ""))
            tasks = rest.checkpoint_details(job_id, latest["id"]).get("tasks") or {}
            return int((tasks.get(vertex) or {}).get("state_size") or 0)
        time.sleep(1.0)
    raise AssertionError(f"no checkpoint of job {job_id} completed within {timeout_s:.0f}s")


def test_the_dedup_forgets_the_ids_the_watermark_passed(backlog: tuple[DetectionJob, Outcome, int]) -> None:
    """Dedup keeps an id only until the watermark passes its event: after the backlog, about a watermark
    delay of ids (here ~2,000), not all of them. Flink 2.2 keeps the name of a fired *named* timer in a
    per-key map for good, so a named timer per id left ~60 bytes behind for every event ever seen."""
    job, _, produced = backlog
    with FlinkRest(job.settings.flink_rest) as rest:
        kept = _function_state_bytes(rest, job.job_id, "first_copy")
    assert kept < 15 * produced, f"dedup state {kept:,} bytes after {produced:,} events: ids are not forgotten"
