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
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.settings import Settings
from include.patternalarm.simulator import SimulationConfig, run_simulation
from include.patternalarm.topics import DOMAINS
from tests.support import unique, wait_until

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

    # one consumer over every job's dead-letter and late topics, until each expected event is found
    sinks = {getattr(topics[d], kind): (d, kind) for d in DOMAINS for kind in ("dlq", "late")}
    wanted = set(expected_dlq) | expected_late
    found: dict[str, dict[tuple[str, str], dict]] = {"dlq": {}, "late": {}}
    consumer = Consumer({"bootstrap.servers": stack_settings.bootstrap_servers, "group.id": unique("test-dlq"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(list(sinks))
    try:
        def all_found() -> bool:
            for m in consumer.consume(2000, timeout=0.5):
                if m.error():
                    continue
                domain, kind = sinks[m.topic()]
                record = orjson.loads(m.value())
                match = EVENT_ID.search(record["raw"].encode())
                if match:
                    found[kind][(domain, match.group(1).decode())] = record
            return wanted <= set(found["dlq"]) | set(found["late"])

        wait_until(all_found, timeout=150, interval=0.0, what="every bad event in a dead-letter or late topic")
    finally:
        consumer.close()
    dead, late = found["dlq"], found["late"]

    for key, reason in expected_dlq.items():
        if reason == "duplicate" and key in late and key not in dead:
            continue  # the copy arrived behind the watermark: late wins over duplicate (docs/rules.md)
        assert key in dead, (key, reason)
        assert dead[key]["reason"] == reason, (key, reason, dead[key]["reason"])
        assert dead[key]["source"] == f"flink:{key[0]}"
    duplicates = [k for k, r in expected_dlq.items() if r == "duplicate"]
    as_duplicate = sum(1 for k in duplicates if k in dead)
    assert as_duplicate >= len(duplicates) / 2, f"only {as_duplicate} of {len(duplicates)} copies seen as duplicates"
    assert all(late[k]["reason"] == "late" for k in expected_late)
    # out-of-order events inside the watermark delay are valid: never dead-lettered, and processed
    # (a job starved of CPU can fall behind and see some of them late; most must not be)
    assert not in_order & set(dead)
    assert len(in_order & set(late)) <= len(in_order) / 2, f"{len(in_order & set(late))} of {len(in_order)} late"
