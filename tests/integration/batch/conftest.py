"""The batch DAGs on the real stack, isolated from everyone else's traffic.

``pipeline`` builds a private copy of the streaming path: throwaway topics, the payments and IoT
detection jobs deployed on them (the real Flink SQL), and an incident sink reading their alerts
topic into the shared ``alerts`` table. ``simulated`` plays a labelled simulation into it
(``bin/patternalarm simulate --topic``) and waits until the stream has accounted for everything.
The DAGs run with ``airflow dags test`` against the stack's Airflow (its connections, its pool).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.flink.deploy import cancel_job, deploy_domain
from include.patternalarm.rules import JobTopics
from include.patternalarm.settings import Settings
from include.patternalarm.stack import airflow as airflow_stack
from tests.support import unique, wait_until

REPO = Path(__file__).resolve().parents[3]
PARTITIONS = 4
DOMAINS = ("payments", "iot")
# the rules the batch re-detects in the default catalog (v4's IoT rules are adaptive episodes the batch does
# not implement: the IoT domain is reconciled for completeness and dead letters only)
RECONCILED_RULES = ("card_testing", "velocity", "impossible_travel", "account_takeover", "structuring")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def run_dag(settings: Settings, dag_id: str, conf: dict[str, Any], timeout: float = 600) -> subprocess.CompletedProcess:
    """``airflow dags test`` with the stack's configuration (exit code 1 when the run failed)."""
    env = {**os.environ, **airflow_stack.environment(settings)}
    return subprocess.run([str(settings.venv_dir / "bin" / "airflow"), "dags", "test", dag_id, "--conf",
                           json.dumps(conf)], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def db(settings: Settings, purpose: str) -> psycopg.Connection:
    return psycopg.connect(settings.db_conninfo(purpose), autocommit=True, connect_timeout=5)


@dataclass
class Pipeline:
    settings: Settings
    topics: dict[str, str]
    jobs: dict[str, str] = field(default_factory=dict)

    def dag_topics(self) -> dict[str, str]:
        return {k: v for k, v in self.topics.items() if k in ("payments", "iot", "late", "dlq", "metrics", "alerts")}


def _sink(settings: Settings, topics: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(settings.venv_dir / "bin" / "python"), "-m", "include.patternalarm.cli", "sink", "run",
         "--topic", topics["alerts"], "--group", unique("test-batch-sink"), "--dlq-topic", topics["alerts_dlq"],
         "--metrics-port", "-1", "--auto-resolve-every", "0"],
        cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def pipeline(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    topics = {k: unique(f"test.batch.{k}") for k in (*DOMAINS, "alerts", "dlq", "late", "metrics", "alerts_dlq")}
    for future in admin.create_topics([NewTopic(n, PARTITIONS if k in DOMAINS else 1, 1)
                                       for k, n in topics.items()]).values():
        future.result(timeout=30)
    p = Pipeline(stack_settings, topics)
    sink = None
    try:
        for domain in DOMAINS:
            job_topics = JobTopics(source=topics[domain], alerts=topics["alerts"], dlq=topics["dlq"],
                                   late=topics["late"], metrics=topics["metrics"])
            p.jobs[domain] = deploy_domain(stack_settings, domain, topics=job_topics,
                                           name=unique(f"patternalarm-test-batch-{domain}"),
                                           consumer_group=unique(f"test-batch-{domain}"),
                                           startup_mode="earliest-offset", auto_offset_reset="earliest",
                                           upgrade=False, wait_running=180)
        sink = _sink(stack_settings, topics, tmp_path_factory.mktemp("sink") / "sink.log")
        yield p
    finally:
        if sink is not None:
            sink.terminate()
            try:
                sink.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sink.kill()
        for job_id in p.jobs.values():
            try:
                cancel_job(stack_settings, job_id)
            except Exception:  # noqa: BLE001,S110 - best-effort cleanup
                pass
        for future in admin.delete_topics(list(topics.values())).values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001,S110 - best-effort cleanup of throwaway topics
                pass


@dataclass
class Simulated:
    run_id: str
    start: datetime  # the reconciliation range: whole minutes around the simulation
    end: datetime
    fires: list[dict[str, Any]]  # ground truth of the instances that must alert (reconciled rules)
    alerts: list[dict[str, Any]]  # what the stream stored for them
    summary: dict[str, Any]


def _records_per_minute(settings: Settings, topic: str, start_ms: int, end_ms: int) -> Counter[int]:
    """Records of ``topic`` per Kafka-timestamp minute within [start, end) (the topic is small)."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("test-count"),
                         "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        counts: Counter[int] = Counter()
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            seen = low
            while seen < high:
                msg = consumer.poll(2.0)
                if msg is None or msg.error():
                    continue
                seen = msg.offset() + 1
                ts = msg.timestamp()[1]
                if start_ms <= ts < end_ms:
                    counts[ts - ts % 60_000] += 1
        return counts
    finally:
        consumer.close()


def _reported_per_minute(settings: Settings, topic: str, domain: str) -> Counter[int]:
    from include.patternalarm.batch.timerange import parse_instant, to_ms

    counts: Counter[int] = Counter()
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("test-metrics"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        seen = low
        while seen < high:
            msg = consumer.poll(2.0)
            if msg is None or msg.error():
                continue
            seen = msg.offset() + 1
            m = json.loads(msg.value())
            if m.get("domain") == domain:
                counts[to_ms(parse_instant(m["minute"]))] += sum(int(m.get(k, 0)) for k in
                                                                 ("processed", "dead_lettered", "late", "duplicates"))
        return counts
    finally:
        consumer.close()


def _advance_watermarks(settings: Settings, topics: dict[str, str]) -> None:
    """Events on every partition after the range: the stream's watermark passes everything in it."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    now = datetime.now(UTC)
    for step in range(3):
        at = iso(now + timedelta(seconds=2 * step))
        for partition in range(PARTITIONS):
            eid = unique(f"filler-{partition}")
            producer.produce(topics["payments"], partition=partition, key=b"filler", value=json.dumps(
                {"event_id": eid, "event_time": at, "domain": "payments", "card_id": f"filler-{partition}",
                 "account_id": f"filler-{partition}", "event_type": "capture", "amount": 1.0,
                 "channel": "ecommerce"}).encode())
            producer.produce(topics["iot"], partition=partition, key=b"filler", value=json.dumps(
                {"event_id": eid, "event_time": at, "domain": "iot", "device_id": f"filler-{partition}",
                 "event_type": "heartbeat"}).encode())
    assert producer.flush(30) == 0


@pytest.fixture(scope="module")
def simulated(pipeline: Pipeline) -> Simulated:
    """A labelled simulation through the private pipeline, settled: every record of the range is
    reported on the metrics topic and every alert the scenarios must raise is in the alerts table."""
    settings = pipeline.settings
    launched = datetime.now(UTC)
    out = subprocess.run(
        [str(REPO / "bin" / "patternalarm"), "simulate", "--domain", "payments", "--domain", "iot",
         "--rate", "3000/min", "--duration", "80s", "--scenario-interval", "25s", "--bad-ratio", "0.01",
         "--seed", str(random.randint(1, 2**31)), "--rules", ",".join(RECONCILED_RULES),
         "--topic", f"payments={pipeline.topics['payments']}", "--topic", f"iot={pipeline.topics['iot']}",
         "--json", "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    start = launched.replace(second=0, microsecond=0)
    finished = datetime.now(UTC)
    end = finished.replace(second=0, microsecond=0) + timedelta(minutes=1)
    wait_until(lambda: datetime.now(UTC) >= end + timedelta(seconds=1), timeout=70, what="the range to end")
    _advance_watermarks(settings, pipeline.topics)

    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    received = {d: _records_per_minute(settings, pipeline.topics[d], start_ms, end_ms) for d in DOMAINS}
    assert sum(received["payments"].values()) > 1000 and sum(received["iot"].values()) > 500

    def all_reported() -> bool:
        for d in DOMAINS:
            reported = _reported_per_minute(settings, pipeline.topics["metrics"], d)
            if any(reported[minute] != n for minute, n in received[d].items()):
                return False
        return True

    wait_until(all_reported, timeout=180, interval=5, what="detection.metrics to account for every record")

    with db(settings, "reporting") as conn:
        fires = [dict(zip(("rule_id", "entity", "completing_event_id"), r, strict=True)) for r in conn.execute(
            """SELECT rule_id, entity, completing_event_id FROM ground_truth
               WHERE run_id = %s AND kind = 'scenario' AND should_alert AND rule_id = ANY(%s)""",
            (summary["run_id"], list(RECONCILED_RULES))).fetchall()]
    assert {f["rule_id"] for f in fires} == set(RECONCILED_RULES), "every reconciled rule needs a firing instance"

    def stored() -> list[dict[str, Any]] | None:
        with db(settings, "reporting") as conn:
            rows = conn.execute(
                "SELECT alert_id, rule_id, entity FROM alerts WHERE entity = ANY(%s) AND rule_id = ANY(%s)",
                ([f["entity"] for f in fires], list(RECONCILED_RULES))).fetchall()
        found = {(r[1], r[2]) for r in rows}
        if all((f["rule_id"], f["entity"]) in found for f in fires):
            return [dict(zip(("alert_id", "rule_id", "entity"), r, strict=True)) for r in rows]
        return None

    alerts = wait_until(stored, timeout=120, interval=2, what="the scenario alerts in the alerts table")
    return Simulated(summary["run_id"], start, end, fires, alerts, summary)
