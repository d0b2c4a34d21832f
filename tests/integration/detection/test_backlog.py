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
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

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
    iso,
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
# far enough back that records after the backlog can move the watermark past the step functions' horizons
# (velocity's window, or its memory after a hot row: 20 min; impossible_travel's 20 min) without being ahead
# of the clock
BASE_MINUTES_AGO = 45
FORGET_AFTER_MS = 21 * 60_000
AFTER_SETTLE_MS = 10 * 60_000  # past where the backlog's settling moved the watermark (~5 minutes after it)
FORGET_CARDS = 2_000


class Backlog(NamedTuple):
    job: DetectionJob
    outcome: Outcome
    produced: int  # records in the backlog
    base_ms: int  # the backlog's first event time


@pytest.fixture(scope="module")
def backlog(stack_settings: Settings) -> Iterator[Backlog]:
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
        base = recent_base_ms(BASE_MINUTES_AGO)
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
        yield Backlog(job, outcome, len(background) + sum(len(p.event_ids) for p in played), base)
    finally:
        job.remove()


def test_no_backlog_record_turns_late(backlog: Backlog) -> None:
    job, _, produced, _ = backlog
    # every backlog record precedes the sentinel in its partition, so a late one would be written by now
    late = job.read(job.topics.late, until=lambda msgs: False, timeout=10)
    assert late == [], f"{len(late)} of {produced} backlog records were routed to the late topic"
    with FlinkRest(job.settings.flink_rest) as rest:
        dropped = rest.late_records_dropped(job.job_id)
    assert dropped, "no event-time operator reports numLateRecordsDropped"
    assert sum(dropped.values()) == 0, f"operators dropped late records downstream: {dropped}"


def test_every_scenario_in_the_backlog_alerts_exactly_once(backlog: Backlog) -> None:
    outcome = backlog.outcome
    assert {p.instance.rule_id for p in outcome.played} == set(domain_rules(DOMAIN)) - LONG_HISTORY_RULES
    assert outcome.problems == {}


def _function_state_bytes(rest: FlinkRest, job_id: str, functions: tuple[str, ...],
                          timeout_s: float = 90.0) -> dict[str, int]:
    """The state of the operator chains that call ``functions``, in one checkpoint completed after now."""
    started_ms = time.time() * 1000
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = ((rest.checkpoints(job_id).get("latest") or {}).get("completed") or {})
        if latest.get("latest_ack_timestamp", 0) > started_ms:
            nodes = rest.job(job_id)["plan"]["nodes"]
            tasks = rest.checkpoint_details(job_id, latest["id"]).get("tasks") or {}
            sizes = {}
            for function in functions:
                vertex = next(n["id"] for n in nodes if f"invocation=[{function}(" in n.get("description", ""))
                sizes[function] = int((tasks.get(vertex) or {}).get("state_size") or 0)
            return sizes
        time.sleep(1.0)
    raise AssertionError(f"no checkpoint of job {job_id} completed within {timeout_s:.0f}s")


def test_the_dedup_forgets_the_ids_the_watermark_passed(backlog: Backlog) -> None:
    """Dedup keeps an id only until the watermark passes its event: after the backlog, about a watermark
    delay of ids (here ~2,000), not all of them. Flink 2.2 keeps the name of a fired *named* timer in a
    per-key map for good, so a named timer per id left ~60 bytes behind for every event ever seen."""
    job, _, produced, _ = backlog
    with FlinkRest(job.settings.flink_rest) as rest:
        kept = _function_state_bytes(rest, job.job_id, ("first_copy",))["first_copy"]
    assert kept < 15 * produced, f"dedup state {kept:,} bytes after {produced:,} events: ids are not forgotten"


def test_the_step_functions_forget_cards_past_their_horizon(backlog: Backlog) -> None:
    """velocity's ``window_edges`` and impossible_travel's ``previous_point`` keep a card until no later row
    can see its rows (a window, or 20 minutes after a hot row; the travel horizon): once the watermark passes
    that, the card's state is gone. Their forget timers are unnamed (a named one kept a per-card map entry).
    One auth each from many new cards (no rule fires on one auth), after the backlog, makes a state large
    enough to see beside the operators' fixed checkpoint overhead."""
    job = backlog.job
    end = backlog.base_ms + SPAN_MS + AFTER_SETTLE_MS
    for i in range(FORGET_CARDS):
        card = f"forget-{i}"
        job.send(card, {"event_id": f"{card}-auth", "event_time": iso(end + 2_000 + i), "domain": DOMAIN,
                        "card_id": card, "account_id": f"acct-{card}", "event_type": "auth", "amount": 20.0,
                        "currency": "EUR", "merchant_id": f"m-{card}", "country": "DE", "lat": 52.52,
                        "lon": 13.405, "channel": "card_present", "auth_result": "approved"})

    def move_watermark(ms: int) -> None:
        for partition in range(PARTITIONS):
            job.send(f"filler-{partition}", filler(DOMAIN, partition, ms), partition=partition)
        job.flush()

    functions = ("window_edges", "previous_point")
    with FlinkRest(job.settings.flink_rest) as rest:
        move_watermark(end + 2_000 + FORGET_CARDS + 5_000)  # the auths are handled, into the cards' state
        before = _state_when(rest, job.job_id, functions, lambda f, size: size > 30 * FORGET_CARDS)
        assert all(size > 30 * FORGET_CARDS for size in before.values()), (
            f"{FORGET_CARDS:,} new cards left too little state to see them forgotten: {before}")
        move_watermark(end + FORGET_AFTER_MS)  # past every card's horizon (and still behind the clock)
        after = _state_when(rest, job.job_id, functions, lambda f, size: size * 4 < before[f])
    assert all(after[f] * 4 < before[f] for f in functions), (
        f"state bytes with {FORGET_CARDS:,} new cards {before}; after the watermark passed their horizon {after}")


def _state_when(rest: FlinkRest, job_id: str, functions: tuple[str, ...], good: Callable[[str, int], bool],
                timeout_s: float = 120.0) -> dict[str, int]:
    """The functions' state sizes in the first checkpoint where each is ``good`` (or the last one seen)."""
    deadline = time.monotonic() + timeout_s
    sizes = _function_state_bytes(rest, job_id, functions)
    while not all(good(f, v) for f, v in sizes.items()) and time.monotonic() < deadline:
        sizes = _function_state_bytes(rest, job_id, functions)
    return sizes
