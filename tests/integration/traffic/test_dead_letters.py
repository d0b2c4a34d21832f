"""Bad events from the simulator, through the real detection jobs: every malformed event and every
duplicate lands in the job's dead-letter topic with the labelled reason, every late event in its
late topic, and out-of-order events (inside the watermark delay) in neither.

Each domain's job is deployed on its own throwaway topics (the detection area's deploy API), so the
test does not depend on, or disturb, the platform's jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import orjson
import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.settings import Settings
from include.patternalarm.simulator import SimulationConfig, run_simulation
from include.patternalarm.topics import DOMAINS
from tests.support import consume, unique

deploy = pytest.importorskip("include.patternalarm.flink.deploy", reason="the detection jobs are not available yet")
rules = pytest.importorskip("include.patternalarm.rules")

EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"]+)"')


@pytest.fixture(scope="module")
def jobs(stack_settings: Settings) -> Iterator[dict[str, object]]:
    """One detection job per domain, each on its own source / dlq / late / alerts / metrics topics."""
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    topics = {d: rules.JobTopics(**{k: unique(f"test.traffic.dlq.{d}.{k}")
                                    for k in ("source", "alerts", "dlq", "late", "metrics")}) for d in DOMAINS}
    new = [NewTopic(getattr(t, k), 4 if k == "source" else 1, 1) for t in topics.values()
           for k in ("source", "alerts", "dlq", "late", "metrics")]
    for future in admin.create_topics(new).values():
        future.result(timeout=30)

    def start(domain: str) -> str:
        return deploy.deploy_domain(stack_settings, domain, topics=topics[domain],
                                    name=unique(f"patternalarm-test-{domain}"),
                                    consumer_group=unique(f"test-traffic-{domain}"), startup_mode="earliest-offset",
                                    auto_offset_reset="earliest", upgrade=False, wait_running=150)

    job_ids: list[str] = []
    try:
        with ThreadPoolExecutor(3) as pool:
            job_ids = list(pool.map(start, DOMAINS))
        yield {"topics": topics, "job_ids": job_ids}
    finally:
        for job_id in job_ids:
            try:
                deploy.cancel_job(stack_settings, job_id)
            except Exception:  # noqa: BLE001,S110 - best-effort cleanup
                pass
        for future in admin.delete_topics([n.topic for n in new]).values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001,S110 - best-effort cleanup
                pass


def test_bad_events_are_dead_lettered_or_late_with_their_labelled_reason(stack_settings: Settings, jobs) -> None:
    topics = jobs["topics"]
    config = SimulationConfig(rate=2000.0, events=6000, bad_ratio=0.2, scenarios=False, clock="live",
                              topics={d: topics[d].source for d in DOMAINS})
    summary = run_simulation(stack_settings, config)
    assert summary.status == "finished" and summary.delivered == summary.events_sent, summary.errors
    # clean traffic afterwards moves every partition's watermark past the bad events (duplicates are
    # found by an event-time operator, which emits once the watermark passes them)
    tail = run_simulation(stack_settings, SimulationConfig(rate=2000.0, duration_s=4.0, scenarios=False,
                                                           record_ground_truth=False, topics=config.topics))
    assert tail.status == "finished"
    with psycopg.connect(stack_settings.db_conninfo("reporting")) as conn:
        labels = conn.execute("SELECT kind, variant, domain, event_ids[1], detail FROM ground_truth "
                              "WHERE run_id = %s AND kind <> 'scenario'", (summary.run_id,)).fetchall()
    assert len(labels) == summary.bad_events > 600
    start_ms = min(label[4]["sent_ms"] for label in labels if "sent_ms" in label[4])

    expected_dlq = {(d, eid): v for k, v, d, eid, _ in labels if k in ("malformed", "duplicate")}
    # a late event needs a watermark in its partition: count those sent after the first 1.5 s
    expected_late = {(d, eid) for k, v, d, eid, det in labels if v == "late" and det["sent_ms"] > start_ms + 1500}
    in_order = {(d, eid) for k, v, d, eid, _ in labels if v == "out_of_order"}
    assert expected_late and in_order and {v for v in expected_dlq.values()} >= {
        "malformed_json", "oversized", "unknown_domain", "bad_event_time", "duplicate", "missing_field:account_id",
        "wrong_type:amount", "wrong_type:x", "wrong_type:value"}

    def read(kind: str, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """Records of the jobs' ``kind`` topics by (domain, event_id), until every wanted one is there."""
        found: dict[tuple[str, str], dict] = {}
        found_in: dict[str, list] = {d: [] for d in DOMAINS}
        for domain in DOMAINS:
            need = {eid for d, eid in wanted if d == domain}

            def seen(messages: list, domain: str = domain, need: set[str] = need) -> bool:
                for m in messages[len(found_in[domain]):]:
                    record = orjson.loads(m.value())
                    match = EVENT_ID.search(record["raw"].encode())
                    if match:
                        found[(domain, match.group(1).decode())] = record
                    found_in[domain].append(m)
                return need <= {eid for d, eid in found if d == domain}

            consume(stack_settings.bootstrap_servers, getattr(topics[domain], kind), until=seen, timeout=90)
        return found

    dead = read("dlq", set(expected_dlq))
    missing = {k: v for k, v in expected_dlq.items() if k not in dead}
    assert not missing, f"{len(missing)} bad events never reached the dead-letter topics: {list(missing.items())[:5]}"
    wrong = {k: (v, dead[k]["reason"]) for k, v in expected_dlq.items() if dead[k]["reason"] != v}
    assert not wrong, f"labelled vs dead-lettered reason: {list(wrong.items())[:5]}"
    assert all(dead[k]["source"] == f"flink:{k[0]}" for k in expected_dlq)

    late = read("late", expected_late)
    assert expected_late <= set(late), f"late events not in events.late: {list(expected_late - set(late))[:5]}"
    assert all(late[k]["reason"] == "late" for k in expected_late)
    assert not in_order & (set(dead) | set(late)), "out-of-order events inside the watermark delay are processed"
