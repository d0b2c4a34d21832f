"""What a chaos experiment reads off the platform: recovery, latency by phase, duplicates, dead letters, and
when ``monitor_detection_jobs`` noticed. Everything comes from Flink's REST API, Kafka, the incident sink's
status endpoint and PostgreSQL — the numbers an operator would see."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import psycopg

from include.patternalarm.flink.rest import FlinkRest, FlinkRestError
from include.patternalarm.rules import pipeline_name
from include.patternalarm.scoring.core import percentile
from include.patternalarm.scoring.report import ABSENCE_RULES
from include.patternalarm.topics import DOMAINS

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

#: The incident sink counts as recovered when its consumer lag is at most this (alerts not yet stored).
SINK_LAG_OK = 200


def _db(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(settings.db_conninfo("reporting"), autocommit=True, connect_timeout=5)


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    jobs: dict[str, list[str]]  # active job ids per domain


def platform_health(settings: Settings, checkpoint_after_ms: float, domains: Iterable[str] = DOMAINS,
                    sink_lag_ok: int = SINK_LAG_OK) -> Health:
    """Recovered = every domain has exactly one active job, RUNNING with all tasks RUNNING and a checkpoint
    completed after ``checkpoint_after_ms``, and the incident sink answers, healthy, with lag ≤ ``sink_lag_ok``."""
    problems: list[str] = []
    jobs: dict[str, list[str]] = {}
    try:
        with FlinkRest(settings.flink_rest, timeout=5) as rest:
            overview = rest.jobs()
            for domain in domains:
                active = sorted((j for j in overview if j.name == pipeline_name(domain) and j.active),
                                key=lambda j: -j.start_time)
                jobs[domain] = [j.id for j in active]
                if len(active) != 1:
                    problems.append(f"{domain}: {len(active)} active jobs")
                    continue
                job = rest.job(active[0].id)
                vertices = job.get("vertices", [])
                if job["state"] != "RUNNING" or not vertices or any(v.get("status") != "RUNNING" for v in vertices):
                    problems.append(f"{domain}: {job['state']}, tasks not all RUNNING")
                    continue
                completed = ((rest.checkpoints(active[0].id).get("latest") or {}).get("completed") or {})
                if (completed.get("latest_ack_timestamp") or 0) <= checkpoint_after_ms:
                    problems.append(f"{domain}: no checkpoint completed since the fault")
    except FlinkRestError as exc:  # unreachable, or a job still initializing (HTTP 500 on its checkpoints)
        problems.append(f"Flink: {str(exc)[:120]}")
    sink = sink_status(settings)
    lag = ((sink or {}).get("lag") or {}).get("total")
    if sink is None:
        problems.append("incident sink: no answer")
    elif not sink.get("healthy") or lag is None or lag > sink_lag_ok:
        problems.append(f"incident sink: {sink.get('state')}, lag {lag}")
    return Health(ok=not problems, detail="; ".join(problems) or "ok", jobs=jobs)


def sink_status(settings: Settings) -> dict[str, Any] | None:
    from include.patternalarm.incidents.status import fetch_status

    try:
        return fetch_status(settings.host, settings.sink_metrics_port, timeout=2.0)
    except (ConnectionError, OSError, ValueError):
        return None


def active_jobs(settings: Settings, domains: Iterable[str] = DOMAINS) -> dict[str, list[str]]:
    """Active job ids per domain (``{}`` while Flink does not answer)."""
    try:
        with FlinkRest(settings.flink_rest, timeout=5) as rest:
            overview = rest.jobs()
    except FlinkRestError:
        return {}
    return {d: [j.id for j in overview if j.name == pipeline_name(d) and j.active] for d in domains}


def detection_lag(settings: Settings, domains: Iterable[str] = DOMAINS) -> dict[str, int | None]:
    """Per domain, the records of its event topic its detection job has not fetched yet (Flink's source metric
    ``pendingRecords``; None: no job, or no source reports it yet)."""
    out: dict[str, int | None] = dict.fromkeys(domains)
    jobs = active_jobs(settings, out)
    try:
        with FlinkRest(settings.flink_rest, timeout=5) as rest:
            for domain, ids in jobs.items():
                out[domain] = rest.pending_records(ids[0]) if ids else None
    except FlinkRestError:
        pass  # what was read so far; the rest stays None
    return out


def caught_up(lag: dict[str, int | None], max_records: int) -> bool:
    """Every domain's job reports its lag and the lags sum to at most ``max_records``."""
    return bool(lag) and all(v is not None for v in lag.values()) and sum(v or 0 for v in lag.values()) <= max_records


def restarts(settings: Settings, domains: Iterable[str] = DOMAINS) -> dict[str, tuple[str, int]]:
    """Per domain (job id, restarts) of the active job."""
    from include.patternalarm.flink.deploy import find_job, job_health

    out = {}
    for domain in domains:
        job = find_job(settings, domain)
        if job is not None:
            out[domain] = (job.id, job_health(settings, job.id).restarts)
    return out


# --- latency by phase ------------------------------------------------------------------------------

def alert_latencies(settings: Settings, tag: str, since: datetime) -> list[tuple[datetime, float]]:
    """(completing event time, seconds until the alert was stored) of every alert on the run's entities;
    absence rules (whose alert follows a silence, not an event) excluded."""
    with _db(settings) as conn:
        rows = conn.execute(
            "select last_event_time, extract(epoch from persisted_at - last_event_time)::float8 from alerts"
            " where entity like %s and rule_id <> all(%s) and persisted_at >= %s",
            (f"%-{tag}-%", list(ABSENCE_RULES), since)).fetchall()
    return [(at, seconds) for at, seconds in rows]


def latency_by_phase(latencies: list[tuple[datetime, float]], fault_at: datetime | None,
                     recovered_at: datetime | None) -> dict[str, dict[str, Any]]:
    """p50/p99/max/n of alert latency for patterns completed before the fault, during it (until recovery)
    and after recovery."""
    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    for at, seconds in latencies:
        if fault_at is None or at < fault_at:
            phases["before"].append(seconds)
        elif recovered_at is None or at < recovered_at:
            phases["during"].append(seconds)
        else:
            phases["after"].append(seconds)
    return {name: {"p50": _round(percentile(v, 50)), "p99": _round(percentile(v, 99)),
                   "max": _round(max(v) if v else None), "n": len(v)} for name, v in phases.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- duplicates ----------------------------------------------------------------------------------------

def incidents_duplicated(settings: Settings, tag: str) -> int:
    """Incidents beyond the first for one (domain, rule, entity) of the run: each scenario instance uses a
    fresh entity, so its alerts belong to one incident."""
    with _db(settings) as conn:
        row = conn.execute(
            "select coalesce(sum(n - 1), 0) from (select count(*) as n from incidents where entity like %s"
            " and domain <> 'platform' group by domain, rule_id, entity) x", (f"%-{tag}-%",)).fetchone()
    return int(row[0])


def alerts_stored_twice(settings: Settings, tag: str) -> int:
    """Alert rows attached to more than one incident timeline entry (the sink's idempotence, checked)."""
    with _db(settings) as conn:
        row = conn.execute(
            "select coalesce(sum(n - 1), 0) from (select count(*) as n from incident_events e join alerts a"
            " on a.alert_id = e.alert_id where e.kind = 'alert_attached' and a.entity like %s"
            " group by e.alert_id) x", (f"%-{tag}-%",)).fetchone()
    return int(row[0])


def alerted_truncated(settings: Settings, run_id: str, missed: dict[str, list[str]]) -> list[str]:
    """Missed instances that the experiment's own stop truncated after their completing event, yet whose
    alert exists: scoring counts an absence alert on a device's last event as end-of-stream, and a truncated
    scenario's last sent event is its completing one. Returns their scenario ids (``run/scenario``)."""
    ids = [m.split(" ", 1)[0].split("/", 1)[1] for items in missed.values() for m in items if "/" in m]
    if not ids:
        return []
    with _db(settings) as conn:
        rows = conn.execute(
            "select g.run_id || '/' || g.scenario_id from ground_truth g"
            " where g.run_id = %s and g.scenario_id = any(%s) and (g.detail->>'truncated')::boolean"
            " and exists (select 1 from alerts a where a.rule_id = g.rule_id"
            " and a.entity = g.entity and a.last_event_time >= g.first_event_time - interval '5 seconds')",
            (run_id, ids)).fetchall()
    return [r[0] for r in rows]


# --- dead letters ------------------------------------------------------------------------------------

def read_topic(settings: Settings, topic: str, since: datetime, *, timeout: float = 60.0,
               match: bytes | None = None) -> list[dict[str, Any]]:
    """JSON records of ``topic`` written since ``since`` (whose raw value contains ``match``), up to the end
    offsets seen when the read starts."""
    import uuid

    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"chaos-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        start_ms = int(since.timestamp() * 1000)
        starts = consumer.offsets_for_times([TopicPartition(topic, p, start_ms) for p in meta.partitions],
                                            timeout=10)
        ends = {tp.partition: consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
                for tp in starts}
        todo = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        consumer.assign([tp for tp in starts if tp.partition in todo])
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error():
                    continue
                if msg.offset() + 1 >= ends[msg.partition()]:
                    todo.discard(msg.partition())
                value = msg.value() or b""
                if match is not None and match not in value:
                    continue
                doc = loads(value)
                if doc is not None:
                    out.append(doc)
        return out
    finally:
        consumer.close()


def monitor_detected_at(settings: Settings, since: datetime) -> datetime | None:
    """When ``monitor_detection_jobs`` first opened or updated a platform incident after ``since``."""
    with _db(settings) as conn:
        row = conn.execute(
            "select min(e.happened_at) from incident_events e join incidents i using (incident_id)"
            " where i.domain = 'platform' and e.happened_at >= %s and e.kind in ('opened', 'platform_update',"
            " 'reopened') and (i.rule_id like 'flink\\_%%' or i.rule_id in ('sink_lag', 'disk_pressure'))",
            (since,)).fetchone()
    return row[0] if row else None


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 1.0) -> tuple[bool, float]:
    """Poll ``condition()`` until truthy; (held, epoch seconds when it first held or the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True, time.time()
        if time.monotonic() >= deadline:
            return False, time.time()
        time.sleep(interval)


def utc(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def loads(value: bytes | None) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None
