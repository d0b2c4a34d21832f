"""A clean simulated run end to end: simulator → Kafka → Flink detection → alerts → sink → PostgreSQL,
then every expectation passes on what it produced (latency measured for real, not stamped).

The payments detection job runs on topics of the test's own (the detection area's deploy API) and a
sink process of the test's own stores its alerts; the validation is scoped to the simulator run's
entities (``%-<tag>-%``) and window, so the platform's jobs and other rows are neither used nor
disturbed. About two minutes, most of it the simulation (scenarios complete in up to ~45 s).
"""

from __future__ import annotations

import secrets
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from include.gx.parameters import Scope, Thresholds
from include.patternalarm.incidents.process import SinkProcess
from include.patternalarm.quality import run_suites
from include.patternalarm.quality.traffic import traffic_from_kafka
from include.patternalarm.settings import Settings
from tests.support import unique, wait_until

deploy = pytest.importorskip("include.patternalarm.flink.deploy", reason="the detection jobs are not available yet")
rules = pytest.importorskip("include.patternalarm.rules")
simulator = pytest.importorskip("include.patternalarm.simulator")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(stack_settings: Settings) -> Iterator[rules.JobTopics]:
    """The payments job on its own topics, and a sink on its alerts topic."""
    settings = stack_settings
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    topics = rules.JobTopics(**{k: unique(f"test.quality.{k}") for k in ("source", "alerts", "dlq", "late", "metrics")})
    names = [topics.source, topics.alerts, topics.dlq, topics.late, topics.metrics]
    for future in admin.create_topics([NewTopic(n, 2 if n == topics.source else 1, 1) for n in names]).values():
        future.result(timeout=30)
    job_id = None
    sink = SinkProcess(settings, topic=topics.alerts, group=unique("dq-e2e-sink"), auto_resolve_every_s=0,
                       log_path=settings.log_dir / f"{unique('sink-dq-e2e')}.log")
    try:
        job_id = deploy.deploy_domain(settings, "payments", topics=topics, name=unique("patternalarm-test-dq"),
                                      consumer_group=unique("test-dq-payments"), startup_mode="earliest-offset",
                                      auto_offset_reset="earliest", upgrade=False, wait_running=150)
        sink.start().wait_consuming(timeout=90)
        yield topics
    finally:
        sink.stop()
        if job_id is not None:
            try:
                deploy.cancel_job(settings, job_id)
            except Exception:  # noqa: BLE001,S110 - best-effort cleanup
                pass
        for future in admin.delete_topics(names).values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001,S110 - best-effort cleanup
                pass


def test_every_expectation_passes_on_a_clean_simulated_run(stack_settings: Settings, pipeline) -> None:
    settings = stack_settings
    started = datetime.now(UTC)
    config = simulator.SimulationConfig(domains=("payments",), rate=150.0, duration_s=60.0, scenarios=True,
                                        seed=secrets.randbits(31), topics={"payments": pipeline.source})
    summary = simulator.run_simulation(settings, config)
    assert summary.status == "finished" and summary.scenario_events > 0, summary
    like = f"%-{summary.tag}-%"
    with psycopg.connect(settings.db_conninfo("reporting"), autocommit=True) as conn:
        expected = conn.execute("SELECT count(*) FROM ground_truth WHERE run_id = %s AND kind = 'scenario' "
                                "AND should_alert", (summary.run_id,)).fetchone()[0]
        assert expected > 0

        def stored() -> int:
            return conn.execute("SELECT count(*) FROM alerts WHERE entity LIKE %s AND persisted_at >= %s",
                                (like, started)).fetchone()[0]

        wait_until(lambda: stored() >= expected, timeout=90, interval=1,
                   what=f"{expected} alerts of run {summary.run_id} detected and stored")
        latencies = [r[0] for r in conn.execute(
            "SELECT extract(epoch FROM persisted_at - last_event_time)::float FROM alerts WHERE entity LIKE %s "
            "AND persisted_at >= %s", (like, started)).fetchall()]

    traffic = traffic_from_kafka({"bootstrap.servers": settings.bootstrap_servers}, window=timedelta(minutes=5),
                                 topics=[pipeline.source])
    scope = Scope(since=started - timedelta(seconds=5), until=datetime.now(UTC) + timedelta(seconds=1),
                  entity_like=like, scaling_job_ids=("none-in-this-test",))
    run = run_suites(settings.db_conninfo("control"), scope, Thresholds(), traffic)
    print(f"simulated run {summary.run_id}: {len(latencies)} alerts, latency p50 "
          f"{statistics.median(latencies):.2f}s max {max(latencies):.2f}s; {run.failure_report()}")
    assert run.success, run.failure_report()
    assert traffic.flowing and not [r for r in run.skipped if r.check_id == "alerts.fresh"]
    counted = next(r for r in run.results if r.check_id == "alerts.alert_id_unique")
    assert counted.element_count == len(latencies) >= expected
