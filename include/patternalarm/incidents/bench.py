"""Measure the sink on its own topic: burst throughput, and added latency at a steady rate.

Not a test: ``bin/patternalarm sink bench`` prints the figures (with the machine's load). It
creates a throwaway topic (log-append timestamps, so latency = ``persisted_at`` − the time the
broker appended the record), runs a separate sink process on it, and removes the topic, the
consumer group and (unless ``keep``) its rows afterwards. Bounded by ``burst`` and
``rate × duration``; only 127.0.0.1 (the configured cluster).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.incidents.process import SinkProcess
from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.kafka_send import send_waiting
from include.patternalarm.settings import Settings

Progress = Callable[[str], None]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _produce(producer: Producer, topic: str, alerts: list[dict[str, Any]], rate: float | None) -> float:
    """Send ``alerts``, paced at ``rate``/s when given; returns the seconds it took."""
    started = time.monotonic()
    for index, alert in enumerate(alerts):
        if rate:
            due = started + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        send_waiting(producer, topic, orjson.dumps(alert), alert["entity"].encode())
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("the benchmark's producer could not deliver every alert within 60s")
    return time.monotonic() - started


def _alerts(rule: str, count: int, entities: int, start: datetime) -> list[dict[str, Any]]:
    return [synthetic_alert(rule, f"bench-card-{i % entities}", f"{rule}-ev-{i}", severity="medium",
                            first_event_time=start + timedelta(milliseconds=i), span=timedelta(seconds=1))
            for i in range(count)]


def _wait_rows(conninfo: str, rule: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen = -1
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            seen = conn.execute("SELECT count(*) FROM alerts WHERE rule_id = %s", (rule,)).fetchone()[0]
            if seen >= count:
                return
            time.sleep(0.2)
    raise RuntimeError(f"only {seen} of {count} alerts of {rule} stored after {timeout:.0f}s")


def run_bench(settings: Settings, *, burst: int = 20_000, rate: float = 100.0, duration_s: float = 30.0,
              entities: int = 1_000, batch_size: int = 500, keep: bool = False,
              progress: Progress = print) -> dict[str, Any]:
    if not 0 <= burst <= 200_000:
        raise ValueError("burst must be between 0 and 200000 alerts")
    if not 0 < rate <= 5_000 or not 0 <= duration_s <= 600:
        raise ValueError("rate must be in (0, 5000] alerts/s and duration in [0, 600] s")
    if entities < 1:
        raise ValueError("entities must be at least 1")
    run = uuid.uuid4().hex[:8]  # the sink's log is kept (in the log dir) when the run fails or with keep
    topic, group = f"bench.sink.{run}", f"patternalarm-sink-bench-{run}"
    burst_rule, steady_rule = f"bench-burst-{run}", f"bench-steady-{run}"
    reporting = settings.db_conninfo("reporting")
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    result: dict[str, Any] = {"run": run, "topic": topic, "machine": {"cores": os.cpu_count(),
                                                                      "load_before": _load()}}
    for future in admin.create_topics([NewTopic(topic, settings.topic_partitions, 1, config={
            "message.timestamp.type": "LogAppendTime", "retention.ms": str(3600 * 1000)})]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "acks": "all", "linger.ms": 5,
                         "enable.idempotence": True})
    sink = SinkProcess(settings, topic=topic, group=group, batch_size=batch_size, auto_resolve_every_s=0,
                       log_path=settings.log_dir / f"sink-bench-{run}.log")
    succeeded = False
    try:
        now = datetime.now(UTC)
        if burst:
            progress(f"burst: producing {burst} alerts ({entities} entities) to {topic} before the sink starts")
            _produce(producer, topic, _alerts(burst_rule, burst, entities, now - timedelta(minutes=10)), None)
        started = time.monotonic()
        sink.start()
        if burst:
            _wait_rows(reporting, burst_rule, burst, timeout=600)
            wall = time.monotonic() - started
            with psycopg.connect(reporting) as conn:
                first, last = conn.execute("SELECT min(persisted_at), max(persisted_at) FROM alerts "
                                           "WHERE rule_id = %s", (burst_rule,)).fetchone()
            span = max((last - first).total_seconds(), 1e-3)
            result["burst"] = {"alerts": burst, "entities": entities, "batch_size": batch_size,
                               "store_seconds": round(span, 2), "alerts_per_s": round(burst / span),
                               "wall_seconds_incl_start": round(wall, 2), "load_after": _load()}
            progress(f"burst: {burst} alerts stored in {span:.2f}s = {burst / span:.0f} alerts/s "
                     f"(sink start included: {wall:.1f}s); load {_load()}")
        if duration_s:
            sink.wait_consuming(timeout=60)
            count = int(rate * duration_s)
            progress(f"steady: {count} alerts at {rate:g}/s for {duration_s:g}s")
            alerts = _alerts(steady_rule, count, entities, datetime.now(UTC))
            sent_s = _produce(producer, topic, alerts, rate)
            _wait_rows(reporting, steady_rule, count, timeout=120)
            with psycopg.connect(reporting) as conn:
                row = conn.execute(
                    "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ms), max(ms), avg(ms) "
                    "FROM (SELECT extract(epoch FROM persisted_at - source_timestamp) * 1000 AS ms FROM alerts "
                    "WHERE rule_id = %s) t", (steady_rule,)).fetchone()
            (p50, p95, p99), worst, mean = [float(x) for x in row[0]], float(row[1]), float(row[2])
            result["steady"] = {"alerts": count, "rate_per_s": rate, "sent_seconds": round(sent_s, 2),
                                "latency_ms": {"p50": round(p50, 1), "p95": round(p95, 1), "p99": round(p99, 1),
                                               "max": round(worst, 1), "mean": round(mean, 1)},
                                "load_after": _load()}
            progress(f"steady: added latency (Kafka append → row stored) p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
                     f"p99 {p99:.1f} ms, max {worst:.1f} ms; load {_load()}")
        succeeded = True
    finally:
        sink.stop()
        if succeeded and not keep:
            sink.log_path.unlink(missing_ok=True)
        for future in admin.delete_topics([topic]).values():
            try:
                future.result(30)
            except Exception as exc:  # noqa: BLE001 - cleanup: report and go on
                progress(f"could not delete topic {topic}: {exc}")
        try:
            for future in admin.delete_consumer_groups([group]).values():
                future.result(30)
        except Exception as exc:  # noqa: BLE001 - cleanup: report and go on
            progress(f"could not delete consumer group {group}: {exc}")
        if not keep:
            _delete_rows(settings, [burst_rule, steady_rule])
    result["machine"]["load_after"] = _load()
    return result


def _delete_rows(settings: Settings, rules: list[str]) -> None:
    """Remove the benchmark's own rows (as the owner: nobody else may delete)."""
    with psycopg.connect(settings.db_conninfo("owner")) as conn:
        conn.execute("DELETE FROM incident_events WHERE incident_id IN "
                     "(SELECT incident_id FROM incidents WHERE rule_id = ANY(%s))", (rules,))
        conn.execute("DELETE FROM alerts WHERE rule_id = ANY(%s)", (rules,))
        conn.execute("DELETE FROM incidents WHERE rule_id = ANY(%s)", (rules,))
