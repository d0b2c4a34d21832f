"""A restart from a savepoint re-emits the same alert_id: the partial match lives in the savepoint's
CEP state, the rest of the pattern is re-read from the savepoint's offsets, and the id is a hash of
the rule, version, entity and first matched event."""

from __future__ import annotations

from dataclasses import replace

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from include.patternalarm.flink.deploy import cancel_job, job_health, stop_job
from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.settings import Settings
from tests.integration.detection.conftest import (
    DetectionJob,
    iso,
    make_topics,
    recent_base_ms,
    scenario_instances,
    start_job,
)
from tests.support import unique, wait_until


def test_same_alert_id_after_restoring_a_savepoint_taken_mid_pattern(stack_settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    topics = make_topics(admin, "payments")
    name, group = unique("patternalarm-test-restart"), unique("test-restart")
    job_id, _, _ = start_job(stack_settings, "payments", topics, name=name, group=group)
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers})
    job = DetectionJob(stack_settings, "payments", topics, job_id, name, group, producer, admin)
    jobs = [job_id]
    try:
        (fires,) = [i for i in scenario_instances("payments", rules=["card_testing"]) if i.should_alert]
        base = recent_base_ms()
        head, tail = list(fires.events[:-1]), [fires.events[-1]]
        played_head = job.play([replace(fires, events=tuple(head))], base)[0]
        # the small auths are in the job's state once the watermark passed them; take the savepoint then
        job.advance(played_head.last_ms + 3_000, steps=1)
        with FlinkRest(stack_settings.flink_rest) as rest:
            wait_until(lambda: rest.checkpoints(job_id)["counts"]["completed"] >= 1, timeout=60,
                       what="a first checkpoint")
        savepoint = stop_job(stack_settings, job_id)
        assert savepoint

        def run_from_savepoint() -> dict:
            new_id, _, _ = start_job(stack_settings, "payments", topics, savepoint=savepoint, name=name, group=group)
            jobs.append(new_id)
            job.job_id = new_id
            assert job_health(stack_settings, new_id).restored_from == savepoint.removeprefix("file:") or \
                job_health(stack_settings, new_id).restored_from == savepoint
            return new_id

        first_run = run_from_savepoint()
        # the large auth completes the pattern (its first events only exist in the restored state)
        last = len(fires.events) - 1
        job.send(fires.entity, {**tail[0].payload, "event_id": f"{fires.entity}-{last}",
                                "event_time": iso(base + round(tail[0].offset_s * 1000))})
        job.flush()
        job.advance(base + 200_000)
        entity = fires.entity.encode()
        alerts = job.alerts(until=lambda msgs: any(m.key() == entity for m in msgs), timeout=90)
        (alert,) = [a for a in alerts if a["entity"] == fires.entity]
        assert alert["evidence"]["event_ids"][0] == f"{fires.entity}-0"  # from the restored state
        cancel_job(stack_settings, first_run)

        # a second restore from the same savepoint re-reads the large auth: the same alert again
        run_from_savepoint()
        alerts = job.alerts(until=lambda msgs: sum(m.key() == entity for m in msgs) >= 2, timeout=90)
        ids = [a["alert_id"] for a in alerts if a["entity"] == fires.entity]
        assert ids == [alert["alert_id"]] * 2
    finally:
        for jid in jobs:
            try:
                cancel_job(stack_settings, jid)
            except Exception:  # noqa: BLE001,S110 - already stopped/cancelled
                pass
        for future in admin.delete_topics([topics.source, topics.alerts, topics.dlq, topics.late,
                                           topics.metrics]).values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001,S110
                pass
