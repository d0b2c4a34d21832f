"""Fixtures for the data-quality tests: a clean run through the real sink, and sandbox copies of it.

The clean run (once per session) publishes live-timed alerts of three rules of our own (unique
ids) to a throwaway topic that a real incident-sink process consumes into the shared ``public``
tables, works some incidents through the analyst functions, opens a platform incident and records
scaling decisions of a job id of our own. Validations of ``public`` are scoped to those rule and
job ids and the run's time window, so other engineers' rows never matter. Corruption tests never
touch ``public``: they copy the clean slice into a sandbox schema (``quality.sandbox``) and break
the copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql
from psycopg.rows import dict_row

from include.gx.parameters import Scope, Thresholds, Traffic
from include.patternalarm.incidents.process import SinkProcess
from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.quality import sandbox
from include.patternalarm.quality.traffic import traffic_from_kafka
from include.patternalarm.settings import Settings
from tests.support import unique, wait_until


@dataclass
class CleanRun:
    """What the clean run wrote (all keys are ours)."""

    started_at: datetime
    rule_ids: tuple[str, ...]
    job_id: str
    topic: str
    silence_id: int
    alert_ids: list[str] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    finished_at: datetime | None = None

    def scope(self, schema: str = "public", *, full: bool = False) -> Scope:
        if full:
            return Scope(schema=schema)
        return Scope(schema=schema, since=self.started_at - timedelta(seconds=5),
                     until=datetime.now(UTC) + timedelta(seconds=1), rule_ids=self.rule_ids,
                     scaling_job_ids=(self.job_id,))


#: thresholds of the tests: scaling freshness on (the DAG's default leaves it off), every row sampled
TEST_THRESHOLDS = Thresholds(scaling_max_age_min=30, sample_rows=200)


def _alert(rule: str, entity: str, n: int, *, domain: str = "payments", span_s: float = 8.0,
           **evidence: Any) -> dict[str, Any]:
    """An alert completed just now: its last event ~0.2 s ago, detected now (as Flink would emit it)."""
    now = datetime.now(UTC)
    silence = float(evidence.get("silence_s", 0))
    last = now - timedelta(seconds=0.2 + silence)
    return synthetic_alert(rule, entity, f"{entity}-ev{n}", domain=domain, severity="high",
                           first_event_time=last - timedelta(seconds=span_s), span=timedelta(seconds=span_s),
                           detected_at=now, **evidence)


@pytest.fixture(scope="session")
def owner(stack_settings: Settings) -> Iterator[psycopg.Connection]:
    """The schema owner (creates and drops sandbox schemas)."""
    with psycopg.connect(stack_settings.db_conninfo("owner"), autocommit=True, row_factory=dict_row) as conn:
        sandbox.drop_stale_sandboxes(conn)
        yield conn


@pytest.fixture(scope="session")
def clean_run(stack_settings: Settings) -> Iterator[CleanRun]:
    settings = stack_settings
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    topic = unique("test.quality")
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=30)
    tag = unique("dq")
    rules = (f"{tag}-card_testing", f"{tag}-velocity", f"{tag}-missing_heartbeat")
    run = CleanRun(started_at=datetime.now(UTC), rule_ids=(*rules, f"{tag}-platform_check"), job_id=f"{tag}-job",
                   topic=topic, silence_id=0)
    sink = SinkProcess(settings, topic=topic, group=unique("dq-sink"), auto_resolve_every_s=0,
                       log_path=settings.log_dir / f"{unique('sink-dq-test')}.log").start()
    try:
        with psycopg.connect(settings.db_conninfo("analyst"), autocommit=True, row_factory=dict_row) as analyst:
            run.silence_id = analyst.execute(
                "SELECT silence_id FROM create_silence(%s, %s, NULL, NULL, %s, 'dq test: maintenance', 'dq-test')",
                (rules[1], f"{tag}-muted-*", datetime.now(UTC) + timedelta(hours=1))).fetchone()["silence_id"]
        sink.wait_consuming(timeout=90)
        producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "acks": "all", "linger.ms": 0})

        def publish(alerts: list[dict[str, Any]]) -> None:
            for a in alerts:
                producer.produce(topic, key=a["entity"].encode(), value=json.dumps(a).encode())
                run.alert_ids.append(a["alert_id"])
            assert producer.flush(30) == 0

        # three waves: entities get 1-3 alerts each (grouped into one incident per entity)
        for wave in range(3):
            batch = [_alert(rules[0], f"{tag}-card-{e}", wave) for e in range(6) if e >= wave]
            batch += [_alert(rules[1], f"{tag}-acct-{e}", wave) for e in range(3)]
            batch += [_alert(rules[1], f"{tag}-muted-{wave}", wave)]  # silenced
            batch += [_alert(rules[2], f"{tag}-dev-{wave}", wave, domain="iot", silence_s=30, events_in_session=4)]
            publish(batch)
            wait_until(lambda: _count(settings, run.alert_ids) == len(run.alert_ids), timeout=60,
                       what=f"wave {wave} persisted by the sink")
        with psycopg.connect(settings.db_conninfo("analyst"), autocommit=True, row_factory=dict_row) as analyst:
            incidents = analyst.execute("SELECT incident_id, entity FROM incidents WHERE rule_id = ANY(%s) "
                                        "ORDER BY incident_id", (list(rules),)).fetchall()
            by_entity = {i["entity"]: i["incident_id"] for i in incidents}
            analyst.execute("SELECT acknowledge_incident(%s, 'dq-analyst', 'looking', 'dq-analyst')",
                            (by_entity[f"{tag}-card-0"],))
            analyst.execute("SELECT resolve_incident(%s, 'confirmed_fraud', 'dq-analyst', 'fraud')",
                            (by_entity[f"{tag}-acct-0"],))
            analyst.execute("SELECT assign_incident(%s, 'dq-bob', 'dq-analyst')", (by_entity[f"{tag}-acct-1"],))
        with psycopg.connect(settings.db_conninfo("control"), autocommit=True) as control:
            control.execute("SELECT open_platform_incident(%s, 'dq-test', 'medium', 'test check failed', NULL)",
                            (run.rule_ids[-1],))
            # instants in order, all inside the run's window (a fast sink can finish the run within a
            # few seconds of its start: fixed offsets back from now could fall before it, out of scope)
            now = datetime.now(UTC)
            at = [run.started_at + (now - run.started_at) * k / 8 for k in range(1, 8)]
            control.execute(
                "INSERT INTO scaling_events (decided_at, domain, job_id, action, from_parallelism, to_parallelism, "
                "reason, inputs, rescaled_at, drained_at, outcome) VALUES "
                "(%s, 'payments', %s, 'hold', 2, 2, 'lag within bounds', '{}', NULL, NULL, 'not_needed'), "
                "(%s, 'payments', %s, 'scale_up', 2, 3, 'lag 40000 > 20000', '{}', %s, NULL, 'rescaled'), "
                "(%s, 'gaming', %s, 'scale_down', 3, 2, 'lag low for 120 s', '{}', %s, %s, 'drained')",
                (at[0], run.job_id, at[1], run.job_id, at[2], at[3], run.job_id, at[4], at[5]))
        with psycopg.connect(settings.db_conninfo("reporting"), autocommit=True, row_factory=dict_row) as reader:
            run.incidents = reader.execute("SELECT * FROM incidents WHERE rule_id = ANY(%s) ORDER BY incident_id",
                                           (list(run.rule_ids),)).fetchall()
        run.finished_at = datetime.now(UTC)
        yield run
    finally:
        sink.stop()
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=30)
        with psycopg.connect(settings.db_conninfo("analyst"), autocommit=True) as analyst:
            if run.silence_id:
                analyst.execute("SELECT expire_silence(%s, 'dq-test')", (run.silence_id,))
        with psycopg.connect(settings.db_conninfo("control"), autocommit=True) as control:
            control.execute("SELECT resolve_platform_incident(%s, 'dq-test', 'test over')", (run.rule_ids[-1],))


def _count(settings: Settings, alert_ids: list[str]) -> int:
    with psycopg.connect(settings.db_conninfo("reporting"), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM alerts WHERE alert_id = ANY(%s)", (alert_ids,)).fetchone()[0]


@pytest.fixture(scope="session")
def traffic(clean_run: CleanRun, stack_settings: Settings) -> Traffic:
    """Traffic flows: the clean run's topic got records just now (read back from Kafka)."""
    signal = traffic_from_kafka({"bootstrap.servers": stack_settings.bootstrap_servers}, window=timedelta(minutes=5),
                                topics=[clean_run.topic])
    assert signal.flowing, signal
    return signal


def copy_clean_run(conn: psycopg.Connection, schema: str, run: CleanRun) -> None:
    """Copy the clean run's rows from public into ``schema`` (ids kept)."""
    rules = list(run.rule_ids)
    with conn.transaction():
        sandbox.copy_rows(conn, schema, "silences", sql.SQL("silence_id = %s"), (run.silence_id,))
        sandbox.copy_rows(conn, schema, "incidents", sql.SQL("rule_id = ANY(%s)"), (rules,))
        sandbox.copy_rows(conn, schema, "alerts", sql.SQL("rule_id = ANY(%s)"), (rules,))
        sandbox.copy_rows(conn, schema, "incident_events", sql.SQL(
            "incident_id IN (SELECT incident_id FROM public.incidents WHERE rule_id = ANY(%s))"), (rules,))
        sandbox.copy_rows(conn, schema, "scaling_events", sql.SQL("job_id = %s"), (run.job_id,))


@pytest.fixture
def make_sandbox(owner: psycopg.Connection, clean_run: CleanRun) -> Iterator[Callable[[], str]]:
    """``make_sandbox()`` → a new schema holding a copy of the clean run; dropped after the test."""
    made: list[str] = []

    def make() -> str:
        schema = sandbox.create_sandbox(owner)
        made.append(schema)
        copy_clean_run(owner, schema, clean_run)
        return schema

    yield make
    for schema in made:
        sandbox.drop_sandbox(owner, schema)
