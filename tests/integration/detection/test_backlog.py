"""A backlog is worked off without losing events to lateness.

When a job starts (after a stop, a failure or a rescale) behind a backlog, every partition of a
subtask has records waiting. If one partition's records were emitted in long runs, the others would
emit nothing for a while, count as idle, and the watermark would move on without them: their
records would turn late and the scenarios in them would never alert (seen in the 10x spike bench).
Here the backlog (every partition covering the same minute of event time, scenario instances mixed
in) is written before the job starts, with a short idle timeout that makes such runs visible.
"""

from __future__ import annotations

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
PER_PARTITION = 10_000
SPAN_MS = 60_000
# short enough that a partition left waiting for a few seconds counts as idle (the default is 30 s): with
# one partition's records emitted in long runs (1 MiB fetches) the others wait longer than this
IDLE_TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def backlog(stack_settings: Settings) -> Iterator[tuple[DetectionJob, Outcome, int]]:
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    topics = make_topics(admin, DOMAIN)
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers, "linger.ms": 20})
    job = DetectionJob(stack_settings, DOMAIN, topics, "", "", "", producer, admin)
    try:
        base = recent_base_ms()
        background: list[tuple[int, str, dict[str, Any], int]] = []
        for partition in range(PARTITIONS):
            for i in range(PER_PARTITION):
                ms = base + i * SPAN_MS // PER_PARTITION
                background.append((ms, f"filler-{partition}", filler(DOMAIN, partition, ms), partition))
        played = job.play(scenario_instances(DOMAIN), base + 1_000, background=background)
        job.job_id, job.name, job.group = start_job(stack_settings, DOMAIN, topics,
                                                    overrides={"job": {"idle_timeout_ms": IDLE_TIMEOUT_MS}})
        outcome = settle(job, played, timeout=240)
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
    assert {p.instance.rule_id for p in outcome.played} == set(domain_rules(DOMAIN))
    assert outcome.problems == {}
